"""What a request must pass before the application reads a byte of its body.

:class:`RequestGuard` is a pure ASGI middleware, outermost, that decides from the request
line and headers alone, in this order:

1. the ``Host`` header must be one of the allowed hosts, when they are configured (400):
   a page on another site cannot reach a server on localhost by rebinding its own name
   to 127.0.0.1 (DNS rebinding);
2. the bearer token must be good enough for the endpoint (401, or 403 for writes to a
   server without tokens): an unauthenticated request is answered, and its connection
   closed, without its body being read;
3. the body must fit the endpoint's limit (413): every endpoint has its own, chosen by
   the route and never raised by the ``Content-Type`` header (it can only lower it: a
   non-multipart body of an upload endpoint gets the JSON limit). A declared
   ``Content-Length`` over the limit is refused before a byte is read; a chunked body is
   counted as it streams in and cut as soon as it passes the limit (the application then
   sees a disconnected client, and its response is replaced by the 413).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

from automl_meta.service.auth import Access

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MULTIPART_OVERHEAD = 1 << 20  # form fields and part headers around the uploaded file
SMALL_BODY_BYTES = 64 * 1024  # endpoints that take no body (GET, docs, unknown paths)
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class ServiceProblem(Exception):
    """A request the service refuses, with the HTTP status and a message for the user."""

    def __init__(self, status_code: int, message: str, error: str = "RequestError") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.error = error


def too_large_message(limit: int, what: str = "request body",
                      hint: str = "Send a smaller file (e.g. a sample of the rows; "
                      "meta-features need few) or ask the operator to raise the limit "
                      "(automl-meta serve --max-upload-mb).") -> str:
    return (f"The {what} is larger than this server accepts ({limit:,} bytes, "
            f"{limit / 2**20:.3g} MiB). {hint}")


@dataclass(frozen=True)
class Endpoint:
    """What one path needs: who may call it and how large its body may be.

    Args:
        access: ``open`` (anyone), ``read`` (a read or write token when reads are
            protected) or ``write`` (a write token).
        max_body: the largest body, whatever the Content-Type says.
        max_multipart: a larger limit for ``multipart/form-data`` bodies of an endpoint
            that takes uploads (None: the endpoint takes none, ``max_body`` applies).
        hint: what the 413 tells the client to do.
    """

    access: Literal["open", "read", "write"]
    max_body: int
    max_multipart: int | None = None
    hint: str = "Send a smaller body or ask the operator to raise the limit."

    def limit(self, content_type: bytes) -> int:
        if self.max_multipart is not None and content_type.lower().startswith(
                b"multipart/form-data"):
            return self.max_multipart
        return self.max_body


OTHER = Endpoint("open", SMALL_BODY_BYTES, hint="This endpoint takes no body.")


def normalise_hosts(hosts: str | Collection[str] | None) -> tuple[str, ...] | None:
    """Allowed host names from ``a,b`` or a list: lower case, no port; None or ``*`` for any.

    A name may start with ``*.`` to allow its subdomains (``*.example.com``); IPv6
    addresses may be given with or without brackets.
    """
    if hosts is None:
        return None
    items = hosts.split(",") if isinstance(hosts, str) else list(hosts)
    names = tuple(dict.fromkeys(_bare_host(item.strip()) for item in items if item.strip()))
    return None if not names or "*" in names else names


def _bare_host(value: str) -> str:
    """``Host`` header value -> the name alone: ``[::1]:8000`` -> ``::1``, ``A.b.:80`` ->
    ``a.b``."""
    value = value.strip().lower()
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def host_allowed(header: str, allowed: tuple[str, ...]) -> bool:
    """Whether the ``Host`` header value names one of ``allowed`` (see normalise_hosts)."""
    name = _bare_host(header)
    if not name:
        return False
    for pattern in allowed:
        if name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


class RequestGuard:
    """ASGI middleware: allowed hosts, then the token, then the endpoint's body limit.

    Args:
        app: the application.
        endpoints: per path (without a trailing slash), what it needs; other paths are
            ``OTHER`` (open, small bodies).
        access: the tokens (see :class:`~automl_meta.service.auth.Access`).
        allowed_hosts: the ``Host`` names served (see :func:`normalise_hosts`); None: any.
    """

    def __init__(self, app: ASGIApp, endpoints: Mapping[str, Endpoint], access: Access,
                 allowed_hosts: tuple[str, ...] | None = None) -> None:
        self.app = app
        self.endpoints = dict(endpoints)
        self.access = access
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        has_body = b"transfer-encoding" in headers or (declared is not None
                                                       and declared.strip() != b"0")
        if self.allowed_hosts is not None:
            host = headers.get(b"host", b"").decode("latin-1")
            if not host_allowed(host, self.allowed_hosts):
                shown = ", ".join(self.allowed_hosts)
                await send_problem(send, 400, (
                    f"The Host header {host!r} is not one this server answers to ({shown}). "
                    "Use one of those names in the URL, or ask the operator to add it "
                    "(automl-meta serve --allowed-hosts)."), "InvalidHost", has_body)
                return
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        route = path[len(root):] if root and path.startswith(root) else path  # when mounted
        endpoint = self.endpoints.get(route.rstrip("/") or "/", OTHER)
        if endpoint.access != "open":
            refusal = self.access.refusal(
                (headers.get(b"authorization") or b"").decode("latin-1") or None,
                write=endpoint.access == "write")
            if refusal is not None:
                status, message = refusal
                await send_problem(send, status, message,
                                   "Unauthorized" if status == 401 else "Forbidden", has_body,
                                   {"www-authenticate": "Bearer"} if status == 401 else None)
                return
        limit = endpoint.limit(headers.get(b"content-type", b""))
        what = f"request body of {scope.get('method', 'POST')} {path}"
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await send_problem(send, 413, too_large_message(limit, what, endpoint.hint),
                               "PayloadTooLarge", True)
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
            await send_problem(send, 413, too_large_message(limit, what, endpoint.hint),
                               "PayloadTooLarge", True)


async def send_problem(send: Send, status: int, message: str, error: str, close: bool,
                       headers: Mapping[str, str] | None = None) -> None:
    """Answer with the service's error body; ``close``: the connection too (an unread body
    must not be taken for the next request)."""
    body = json.dumps({"detail": message, "error": error, "message": message}).encode()
    raw = [(b"content-type", b"application/json"),
           (b"content-length", str(len(body)).encode())]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    if close:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
