"""fit() under a budget, the scikit-learn estimators, and saving a result."""

from __future__ import annotations

import io
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import serving
from sklearn.base import BaseEstimator, clone
from typer.testing import CliRunner

from automl_meta import AutoMetaClassifier, AutoMetaRegressor, FitProgress, MetaDB, fit, load_model
from automl_meta.automl import parse_budget, save_result
from automl_meta.cli import app, main
from automl_meta.errors import (
    ArtifactError,
    AutoMLMetaError,
    AutoMLMetaWarning,
    ConfigurationError,
    DatasetError,
)


@pytest.fixture(autouse=True)
def isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test records into its own store and learns from no shipped bundle."""
    monkeypatch.setenv("AUTOML_META_SHIPPED", str(tmp_path / "no-bundle"))
    monkeypatch.setenv("AUTOML_META_DB", str(tmp_path / "user.sqlite"))
    return tmp_path / "user.sqlite"


def test_parse_budget_accepts_durations_and_rejects_nonsense() -> None:
    assert parse_budget(30) == 30.0
    assert parse_budget("90s") == 90.0
    assert parse_budget("2m") == 120.0
    assert parse_budget("1h") == 3600.0
    assert parse_budget("1m30s") == 90.0
    for bad in ("", "soon", "-5", 0, "10x", float("nan"), float("inf")):
        with pytest.raises(ConfigurationError):
            parse_budget(bad)


def test_fit_holds_its_budget_records_the_run_and_predicts(isolated_store: Path) -> None:
    budget = 12.0
    seen: list[FitProgress] = []
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit("sklearn:breast_cancer", budget=budget, callback=seen.append)
    elapsed = time.perf_counter() - started
    assert elapsed <= budget * 1.1
    assert_progress_tells_the_story(seen, result, budget)
    assert len(result.leaderboard) >= 2
    assert result.leaderboard["balanced_accuracy"].iloc[0] == pytest.approx(
        result.leaderboard["balanced_accuracy"].max())
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    accuracy = float((result.predict(X) == y.to_numpy()).mean())
    assert accuracy > 0.9
    proba = result.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(axis=1), 1.0)
    stats = MetaDB(isolated_store).stats()
    assert stats["runs"] == 1 and stats["evaluations"] >= len(result.leaderboard) - 1
    assert stats["datasets_with_metafeatures"] == 1


def test_fit_can_skip_recording(isolated_store: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit("sklearn:diabetes", budget=6, record=False)
    assert MetaDB(isolated_store).stats()["evaluations"] == 0


def test_fit_searches_with_the_protocol_asked_for_and_checks_it_first(
        isolated_store: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit("sklearn:iris", budget=5, protocol="cv5")
    assert result.protocol == "cv5"
    recorded = MetaDB(isolated_store).table("evaluation")
    assert len(recorded) >= 1 and set(recorded["protocol"]) == {"cv5:s0"}
    started = time.perf_counter()
    with pytest.raises(ConfigurationError, match="'cv1' is not a protocol we know"):
        fit("sklearn:iris", budget=30, protocol="cv1", record=False)
    assert time.perf_counter() - started < 10  # refused up front, not after the budget


def test_refit_time_is_scaled_from_the_validation_fits_of_the_protocol() -> None:
    from automl_meta import load_dataset
    from automl_meta.automl._fit import _refit_seconds
    from automl_meta.evaluation import Evaluation
    from automl_meta.space import default_config

    data = load_dataset("sklearn:iris")
    half = data.subsample(75, random_state=0)

    def expected(protocol: str) -> float:
        evaluation = Evaluation(default_config("linear"), protocol, "ok",
                                task="classification", fit_seconds=8.0)
        return _refit_seconds(evaluation, data, half)

    # cv5: five fits on 4/5 of the rows are four full fits; cv3 two; a holdout 0.75 of one
    assert expected("cv5:s0") == pytest.approx(8.0 / 4 * 2)
    assert expected("cv3:s0") == pytest.approx(8.0 / 2 * 2)
    assert expected("holdout0.25:s0") == pytest.approx(8.0 / 0.75 * 2)


def test_a_refit_that_cannot_come_back_falls_back_to_the_next_best(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import automl_meta.evaluation as evaluation

    real = evaluation.fit_in_worker
    asked: list[dict[str, Any]] = []

    def lost_in_transport_once(config: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        asked.append(config)
        if len(asked) == 1:  # as a torch model's storage whose worker has exited
            raise FileNotFoundError(2, "No such file or directory")
        return real(config, *args, **kwargs)

    monkeypatch.setattr(evaluation, "fit_in_worker", lost_in_transport_once)
    with pytest.warns(AutoMLMetaWarning, match="could not be received from its worker"):
        result = fit("sklearn:iris", budget=10, record=False, ensemble=False)
    board = result.leaderboard

    def score(config: dict[str, Any]) -> float:
        rows = board[(board["algorithm"] == config["algorithm"])
                     & (board["params"].map(lambda p: p == config["params"]))]
        return float(rows["balanced_accuracy"].iloc[0])

    assert len(asked) == 2 and result.best_config is asked[1]
    assert score(asked[0]) == board["balanced_accuracy"].max()
    assert result.best_score == score(asked[1]) <= score(asked[0])
    assert result.ensemble == [(asked[1], 1.0)]
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    assert (result.predict(X) == y.to_numpy()).mean() > 0.85


def test_when_the_refit_runs_out_of_time_a_fallback_that_fits_in_the_time_left_is_used(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import automl_meta.automl._fit as automl
    from automl_meta import load_dataset
    from automl_meta.space import default_config

    tried: list[str] = []

    def refit(config: dict[str, Any], data: Any, time_limit: float, seed: int) -> Any:
        tried.append(config["algorithm"])
        return None if config["algorithm"] == "extra_trees" else f"model of {tried[-1]}"

    monkeypatch.setattr(automl, "_fit_on_all_rows", refit)
    data = load_dataset("sklearn:iris")
    fallbacks = [(default_config("random_forest"), 30.0),  # better, but would not finish
                 (default_config("linear"), 0.01)]
    deadline = time.perf_counter()  # the search used the whole budget
    with pytest.warns(AutoMLMetaWarning, match="next best that did, linear"):
        model, used = automl._refit([default_config("extra_trees")], [1.0], data, deadline,
                                    0, fallbacks=fallbacks, budget=10.0)
    assert tried == ["extra_trees", "linear"]
    assert model == "model of linear" and used == [(default_config("linear"), 1.0)]
    with pytest.raises(AutoMLMetaError, match="give a larger budget"):
        automl._refit([default_config("extra_trees")], [1.0], data, deadline, 0,
                      fallbacks=fallbacks[:1], budget=10.0)


def test_save_result_writes_json_and_csv_never_pickle(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit("sklearn:iris", budget=6, record=False, ensemble=False)
    written = save_result(result, tmp_path / "model")
    names = {p.name for p in written}
    assert {"config.json", "leaderboard.csv", "report.md"} <= names
    saved = json.loads((tmp_path / "model" / "config.json").read_text())
    assert saved["best_config"] == result.best_config
    assert saved["features"] == ["sepal length (cm)", "sepal width (cm)",
                                 "petal length (cm)", "petal width (cm)"]
    assert not list((tmp_path / "model").glob("*.pkl"))
    board = pd.read_csv(tmp_path / "model" / "leaderboard.csv")
    assert json.loads(board["params"].iloc[0]) == result.leaderboard["params"].iloc[0]
    assert ("model.skops" in names) == (not uses_torch(result))  # skops cannot hold torch
    if uses_torch(result):
        with pytest.raises(ArtifactError, match="could not be saved"):
            load_model(tmp_path / "model")
        return
    from sklearn.datasets import load_iris

    X = load_iris(as_frame=True).data
    loaded = load_model(tmp_path / "model")
    assert np.array_equal(loaded.predict(X), result.predict(X))
    assert np.allclose(loaded.predict_proba(X), result.predict_proba(X))


class _Untrusted(BaseEstimator):
    """A type outside load_model's allowlist."""


def test_load_model_restores_an_ensemble_and_refuses_untrusted_types(tmp_path: Path) -> None:
    from automl_meta import load_dataset
    from automl_meta.automl import FitResult
    from automl_meta.automl._ensemble import WeightedEnsemble
    from automl_meta.space import build, default_config

    data = load_dataset("sklearn:wine")
    configs = [default_config("svm", "classification"), default_config("knn", "classification")]
    members = [build(c, data).fit(data.X, data.y) for c in configs]
    ensemble = WeightedEnsemble(members, [2.0, 1.0], "classification")
    board = pd.DataFrame({"algorithm": ["svm", "knn"], "params": [c["params"] for c in configs],
                          "status": ["ok", "ok"], "balanced_accuracy": [0.97, 0.95],
                          "fit_seconds": [0.1, 0.1], "wall_seconds": [0.2, 0.2]})
    result = FitResult(model=ensemble, leaderboard=board, study=None, best_config=configs[0],
                       best_score=0.98, task="classification", metric="balanced_accuracy",
                       seconds=1.0, ensemble=[(configs[0], 2.0), (configs[1], 1.0)],
                       dataset="wine", features=list(data.X.columns), n_rows=data.n_rows,
                       budget=5.0)
    save_result(result, tmp_path / "ensemble")
    loaded = load_model(tmp_path / "ensemble")
    assert list(loaded.classes_) == [0, 1, 2]
    assert np.array_equal(loaded.predict(data.X), ensemble.predict(data.X))
    assert np.allclose(loaded.predict_proba(data.X), ensemble.predict_proba(data.X))
    report = (tmp_path / "ensemble" / "report.md").read_text()
    assert "## Ensemble" in report and "| 0.667 | svm |" in report and "| 0.333 | knn |" in report

    import skops.io as sio

    sio.dump(WeightedEnsemble([_Untrusted()], [1.0], "classification"),
             str(tmp_path / "ensemble" / "model.skops"))
    with pytest.raises(ArtifactError, match="Refusing to load.*_Untrusted"):
        load_model(tmp_path / "ensemble")


def test_estimators_follow_the_scikit_learn_contract() -> None:
    from sklearn.datasets import load_diabetes, load_iris

    model = AutoMetaClassifier(time_budget=6, record=False)
    assert clone(model).get_params() == model.get_params()
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    assert model.score(X, y) > 0.9
    assert list(model.classes_) == [0, 1, 2]
    assert model.predict_proba(X[:5]).shape == (5, 3)
    Xr, yr = load_diabetes(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        regressor = AutoMetaRegressor(time_budget=6, record=False).fit(Xr, yr)
    assert regressor.score(Xr, yr) > 0.3


# -- helpers --------------------------------------------------------------------------------
TOKEN = "team-token-for-tests-0123456789"


def uses_torch(result: Any) -> bool:
    """Whether the fitted model holds the PyTorch MLP (which skops cannot save)."""
    return any(config["algorithm"] == "mlp" for config, _ in result.ensemble)


def assert_progress_tells_the_story(seen: list[FitProgress], result: Any,
                                    budget: float) -> None:
    order = ["prepare", "search", "refit", "record", "done"]
    stages = [p.stage for p in seen]
    assert [s for s in order if s in stages] == order
    positions = [order.index(s) for s in stages]
    assert positions == sorted(positions)  # stages never go back
    search = [p for p in seen if p.stage == "search"]
    assert len(search) >= 10  # after every trial and every quarter second
    assert [p.trials for p in search] == sorted(p.trials for p in search)
    scores = [p.best_score for p in search if p.best_score is not None]
    assert scores and scores == sorted(scores)  # balanced accuracy: best so far only rises
    assert [p.elapsed for p in seen] == sorted(p.elapsed for p in seen)
    assert all(p.budget == budget and p.time_left == max(0.0, budget - p.elapsed)
               for p in seen)
    final = seen[-1]
    assert final.trials == len(result.leaderboard)
    assert final.failed == int((result.leaderboard["status"] != "ok").sum())
    assert final.best_score == result.best_score and final.metric == "balanced_accuracy"


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
             args: list[str]) -> tuple[int, str]:
    """Run the installed entry point ``automl-meta ARGS``; (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["automl-meta", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main()
    return int(stopped.value.code or 0), capsys.readouterr().err


# -- the command line: fit --json, report.md, predict, errors ----------------------------
@pytest.fixture(scope="module")
def shapes_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """160 rows: a numeric and a text (categorical) feature, and a text label."""
    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "green", "blue"], size=160)
    size = rng.normal(size=160).round(3)
    label = np.where((colour == "red") | (size > 0.7), "yes", "no")
    path = tmp_path_factory.mktemp("data") / "shapes.csv"
    pd.DataFrame({"size": size, "colour": colour, "label": label}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def cli_fit(shapes_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ``automl-meta fit --json --out`` run, shared by the command-line tests."""
    root = tmp_path_factory.mktemp("cli-fit")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOML_META_SHIPPED", str(root / "no-bundle"))
        patch.setenv("AUTOML_META_DB", str(root / "user.sqlite"))
        run = CliRunner().invoke(app, ["fit", str(shapes_csv), "--target", "label",
                                       "--budget", "5s", "--out", str(root / "model"),
                                       "--json"])
    assert run.exit_code == 0, run.output
    return {"out": root / "model", "stdout": run.stdout, "stderr": run.stderr,
            "store": root / "user.sqlite"}


def test_cli_fit_json_prints_only_the_summary_and_writes_the_model(
        cli_fit: dict[str, Any]) -> None:
    out = cli_fit["out"]
    summary = json.loads(cli_fit["stdout"])  # fails if anything else reached stdout
    config = json.loads((out / "config.json").read_text())
    board = pd.read_csv(out / "leaderboard.csv")
    assert summary["dataset"] == "shapes" and summary["task"] == "classification"
    assert summary["metric"] == "balanced_accuracy"
    assert summary["best_config"] == config["best_config"]
    assert summary["trials"] == len(board) >= 1
    assert summary["failed"] == int((board["status"] != "ok").sum())
    assert summary["seconds"] > 0 and summary["budget"] == 5.0
    assert summary["out"] == str(out)
    assert set(summary["files"]) == {p.name for p in out.iterdir()}
    assert {"config.json", "leaderboard.csv", "report.md"} <= set(summary["files"])
    assert ("model.skops" in summary["files"]) == (not any(
        member["config"]["algorithm"] == "mlp" for member in config["ensemble"]))
    assert summary["run_id"] == 1 and summary["recorded_to"].endswith("user.sqlite")
    assert MetaDB(cli_fit["store"]).stats()["runs"] == 1
    assert config["features"] == ["size", "colour"] and config["categorical"] == ["colour"]
    assert config["target"] == "label" and sorted(config["classes"]) == ["no", "yes"]


def test_report_md_describes_the_run(cli_fit: dict[str, Any]) -> None:
    out = cli_fit["out"]
    report = (out / "report.md").read_text()
    config = json.loads((out / "config.json").read_text())
    board = pd.read_csv(out / "leaderboard.csv")
    assert report.startswith("# automl-meta fit: shapes\n")
    for line in ("| task | classification |", "| budget | 5.0 s |",
                 "| dataset | shapes: 160 rows, 2 features (1 numeric, 1 categorical); "
                 "target `label` |",
                 f"| trials | {len(board)} ", f"| best balanced_accuracy | "
                 f"{config['best_score']:.4f} |", "## Best configuration",
                 f"`{config['best_config']['algorithm']}`",
                 f"## Leaderboard (top {min(len(board), 10)} of {len(board)})"):
        assert line in report
    first = next(line for line in report.splitlines() if line.startswith("| 1 |"))
    assert f"| {board['algorithm'].iloc[0]} | {board['balanced_accuracy'].iloc[0]:.4f} |" \
        in first
    assert ("## Ensemble" in report) == (len(config["ensemble"]) > 1)


def test_predict_reads_rows_without_the_label_and_writes_csv(
        cli_fit: dict[str, Any], shapes_csv: Path, tmp_path: Path) -> None:
    out = cli_fit["out"]
    if not (out / "model.skops").is_file():
        pytest.skip("the search chose the PyTorch MLP, which skops cannot save")
    frame = pd.read_csv(shapes_csv)
    new_rows = tmp_path / "new.csv"  # no label, columns reordered, an extra column
    frame[["colour", "size"]].assign(note="x").to_csv(new_rows, index=False)
    expected = load_model(out).predict(frame)  # the label, present here, is ignored
    run = CliRunner().invoke(app, ["predict", str(out), str(new_rows), "--out",
                                   str(tmp_path / "preds.csv")])
    assert run.exit_code == 0, run.output
    preds = pd.read_csv(tmp_path / "preds.csv")
    assert list(preds.columns) == ["prediction"] and len(preds) == len(frame)
    assert preds["prediction"].tolist() == list(expected)
    assert (preds["prediction"] == frame["label"]).mean() > 0.8
    run = CliRunner().invoke(app, ["predict", str(out), str(new_rows), "--proba"])
    assert run.exit_code == 0, run.output
    proba = pd.read_csv(io.StringIO(run.stdout))  # stdout holds the CSV and nothing else
    assert sorted(proba.columns) == ["no", "yes"] and len(proba) == len(frame)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert (proba.idxmax(axis=1).to_numpy() == expected).mean() > 0.95


def test_errors_are_one_paragraph_with_the_traceback_only_under_debug(
        cli_fit: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = cli_fit["out"]
    lacking = tmp_path / "lacking.csv"
    pd.DataFrame({"size": [0.1, 0.2], "color": ["red", "blue"]}).to_csv(lacking, index=False)
    if (out / "model.skops").is_file():
        code, err = run_main(monkeypatch, capsys, ["predict", str(out), str(lacking)])
        assert code == 2
        assert "lacks 1 of the 2 feature columns" in err and "'colour'" in err
        assert "Did you mean: 'color'" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    code, err = run_main(monkeypatch, capsys, ["predict", str(tmp_path / "nowhere"),
                                               str(lacking)])
    assert code == 2 and "config.json is missing" in err and "Traceback" not in err
    code, err = run_main(monkeypatch, capsys, ["--debug", "predict", str(tmp_path / "nowhere"),
                                               str(lacking)])
    assert code == 2 and "Traceback" in err and "ArtifactError" in err
    assert err.strip().splitlines()[-1].startswith("error: No saved model at")

    def broken(directory: Any) -> Any:
        raise RuntimeError("boom [not markup]")

    monkeypatch.setattr("automl_meta.automl._saved_model.load_model", broken)
    code, err = run_main(monkeypatch, capsys, ["predict", str(out), str(lacking)])
    assert code == 1 and "unexpected RuntimeError: boom [not markup]" in err
    assert "--debug" in err and "Traceback" not in err


def test_fit_progress_display_shows_trials_best_score_and_time_left(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from automl_meta import cli

    screen = io.StringIO()
    monkeypatch.setattr(cli, "err_console", Console(file=screen, force_terminal=True,
                                                    width=140))
    with cli._fit_progress(20.0) as show:
        show(FitProgress("search", trials=7, failed=1, best_score=0.9123,
                         best_algorithm="hist_gb", metric="balanced_accuracy", elapsed=8.2,
                         budget=20.0))
    drawn = screen.getvalue()
    assert "searching" in drawn and "7 trials" in drawn
    assert "best balanced_accuracy 0.9123 (hist_gb)" in drawn and "12s left" in drawn


# -- recording on a team server ------------------------------------------------------------
def test_fit_with_a_server_recommends_and_records_there(
        isolated_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("fastapi", "uvicorn", "httpx", "multipart"):
        pytest.importorskip(module)
    from automl_meta.service import Client, create_app

    with pytest.raises(ConfigurationError, match="not both"):
        fit("sklearn:iris", budget=3, db=isolated_store, server="http://127.0.0.1:9")
    team_db = tmp_path / "team.sqlite"
    monkeypatch.setenv("AUTOML_META_TOKEN", TOKEN)
    with serving(create_app(team_db, token=TOKEN, warm_up=False)) as url:
        # the team store knows no dataset yet: the server's own answer proves it was asked
        with pytest.warns(AutoMLMetaWarning, match="/v1/recommend -> 404"):
            result = fit("sklearn:iris", budget=4, server=url, ensemble=False)
        assert result.recorded_to == url and result.run_id is None
        team = MetaDB(team_db).stats()
        assert 1 <= team["evaluations"] <= len(result.leaderboard)
        assert team["datasets_with_metafeatures"] == 1
        with Client(url, token="wrong-token-0123456789abcdef") as intruder, \
                pytest.warns(AutoMLMetaWarning, match="could not be recorded.*401"):
            refused = fit("sklearn:wine", budget=3, server=intruder, ensemble=False)
        assert refused.recorded_to is None and len(refused.leaderboard) >= 1
        assert MetaDB(team_db).stats()["evaluations"] == team["evaluations"]
    assert not isolated_store.exists() or MetaDB(isolated_store).stats()["evaluations"] == 0


# -- scikit-learn's estimator checks -------------------------------------------------------
CHECK_BUDGET = 5.0
# checks that never reach a search (validation, parameters, tags): the default suite runs
# these; the others fit (a budgeted search each) and are marked slow
FAST_CHECKS = frozenset({
    "check_estimator_cloneable", "check_estimator_tags_renamed", "check_valid_tag_types",
    "check_estimator_repr", "check_no_attributes_set_in_init", "check_estimators_unfitted",
    "check_do_not_raise_errors_in_init_or_set_params", "check_mixin_order",
    "check_complex_data", "check_estimators_empty_data_messages",
    "check_estimator_sparse_tag", "check_estimator_sparse_array",
    "check_estimator_sparse_matrix", "check_classifiers_one_label",
    "check_classifiers_one_label_sample_weights", "check_estimators_partial_fit_n_features",
    "check_classifiers_regression_target", "check_supervised_y_no_nan",
    "check_non_transformer_estimators_n_iter", "check_decision_proba_consistency",
    "check_parameters_default_constructible", "check_fit2d_1sample",
    "check_get_params_invariance", "check_set_params", "check_fit1d",
    "check_requires_y_none", "check_pipeline_consistency", "check_array_api_input",
})
# these fit twice and compare the predictions; a search stopped by a wall-time budget may
# finish different trials (and choose another model) each time, depending on the load
TWO_FITS_AGREE = ("the search stops at a wall-time budget, so which trials finish (and the "
                  "model chosen) differs between two fits with the machine's load")
EXPECTED_FAILED_CHECKS = {
    "check_fit_idempotent": TWO_FITS_AGREE,
    "check_classifier_data_not_an_array": TWO_FITS_AGREE,
    "check_regressor_data_not_an_array": TWO_FITS_AGREE,
}


def expected_failed_checks(estimator: Any) -> dict[str, str]:
    """The checks that do not apply to a budgeted search, with the reason (sklearn's
    ``expected_failed_checks`` format)."""
    return dict(EXPECTED_FAILED_CHECKS)


def estimator_check_params() -> list[Any]:
    from sklearn.utils.estimator_checks import estimator_checks_generator

    params = []
    for estimator in (AutoMetaClassifier(time_budget=CHECK_BUDGET, record=False),
                      AutoMetaRegressor(time_budget=CHECK_BUDGET, record=False)):
        for item in estimator_checks_generator(
                estimator, expected_failed_checks=expected_failed_checks(estimator),
                mark="xfail"):
            values, marks = (item.values, list(item.marks)) if hasattr(item, "marks") \
                else (item, [])
            check = values[1]
            name = check.func.__name__
            if name not in FAST_CHECKS:
                marks.append(pytest.mark.slow)
            options = ",".join(f"{k}={v}" for k, v in sorted(check.keywords.items()))
            params.append(pytest.param(*values, marks=marks, id=f"{type(estimator).__name__}-"
                                       f"{name}{f'[{options}]' if options else ''}"))
    return params


@pytest.mark.filterwarnings("ignore::automl_meta.errors.AutoMLMetaWarning")
@pytest.mark.parametrize("estimator, check", estimator_check_params())
def test_scikit_learn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


def test_load_features_types_new_rows_as_in_training_and_names_missing_columns() -> None:
    from automl_meta.data import load_features

    new = pd.DataFrame({"label": ["a", "b", "c"], "colour": [1, 2, None],
                        "size": ["0.5", " 2 ", "big"], "extra": [0, 0, 0]})
    with pytest.warns(AutoMLMetaWarning, match="1 non-numeric values") as caught:
        X = load_features(new, ["size", "colour"], categorical=["colour"], name="new")
    assert not any("treated as categorical" in str(w.message) for w in caught)
    assert list(X.columns) == ["size", "colour"]
    assert X["size"].tolist()[:2] == [0.5, 2.0] and np.isnan(X["size"].iloc[2])
    assert isinstance(X["colour"].dtype, pd.CategoricalDtype)
    assert X["colour"].tolist()[:2] == ["1.0", "2.0"] and pd.isna(X["colour"].iloc[2])
    arrays = load_features(np.arange(6.0).reshape(3, 2), ["x0", "x1"])
    assert arrays["x1"].tolist() == [1.0, 3.0, 5.0]
    with pytest.raises(DatasetError, match=r"lacks 2 of the 3 .*'weight', 'height'"):
        load_features(new, ["size", "weight", "height"], name="new")
