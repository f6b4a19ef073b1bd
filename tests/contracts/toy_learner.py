"""A toy meta-learner: the configurations with the best mean normalised score, in one module.

Everything a new meta-learner writes is here; making it a strategy is one more line,
``register_learner(BestMeanLearner)`` (``test_toy_extension.py`` does it in a fixture).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from automl_meta.metalearners import MetaKnowledge, MetaLearner, Recommendation
from automl_meta.metalearners._base import check_k


class BestMeanLearner(MetaLearner):
    """Zero-shot: per task, the configurations by mean normalised score over past datasets."""

    name = "best_mean"
    memory_based = True  # cheap: refitted on the user's own evaluations

    def __init__(self) -> None:
        self.ranked: dict[str, list[dict[str, Any]]] = {}

    def fit(self, knowledge: MetaKnowledge) -> BestMeanLearner:
        self.ranked = {}
        for task, matrix in knowledge.matrices.items():
            means = np.nanmean(matrix.normalised, axis=0)
            order = np.argsort(-np.nan_to_num(means, nan=-1.0), kind="stable")
            self.ranked[task] = [{**knowledge.config(matrix.configs[j]),
                                  "mean": float(means[j])} for j in order]
        return self

    def recommend(self, metafeatures: Mapping[str, float] | pd.Series, task: str,
                  k: int = 10) -> list[Recommendation]:
        k = check_k(k)
        return [Recommendation(entry["algorithm"], dict(entry["params"]), entry["mean"],
                               self.name, f"mean normalised score {entry['mean']:.3f} over "
                               f"the past {task} datasets", rank=rank)
                for rank, entry in enumerate(self.ranked.get(task, [])[:k], start=1)]

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"ranked": self.ranked}, {}

    @classmethod
    def _from_state(cls, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> MetaLearner:
        learner = cls()
        learner.ranked = state["ranked"]
        return learner
