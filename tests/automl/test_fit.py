"""fit() under a budget: what it records, the protocol it searches with, the refit, and
recording on a team server."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from automl_meta import FitProgress, MetaDB, fit
from automl_meta.automl import parse_budget
from automl_meta.errors import AutoMLMetaError, AutoMLMetaWarning, ConfigurationError
from tests.conftest import serving

TOKEN = "team-token-for-tests-0123456789"


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
    from automl_meta.automl._refit import _refit_seconds
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
    import automl_meta.automl._refit as automl
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


def test_when_no_refit_on_all_rows_fits_the_best_is_fitted_on_the_search_rows(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import automl_meta.automl._refit as automl
    from automl_meta import load_dataset
    from automl_meta.space import default_config

    data = load_dataset("sklearn:breast_cancer")
    search_data = data.subsample(100, random_state=0)
    tried: list[tuple[str, int]] = []

    def refit(config: dict[str, Any], rows: Any, time_limit: float, seed: int) -> Any:
        tried.append((config["algorithm"], rows.n_rows))
        return None if rows.n_rows == data.n_rows else f"model on {rows.n_rows} rows"

    monkeypatch.setattr(automl, "_fit_on_all_rows", refit)
    deadline = time.perf_counter() + 5.0
    n = search_data.n_rows
    with pytest.warns(AutoMLMetaWarning, match=f"fitted on the {n} rows the search used"):
        model, used = automl._refit(
            [default_config("extra_trees")], [1.0], data, deadline, 0,
            fallbacks=[(default_config("linear"), 0.01)], budget=10.0,
            search_data=search_data, expected=[60.0])
    # the best is not started (60 s expected, 5 s left); the fallback fails on all rows
    assert tried == [("linear", data.n_rows), ("extra_trees", n)]
    assert model == f"model on {n} rows" and used == [(default_config("extra_trees"), 1.0)]


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
            result = fit("sklearn:iris", budget=4, db=url, ensemble=False)
        assert result.recorded_to == url and result.run_id is None
        team = MetaDB(team_db).stats()
        assert 1 <= team["evaluations"] <= len(result.leaderboard)
        assert team["datasets_with_metafeatures"] == 1
        with Client(url, token="wrong-token-0123456789abcdef") as intruder, \
                pytest.warns(AutoMLMetaWarning, match="could not be recorded.*401"):
            refused = fit("sklearn:wine", budget=3, db=intruder, ensemble=False)
        assert refused.recorded_to is None and len(refused.leaderboard) >= 1
        assert MetaDB(team_db).stats()["evaluations"] == team["evaluations"]
    assert not isolated_store.exists() or MetaDB(isolated_store).stats()["evaluations"] == 0
