"""Contract tests of the meta-database, run against every backend (SQLite file, PostgreSQL).

PostgreSQL tests run when AUTOML_META_TEST_POSTGRES holds a URL of a database they may wipe
(``.ci/run`` starts Debian's server on loopback and sets it).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from automl_meta.errors import ArtifactError, MetaDBError, SchemaVersionError
from automl_meta.metadb import BuildSettings, MetaDB, build, family_of
from automl_meta.metadb import _schema as s
from automl_meta.metadb._bundle import export_bundle, import_bundle
from automl_meta.space import default_config

PMLB = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "pmlb"
POSTGRES_URL = os.environ.get("AUTOML_META_TEST_POSTGRES")
SMALL = ["analcatdata_aids", "1096_FacultySalaries"]  # one classification, one regression
FAST = BuildSettings(configs_per_algorithm=2, protocol="cv2", max_rows=120, time_limit=60,
                     chunk_size=3, metafeatures=False, algorithms=("linear", "knn"))

requires_pmlb = pytest.mark.skipif(not PMLB.is_dir(),
                                   reason=f"needs the shared PMLB datasets at {PMLB}")


def _wipe_postgres(url: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.begin() as conn:
        for table in reversed((*s.TABLES, s.schema_version)):
            conn.execute(text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.sqlite'}"
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need AUTOML_META_TEST_POSTGRES (a URL they may wipe)")
    _wipe_postgres(POSTGRES_URL)
    return POSTGRES_URL


def _paths() -> list[Path]:
    return [PMLB / f"{name}.tsv.gz" for name in SMALL]


def _cells(db: MetaDB) -> list[tuple[str, str, str, str, float | None]]:
    evaluations = db.table("evaluation")
    datasets = db.table("dataset").set_index("id")["fingerprint"]
    configs = db.table("config").set_index("id")["hash"]
    return sorted(
        (datasets[r.dataset_id], configs[r.config_id], r.protocol, r.status,
         None if r.score != r.score else round(float(r.score), 10))
        for r in evaluations.itertuples()
    )


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


@requires_pmlb
def test_build_is_dense_resumable_and_exports_round_trip(db_url: str, tmp_path: Path) -> None:
    db = MetaDB(db_url)
    totals = build(db, _paths(), FAST, jobs=1, progress=False)
    stats = db.stats()
    grid_sizes = {task: len(db.grid(FAST.grid_name(task)))
                  for task in ("classification", "regression")}
    assert stats["datasets"] == 2
    assert stats["evaluations"] == sum(grid_sizes.values()) == totals["ok"] + totals["failed"]
    again = build(db, _paths(), FAST, jobs=1, progress=False)
    assert again["missing_before"] == 0 and db.stats()["evaluations"] == stats["evaluations"]

    manifest = export_bundle(db, tmp_path / "bundle", command="test")
    assert manifest["counts"]["evaluations"] == stats["evaluations"]
    copy = MetaDB(tmp_path / "copy.sqlite")
    assert import_bundle(copy, tmp_path / "bundle")["evaluations_added"] == stats["evaluations"]
    assert import_bundle(copy, tmp_path / "bundle")["evaluations_added"] == 0
    assert _cells(copy) == _cells(db)


def test_a_tampered_bundle_is_refused(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "a.sqlite")
    export_bundle(db, tmp_path / "bundle")
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    manifest["files"]["evaluation"]["sha256"] = "0" * 64
    (tmp_path / "bundle" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="checksum"):
        import_bundle(MetaDB(tmp_path / "b.sqlite"), tmp_path / "bundle")
    with pytest.raises(ArtifactError, match="not an automl-meta bundle"):
        import_bundle(db, tmp_path)


def test_family_names_follow_pmlb() -> None:
    assert family_of("1027_ESL") == "esl"
    assert family_of("fri_c0_100_5") == "fri"
    assert family_of("GAMETES_Epistasis_2-Way") == "gametes"
    assert family_of("analcatdata_aids") == "analcatdata"
    assert family_of("mfeat-fourier") == "mfeat"


def _build_worker(url: str) -> None:
    build(MetaDB(url), _paths(), FAST, jobs=1, progress=False)


@requires_pmlb
@pytest.mark.parametrize("processes", [4, 8])
def test_concurrent_builders_write_every_cell_exactly_once(db_url: str, processes: int) -> None:
    if db_url.startswith("sqlite") and processes != 4:
        pytest.skip("SQLite is exercised with 4 writers, PostgreSQL with 8")
    if db_url.startswith("postgresql") and processes != 8:
        pytest.skip("SQLite is exercised with 4 writers, PostgreSQL with 8")
    MetaDB(db_url).close()  # create the schema once, as a user would
    context = mp.get_context("spawn")
    workers = [context.Process(target=_build_worker, args=(db_url,)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
        assert worker.exitcode == 0
    db = MetaDB(db_url)
    cells = _cells(db)
    keys = [cell[:3] for cell in cells]
    expected = sum(len(db.grid(FAST.grid_name(t))) for t in ("classification", "regression"))
    assert len(keys) == len(set(keys)) == expected


_KILLABLE_BUILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from automl_meta.metadb import BuildSettings, MetaDB, build
    settings = BuildSettings(configs_per_algorithm=4, protocol="cv2", max_rows=150,
                             chunk_size=2, metafeatures=False, algorithms=("linear", "knn"))
    paths = [Path(p) for p in sys.argv[2:]]
    build(MetaDB(sys.argv[1]), paths, settings, jobs=2, progress=False)
""")


@requires_pmlb
def test_sigkill_then_resume_equals_an_uninterrupted_build(tmp_path: Path) -> None:
    paths = [str(p) for p in _paths()]
    reference = tmp_path / "reference.sqlite"
    subprocess.run([sys.executable, "-c", _KILLABLE_BUILD, str(reference), *paths], check=True)
    killed = tmp_path / "killed.sqlite"
    process = subprocess.Popen([sys.executable, "-c", _KILLABLE_BUILD, str(killed), *paths],
                               start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.2)
        if killed.exists():
            try:
                if MetaDB(killed).stats()["evaluations"] >= 3:
                    break
            except MetaDBError:
                continue
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    partial = MetaDB(killed).stats()["evaluations"]
    subprocess.run([sys.executable, "-c", _KILLABLE_BUILD, str(killed), *paths], check=True)
    expected = _cells(MetaDB(reference))
    assert 0 < partial < len(expected)
    assert _cells(MetaDB(killed)) == expected
