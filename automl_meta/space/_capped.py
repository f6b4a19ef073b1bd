"""Meta-estimators that bound their inner model by the data: at most ``max_rows`` training
rows (the SVMs), at most as many neighbours as training rows (k-NN)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone, is_classifier
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import check_is_fitted


class _Wrapper(BaseEstimator):
    """Holds the fitted inner model as ``estimator_`` and predicts with it."""

    def _keep(self, fitted: Any) -> None:
        self.estimator_ = fitted
        if hasattr(fitted, "classes_"):
            self.classes_ = fitted.classes_

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)


class _RowCapped(_Wrapper):
    def __init__(self, estimator: Any = None, max_rows: int = 5000, random_state: int = 0):
        self.estimator = estimator
        self.max_rows = max_rows
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> _RowCapped:
        y = np.asarray(y)
        n = X.shape[0]
        if n > self.max_rows:
            rng = np.random.default_rng(self.random_state)
            if is_classifier(self.estimator):
                index = _keep_every_class(y, self.max_rows, rng)
            else:
                index = np.sort(rng.choice(n, size=self.max_rows, replace=False))
            X, y = _safe_indexing(X, index), y[index]
        self._keep(clone(self.estimator).fit(X, y))
        return self


def _keep_every_class(y: np.ndarray, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    index = rng.choice(len(y), size=max_rows, replace=False)
    missing = np.setdiff1d(np.unique(y), np.unique(y[index]))
    extra = [np.flatnonzero(y == label)[0] for label in missing]
    return np.sort(np.concatenate([index, np.asarray(extra, dtype=int)]))


class RowCappedClassifier(ClassifierMixin, _RowCapped):
    """Fits ``estimator`` on a random subsample of at most ``max_rows`` rows (all classes kept)."""

    def decision_function(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.decision_function(X)


class RowCappedRegressor(RegressorMixin, _RowCapped):
    """Fits ``estimator`` on a random subsample of at most ``max_rows`` rows."""


class _NeighborsCapped(_Wrapper):
    """Fits a copy of ``estimator`` (a k-nearest-neighbours model) whose ``n_neighbors`` is
    at most the number of training rows: on a tiny dataset, or a small CV fold, the
    configuration still trains instead of failing at predict time."""

    def __init__(self, estimator: Any = None) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any) -> _NeighborsCapped:
        n_neighbors = min(int(self.estimator.n_neighbors), max(1, X.shape[0]))
        self._keep(clone(self.estimator).set_params(n_neighbors=n_neighbors).fit(X, y))
        return self


class NeighborsCappedClassifier(ClassifierMixin, _NeighborsCapped):
    """A k-NN classifier whose ``n_neighbors`` shrinks to the training rows when fewer."""

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)


class NeighborsCappedRegressor(RegressorMixin, _NeighborsCapped):
    """A k-NN regressor whose ``n_neighbors`` shrinks to the training rows when fewer."""
