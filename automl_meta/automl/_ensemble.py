"""Greedy ensemble selection (Caruana et al., 2004) over out-of-fold predictions."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from automl_meta.evaluation.metrics import class_scores


def greedy_ensemble(predictions: list[np.ndarray], y: np.ndarray, task: str,
                    classes: np.ndarray | None, rounds: int = 25) -> tuple[list[int], float]:
    """Indices chosen (with replacement) maximising balanced accuracy / R² of the average.

    Returns the chosen member indices (repeats give weight) and the ensemble's score.
    """
    from sklearn.metrics import balanced_accuracy_score, r2_score

    def score(average: np.ndarray) -> float:
        if task == "classification":
            return float(balanced_accuracy_score(y, classes[np.argmax(average, axis=1)]))
        return float(r2_score(y, average))

    chosen: list[int] = []
    total = np.zeros_like(predictions[0], dtype=float)
    best_score = -np.inf
    for _ in range(rounds):
        trial_scores = [score((total + p) / (len(chosen) + 1)) for p in predictions]
        pick = int(np.argmax(trial_scores))
        if trial_scores[pick] <= best_score and chosen:
            break
        chosen.append(pick)
        total += predictions[pick]
        best_score = trial_scores[pick]
    return chosen, best_score


class WeightedEnsemble(BaseEstimator):
    """Weighted average of fitted pipelines' probabilities (classification) or predictions."""

    def __init__(self, members: list[Any] | None = None, weights: list[float] | None = None,
                 task: str = "classification") -> None:
        self.members = members
        self.weights = weights
        self.task = task

    def fit(self, X: Any, y: Any) -> WeightedEnsemble:
        for member in self.members or []:
            member.fit(X, y)
        return self

    @property
    def classes_(self) -> np.ndarray:
        """The members' classes (they are fitted on the same labels); classification only."""
        if self.task != "classification" or not self.members:
            raise AttributeError("classes_ is only defined for a classification ensemble "
                                 "with members.")
        return self.members[0].classes_

    def _weights(self) -> np.ndarray:
        weights = np.asarray(self.weights, dtype=float)
        return weights / weights.sum()

    def predict_proba(self, X: Any) -> np.ndarray:
        total = None
        for member, weight in zip(self.members or [], self._weights(), strict=True):
            scores = class_scores(member, X, self.classes_)
            total = scores * weight if total is None else total + scores * weight
        return total

    def predict(self, X: Any) -> np.ndarray:
        if self.task == "classification":
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return sum(w * m.predict(X) for m, w in zip(self.members or [], self._weights(),
                                                     strict=True))
