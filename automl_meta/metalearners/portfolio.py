"""A greedy portfolio: configurations that together do well across past datasets.

Zero-shot: it ignores the new dataset's meta-features, which makes it the fallback when
meta-features are uninformative or the memory holds few datasets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from automl_meta.metalearners._base import MetaLearner, Recommendation, check_k
from automl_meta.metalearners._knowledge import MetaKnowledge

PORTFOLIO_SIZE = 32


def greedy_portfolio(normalised: np.ndarray, size: int) -> tuple[list[int], list[float]]:
    """Columns chosen greedily to maximise the mean over rows of the best chosen score.

    Returns the chosen column indices and the portfolio's mean score after each pick.

    Example:
        >>> scores = np.array([[1.0, 0.0, 0.9], [0.0, 1.0, 0.9]])
        >>> greedy_portfolio(scores, size=2)
        ([2, 0], [0.9, 0.95])
    """
    filled = np.nan_to_num(normalised, nan=0.0)
    best_so_far = np.zeros(filled.shape[0])
    chosen: list[int] = []
    gains: list[float] = []
    for _ in range(min(size, filled.shape[1])):
        candidate = np.maximum(filled, best_so_far[:, None]).mean(axis=0)
        candidate[chosen] = -np.inf
        pick = int(np.argmax(candidate))
        chosen.append(pick)
        best_so_far = np.maximum(best_so_far, filled[:, pick])
        gains.append(float(best_so_far.mean()))
    return chosen, gains


class PortfolioLearner(MetaLearner):
    """Greedy portfolio per task type (zero-shot).

    Example:
        >>> learner = PortfolioLearner().fit(knowledge)  # doctest: +SKIP
        >>> learner.recommend({}, "classification", k=3)  # doctest: +SKIP
    """

    name = "portfolio"
    memory_based = True

    def __init__(self, size: int = PORTFOLIO_SIZE) -> None:
        self.size = size
        self.portfolios: dict[str, list[dict[str, Any]]] = {}

    def fit(self, knowledge: MetaKnowledge) -> PortfolioLearner:
        self.portfolios = {}
        for task, matrix in knowledge.matrices.items():
            # chosen over the datasets that ran (most of) the grid: a partial row (a user's
            # search) would count for little, yet tip the greedy's near-ties; a
            # configuration few of them ran is judged with its algorithm's average
            matrix = matrix.subset(matrix.whole_rows())
            chosen, gains = greedy_portfolio(matrix.normalised, self.size)
            algorithms = [knowledge.config(c)["algorithm"] for c in matrix.configs]
            mean_scores = matrix.config_prior(algorithms)
            self.portfolios[task] = [
                {**knowledge.config(matrix.configs[c]), "mean": float(mean_scores[c]),
                 "coverage": gains[i], "n_datasets": len(matrix.datasets)}
                for i, c in enumerate(chosen)]
        return self

    def recommend(self, metafeatures: Mapping[str, float] | pd.Series, task: str,
                  k: int = 10) -> list[Recommendation]:
        k = check_k(k)
        return [
            Recommendation(
                entry["algorithm"], dict(entry["params"]), entry["mean"], self.name,
                f"portfolio pick {i + 1}: with the picks before it, reaches "
                f"{entry['coverage']:.3f} of the best known score on average over "
                f"{entry['n_datasets']} past {task} datasets (alone: {entry['mean']:.3f})",
                rank=i + 1, details={"ordering": "covering"})
            for i, entry in enumerate(self.portfolios.get(task, [])[:k])]

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"size": self.size, "portfolios": self.portfolios}, {}

    @classmethod
    def _from_state(cls, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> MetaLearner:
        learner = cls(state["size"])
        learner.portfolios = state["portfolios"]
        return learner
