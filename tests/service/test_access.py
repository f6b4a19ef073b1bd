"""Who may read the service and from where: read tokens (from the environment, sent by
the client), allowed hosts, loopback by default.

Every test runs on its own small SQLite store (recording through the API where a test
needs knowledge); the PostgreSQL variant needs ``$AUTOML_META_TEST_SERVICE_POSTGRES``.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

with warnings.catch_warnings():  # starlette's notice about httpx2, raised on import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from automl_meta.errors import ConfigurationError  # noqa: E402
from automl_meta.metafeatures import EXTRACTOR_VERSION  # noqa: E402
from automl_meta.service import Client  # noqa: E402
from tests.conftest import serving  # noqa: E402
from tests.service._hostile import READ, TOKEN, app_for, auth, payload  # noqa: E402

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
