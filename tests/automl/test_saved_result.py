"""Saving a fit() result (JSON and CSV, never pickle) and loading it back."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

from automl_meta import fit, load_model
from automl_meta.automl import save_result
from automl_meta.errors import ArtifactError


@pytest.fixture(autouse=True)
def isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test records into its own store and learns from no shipped bundle."""
    monkeypatch.setenv("AUTOML_META_SHIPPED", str(tmp_path / "no-bundle"))
    monkeypatch.setenv("AUTOML_META_DB", str(tmp_path / "user.sqlite"))
    return tmp_path / "user.sqlite"


def uses_torch(result: Any) -> bool:
    """Whether the fitted model holds the PyTorch MLP (which skops cannot save)."""
    return any(config["algorithm"] == "mlp" for config, _ in result.ensemble)


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
