"""Records sent to the service: large records all or nothing, scores out of range,
database errors mapped to retry or not, the client's batches.

Every test runs on its own small SQLite store (recording through the API where a test
needs knowledge); the PostgreSQL variant needs ``$AUTOML_META_TEST_SERVICE_POSTGRES``.
"""

from __future__ import annotations

import json
import os
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

from automl_meta.metadb import MetaDB  # noqa: E402
from tests.conftest import wipe_postgres  # noqa: E402
from tests.service._hostile import app_for, auth, counts, payload  # noqa: E402

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
