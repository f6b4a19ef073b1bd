"""Contract tests of the meta-database store, run against every backend (SQLite file,
PostgreSQL): idempotent writes, schema versions, files that are no store.

PostgreSQL tests run when AUTOML_META_TEST_POSTGRES holds a URL of a database they may wipe
(``.ci/run`` starts Debian's server on loopback and sets it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from automl_meta.errors import (
    ArtifactError,
    MetaDBError,
    SchemaVersionError,
)
from automl_meta.metadb import MetaDB
from automl_meta.metadb import _schema as s
from automl_meta.space import default_config


def test_dataset_and_config_writes_are_idempotent(db_url: str) -> None:
    db = MetaDB(db_url)
    first = db.add_dataset("1027_ESL", "abc", "regression", 10, 3)
    assert db.add_dataset("1027_ESL copy", "abc", "regression", 10, 3) == first
    assert db.add_dataset("other", "def", "regression", 10, 3) != first
    configs = [default_config("knn"), default_config("linear")]
    ids = db.add_configs("classification", configs)
    assert db.add_configs("classification", list(reversed(configs))) == list(reversed(ids))
    assert db.stats()["configs"] == 2
    assert db.table("dataset").set_index("id").loc[first, "family"] == "esl"


def test_an_evaluation_cell_is_written_once(db_url: str) -> None:
    db = MetaDB(db_url)
    dataset_id = db.add_dataset("d", "fp", "classification", 10, 2, 2)
    (config_id,) = db.add_configs("classification", [default_config("knn")])
    row = {"config_id": config_id, "protocol": "cv3:s0", "status": "ok", "score": 0.5,
           "metrics": {"balanced_accuracy": 0.5}}
    db.add_evaluations(dataset_id, [row])
    db.add_evaluations(dataset_id, [{**row, "score": 0.9}])
    table = db.table("evaluation")
    assert len(table) == 1 and table["score"].iloc[0] == pytest.approx(0.5)
    db.add_evaluations(dataset_id, [{**row, "protocol": "cv5:s0"}])
    assert db.done_cells(dataset_id, "cv3:s0") == {config_id}
    assert db.stats()["evaluations"] == 2


def test_metafeatures_of_a_new_extractor_replace_the_old(db_url: str) -> None:
    db = MetaDB(db_url)
    dataset_id = db.add_dataset("d", "fp", "classification", 10, 2, 2)
    db.add_metafeatures(dataset_id, {"a": 1.0, "b": float("nan")}, {"a": 0.1}, "1")
    db.add_metafeatures(dataset_id, {"a": 2.0}, {}, "2")
    table = db.table("metafeature")
    assert table["name"].tolist() == ["a"] and table["value"].tolist() == [2.0]
    assert db.metafeature_version(dataset_id) == "2"


def test_stats_report_integer_coverage(db_url: str) -> None:
    stats = MetaDB(db_url).stats()
    for key in ("datasets", "configs", "evaluations", "failures", "bytes"):
        assert isinstance(stats[key], int)
    assert stats["schema_version"] == s.SCHEMA_VERSION


def test_a_store_of_another_schema_version_is_refused(db_url: str) -> None:
    db = MetaDB(db_url)
    with db.engine.begin() as conn:
        conn.execute(s.schema_version.insert().values(version=99, applied_at="x"))
    db.close()
    with pytest.raises(SchemaVersionError, match="db upgrade"):
        MetaDB(db_url)


def _downgrade_to_v1(url: str) -> None:
    """Turn a fresh store into what schema version 1 wrote (no evaluation.n_rows_used)."""
    db = MetaDB(url)
    dataset_id = db.add_dataset("d", "fp", "classification", 10, 2, 2)
    (config_id,) = db.add_configs("classification", [default_config("knn")])
    db.add_evaluations(dataset_id, [{"config_id": config_id, "protocol": "cv3:s0",
                                     "status": "ok", "score": 0.7}])
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE evaluation DROP COLUMN n_rows_used"))
        conn.execute(s.schema_version.delete())
        conn.execute(s.schema_version.insert().values(version=1, applied_at="x"))
    db.close()


def test_an_old_store_is_refused_until_upgraded_then_keeps_its_data(db_url: str) -> None:
    from automl_meta.metadb._migrations import upgrade

    _downgrade_to_v1(db_url)
    with pytest.raises(SchemaVersionError, match="automl-meta db upgrade"):
        MetaDB(db_url)
    assert upgrade(db_url) == (1, s.SCHEMA_VERSION)
    assert upgrade(db_url) == (s.SCHEMA_VERSION, s.SCHEMA_VERSION)
    db = MetaDB(db_url)
    assert db.table("evaluation")["score"].tolist() == [0.7]
    dataset_id = db.add_dataset("e", "fp2", "classification", 10, 2, 2)
    (config_id,) = db.add_configs("classification", [default_config("knn")])
    db.add_evaluations(dataset_id, [{"config_id": config_id, "protocol": "cv3:s0",
                                     "status": "ok", "score": 0.8, "n_rows_used": 10}])
    assert db.table("evaluation")["n_rows_used"].tolist()[-1] == 10


def test_a_bad_url_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MetaDBError, match="Could not open"):
        MetaDB("postgresql+psycopg://nobody:x@127.0.0.1:1/none")


# -- a --db that is an existing file but no SQLite database -------------------------------

@pytest.mark.parametrize("content", [b"", b"a,target\n1,0\n", b"not a database at all, " * 9])
def test_an_existing_file_that_is_no_sqlite_database_is_refused_unchanged(
        tmp_path: Path, content: bytes) -> None:
    from typer.testing import CliRunner

    from automl_meta.cli import app
    from automl_meta.metadb._migrations import upgrade

    path = tmp_path / "data.csv"
    path.write_bytes(content)
    what = "is empty" if not content else "is not an SQLite database"
    for location in (path, f"sqlite:///{path}") if content else (path,):
        with pytest.raises(MetaDBError, match=f"{path.name}' exists but {what}.*unchanged"):
            MetaDB(location)
    if content:  # (an empty file is waited for once per attempt: keep the test short)
        with pytest.raises(MetaDBError, match="not an SQLite database"):
            upgrade(str(path))
        result = CliRunner().invoke(app, ["db", "stats", "--db", str(path)])
        assert isinstance(result.exception, MetaDBError)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]
    fresh = MetaDB(tmp_path / "new" / "store.sqlite")
    assert fresh.stats()["evaluations"] == 0


def test_an_empty_file_another_process_is_turning_into_a_store_is_waited_for(
        tmp_path: Path) -> None:
    import threading

    source = tmp_path / "made.sqlite"
    MetaDB(source).close()
    target = tmp_path / "racing.sqlite"
    target.write_bytes(b"")
    writer = threading.Timer(0.3, lambda: target.write_bytes(source.read_bytes()))
    writer.start()
    try:
        assert MetaDB(target).stats()["schema_version"] == s.SCHEMA_VERSION
    finally:
        writer.join()


def test_a_truncated_shipped_file_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    import shutil

    from automl_meta.metalearners import load_knowledge

    shipped = Path(__file__).resolve().parents[2] / "meta_db"
    bundle = tmp_path / "meta_db"
    shutil.copytree(shipped, bundle, ignore=shutil.ignore_patterns("learners"))
    evaluation = bundle / "evaluation.parquet"
    evaluation.write_bytes(evaluation.read_bytes()[: evaluation.stat().st_size // 2])
    with pytest.raises(ArtifactError, match="evaluation.parquet.*truncated"):
        load_knowledge(bundle, False)


def test_a_corrupted_sqlite_store_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 12)
    with pytest.raises(MetaDBError, match="store.sqlite.*not a database"):
        MetaDB(path)
