"""Request-size limits: refuse a body larger than allowed with 413 before it is all read.

A pure ASGI middleware, so it sees the body as it streams in: a declared
``Content-Length`` over the limit is refused before a byte is read, and a chunked body is
counted and cut off as soon as it passes the limit (the application then sees a
disconnected client, and its response is replaced by the 413).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MULTIPART_OVERHEAD = 1 << 20  # form fields and part headers around the uploaded file


class ServiceProblem(Exception):
    """A request the service refuses, with the HTTP status and a message for the user."""

    def __init__(self, status_code: int, message: str, error: str = "RequestError") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.error = error


def too_large_message(limit: int, what: str = "request body") -> str:
    return (f"The {what} is larger than this server accepts ({limit:,} bytes). Send a "
            "smaller file (e.g. a sample of the rows; meta-features need few) or ask the "
            "operator to raise the limit (automl-meta serve --max-upload-mb).")


class BodySizeLimit:
    """ASGI middleware: 413 for bodies over ``max_json_bytes`` (``max_upload_bytes`` plus
    form overhead for ``multipart/form-data``)."""

    def __init__(self, app: ASGIApp, max_json_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.max_upload_bytes = max_upload_bytes

    def limit_for(self, scope: Scope) -> int:
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        if content_type.startswith("multipart/form-data"):
            return self.max_upload_bytes + MULTIPART_OVERHEAD
        return self.max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _send_413(send, limit)
            return
        received = 0
        too_large = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not too_large:  # once over the limit, the 413 below is the only response
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large:
            await _send_413(send, limit)


async def _send_413(send: Send, limit: int) -> None:
    message = too_large_message(limit)
    body = json.dumps({"detail": message, "error": "PayloadTooLarge",
                       "message": message}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
