"""The team service: HTTP endpoints, auth, limits, uploads, schema fuzzing, the client.

Every test runs against a tiny real meta-db built from four PMLB datasets (two
classification, two regression) in a SQLite file; tests that write get their own copy.
"""

from __future__ import annotations

import math
import os
import pickle
import socket
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterator
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

from conftest import serving, wipe_postgres

from automl_meta import load_dataset, recommend  # noqa: E402
from automl_meta.errors import ConfigurationError  # noqa: E402
from automl_meta.metadb import BuildSettings, MetaDB, build  # noqa: E402
from automl_meta.metafeatures import EXTRACTOR_VERSION, extract_metafeatures  # noqa: E402
from automl_meta.service import Client, create_app  # noqa: E402

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
PMLB = DATASETS / "pmlb"
NAMES = ["analcatdata_aids", "analcatdata_asbestos", "1096_FacultySalaries", "1027_ESL"]
SETTINGS = BuildSettings(configs_per_algorithm=2, protocol="cv2", max_rows=150,
                         algorithms=("linear", "knn"))
TOKEN = "team-token-for-tests-0123456789"
STRATEGIES = ("auto", "knn", "portfolio")  # the ranker and neural fit for seconds

pytestmark = [
    pytest.mark.skipif(not PMLB.is_dir(), reason=f"needs the shared PMLB datasets at {PMLB}"),
    pytest.mark.filterwarnings("ignore::automl_meta.errors.AutoMLMetaWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


# -- fixtures -----------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def no_shipped_bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOML_META_SHIPPED", str(tmp_path_factory.mktemp("no-bundle")))
        patch.delenv("AUTOML_META_TOKEN", raising=False)
        patch.delenv("AUTOML_META_TOKEN_FILE", raising=False)
        yield


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQLite file of the tiny meta-db (built once; copy it before writing)."""
    path = tmp_path_factory.mktemp("built") / "meta.sqlite"
    db = MetaDB(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build(db, [PMLB / f"{n}.tsv.gz" for n in NAMES], SETTINGS, jobs=1, progress=False)
    db.close()
    return path


def copy_db(source: Path, target: Path) -> Path:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


def postgres_copy(built: Path, tmp_path: Path) -> str:
    """A wiped PostgreSQL store ($AUTOML_META_TEST_SERVICE_POSTGRES) holding ``built``."""

    from automl_meta.metadb._bundle import export_bundle, import_bundle

    url = os.environ.get("AUTOML_META_TEST_SERVICE_POSTGRES")
    if not url:
        pytest.skip("needs AUTOML_META_TEST_SERVICE_POSTGRES (a PostgreSQL URL it may wipe)")
    wipe_postgres(url)
    source = MetaDB(built)
    export_bundle(source, tmp_path / "bundle")
    source.close()
    target = MetaDB(url)
    import_bundle(target, tmp_path / "bundle")
    target.close()
    return url


@pytest.fixture
def store(built: Path, tmp_path: Path) -> MetaDB:
    return MetaDB(copy_db(built, tmp_path / "store.sqlite"))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
def client(store: MetaDB, data_dir: Path) -> Iterator[TestClient]:
    app = create_app(store.url, token=TOKEN, data_dir=data_dir, strategies=STRATEGIES,
                     max_upload_bytes=200_000)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def features() -> dict[str, Any]:
    """Meta-features of one classification and one regression dataset."""
    return {task: extract_metafeatures(load_dataset(PMLB / f"{name}.tsv.gz"))
            for task, name in (("classification", "analcatdata_aids"),
                               ("regression", "1027_ESL"))}


def as_json(values: Any) -> Any:
    """What JSON makes of a value: NaN -> None, tuples -> lists."""
    if isinstance(values, dict):
        return {str(k): as_json(v) for k, v in values.items()}
    if isinstance(values, (list, tuple)):
        return [as_json(v) for v in values]
    if isinstance(values, float) and not math.isfinite(values):
        return None
    return values


def comparable(recs: list[Any]) -> list[dict[str, Any]]:
    """Recommendations as plain dicts without the (timing) ``details.seconds``."""
    out = []
    for rec in recs:
        item = as_json(rec if isinstance(rec, dict) else rec.to_dict())
        item["details"] = {k: v for k, v in item["details"].items() if k != "seconds"}
        out.append(item)
    return out


def counts(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stats.items() if k != "bytes"}


def record_payload(n: int = 2, task: str = "classification") -> dict[str, Any]:
    dataset = load_dataset("sklearn:iris")
    mf = extract_metafeatures(dataset, groups=["general"])
    return {
        "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint, "task": task,
                    "n_rows": dataset.n_rows, "n_features": dataset.n_features,
                    "n_classes": dataset.n_classes},
        "metafeatures": as_json(mf.to_dict()), "extractor_version": EXTRACTOR_VERSION,
        "evaluations": [{"config": {"algorithm": "knn", "params": {
            "n_neighbors": 3 + i, "weights": "distance", "p": 2}}, "protocol": "cv3",
            "status": "ok", "metrics": {"balanced_accuracy": 0.9 + i / 100, "accuracy": 0.9},
            "fit_seconds": 0.01} for i in range(n)],
    }


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


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


# -- uploads: size, names, formats ---------------------------------------------------------
def test_oversized_bodies_are_413(store: MetaDB, data_dir: Path) -> None:
    app = create_app(store.url, token=TOKEN, data_dir=data_dir, strategies=STRATEGIES,
                     max_upload_bytes=5_000, max_json_bytes=20_000)
    big_csv = b"a,target\n" + b"1,0\n2,1\n" * 5_000
    with TestClient(app) as small:
        response = small.post("/v1/metafeatures", files={"file": ("big.csv", big_csv)})
        assert response.status_code == 413 and "larger than" in response.json()["message"]
        # just over the file limit, but under the multipart allowance: cut while copying
        response = small.post("/v1/metafeatures", files={"file": ("big.csv", big_csv[:6_000])})
        assert response.status_code == 413
        huge = {"metafeatures": {f"m{i}": float(i) for i in range(3_000)},
                "task": "classification"}
        assert small.post("/v1/recommend", json=huge).status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            yield b'{"metafeatures": {'
            for i in range(3_000):
                yield f'"m{i}": {i}, '.encode()
            yield b'"z": 1}, "task": "classification"}'

        response = small.post("/v1/recommend", content=chunks(),
                              headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert small.get("/health").status_code == 200  # and the server is fine


def test_upload_names_cannot_escape_the_data_directory(
        client: TestClient, data_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import automl_meta.service.backend as service_backend

    written: list[Path] = []
    save = service_backend.save_upload

    def spy(*args: Any, **kwargs: Any) -> Path:
        path = save(*args, **kwargs)
        written.append(path)
        return path

    monkeypatch.setattr(service_backend, "save_upload", spy)
    content = (PMLB / "analcatdata_aids.tsv.gz").read_bytes()
    before = set(tmp_path.rglob("*"))
    for name in ("../../etc/passwd.tsv.gz", "..\\..\\windows\\evil.tsv.gz",
                 "/tmp/absolute.tsv.gz", "....//....//x.tsv.gz", "\x00..%2f.tsv.gz"):
        response = client.post("/v1/metafeatures", files={"file": (name, content)})
        assert response.status_code in (200, 415), (name, response.text)
    assert len(written) >= 4
    root = data_dir.resolve()
    assert all(root in path.resolve().parents for path in written)
    assert [p.name for p in written[:2]] == ["passwd.tsv", "evil.tsv"]
    assert not Path("/etc/passwd.tsv.gz").exists() and not Path("/tmp/absolute.tsv.gz").exists()
    assert set(tmp_path.rglob("*")) - before <= {data_dir}  # nothing left behind, nowhere
    assert not any(data_dir.iterdir())


@pytest.mark.parametrize("name", ["model.pkl", "model.pickle", "model.joblib", "x.npy",
                                  "model.pkl.gz", "weights.pt"])
def test_a_pickle_is_never_loaded(client: TestClient, name: str,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the server unpickled an upload")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pd, "read_pickle", refuse)
    payload = b"\x80\x04\x95" + b"\x00" * 64  # the opening of a pickle
    for path in ("/v1/metafeatures", "/v1/recommend"):
        response = client.post(path, files={"file": (name, payload)})
        assert response.status_code == 415, response.text
        assert "arbitrary code" in response.json()["message"]


def test_unknown_and_broken_files_are_clear_4xx(client: TestClient) -> None:
    response = client.post("/v1/metafeatures", files={"file": ("data.xlsx", b"PK\x03\x04")})
    assert response.status_code == 415 and ".csv" in response.json()["message"]
    response = client.post("/v1/metafeatures", files={"file": ("data.csv.gz", b"not gzip")})
    assert response.status_code == 400 and "gzip" in response.json()["message"]
    response = client.post("/v1/metafeatures", files={"file": ("data.parquet", b"nope")})
    assert response.status_code == 400 and "Parquet" in response.json()["message"]
    response = client.post("/v1/metafeatures", files={"file": ("empty.csv", b"")})
    assert response.status_code == 400 and "empty" in response.json()["message"]


# -- schema fuzzing -----------------------------------------------------------------------
try:
    import schemathesis
except ImportError:  # pragma: no cover - schemathesis is in the dev extra
    schemathesis = None


@pytest.fixture(params=["examples+fuzzing", pytest.param("coverage", marks=pytest.mark.slow),
                        pytest.param("postgres", marks=pytest.mark.postgres)])
def fuzz_schema(request: pytest.FixtureRequest, built: Path, tmp_path: Path) -> Any:
    """The app's own OpenAPI schema, served in-process (ASGI) from a copy of the store.

    The default run uses schemathesis' explicit examples and 30 random cases per operation;
    the slow run adds its coverage phase (a few hundred boundary cases per operation); the
    postgres run is the default one against PostgreSQL (whose text columns are stricter).
    """
    if request.param == "postgres":
        db: Any = postgres_copy(built, tmp_path)
    else:
        db = copy_db(built, tmp_path / "fuzz.sqlite")
    app = create_app(db, token=TOKEN, data_dir=tmp_path / "uploads", strategies=STRATEGIES,
                     max_upload_bytes=100_000)
    loader = getattr(schemathesis, "openapi", None)
    schema = (loader.from_asgi if hasattr(loader, "from_asgi") else schemathesis.from_asgi)(
        "/openapi.json", app)
    phases = getattr(getattr(schema, "config", None), "phases", None)
    if phases is not None:  # schemathesis 4: choose the phases
        phases.coverage.enabled = request.param == "coverage"
        phases.fuzzing.enabled = request.param != "coverage"
    return schema


if schemathesis is not None:
    from hypothesis import HealthCheck, settings
    from schemathesis.checks import not_a_server_error

    _from_fixture = getattr(getattr(schemathesis, "pytest", None), "from_fixture", None) \
        or schemathesis.from_pytest_fixture
    fuzzed = _from_fixture("fuzz_schema")

    @fuzzed.parametrize()
    @settings(max_examples=30, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def test_openapi_fuzzing_finds_no_server_error(case: Any) -> None:
        """Every operation, with the write token: never a 5xx, whatever the body."""
        case.call_and_validate(headers=auth(), checks=[not_a_server_error])
else:  # pragma: no cover
    @pytest.mark.skip(reason="needs schemathesis (pip install 'automl-meta[dev]')")
    def test_openapi_fuzzing_finds_no_server_error() -> None:
        """Skipped without schemathesis."""


# -- the Python client against a real server ---------------------------------------------
@pytest.fixture
def live_url(store: MetaDB, data_dir: Path) -> Iterator[str]:
    app = create_app(store.url, token=TOKEN, data_dir=data_dir, strategies=STRATEGIES)
    with serving(app) as url:
        yield url


def test_client_against_a_live_server(live_url: str, store: MetaDB) -> None:
    from automl_meta.evaluation import evaluate
    from automl_meta.metalearners import Recommendation
    from automl_meta.space import default_config

    path = PMLB / "1027_ESL.tsv.gz"
    with Client(live_url, token=TOKEN) as client:
        assert client.health()["status"] == "ok"
        assert counts(client.stats()) == counts(store.stats())
        mf = client.metafeatures(path)
        local = extract_metafeatures(load_dataset(path))
        assert as_json(mf.to_dict()) == as_json(local.to_dict())
        recs = client.recommend(metafeatures=mf, task="regression", k=3, strategy="knn")
        assert all(isinstance(r, Recommendation) for r in recs)
        expected = recommend(metafeatures=local, task="regression", k=3, strategy="knn",
                             db=store)
        assert comparable(recs) == comparable(expected)
        frame = pd.read_csv(path, sep="\t")  # sent as Parquet; the task is inferred
        uploaded = client.recommend(data=frame, task="regression", k=2)
        assert comparable(uploaded) == comparable(recommend(frame, task="regression", k=2,
                                                            db=store))

        dataset = load_dataset("sklearn:diabetes")
        result = evaluate(default_config("knn", "regression"), dataset, protocol="cv2")
        answer = client.record(dataset, [result])
        assert answer["evaluations"] == 1
        stats = store.stats()
        client.record(dataset, [result])  # idempotent
        assert counts(store.stats()) == counts(stats)
        row = store.table("evaluation").iloc[-1]
        assert row["protocol"] == result.protocol and row["score"] == pytest.approx(result.score)
    with Client(live_url, token="wrong-token-0123456789abcdef") as intruder, \
            pytest.raises(ConfigurationError, match="401"):
        intruder.record(dataset, [result])
    with Client("http://127.0.0.1:9", retries=0) as nowhere, pytest.raises(
            Exception, match="Could not reach"):
        nowhere.health()


def test_recommend_with_server_asks_the_server(live_url: str, store: MetaDB,
                                               features: dict[str, Any]) -> None:
    import inspect

    if "server" not in inspect.signature(recommend).parameters:
        pytest.skip("automl_meta.recommend(server=...) is not there yet")
    mf = features["classification"]
    remote = recommend(metafeatures=mf, task="classification", k=3, server=live_url)
    local = recommend(metafeatures=mf, task="classification", k=3, db=store)
    assert comparable(remote) == comparable(local)
    path = PMLB / "1027_ESL.tsv.gz"  # extracted here; only the meta-features travel
    assert comparable(recommend(path, k=2, server=live_url)) == comparable(
        recommend(path, k=2, db=store))


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
    from automl_meta.service.schemas import Strategy

    assert set(Strategy.__args__) == set(LIBRARY)


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


# -- faults: kill -9 of a worker mid-write -------------------------------------------------
def _serve(url: str, port: int, workers: int, tmp_path: Path) -> Any:
    import subprocess
    import sys

    env = {**os.environ, "AUTOML_META_SHIPPED": str(tmp_path / "no-bundle"),
           "AUTOML_META_TOKEN": TOKEN}
    command = [sys.executable, "-c", "from automl_meta.cli import main; main()", "serve",
               "--db", url, "--port", str(port), "--workers", str(workers),
               "--no-access-log"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    import httpx

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, "automl-meta serve exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    _stop(process)
    raise AssertionError("automl-meta serve did not become healthy")


def _stop(process: Any) -> None:
    import signal
    import subprocess

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _workers(process: Any) -> list[int]:
    import psutil

    pids = []
    for child in psutil.Process(process.pid).children(recursive=True):
        try:  # a killed worker stays a zombie until uvicorn reaps and replaces it
            if child.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(
                    child.cmdline()):
                pids.append(child.pid)
        except psutil.Error:
            pass
    return pids


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_kill_9_of_a_worker_loses_no_acknowledged_write(tmp_path: Path, built: Path,
                                                        backend: str) -> None:
    """Every POST /v1/evaluations answered 2xx is in the store after the server restarts,
    though workers are killed with SIGKILL while eight clients write."""
    import signal

    import httpx

    url = postgres_copy(built, tmp_path) if backend == "postgres" else \
        f"sqlite:///{tmp_path / 'team.sqlite'}"
    (tmp_path / "no-bundle").mkdir()
    port = _free_port()
    server = _serve(url, port, workers=2, tmp_path=tmp_path)
    base = record_payload(n=1)
    base.pop("metafeatures")
    base.pop("extractor_version")
    acknowledged: set[str] = set()
    failed = [0]  # requests cut by a kill: never acknowledged, may or may not be stored
    lock = threading.Lock()
    stop = threading.Event()

    def writer(index: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=auth(),
                          timeout=20) as http:
            for n in range(100_000):
                if stop.is_set():
                    return
                protocol = f"cv2:s{index * 100_000 + n}"
                payload = {**base, "evaluations": [{**base["evaluations"][0],
                                                    "protocol": protocol}]}
                try:
                    response = http.post("/v1/evaluations", json=payload)
                except httpx.TransportError:
                    with lock:
                        failed[0] += 1
                    continue
                if response.status_code == 200:
                    with lock:
                        acknowledged.add(protocol)

    def wait_for_acks(count: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while len(acknowledged) < count and time.monotonic() < deadline:
            time.sleep(0.1)

    writers = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(8)]
    killed: list[int] = []
    try:
        for thread in writers:
            thread.start()
        for _ in range(3):
            wait_for_acks(len(acknowledged) + 20)  # writes are flowing
            pids = _workers(server)
            assert pids, "no live worker process: uvicorn did not replace the killed ones"
            victim = pids[len(killed) % len(pids)]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
        before = len(acknowledged)
        wait_for_acks(before + 20)  # and flow again after the kills
        served_after_kills = len(acknowledged) - before
    finally:
        stop.set()
        for thread in writers:
            thread.join(timeout=30)
        _stop(server)
    assert len(killed) == 3 and served_after_kills >= 20, (killed, served_after_kills)
    server = _serve(url, _free_port(), workers=1, tmp_path=tmp_path)  # the restart
    try:
        stored = set(MetaDB(url).table("evaluation")["protocol"])
    finally:
        _stop(server)
    lost = acknowledged - stored
    assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {sorted(lost)[:5]}"
