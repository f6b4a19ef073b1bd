"""fit() under a budget, the scikit-learn estimators, and saving a result."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from automl_meta import AutoMetaClassifier, AutoMetaRegressor, MetaDB, fit
from automl_meta.automl import parse_budget, save_result
from automl_meta.errors import ConfigurationError


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
    for bad in ("", "soon", "-5", 0, "10x"):
        with pytest.raises(ConfigurationError):
            parse_budget(bad)


def test_fit_holds_its_budget_records_the_run_and_predicts(isolated_store: Path) -> None:
    budget = 12.0
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit("sklearn:breast_cancer", budget=budget)
    elapsed = time.perf_counter() - started
    assert elapsed <= budget * 1.1
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


def test_save_result_writes_json_and_csv_never_pickle(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit("sklearn:iris", budget=6, record=False, ensemble=False)
    written = save_result(result, tmp_path / "model")
    names = {p.name for p in written}
    assert {"config.json", "leaderboard.csv"} <= names
    saved = json.loads((tmp_path / "model" / "config.json").read_text())
    assert saved["best_config"] == result.best_config
    assert not list((tmp_path / "model").glob("*.pkl"))


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
