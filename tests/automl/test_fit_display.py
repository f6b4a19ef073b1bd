"""What fit shows of its search (issue #23): near-identical trials folded in the displayed
leaderboard, one tie-break for "best" and row 1, where the time went, the score curve, and
FitResult.save."""

from __future__ import annotations

import io
import itertools
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from automl_meta import fit, load_dataset, load_model
from automl_meta.automl import FitResult
from automl_meta.automl._result import distinct_leaderboard, leaderboard
from automl_meta.evaluation import Evaluation


@pytest.fixture(autouse=True)
def isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test records into its own store and learns from no shipped bundle."""
    monkeypatch.setenv("AUTOML_META_SHIPPED", str(tmp_path / "no-bundle"))
    monkeypatch.setenv("AUTOML_META_DB", str(tmp_path / "user.sqlite"))
    return tmp_path / "user.sqlite"


def _evaluation(algorithm: str, params: dict[str, Any], score: float,
                status: str = "ok") -> Evaluation:
    metrics = {"balanced_accuracy": score} if status == "ok" else {}
    return Evaluation({"algorithm": algorithm, "params": params}, "cv3:s0", status,
                      metrics=metrics, task="classification", wall_seconds=0.1)


def test_distinct_leaderboard_folds_near_identical_trials_into_the_best() -> None:
    trials = [_evaluation("linear", {"C": 1.0 + i * 1e-4, "class_weight": None},
                          0.85 + i * 1e-5) for i in range(9)]
    trials += [
        _evaluation("linear", {"C": 1.0, "class_weight": "balanced"}, 0.85),  # categorical
        _evaluation("linear", {"C": 1.3, "class_weight": None}, 0.85),  # 1.3 is not 1.0
        _evaluation("linear", {"C": 1.0002, "class_weight": None}, 0.84),  # score apart
        _evaluation("random_forest", {"n_estimators": 100}, 0.80),
        _evaluation("svm", {"C": 2.0}, float("nan"), status="timeout"),
        _evaluation("svm", {"C": 2.01}, float("nan"), status="timeout"),
    ]
    board = leaderboard(trials, "balanced_accuracy", 1.0)
    shown = distinct_leaderboard(board, "balanced_accuracy")
    assert len(board) == 15  # the full data stays
    assert shown["similar"].tolist() == [8, 0, 0, 0, 0, 1]
    first = shown.iloc[0]
    assert first["trial"] == 8 and first["balanced_accuracy"] == board["balanced_accuracy"].max()
    assert first["trial"] == board["trial"].iloc[0]  # the row kept is leaderboard row 1
    assert [p.get("class_weight") for p in shown["params"][:3]] == [None, "balanced", None]
    assert shown["status"].iloc[-1] == "timeout"
    assert shown["similar"].sum() + len(shown) == len(board)
    assert len(distinct_leaderboard(board, "balanced_accuracy", rows=2)) == 2


def test_best_configuration_and_leaderboard_row_one_break_ties_alike() -> None:
    from automl_meta.automl._search import Search

    rng = np.random.default_rng(0)
    scores = rng.choice([0.90, 0.95, 0.97], size=60)  # many ties, in no order
    trials = [_evaluation("knn", {"n_neighbors": i + 1}, float(s))
              for i, s in enumerate(scores)]
    data = load_dataset("sklearn:iris")
    search = Search(data, data, "cv3", "balanced_accuracy", 1.0, 0.0, 10.0, 0, False, trials)
    board = leaderboard(trials, "balanced_accuracy", 1.0)
    ranked = search.ranked()
    assert board["params"].tolist() == [e.config["params"] for e in ranked]
    top = board[board["balanced_accuracy"] == 0.97]
    assert top["trial"].tolist() == sorted(top["trial"])  # ties: the earlier trial first


def test_the_search_note_says_when_the_search_stopped_to_keep_time_for_the_refit() -> None:
    result = FitResult(model=None, leaderboard=pd.DataFrame(), study=None, best_config={},
                       best_score=0.9, task="classification", metric="balanced_accuracy",
                       seconds=29.5, n_rows=48_842, budget=30.0, search_ended=18.6,
                       refit_reserve=11.4, search_rows=10_000)
    assert result.search_note == (
        "The search stopped early, at 18.6 s of the 30 s budget, keeping 11.4 s for the "
        "refit on all 48,842 rows (the search used 10,000).")
    small = FitResult(model=None, leaderboard=pd.DataFrame(), study=None, best_config={},
                      best_score=0.9, task="classification", metric="balanced_accuracy",
                      seconds=9.8, n_rows=150, budget=10.0, search_ended=9.4,
                      refit_reserve=0.6, search_rows=150)
    assert small.search_note == ("The search stopped at 9.4 s of the 10 s budget, keeping "
                                 "0.6 s for the refit on all 150 rows.")


@pytest.fixture(scope="module")
def small_fit(tmp_path_factory: pytest.TempPathFactory) -> FitResult:
    root = tmp_path_factory.mktemp("fit-display")
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        patch.setenv("AUTOML_META_SHIPPED", str(root / "no-bundle"))
        patch.setenv("AUTOML_META_DB", str(root / "user.sqlite"))
        return fit("sklearn:breast_cancer", budget=4, record=False)


def test_fit_result_times_its_stages(small_fit: FitResult) -> None:
    stages = small_fit.stage_seconds
    assert list(stages) == ["prepare", "search", "ensemble", "refit", "record"]
    assert all(seconds >= 0 for seconds in stages.values())
    assert sum(stages.values()) <= small_fit.seconds + 1e-6
    assert small_fit.search_ended is not None
    assert stages["prepare"] <= small_fit.search_ended <= small_fit.seconds
    assert small_fit.refit_reserve > 0 and small_fit.search_rows == small_fit.n_rows == 569
    board = small_fit.leaderboard
    assert board["finished"].between(0, small_fit.search_ended + 1e-6).all()


def test_fit_result_save_writes_what_load_model_reads_with_the_curve(
        small_fit: FitResult, tmp_path: Path) -> None:
    if any(config["algorithm"] == "mlp" for config, _ in small_fit.ensemble):
        pytest.skip("the search chose the PyTorch MLP, which skops cannot save")
    written = small_fit.save(tmp_path / "model")
    names = {p.name for p in written}
    assert names == {p.name for p in (tmp_path / "model").iterdir()}
    assert {"config.json", "leaderboard.csv", "report.md", "model.skops",
            "score_over_time.png"} <= names
    from sklearn.datasets import load_breast_cancer

    X, _ = load_breast_cancer(return_X_y=True, as_frame=True)
    loaded = load_model(tmp_path / "model")
    assert np.array_equal(loaded.predict(X), small_fit.predict(X))
    assert np.allclose(loaded.predict_proba(X), small_fit.predict_proba(X))
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert set(config["stage_seconds"]) == set(small_fit.stage_seconds)
    report = (tmp_path / "model" / "report.md").read_text()
    assert "![best balanced_accuracy over time](score_over_time.png)" in report
    assert small_fit.search_note in report and "| refit on all rows |" in report
    assert (tmp_path / "model" / "score_over_time.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_score_curve_only_rises_and_starts_at_the_first_scored_trial(
        small_fit: FitResult) -> None:
    from automl_meta.automl._report import score_curve

    points = score_curve(small_fit)
    board = small_fit.leaderboard
    assert points[0][0] == board.loc[board["balanced_accuracy"].notna(), "finished"].min()
    assert [t for t, _ in points] == sorted(t for t, _ in points)
    assert [s for _, s in points] == sorted(s for _, s in points)
    assert points[-1][1] == board["balanced_accuracy"].max()


def test_eta_progress_prints_plain_lines_when_not_a_terminal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from automl_meta._support import progress

    clock = itertools.count()  # one second per call of the progress clock
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=False, width=100)
    with progress.eta_progress("evaluating", console=console,
                               get_time=lambda: float(next(clock))) as bar:
        task = bar.add_task("build", total=200)
        for _ in range(200):
            bar.advance(task, 1)
    lines = screen.getvalue().splitlines()
    assert lines[0].startswith("evaluating (build)  0/200  elapsed")
    assert lines[-1].startswith("evaluating (build)  200/200  elapsed")
    assert "ETA" in lines[1] and "ETA" not in lines[-1]
    # every 10% of 200 (the rarer, as the clock moves 1 s per call): at most ~12 lines
    assert 5 <= len(lines) <= 13
    done = [int(line.split()[2].split("/")[0]) for line in lines]
    assert done == sorted(done) and all(b - a >= 10 for a, b in itertools.pairwise(done))
    terminal = Console(file=io.StringIO(), force_terminal=True)
    assert type(progress.eta_progress(console=terminal)).__name__ == "Progress"
