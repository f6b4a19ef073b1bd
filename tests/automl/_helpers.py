"""Helpers of the AutoML tests."""

from __future__ import annotations

from typing import Any

import pandas as pd

from automl_meta.automl._result import FitResult


def one_model_result(model: Any, config: dict[str, Any], dataset: Any) -> FitResult:
    """A :class:`FitResult` of one fitted ``model`` of ``config`` on ``dataset`` (a perfect
    score after one trial), as ``fit`` would return it, for tests of saving and predicting."""
    board = pd.DataFrame({"algorithm": [config["algorithm"]], "params": [config["params"]],
                          "status": ["ok"], "balanced_accuracy": [1.0], "fit_seconds": [0.1],
                          "wall_seconds": [0.1]})
    return FitResult(model=model, leaderboard=board, study=None, best_config=config,
                     best_score=1.0, task="classification", metric="balanced_accuracy",
                     seconds=1.0, ensemble=[(config, 1.0)], dataset="toy", target="label",
                     features=list(dataset.X.columns), categorical=list(dataset.categorical),
                     n_rows=dataset.n_rows, budget=5.0)
