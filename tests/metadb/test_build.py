"""Building the meta-database: dense, resumable, concurrent, killed and resumed;
bundles exported and imported; the shipped and pending bundles."""

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

from automl_meta.errors import (
    ArtifactError,
    MetaDBError,
)
from automl_meta.metadb import BuildSettings, MetaDB, build, family_of
from automl_meta.metadb._bundle import export_bundle, import_bundle
from automl_meta.space import algorithms
from tests.metadb._helpers import FAST, _cells, _paths, requires_pmlb


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


def test_a_dask_build_evaluates_every_cell(tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason="needs dask.distributed (the dask extra)")
    db = MetaDB(tmp_path / "dask.sqlite")
    settings = BuildSettings(configs_per_algorithm=1, protocol="cv3", max_rows=150,
                             metafeatures=False, time_limit=60)
    totals = build(db, ["sklearn:iris"], settings, jobs=2, backend="dask", progress=False)
    # before run_chunk kept joblib's backend out of its tasks, every evaluation hung
    # every algorithm's default and one random configuration
    assert totals["failed"] == 0 and totals["ok"] == db.stats()["evaluations"] == 2 * len(
        algorithms("classification"))


def test_the_shipped_meta_db_meets_the_v3_bars(tmp_path: Path) -> None:
    """meta_db/ (v3): imported into a new store it is what its manifest says, and it meets
    issue #24's bars; ``db stats --shipped --json`` reports the same."""
    import json

    from typer.testing import CliRunner

    from automl_meta.cli import app

    root = Path(__file__).resolve().parents[2] / "meta_db"
    manifest = json.loads((root / "manifest.json").read_text())
    db = MetaDB(tmp_path / "v3.sqlite")
    import_bundle(db, root)
    stats = db.stats()
    assert {k: stats[k] for k in manifest["counts"]} == manifest["counts"]
    assert stats["datasets_with_metafeatures"] >= 300 and stats["evaluations"] >= 60_000
    assert all(n >= 10 for n in stats["algorithms_per_task"].values())
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file()
               and "v3-build" not in f.parts)
    assert size <= 25 * 2**20
    for task in ("classification", "regression"):
        grid = manifest["grids"][f"{task}:n40:s0:lightgbm+xgboost+catboost"]["per_algorithm"]
        assert grid == {"lightgbm": 41, "xgboost": 41, "catboost": 41}
    assert set(stats["evaluations_by_protocol"]) == {"cv3:s0", "cv3:s0:r10000"}
    shown = CliRunner().invoke(app, ["db", "stats", "--shipped", "--json"])
    assert shown.exit_code == 0, shown.output
    reported = json.loads(shown.output)
    assert reported["evaluations"] == stats["evaluations"]
    assert reported["datasets_with_metafeatures"] == stats["datasets_with_metafeatures"]
