"""The service under hostile clients: the token before the body, per-endpoint body limits,
read tokens, allowed hosts, large records, scores out of range, database error mapping.

Every test runs on its own small SQLite store (recording through the API where a test
needs knowledge); the PostgreSQL variant needs ``$AUTOML_META_TEST_SERVICE_POSTGRES``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
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

from conftest import serving, wipe_postgres  # noqa: E402

from automl_meta import load_dataset  # noqa: E402
from automl_meta.errors import ConfigurationError  # noqa: E402
from automl_meta.metadb import MetaDB  # noqa: E402
from automl_meta.metafeatures import EXTRACTOR_VERSION, extract_metafeatures  # noqa: E402
from automl_meta.service import Client, create_app  # noqa: E402

TOKEN = "write-token-for-tests-0123456789"
READ = "read-token-for-tests-0123456789"
STRATEGIES = ("auto", "knn", "portfolio")

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


@pytest.fixture(scope="module")
def iris() -> tuple[Any, dict[str, Any]]:
    dataset = load_dataset("sklearn:iris")
    mf = extract_metafeatures(dataset, groups=["general", "statistical"])
    return dataset, {k: (None if not math.isfinite(v) else v) for k, v in mf.to_dict().items()}


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def app_for(path: Path | str, **kwargs: Any) -> Any:
    kwargs.setdefault("token", TOKEN)
    return create_app(path, strategies=STRATEGIES, warm_up=False, **kwargs)


def payload(iris: tuple[Any, dict[str, Any]], n: int = 2, *, metafeatures: bool = True,
            task: str = "classification") -> dict[str, Any]:
    dataset, mf = iris
    body: dict[str, Any] = {
        "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint, "task": task,
                    "n_rows": dataset.n_rows, "n_features": dataset.n_features,
                    "n_classes": dataset.n_classes},
        "evaluations": [{"config": {"algorithm": "linear", "params": {
            "C": round(0.01 + i * 0.001, 6), "class_weight": None}}, "protocol": "cv3",
            "status": "ok", "metrics": {"balanced_accuracy": 0.5 + (i % 500) / 1000,
                                        "accuracy": 0.9}, "fit_seconds": 0.01}
            for i in range(n)]}
    if task == "regression":
        for row in body["evaluations"]:
            row["config"]["params"] = {"alpha": row["config"]["params"]["C"]}
            row["metrics"] = {"r2": 0.5}
    if metafeatures:
        body["metafeatures"] = mf
        body["extractor_version"] = EXTRACTOR_VERSION
    return body


def counts(store: MetaDB) -> tuple[int, int, int]:
    stats = store.stats()
    return stats["datasets"], stats["configs"], stats["evaluations"]


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


# -- read tokens -----------------------------------------------------------------------------
def test_a_read_token_protects_every_read_and_the_write_token_reads_too(
        tmp_path: Path, iris: tuple[Any, dict[str, Any]]) -> None:
    app = app_for(tmp_path / "s.sqlite", read_token=READ)
    _, mf = iris
    query = {"metafeatures": mf, "task": "classification", "k": 3, "strategy": "knn"}
    with TestClient(app) as client:
        assert client.post("/v1/evaluations", json=payload(iris, n=3),
                           headers=auth()).status_code == 200
        assert client.get("/health").status_code == 200  # liveness stays open
        for token in (None, "wrong-token-0123456789abcdef"):
            headers = auth(token) if token else {}
            assert client.get("/v1/stats", headers=headers).status_code == 401
            response = client.post("/v1/recommend", json=query, headers=headers)
            assert response.status_code == 401
            assert "read or write token" in response.json()["message"]
            response = client.post("/v1/metafeatures", headers=headers,
                                   files={"file": ("d.csv", b"a,b\n1,0\n2,1\n")})
            assert response.status_code == 401
        for token in (READ, TOKEN):
            stats = client.get("/v1/stats", headers=auth(token))
            assert stats.status_code == 200 and stats.json()["datasets"] == 1
            response = client.post("/v1/recommend", json=query, headers=auth(token))
            assert response.status_code == 200, response.text
            recs = response.json()["recommendations"]
            assert recs and all("why" in rec for rec in recs)
        # a read token does not write
        response = client.post("/v1/evaluations", json=payload(iris), headers=auth(READ))
        assert response.status_code == 401


def test_read_tokens_come_from_the_environment_and_the_client_sends_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOML_META_READ_TOKEN", READ)
    with serving(app_for(tmp_path / "s.sqlite")) as url:
        with Client(url, token="", retries=0) as anonymous:
            monkeypatch.delenv("AUTOML_META_READ_TOKEN")
            with pytest.raises(ConfigurationError, match="401"):
                Client(url, retries=0).stats()
            assert anonymous.read_token == READ  # read from the environment
            assert anonymous.stats()["datasets"] == 0
        with Client(url, read_token=READ, retries=0) as reader:
            assert reader.stats()["datasets"] == 0
        with Client(url, token=TOKEN, retries=0) as writer:
            assert writer.stats()["datasets"] == 0
    with pytest.raises(ConfigurationError, match="at least 16"):
        app_for(tmp_path / "s.sqlite", read_token="short")


def test_the_client_sends_meta_features_and_the_right_token(
        iris: tuple[Any, dict[str, Any]]) -> None:
    from automl_meta.evaluation import Evaluation

    dataset, _ = iris
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/evaluations":
            n = len(json.loads(request.content)["evaluations"])
            return httpx.Response(200, json={"dataset_id": 1, "config_ids": list(range(n)),
                                             "evaluations": n, "metafeatures_stored": True})
        return httpx.Response(200, json={"datasets": 0})

    client = Client("http://meta.test", token=TOKEN, read_token=READ)
    client._http = httpx.Client(base_url="http://meta.test",
                                transport=httpx.MockTransport(handler))
    evaluation = Evaluation(config={"algorithm": "knn", "params": {"n_neighbors": 3}},
                            protocol="cv3:s0", status="ok",
                            metrics={"balanced_accuracy": 0.9})
    client.stats()
    answer = client.record(dataset, [evaluation] * 3)
    assert answer["evaluations"] == 3
    read, write = seen
    assert read.headers["authorization"] == f"Bearer {READ}"
    assert write.headers["authorization"] == f"Bearer {TOKEN}"
    sent = json.loads(write.content)
    assert sent["extractor_version"] == EXTRACTOR_VERSION
    assert len(sent["metafeatures"]) > 20  # computed by the client, not left out
    assert all(v is None or math.isfinite(v) for v in sent["metafeature_seconds"].values())


# -- allowed hosts -----------------------------------------------------------------------------
def test_unknown_host_headers_are_refused_when_configured(tmp_path: Path) -> None:
    app = app_for(tmp_path / "s.sqlite", allowed_hosts="meta.internal, localhost,*.team.org")
    with TestClient(app) as client:
        for host in ("evil.example", "meta.internal.evil.example", "127.0.0.1", "[::1]:80",
                     "team.org.evil.example"):
            response = client.get("/v1/stats", headers={"host": host})
            assert response.status_code == 400, host
            assert response.json()["error"] == "InvalidHost"
            assert "--allowed-hosts" in response.json()["message"]
        for host in ("meta.internal", "META.internal:8000", "localhost:8000", "a.team.org"):
            assert client.get("/v1/stats", headers={"host": host}).status_code == 200, host
    with TestClient(app_for(tmp_path / "s.sqlite")) as anyhost:  # library default: any
        assert anyhost.get("/v1/stats", headers={"host": "x.example"}).status_code == 200


def test_serve_defaults_to_loopback_names_on_loopback(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from automl_meta.service.app import create_app_from_env, default_allowed_hosts

    assert set(default_allowed_hosts("127.0.0.1").split(",")) == {
        "localhost", "127.0.0.1", "::1"}
    assert "localhost" in default_allowed_hosts("::1").split(",")
    assert "127.0.0.2" in default_allowed_hosts("127.0.0.2").split(",")
    assert default_allowed_hosts("0.0.0.0") == "*"
    monkeypatch.setenv("AUTOML_META_SERVE_DB", str(tmp_path / "s.sqlite"))
    monkeypatch.setenv("AUTOML_META_SERVE_ALLOWED_HOSTS", default_allowed_hosts("127.0.0.1"))
    with TestClient(create_app_from_env()) as client:
        assert client.get("/v1/stats", headers={"host": "127.0.0.1:8000"}).status_code == 200
        assert client.get("/v1/stats", headers={"host": "rebound.example"}).status_code == 400


# -- large records, all or nothing -------------------------------------------------------------
def postgres_store() -> str:


    url = os.environ.get("AUTOML_META_TEST_SERVICE_POSTGRES")
    if not url:
        pytest.skip("needs AUTOML_META_TEST_SERVICE_POSTGRES (a PostgreSQL URL it may wipe)")
    wipe_postgres(url)
    return url


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_ten_thousand_evaluations_in_one_request(tmp_path: Path, backend: str,
                                                 iris: tuple[Any, dict[str, Any]]) -> None:
    from automl_meta.service.app import DEFAULT_MAX_RECORD_BYTES

    url = postgres_store() if backend == "postgres" else str(tmp_path / "s.sqlite")
    body = json.dumps(payload(iris, n=10_000)).encode()
    assert len(body) < DEFAULT_MAX_RECORD_BYTES / 4  # ~2.4 MB: the default admits it
    store = MetaDB(url)
    with TestClient(app_for(url)) as client:
        response = client.post("/v1/evaluations", content=body,
                               headers={**auth(), "content-type": "application/json"})
        assert response.status_code == 200, response.text[:500]
        assert response.json()["evaluations"] == 10_000
        assert counts(store) == (1, 10_000, 10_000)
    store.close()


def test_a_record_over_the_limit_fails_whole_with_a_413(
        tmp_path: Path, iris: tuple[Any, dict[str, Any]]) -> None:
    store = MetaDB(tmp_path / "s.sqlite")
    body = json.dumps(payload(iris, n=10_000)).encode()
    with TestClient(app_for(store.url, max_record_bytes=len(body) - 1)) as client:
        response = client.post("/v1/evaluations", content=body,
                               headers={**auth(), "content-type": "application/json"})
    assert response.status_code == 413
    assert f"{len(body) - 1:,} bytes" in response.json()["message"]
    assert counts(store) == (0, 0, 0)


# -- scores --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("task", "change", "field"), [
    ("classification", {"score": 1e308}, "score"),
    ("classification", {"score": -5.0}, "score"),
    ("classification", {"score": 1.0000001}, "score"),
    ("classification", {"metrics": {"balanced_accuracy": 1.5}}, "balanced_accuracy"),
    ("classification", {"metrics": {"accuracy": -0.1}}, "accuracy"),
    ("classification", {"metrics": {"log_loss": -1.0}}, "log_loss"),
    ("regression", {"score": 2.0}, "score"),
    ("regression", {"metrics": {"r2": 1.5}}, "r2"),
    ("regression", {"metrics": {"rmse": -1.0}}, "rmse"),
])
def test_scores_out_of_range_are_422_naming_the_field(
        tmp_path: Path, iris: tuple[Any, dict[str, Any]], task: str, change: dict[str, Any],
        field: str) -> None:
    store = MetaDB(tmp_path / "s.sqlite")
    body = payload(iris, n=3, task=task)
    body["evaluations"][1].update(change)
    with TestClient(app_for(store.url)) as client:
        response = client.post("/v1/evaluations", json=body, headers=auth())
    assert response.status_code == 422, response.text
    assert field in response.json()["message"] and "evaluations" in response.json()["message"]
    assert counts(store) == (0, 0, 0)


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_scores_are_422(tmp_path: Path, iris: tuple[Any, dict[str, Any]],
                                   literal: bytes) -> None:
    store = MetaDB(tmp_path / "s.sqlite")
    body = payload(iris, n=2)
    body["evaluations"][0]["score"] = 0.123456789
    body["evaluations"][1]["metrics"]["accuracy"] = 0.987654321
    raw = json.dumps(body).encode()
    raw = raw.replace(b"0.123456789", literal).replace(b"0.987654321", literal)
    with TestClient(app_for(store.url)) as client:
        response = client.post("/v1/evaluations", content=raw,
                               headers={**auth(), "content-type": "application/json"})
    assert response.status_code == 422
    message = response.json()["message"]
    assert "evaluations.0.score" in message and "evaluations.1.metrics.accuracy" in message
    assert counts(store) == (0, 0, 0)


def test_a_negative_r2_and_a_record_without_meta_features_are_accepted(
        tmp_path: Path, iris: tuple[Any, dict[str, Any]]) -> None:
    store = MetaDB(tmp_path / "s.sqlite")
    body = payload(iris, n=2, task="regression", metafeatures=False)
    body["evaluations"][0]["metrics"] = {"r2": -5.0, "rmse": 3.0}
    with TestClient(app_for(store.url)) as client:
        response = client.post("/v1/evaluations", json=body, headers=auth())
    assert response.status_code == 200, response.text
    assert response.json()["metafeatures_stored"] is False
    assert counts(store) == (1, 2, 2)


def test_the_metrics_schema_has_the_librarys_metrics_and_ranges() -> None:
    from automl_meta.evaluation.metrics import (
        CLASSIFICATION_METRICS,
        METRIC_RANGES,
        REGRESSION_METRICS,
    )
    from automl_meta.service.schemas import MetricsIn

    assert set(MetricsIn.model_fields) == {*CLASSIFICATION_METRICS, *REGRESSION_METRICS}
    schema = MetricsIn.model_json_schema()["properties"]
    for name, (low, high) in METRIC_RANGES.items():
        number = next(s for s in schema[name]["anyOf"] if s.get("type") == "number")
        assert (number.get("minimum"), number.get("maximum")) == (low, high), name


# -- database errors: 503 only when retrying can help --------------------------------------
@pytest.mark.parametrize(("message", "status"), [
    ("number of parameters must be between 0 and 65535", 500),
    ("too many SQL variables", 500),
    ("database is locked", 503),
    ("connection refused", 503),
])
def test_database_errors_say_whether_to_retry(
        tmp_path: Path, iris: tuple[Any, dict[str, Any]], monkeypatch: pytest.MonkeyPatch,
        message: str, status: int) -> None:
    from sqlalchemy.exc import OperationalError

    app = app_for(tmp_path / "s.sqlite")

    def failing(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("INSERT INTO evaluation ...", {}, Exception(message))

    monkeypatch.setattr(app.state.service.store, "record", failing)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/v1/evaluations", json=payload(iris), headers=auth())
    assert response.status_code == status
    assert ("retry later" in response.json()["message"]) == (status == 503)


def test_a_store_dataset_error_is_a_422(tmp_path: Path, iris: tuple[Any, dict[str, Any]],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from automl_meta.errors import DatasetError

    app = app_for(tmp_path / "s.sqlite")

    def failing(*_args: Any, **_kwargs: Any) -> None:
        raise DatasetError("evaluations[0].score = 7.0 is out of range; expected [0, 1].")

    monkeypatch.setattr(app.state.service.store, "record", failing)
    with TestClient(app) as client:
        response = client.post("/v1/evaluations", json=payload(iris), headers=auth())
    assert response.status_code == 422 and "score" in response.json()["message"]
    assert response.json()["error"] == "DatasetError"


def test_the_client_batches_records_by_count_and_size() -> None:
    from automl_meta.service.client import RECORD_BATCH, _batches

    rows = [{"i": i, "error": "x" * 100} for i in range(25)]
    assert [len(b) for b in _batches(rows, 10, 10**9)] == [10, 10, 5]
    by_size = list(_batches(rows, 1000, 3 * len(json.dumps(rows[0])) + 10))
    assert [len(b) for b in by_size] == [3] * 8 + [1]
    assert [r for b in by_size for r in b] == rows  # in order, none lost
    assert RECORD_BATCH >= 10_000  # a 10,000-evaluation record is one request
