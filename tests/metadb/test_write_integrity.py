"""Meta-database writes that must never be lost, partial or poisoned (issue #19): large
records, atomic transactions, score ranges, concurrent creation, bundle imports,
meta-features attached.

PostgreSQL cases run when AUTOML_META_TEST_POSTGRES holds a URL of a database they may wipe.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from automl_meta.errors import ArtifactError, DatasetError, MetaDBError
from automl_meta.metadb import MetaDB
from automl_meta.metadb import _schema as s
from automl_meta.metadb._bundle import export_bundle, import_bundle
from automl_meta.space import default_config
from tests.conftest import wipe_postgres

POSTGRES_URL = os.environ.get("AUTOML_META_TEST_POSTGRES")
DATASET = {"name": "toy", "fingerprint": "f" * 32, "task": "classification", "n_rows": 100,
           "n_features": 3, "n_classes": 2}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.sqlite'}"
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need AUTOML_META_TEST_POSTGRES (a URL they may wipe)")
    wipe_postgres(POSTGRES_URL)
    return POSTGRES_URL


def _limit_sqlite_variables(db: MetaDB, limit: int = 999) -> None:
    """Make every connection of ``db`` behave like an SQLite built with an old limit."""
    db.engine.dispose()

    @event.listens_for(db.engine, "connect")
    def _limit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)


def _configs(n: int) -> list[dict[str, Any]]:
    return [{"algorithm": "knn", "params": {"n_neighbors": i + 1, "weights": "uniform", "p": 2}}
            for i in range(n)]


def _row(score: Any = 0.5, **metrics: Any) -> dict[str, Any]:
    return {"protocol": "cv3:s0", "status": "ok", "score": score,
            "metrics": {"balanced_accuracy": score, **metrics}, "fit_seconds": 0.1}


# -- batching and all-or-nothing ------------------------------------------------------------
def test_ten_thousand_evaluations_in_one_request(db_url: str) -> None:
    db = MetaDB(db_url)
    if db.dialect == "sqlite":
        _limit_sqlite_variables(db)  # 18 columns x 10,000 rows is far beyond 999 variables
    dataset_id, config_ids, stored = db.record(DATASET, _configs(10_000),
                                               [_row(0.5 + i / 40_000) for i in range(10_000)],
                                               {"nr_inst": 100.0}, {}, "1")
    assert len(set(config_ids)) == 10_000 and stored
    stats = db.stats()
    assert stats["evaluations"] == 10_000 and stats["configs"] == 10_000
    # the same rows again: idempotent, nothing doubled
    assert db.add_evaluations(dataset_id, [{**_row(), "config_id": c} for c in config_ids]) \
        == 10_000
    assert db.stats()["evaluations"] == 10_000


def test_a_failing_record_leaves_nothing_behind(db_url: str) -> None:
    db = MetaDB(db_url)
    rows = [_row() for _ in range(2_999)] + [_row(score=7.0)]
    with pytest.raises(DatasetError, match=r"evaluations\[2999\]\.score"):
        db.record(DATASET, _configs(3_000), rows, {"nr_inst": 100.0}, {}, "1")
    stats = db.stats()
    assert (stats["datasets"], stats["configs"], stats["evaluations"],
            stats["datasets_with_metafeatures"]) == (0, 0, 0, 0)


def test_a_transaction_rolls_back_every_table_on_error(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "m.sqlite")
    with pytest.raises(RuntimeError), db.transaction() as w:
        dataset_id = w.add_dataset(**DATASET)
        w.add_configs("classification", _configs(5))
        w.add_metafeatures(dataset_id, {"nr_inst": 1.0}, {}, "1")
        raise RuntimeError("stop")
    assert db.stats()["datasets"] == 0 and db.stats()["configs"] == 0


# -- score checks ---------------------------------------------------------------------------
@pytest.mark.parametrize(("field", "value"), [
    ("score", math.inf), ("score", -math.inf), ("score", 1e308), ("score", -5),
    ("score", 1.01), ("metrics.accuracy", 2.0), ("metrics.roc_auc", -0.1),
    ("metrics.log_loss", -1.0), ("score", "high"), ("score", True)])
def test_scores_outside_their_metric_are_refused(tmp_path: Path, field: str,
                                                 value: Any) -> None:
    db = MetaDB(tmp_path / "m.sqlite")
    dataset_id = db.add_dataset(**DATASET)
    (config_id,) = db.add_configs("classification", [default_config("knn")])
    row = {**_row(), "config_id": config_id}
    if field == "score":
        row["score"] = value
    else:
        row["metrics"] = {**row["metrics"], field.split(".")[1]: value}
    good = {**_row(), "config_id": config_id, "protocol": "cv5:s0"}
    with pytest.raises(DatasetError, match=rf"evaluations\[1\]\.{field}"):
        db.add_evaluations(dataset_id, [good, row])
    assert db.stats()["evaluations"] == 0


def test_regression_scores_follow_their_ranges(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "m.sqlite")
    dataset_id = db.add_dataset(**{**DATASET, "task": "regression", "n_classes": 0})
    (config_id,) = db.add_configs("regression", [default_config("knn", "regression")])

    def row(score: Any, **metrics: Any) -> dict[str, Any]:
        return {"config_id": config_id, "protocol": "cv3:s0", "status": "ok", "score": score,
                "metrics": {"r2": score, **metrics}}

    with pytest.raises(DatasetError, match=r"score = 1\.5 is outside the range of r2"):
        db.add_evaluations(dataset_id, [row(1.5)])
    with pytest.raises(DatasetError, match=r"metrics\.rmse"):
        db.add_evaluations(dataset_id, [row(0.3, rmse=-2.0)])
    # a negative R² is a legitimate (bad) score; NaN is a metric that was not computed
    db.add_evaluations(dataset_id, [row(-3.0, rmse=2.0, mae=float("nan"))])
    stored = db.table("evaluation").iloc[0]
    assert stored["score"] == -3.0 and stored["rmse"] == 2.0 and stored["mae"] is None


# -- concurrent creation of a new SQLite store ----------------------------------------------
def _open_store(path: str, start: float) -> str:
    while time.time() < start:
        time.sleep(0.001)
    try:
        db = MetaDB(path)
        version = db.schema_version()
        db.close()
        return f"ok {version}"
    except Exception as exc:  # reported to the parent, which fails the test
        return f"{type(exc).__name__}: {exc}"


def _create_concurrently(processes: int, rounds: int) -> list[str]:
    failures = []
    with mp.get_context("spawn").Pool(processes) as pool:
        pool.map(abs, range(processes))  # workers started and imported before the rounds
        for _ in range(rounds):
            path = str(Path(tempfile.mkdtemp()) / "new" / "store.sqlite")
            start = time.time() + 0.2
            results = pool.starmap(_open_store, [(path, start)] * processes)
            failures += [r for r in results if r != f"ok {s.SCHEMA_VERSION}"]
    return failures


def test_eight_processes_create_one_new_store() -> None:
    assert _create_concurrently(8, 3) == []


@pytest.mark.slow
def test_eight_processes_create_one_new_store_twenty_rounds() -> None:
    assert _create_concurrently(8, 20) == []


def test_a_failure_while_creating_tables_does_not_blame_the_url(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("CREATE TABLE", {}, Exception("disk I/O error"))

    monkeypatch.setattr(s.metadata, "create_all", broken)
    with pytest.raises(MetaDBError) as caught:
        MetaDB(tmp_path / "m.sqlite")
    assert "creating its tables failed" in str(caught.value)
    assert "credentials" not in str(caught.value)


# -- bundle import --------------------------------------------------------------------------
def _bundle(tmp_path: Path) -> Path:
    db = MetaDB(tmp_path / "source.sqlite")
    db.record(DATASET, _configs(3), [_row(0.6), _row(0.7), {**_row(None), "status": "error"}],
              {"nr_inst": 100.0, "nr_attr": 3.0}, {}, "1")
    export_bundle(db, tmp_path / "bundle")
    return tmp_path / "bundle"


def _edit_manifest(bundle: Path, edit: Any) -> None:
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def _empty(db: MetaDB) -> bool:
    stats = db.stats()
    return stats["datasets"] == stats["configs"] == stats["evaluations"] == 0


def test_a_good_bundle_imports_whole(tmp_path: Path) -> None:
    target = MetaDB(tmp_path / "target.sqlite")
    assert import_bundle(target, _bundle(tmp_path))["evaluations_added"] == 3
    assert target.stats()["datasets_with_metafeatures"] == 1


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: m["files"].pop("evaluation"), "lists no evaluation table"),
    (lambda m: m["files"]["config"].pop("sha256"), "lacks its checksum"),
    (lambda m: m["files"]["evaluation"].update(rows=2), "holds 3 rows where its manifest says 2"),
    (lambda m: m["files"]["dataset"].update(file="../source.sqlite"), "not a plain file name"),
    (lambda m: m["files"]["dataset"].update(file="/etc/passwd"), "not a plain file name"),
    (lambda m: m["files"].update({"../../etc/passwd": m["files"]["run"]}), "unknown table"),
])
def test_a_broken_manifest_is_refused_and_nothing_imported(tmp_path: Path, edit: Any,
                                                           message: str) -> None:
    bundle = _bundle(tmp_path)
    _edit_manifest(bundle, edit)
    target = MetaDB(tmp_path / "target.sqlite")
    with pytest.raises(ArtifactError, match=message):
        import_bundle(target, bundle)
    assert _empty(target)


def test_a_linked_table_is_read_only_when_its_checksum_matches(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    outside = tmp_path / "elsewhere.parquet"
    (bundle / "run.parquet").rename(outside)
    (bundle / "run.parquet").symlink_to(outside)
    import_bundle(MetaDB(tmp_path / "same.sqlite"), bundle)  # the same bytes: fine
    (bundle / "run.parquet").unlink()
    (bundle / "run.parquet").symlink_to(bundle / "evaluation.parquet")  # other bytes
    target = MetaDB(tmp_path / "target.sqlite")
    with pytest.raises(ArtifactError, match="checksum"):
        import_bundle(target, bundle)
    assert target.stats()["evaluations"] == 0


def _rewrite_table(bundle: Path, name: str, change: Any) -> None:
    import pandas as pd

    from automl_meta.metadb._bundle import _sha256

    path = bundle / f"{name}.parquet"
    frame = change(pd.read_parquet(path))
    frame.to_parquet(path, index=False)
    _edit_manifest(bundle, lambda m: m["files"][name].update(sha256=_sha256(path),
                                                             rows=len(frame)))


def test_an_evaluation_of_an_unknown_configuration_imports_nothing(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    _rewrite_table(bundle, "evaluation",
                   lambda f: f.assign(config_id=[f["config_id"].iloc[0], 999, 1000]))
    target = MetaDB(tmp_path / "target.sqlite")
    with pytest.raises(ArtifactError, match="config_id 999, 1000 that config.parquet"):
        import_bundle(target, bundle)
    assert _empty(target)


def test_an_invalid_score_in_a_bundle_imports_nothing(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    _rewrite_table(bundle, "evaluation", lambda f: f.assign(score=[0.5, 0.6, 40.0]))
    target = MetaDB(tmp_path / "target.sqlite")
    with pytest.raises(ArtifactError, match="invalid score"):
        import_bundle(target, bundle)
    assert _empty(target)


def test_a_missing_column_is_a_clear_error(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    _rewrite_table(bundle, "dataset", lambda f: f.drop(columns=["fingerprint"]))
    with pytest.raises(ArtifactError, match="lacks the column"):
        import_bundle(MetaDB(tmp_path / "target.sqlite"), bundle)


# -- datasets without meta-features ---------------------------------------------------------
def _described_store(path: Path) -> MetaDB:
    db = MetaDB(path)
    for i, size in enumerate([100.0, 110.0, 5000.0, 5200.0]):
        db.record({**DATASET, "name": f"d{i}", "fingerprint": f"{i}" * 32},
                  _configs(2), [_row(0.9 - 0.3 * (i < 2)), _row(0.5 + 0.3 * (i < 2))],
                  {"nr_inst": size, "nr_attr": 3.0}, {}, "1")
    return db


def test_a_dataset_without_metafeatures_is_no_neighbour_until_they_arrive(
        tmp_path: Path) -> None:
    from automl_meta.metalearners import KNNLearner
    from automl_meta.metalearners._knowledge import load_knowledge

    db = _described_store(tmp_path / "m.sqlite")
    bare = {**DATASET, "name": "bare", "fingerprint": "b" * 32}
    db.record(bare, _configs(2), [_row(0.1), _row(0.2)])  # no meta-features
    assert db.stats()["evaluations"] == 10  # its evaluations are kept

    knowledge = load_knowledge(user_db=db, include_shipped=False)
    assert knowledge.undescribed == ["b" * 32]
    assert "b" * 32 not in knowledge.matrix("classification").datasets
    learner = KNNLearner(n_neighbors=2).fit(knowledge)
    recs = learner.recommend({"nr_inst": 2500.0, "nr_attr": 3.0}, "classification", k=1)
    assert "bare" not in recs[0].details["neighbours"]

    # a later record with its meta-features makes it usable
    db.record(bare, [], [], {"nr_inst": 2500.0, "nr_attr": 3.0}, {}, "1")
    knowledge = load_knowledge(user_db=db, include_shipped=False)
    assert knowledge.undescribed == []
    learner = KNNLearner(n_neighbors=2).fit(knowledge)
    recs = learner.recommend({"nr_inst": 2500.0, "nr_attr": 3.0}, "classification", k=1)
    assert recs[0].details["neighbours"][0] == "bare"


def test_record_evaluations_always_attaches_metafeatures(tmp_path: Path) -> None:
    from automl_meta import load_dataset, record_evaluations
    from automl_meta.evaluation import Evaluation

    db = MetaDB(tmp_path / "m.sqlite")
    ev = Evaluation(default_config("knn"), "cv3:s0", "ok", task="classification",
                    metrics={"balanced_accuracy": 0.9, "roc_auc": float("nan")})
    record_evaluations(db, load_dataset("sklearn:iris"), [ev])
    assert db.stats()["datasets_with_metafeatures"] == 1
    assert db.stats()["evaluations"] == 1
