"""The service under hostile clients: the token before the body, per-endpoint body limits,
chunked bodies cut at the limit.

Every test runs on its own small SQLite store (recording through the API where a test
needs knowledge); the PostgreSQL variant needs ``$AUTOML_META_TEST_SERVICE_POSTGRES``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

with warnings.catch_warnings():  # starlette's notice about httpx2, raised on import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from automl_meta.metadb import MetaDB  # noqa: E402
from tests.conftest import serving  # noqa: E402
from tests.service._hostile import TOKEN, app_for, auth, counts, payload  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore::automl_meta.errors.AutoMLMetaWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "no-bundle").mkdir()
    monkeypatch.setenv("AUTOML_META_SHIPPED", str(tmp_path / "no-bundle"))
    for name in ("AUTOML_META_TOKEN", "AUTOML_META_TOKEN_FILE", "AUTOML_META_READ_TOKEN",
                 "AUTOML_META_READ_TOKEN_FILE", "AUTOML_META_ALLOWED_HOSTS"):
        monkeypatch.delenv(name, raising=False)


# -- driving the ASGI application directly, to see what it reads ----------------------------
def drive(app: Any, method: str, path: str, headers: dict[str, str],
          chunks: Iterable[bytes]) -> tuple[int, dict[str, Any], int]:
    """Call ``app`` with a body streamed from ``chunks``; (status, JSON body, chunks read)."""
    source = iter(chunks)
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        chunk = next(source, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        read += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "scheme": "http", "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body or b"null"), read


def endless(size: int = 1024, most: int = 20_000) -> Iterator[bytes]:
    """Up to ``most`` chunks of ``size`` bytes (bounded, so a broken limit cannot hang)."""
    return itertools.islice(itertools.repeat(b"x" * size), most)


# -- the token before the body -------------------------------------------------------------
@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data; boundary=x"])
@pytest.mark.parametrize("headers", [{}, auth("wrong-token-0123456789abcdef")])
def test_unauthenticated_writes_are_refused_before_a_byte_of_body_is_read(
        tmp_path: Path, content_type: str, headers: dict[str, str]) -> None:
    app = app_for(tmp_path / "s.sqlite")
    status, body, read = drive(app, "POST", "/v1/evaluations", {
        **headers, "content-type": content_type, "content-length": str(64 * 2**20)},
        endless())
    assert status == 401 and "token" in body["message"]
    assert read == 0


def test_a_huge_declared_body_gets_401_at_once_and_the_connection_closed(
        tmp_path: Path) -> None:
    """Over a real socket: the answer comes without the body being sent, then the server
    closes the connection instead of waiting for 10 GiB."""
    store = MetaDB(tmp_path / "s.sqlite")
    with serving(app_for(store.url)) as url:
        port = int(url.rsplit(":", 1)[1])
        for content_type in ("application/json", "multipart/form-data; boundary=x"):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                started = time.monotonic()
                sock.sendall((f"POST /v1/evaluations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              f"Content-Type: {content_type}\r\n"
                              f"Content-Length: {10 * 2**30}\r\n\r\n").encode())
                answer = b""
                while chunk := sock.recv(65536):  # ends when the server closes
                    answer += chunk
                elapsed = time.monotonic() - started
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 401"), head
            assert b"connection: close" in head.lower()
            assert b"www-authenticate: bearer" in head.lower()
            assert "token" in json.loads(body)["message"]
            assert elapsed < 2.0
    assert counts(store) == (0, 0, 0)


def test_a_server_without_write_tokens_refuses_writes_before_the_body(tmp_path: Path) -> None:
    app = app_for(tmp_path / "s.sqlite", token=None)
    status, body, read = drive(app, "POST", "/v1/evaluations", {
        **auth(), "content-type": "application/json"}, endless())
    assert status == 403 and "no writes" in body["message"] and read == 0


# -- body limits by endpoint ---------------------------------------------------------------
def test_body_limits_follow_the_endpoint_not_the_content_type(
        tmp_path: Path, iris: tuple[Any, dict[str, Any]]) -> None:
    app = app_for(tmp_path / "s.sqlite", max_record_bytes=10_000, max_json_bytes=20_000,
                  max_upload_bytes=100_000)
    big = b"x" * 50_000
    with TestClient(app) as client:
        for content_type in ("application/json", "multipart/form-data; boundary=x",
                             "text/plain"):
            response = client.post("/v1/evaluations", content=big, headers={
                **auth(), "content-type": content_type})
            assert response.status_code == 413, (content_type, response.text)
            message = response.json()["message"]
            assert "10,000 bytes" in message and "--max-record-mb" in message
        # the recommend endpoint: JSON up to 20,000 bytes, multipart up to the upload limit
        response = client.post("/v1/recommend", content=big,
                               headers={"content-type": "application/json"})
        assert response.status_code == 413 and "20,000 bytes" in response.json()["message"]
        response = client.post("/v1/recommend", files={"file": ("d.csv", b"a,b\n" + big)})
        assert response.status_code != 413
        # a body sent to an endpoint that takes none is bounded too
        response = client.post("/v1/stats", content=b"x" * 100_000)
        assert response.status_code == 413
        # a record under the limit still works
        small = json.dumps(payload(iris, n=1)).encode()
        assert len(small) < 10_000
        response = client.post("/v1/evaluations", content=small,
                               headers={**auth(), "content-type": "application/json"})
        assert response.status_code == 200, response.text


def test_a_chunked_body_is_cut_at_the_limit_with_a_413(tmp_path: Path) -> None:
    app = app_for(tmp_path / "s.sqlite", max_record_bytes=10_000)
    status, body, read = drive(app, "POST", "/v1/evaluations", {
        **auth(), "content-type": "application/json", "transfer-encoding": "chunked"},
        endless(size=1024))
    assert status == 413 and "10,000 bytes" in body["message"]
    assert read <= 11  # 10,000 bytes in 1 KiB chunks: cut at the eleventh, not 20,000


def test_a_chunked_body_is_cut_over_a_real_socket(tmp_path: Path) -> None:
    with serving(app_for(tmp_path / "s.sqlite", max_record_bytes=10_000)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"POST /v1/evaluations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                         + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode())
            # 10 KiB in one write (so the server has read all of it when it answers, and its
            # close is not a reset), no final chunk: the server must not wait for more
            sock.sendall((b"400\r\n" + b"x" * 1024 + b"\r\n") * 10)
            answer = b""
            with contextlib.suppress(ConnectionResetError):  # a reset after the answer
                while chunk := sock.recv(65536):  # ends when the server closes
                    answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert b"10,000 bytes" in answer
