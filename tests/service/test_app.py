"""The team service's endpoints: health, stats, recommend, record, auth, errors; its
strategies and token file.

Every test runs against a tiny real meta-db (see conftest.py); tests that write get their own
copy.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")
pytest.importorskip("multipart")

with warnings.catch_warnings():  # starlette's notice about httpx2, raised on import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from automl_meta import load_dataset, recommend  # noqa: E402
from automl_meta.errors import ConfigurationError  # noqa: E402
from automl_meta.metadb import MetaDB  # noqa: E402
from automl_meta.metafeatures import EXTRACTOR_VERSION, extract_metafeatures  # noqa: E402
from automl_meta.service import create_app  # noqa: E402
from tests.service._api import (  # noqa: E402
    NAMES,
    PMLB,
    STRATEGIES,
    TOKEN,
    as_json,
    auth,
    comparable,
    counts,
    record_payload,
)

pytestmark = [
    pytest.mark.skipif(not PMLB.is_dir(), reason=f"needs the shared PMLB datasets at {PMLB}"),
    pytest.mark.filterwarnings("ignore::automl_meta.errors.AutoMLMetaWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


# -- reading ------------------------------------------------------------------------------
def test_health_and_stats_are_the_stores(client: TestClient, store: MetaDB) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["schema_version"] >= 1
    stats = client.get("/v1/stats")
    assert stats.status_code == 200
    assert counts(stats.json()) == counts(store.stats())
    assert stats.json()["datasets"] == len(NAMES) and stats.json()["evaluations"] > 0


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_recommend_returns_what_the_library_returns(client: TestClient, store: MetaDB,
                                                    features: dict[str, Any],
                                                    strategy: str) -> None:
    for task, mf in features.items():
        response = client.post("/v1/recommend", json={
            "metafeatures": as_json(mf.to_dict()), "task": task, "k": 3,
            "strategy": strategy})
        assert response.status_code == 200, response.text
        expected = recommend(metafeatures=mf, task=task, k=3, strategy=strategy, db=store)
        assert len(expected) > 0
        assert comparable(response.json()["recommendations"]) == comparable(expected)


def test_recommend_accepts_an_upload(client: TestClient, store: MetaDB) -> None:
    path = PMLB / "1096_FacultySalaries.tsv.gz"
    response = client.post("/v1/recommend", files={"file": (path.name, path.read_bytes())},
                           data={"k": "2", "strategy": "knn"})
    assert response.status_code == 200, response.text
    expected = recommend(path, k=2, strategy="knn", db=store)
    assert comparable(response.json()["recommendations"]) == comparable(expected)
    assert response.json()["dataset"]["name"] == "1096_FacultySalaries"


@pytest.mark.parametrize("kind", ["tsv.gz", "csv", "parquet", "arff"])
def test_uploaded_metafeatures_equal_local_extraction(client: TestClient, tmp_path: Path,
                                                      kind: str) -> None:
    source = PMLB / "analcatdata_asbestos.tsv.gz"
    if kind == "tsv.gz":
        path = source
    else:
        frame = pd.read_csv(source, sep="\t")
        path = tmp_path / f"asbestos.{kind}"
        if kind == "csv":
            frame.to_csv(path, index=False)
        elif kind == "parquet":
            frame.to_parquet(path, index=False)
        else:
            lines = ["@RELATION asbestos"]
            lines += [f"@ATTRIBUTE {c} NUMERIC" for c in frame.columns]
            lines += ["@DATA"] + [",".join(map(str, row)) for row in frame.to_numpy()]
            path.write_text("\n".join(lines) + "\n")
    response = client.post("/v1/metafeatures", files={"file": (path.name, path.read_bytes())},
                           data={"target": "target", "task": "classification"})
    assert response.status_code == 200, response.text
    body = response.json()
    local = extract_metafeatures(load_dataset(path, target="target", task="classification"))
    assert body["metafeatures"] == as_json(local.to_dict())
    assert body["groups"] == local.groups
    assert body["extractor_version"] == EXTRACTOR_VERSION
    assert body["dataset"]["fingerprint"] == load_dataset(
        path, target="target", task="classification").fingerprint


def test_reading_can_require_the_token(store: MetaDB) -> None:
    app = create_app(store.url, token=TOKEN, read_token_required=True, strategies=STRATEGIES)
    with TestClient(app) as locked:
        assert locked.get("/health").status_code == 200  # liveness stays open
        assert locked.get("/v1/stats").status_code == 401
        assert locked.get("/v1/stats", headers=auth("x" * 32)).status_code == 401
        assert locked.get("/v1/stats", headers=auth()).status_code == 200
    with pytest.raises(ConfigurationError, match="needs a token"):
        create_app(store.url, read_token_required=True)


def test_a_store_without_knowledge_of_the_task_is_a_404(tmp_path: Path,
                                                         features: dict[str, Any]) -> None:
    app = create_app(tmp_path / "empty.sqlite", strategies=STRATEGIES)
    with TestClient(app) as empty:
        response = empty.post("/v1/recommend", json={
            "metafeatures": as_json(features["regression"].to_dict()),
            "task": "regression"})
    assert response.status_code == 404
    assert "no evaluated regression dataset" in response.json()["message"]


# -- writing ------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, auth("wrong-token-0123456789abcdef"),
                                     {"Authorization": f"Basic {TOKEN}"},
                                     {"Authorization": "Bearer"}])
def test_writes_without_the_right_token_are_401_and_change_nothing(
        client: TestClient, store: MetaDB, headers: dict[str, str]) -> None:
    before = counts(store.stats())
    response = client.post("/v1/evaluations", json=record_payload(), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "token" in response.json()["message"]
    assert counts(store.stats()) == before


def test_a_server_without_a_token_accepts_no_writes(store: MetaDB) -> None:
    with TestClient(create_app(store.url, strategies=STRATEGIES)) as open_server:
        response = open_server.post("/v1/evaluations", json=record_payload(),
                                    headers=auth())
    assert response.status_code == 403 and "no writes" in response.json()["message"]


def test_recording_with_the_token_is_idempotent(client: TestClient, store: MetaDB,
                                                features: dict[str, Any]) -> None:
    before = store.stats()
    payload = record_payload(n=2)
    first = client.post("/v1/evaluations", json=payload, headers=auth())
    assert first.status_code == 200, first.text
    assert first.json()["evaluations"] == 2 and first.json()["metafeatures_stored"]
    after = store.stats()
    assert after["datasets"] == before["datasets"] + 1
    assert after["evaluations"] == before["evaluations"] + 2
    again = client.post("/v1/evaluations", json=payload, headers=auth())
    assert again.status_code == 200 and again.json()["config_ids"] == first.json()["config_ids"]
    assert counts(store.stats()) == counts(after)
    rows = store.table("evaluation").tail(2)
    assert sorted(rows["protocol"]) == ["cv3:s0", "cv3:s0"]  # normalised like evaluate()
    assert sorted(rows["score"]) == pytest.approx([0.90, 0.91])
    assert rows["n_rows_used"].isna().all()
    payload["dataset"]["fingerprint"] = "0" * 32
    payload["evaluations"][0]["n_rows_used"] = 100
    assert client.post("/v1/evaluations", json=payload, headers=auth()).status_code == 200
    assert store.table("evaluation").iloc[-2]["n_rows_used"] == 100
    # the server's recommendations see the new evaluations at once, as the library does
    mf = features["classification"]
    response = client.post("/v1/recommend", json={
        "metafeatures": as_json(mf.to_dict()), "task": "classification", "k": 5})
    expected = recommend(metafeatures=mf, task="classification", k=5, db=store)
    assert comparable(response.json()["recommendations"]) == comparable(expected)


@pytest.mark.parametrize(("change", "status", "words"), [
    (lambda p: p["evaluations"][1]["config"].update(algorithm="magic_forest"), 422,
     "Unknown algorithm"),
    (lambda p: p["evaluations"][0]["config"]["params"].update(n_neighbors=500), 422,
     "outside its range"),
    (lambda p: p["evaluations"][0].update(protocol="cv1"), 422, "protocol"),
    (lambda p: p.pop("extractor_version"), 422, "extractor_version"),
    (lambda p: p.update(extractor_version="0"), 409, "never mixed"),
])
def test_a_bad_record_writes_nothing(client: TestClient, store: MetaDB, change: Any,
                                     status: int, words: str) -> None:
    before = counts(store.stats())
    payload = record_payload(n=2)
    change(payload)
    response = client.post("/v1/evaluations", json=payload, headers=auth())
    assert response.status_code == status, response.text
    assert words in response.json()["message"]
    assert counts(store.stats()) == before


# -- malformed requests -------------------------------------------------------------------
@pytest.mark.parametrize(("path", "body", "words"), [
    ("/v1/recommend", b'{"metafeatures": {', "Invalid JSON"),
    ("/v1/recommend", b'{"metafeatures": [1, 2], "task": "classification"}',
     "body.metafeatures"),
    ("/v1/recommend", b'{"metafeatures": {}, "task": "classification", "k": "many"}',
     "body.k"),
    ("/v1/recommend", b'{"metafeatures": {"a": "x"}, "task": "clustering"}', "body.task"),
    ("/v1/recommend", b'{"metafeatures": {}, "task": "regression", "extra": 1}',
     "body.extra"),
    ("/v1/evaluations", b"not json at all", "JSON"),
    ("/v1/evaluations", b'{"dataset": {"name": "x"}, "evaluations": []}', "fingerprint"),
])
def test_malformed_bodies_are_422_with_a_message(client: TestClient, path: str, body: bytes,
                                                  words: str) -> None:
    response = client.post(path, content=body, headers={
        **auth(), "content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "ValidationError"
    assert words in response.json()["message"]


def test_library_errors_are_4xx_with_their_message(client: TestClient, tmp_path: Path) -> None:
    no_label = tmp_path / "nolabel.csv"
    no_label.write_text("a,b\n1,2\n3,4\n")
    response = client.post("/v1/metafeatures", files={"file": (no_label.name,
                                                               no_label.read_bytes())})
    assert response.status_code == 400 and response.json()["error"] == "DatasetError"
    path = PMLB / "analcatdata_aids.tsv.gz"
    response = client.post("/v1/metafeatures", files={"file": (path.name, path.read_bytes())},
                           data={"groups": "general,magic"})
    assert response.status_code == 400 and "magic" in response.json()["message"]
    response = client.post("/v1/recommend", json={"metafeatures": {}, "task": "regression",
                                                  "strategy": "ranker"})
    assert response.status_code == 400 and "not enabled" in response.json()["message"]
    response = client.post("/v1/recommend", content=b"k=3",
                           headers={"content-type": "text/plain"})
    assert response.status_code == 415


def test_the_serve_command_is_lazy_and_listed() -> None:
    import subprocess
    import sys

    code = ("import sys, automl_meta, automl_meta.cli, automl_meta.service; "
            "print(any(m in sys.modules for m in ('fastapi', 'uvicorn', 'httpx')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "False"
    from typer.testing import CliRunner

    from automl_meta.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--workers" in result.output


def test_strategy_literal_matches_the_library() -> None:
    from automl_meta.advice._recommend import STRATEGIES as LIBRARY
    from automl_meta.service.schemas import RecommendRequest, strategy_names

    assert set(strategy_names()) == set(LIBRARY)
    schema = RecommendRequest.model_json_schema()["properties"]["strategy"]
    assert set(schema["enum"]) == set(LIBRARY)


def test_token_file_holds_several_tokens(tmp_path: Path, store: MetaDB) -> None:
    file = tmp_path / "tokens"
    file.write_text(f"# rotated 2026-11\nold-token-0123456789abcdef\n\n{TOKEN}\n")
    app = create_app(store.url, token_file=file, strategies=STRATEGIES)
    with TestClient(app) as server:
        for token in ("old-token-0123456789abcdef", TOKEN):
            response = server.post("/v1/evaluations", json=record_payload(1),
                                   headers=auth(token))
            assert response.status_code == 200, response.text
    file.write_text("short\n")
    with pytest.raises(ConfigurationError, match="at least 16"):
        create_app(store.url, token_file=file)
    with pytest.raises(ConfigurationError, match="Cannot read the token file"):
        create_app(store.url, token_file=tmp_path / "missing")
