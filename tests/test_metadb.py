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

import numpy as np
import pytest
from conftest import wipe_postgres
from sqlalchemy import text

from automl_meta.errors import (
    ArtifactError,
    ConfigurationError,
    MetaDBError,
    SchemaVersionError,
)
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


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.sqlite'}"
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need AUTOML_META_TEST_POSTGRES (a URL they may wipe)")
    wipe_postgres(POSTGRES_URL)
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


# -- importing Optuna studies (db import-optuna) ------------------------------------------

def _fake_score(config: dict) -> float:
    """A cheap, deterministic stand-in for a cross-validated score of ``config``."""
    from automl_meta.space import config_hash

    return 0.5 + int(config_hash(config)[:4], 16) / 0xFFFF / 2


def _small_csv(tmp_path: Path) -> Path:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    path = tmp_path / "small.csv"
    pd.DataFrame({"a": rng.normal(size=60).round(4), "b": rng.normal(size=60).round(4),
                  "target": rng.choice(["x", "y"], size=60)}).to_csv(path, index=False)
    return path


def _make_study(storage: object, name: str = "study", direction: str = "maximize",
                n_trials: int = 14, transform: object = None) -> object:
    """A study sampled with automl_meta.space.suggest: trial 2 fails, 3 are pruned, trial 0's
    configuration is tried again (trial 14), and trials 15-17 use foreign names (``C``)."""
    import optuna

    from automl_meta.space import suggest

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=storage, study_name=name, direction=direction,
                                sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        config = suggest(trial, "classification", ["knn", "linear"])
        if trial.number == 2:
            raise ValueError("the objective's own bug")
        if trial.number in (4, 9, 12):
            raise optuna.TrialPruned()
        score = _fake_score(config)
        return transform(score) if transform else score

    study.optimize(objective, n_trials=n_trials, catch=(ValueError,))
    study.enqueue_trial(study.trials[0].params)
    study.optimize(objective, n_trials=1)
    study.optimize(lambda t: 0.1 + t.suggest_float("C", 0.01, 10.0, log=True) / 100,
                   n_trials=3)
    return study


def _expected_cells(study: object) -> dict[str, float]:
    """Config hash -> score of the complete trials in automl-meta naming."""
    from optuna.trial import TrialState

    from automl_meta.space import config_hash, trial_params_to_config, validate_config

    out = {}
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        if "algorithm" in trial.params:
            config = validate_config(trial_params_to_config(trial.params), "classification")
            out[config_hash(config)] = _fake_score(config)
    return out


def test_import_optuna_study_records_complete_trials_once(db_url: str, tmp_path: Path) -> None:
    from automl_meta.metadb import import_optuna_study
    from automl_meta.metadb._optuna_import import NAMING

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = _make_study(storage)
    expected = _expected_cells(study)
    data = _small_csv(tmp_path)
    db = MetaDB(db_url)

    summary = import_optuna_study(db, storage, "study", data, task="classification")
    assert summary.skipped == {"failed trials": 1, "pruned trials": 3, NAMING: 3}
    assert summary.examples[NAMING] == "trial 15 has C"
    assert summary.imported == len(expected) and summary.repeats == 1
    assert summary.trials == len(study.trials) == (summary.imported + summary.already_present
                                                   + summary.repeats + summary.n_skipped)
    assert str(summary).startswith(f"imported {len(expected)}, 1 repeated a configuration")
    assert f"3 {NAMING} (first: trial 15 has C;" in str(summary)

    evaluations = db.table("evaluation")
    configs = db.table("config").set_index("id")
    stored = {configs.loc[r.config_id, "hash"]: r for r in evaluations.itertuples()}
    assert set(stored) == set(expected)
    for key, row in stored.items():
        assert (row.protocol, row.status) == ("cv5:s0", "ok")
        assert row.score == pytest.approx(expected[key])
        assert row.balanced_accuracy == pytest.approx(expected[key])
    assert db.stats()["datasets_with_metafeatures"] == 1
    runs = db.table("run")
    assert runs["kind"].tolist() == ["optuna_import"]
    assert json.loads(runs["notes"].iloc[0])["study"] == "study"
    assert runs["best_score"].iloc[0] == pytest.approx(max(expected.values()))

    again = import_optuna_study(db, storage, "study", data, task="classification")
    assert (again.imported, again.already_present) == (0, len(expected))
    assert str(again).startswith(f"imported 0 ({len(expected)} already in the store)")
    assert len(db.table("evaluation")) == len(expected) and len(db.table("run")) == 1

    mapped = import_optuna_study(db, storage, "study", data, task="classification",
                                 param_map={"C": "linear__C"})
    assert mapped.imported == 3 and NAMING not in mapped.skipped
    assert len(db.table("evaluation")) == len(expected) + 3
    linear = [json.loads(p) for p in db.table("config").query("algorithm == 'linear'")
              ["params_json"]]
    for trial in study.trials[15:]:  # C from the study, class_weight from the default
        assert {"C": pytest.approx(trial.params["C"]), "class_weight": None} in linear

    other = import_optuna_study(db, storage, "study", data, task="classification",
                                protocol="cv3")
    assert other.imported == len(expected) and other.protocol == "cv3:s0"


def test_import_optuna_loss_studies_fill_their_column_not_the_score(tmp_path: Path) -> None:
    from optuna.storages import InMemoryStorage

    from automl_meta.metadb import import_optuna_study
    from automl_meta.metalearners import load_knowledge

    storage = InMemoryStorage()  # a storage object works too (and is quick)
    study = _make_study(storage, "loss", direction="minimize",
                        transform=lambda score: 2.0 - score)
    expected = _expected_cells(study)
    data = _small_csv(tmp_path)
    db = MetaDB(tmp_path / "meta.sqlite")
    with pytest.raises(ConfigurationError, match="minimizes.*--metric log_loss"):
        import_optuna_study(db, storage, "loss", data, task="classification")
    assert db.stats()["evaluations"] == 0

    summary = import_optuna_study(db, storage, "loss", data, task="classification",
                                  metric="log_loss")
    assert summary.imported == len(expected) and summary.direction == "minimize"
    assert any("log_loss is a loss" in note for note in summary.notes)
    rows = db.table("evaluation")
    assert rows["score"].isna().all() and rows["balanced_accuracy"].isna().all()
    assert sorted(rows["log_loss"].round(9)) == sorted(round(2.0 - v, 9)
                                                       for v in expected.values())
    fingerprint = db.table("dataset")["fingerprint"].iloc[0]
    knowledge = load_knowledge(user_db=db, include_shipped=False)
    assert "classification" not in knowledge.matrices  # neither ranked nor failures

    negated = _make_study(storage, "neg", transform=lambda score: -(2.0 - score))
    with pytest.raises(ConfigurationError, match="maximizes.*--negate"):
        import_optuna_study(db, storage, "neg", data, task="classification",
                            metric="log_loss")
    assert import_optuna_study(db, storage, "neg", data, task="classification",
                               metric="log_loss", negate=True, protocol="cv3").imported == len(
        _expected_cells(negated))
    cv3 = db.table("evaluation").query("protocol == 'cv3:s0'")
    assert (cv3["log_loss"] > 0).all()

    scores = _make_study(storage, "scores")  # a study of the primary metric does rank
    import_optuna_study(db, storage, "scores", data, task="classification", protocol="cv4")
    matrix = load_knowledge(user_db=db, include_shipped=False).matrix("classification")
    assert matrix.datasets == [fingerprint]
    assert (~np.isnan(matrix.raw)).sum() == len(_expected_cells(scores))


def test_import_optuna_reads_journal_files_and_refuses_what_is_no_storage(
        tmp_path: Path) -> None:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from automl_meta.metadb import import_optuna_study

    journal = tmp_path / "journal.log"
    study = _make_study(JournalStorage(JournalFileBackend(str(journal))), "j")
    data = _small_csv(tmp_path)
    db = MetaDB(tmp_path / "meta.sqlite")
    summary = import_optuna_study(db, journal, "j", data, task="classification")
    assert summary.imported == len(_expected_cells(study)) > 0

    with pytest.raises(ArtifactError, match=r"No study named 'jj'.*Did you mean: 'j'"):
        import_optuna_study(db, journal, "jj", data, task="classification")
    for missing in (tmp_path / "none.db", f"sqlite:///{tmp_path / 'none.db'}"):
        with pytest.raises(ArtifactError, match="No Optuna storage at"):
            import_optuna_study(db, missing, "j", data, task="classification")
    assert not (tmp_path / "none.db").exists()
    store_bytes = (tmp_path / "meta.sqlite").read_bytes()
    with pytest.raises(ArtifactError, match="not an Optuna storage"):
        import_optuna_study(db, tmp_path / "meta.sqlite", "j", data, task="classification")
    with pytest.raises(ArtifactError, match="Could not read the Optuna storage"):
        import_optuna_study(db, data, "j", data, task="classification")
    assert (tmp_path / "meta.sqlite").read_bytes() == store_bytes


def test_db_import_optuna_stats_export_and_import_on_the_command_line(
        tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from automl_meta.cli import app

    runner = CliRunner()
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    expected = _expected_cells(_make_study(storage, "cli"))
    data, first, second = _small_csv(tmp_path), tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    command = ["db", "import-optuna", storage, "--study", "cli", "--data", str(data),
               "--task", "classification", "--db", str(first)]

    result = runner.invoke(app, [*command, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["imported"] == len(expected)
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert f"imported 0 ({len(expected)} already in the store)" in " ".join(result.output.split())
    result = runner.invoke(app, [*command, "--param-map", "[1, 2]"])
    assert result.exit_code == 2 and "--param-map must be a JSON object" in result.output

    result = runner.invoke(app, ["db", "stats", "--json", "--db", str(first)])
    stats = json.loads(result.stdout)
    for key in ("datasets", "configs", "evaluations", "failures", "bytes"):
        assert isinstance(stats[key], int) and not isinstance(stats[key], bool)
    assert (stats["datasets"], stats["evaluations"], stats["failures"]) == (1, len(expected), 0)
    assert stats["bytes"] > 0

    bundle = tmp_path / "bundle"
    assert runner.invoke(app, ["db", "export", str(bundle), "--db", str(first)]).exit_code == 0
    for _ in range(2):  # importing twice adds nothing the second time
        assert runner.invoke(app, ["db", "import", str(bundle), "--db", str(second)]
                             ).exit_code == 0
    assert _cells(MetaDB(second)) == _cells(MetaDB(first))
    assert len(MetaDB(second).table("run")) == 1
    assert MetaDB(second).table("metafeature").shape == MetaDB(first).table("metafeature").shape


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

    shipped = Path(__file__).resolve().parents[1] / "meta_db"
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


def test_a_dask_build_evaluates_every_cell(tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason="needs dask.distributed (the dask extra)")
    db = MetaDB(tmp_path / "dask.sqlite")
    settings = BuildSettings(configs_per_algorithm=1, protocol="cv3", max_rows=150,
                             metafeatures=False, time_limit=60)
    totals = build(db, ["sklearn:iris"], settings, jobs=2, backend="dask", progress=False)
    # before run_chunk kept joblib's backend out of its tasks, every evaluation hung
    assert totals["failed"] == 0 and totals["ok"] == db.stats()["evaluations"] == 14


def test_the_pending_bundle_uses_the_shipped_grid_and_adds_only_its_own_datasets(
        tmp_path: Path) -> None:
    """meta_db/pending/ (built after the shipped bundle, not read by the loader) merges
    into a store holding the shipped bundle: same configurations, 27 new datasets."""
    from automl_meta.metadb._bundle import read_bundle_tables

    root = Path(__file__).resolve().parents[1] / "meta_db"
    shipped, pending = read_bundle_tables(root), read_bundle_tables(root / "pending")
    assert set(pending["config"]["hash"]) <= set(shipped["config"]["hash"])
    db = MetaDB(tmp_path / "merged.sqlite")
    before = import_bundle(db, root)["evaluations_added"]
    added = import_bundle(db, root / "pending")["evaluations_added"]
    stats = db.stats()
    assert stats["evaluations"] == before + added and 0 < added < len(pending["evaluation"])
    assert stats["datasets_evaluated"] - len(set(shipped["evaluation"]["dataset_id"])) == 27
