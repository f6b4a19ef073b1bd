"""Importing Optuna studies into the meta-database: complete trials once, loss studies,
journal files, and the ``db import-optuna`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from automl_meta.errors import (
    ArtifactError,
    ConfigurationError,
)
from automl_meta.metadb import MetaDB
from tests.metadb._helpers import _cells


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
