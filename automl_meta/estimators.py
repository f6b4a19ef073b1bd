"""scikit-learn estimators around :func:`automl_meta.fit`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted


class _AutoMetaBase(BaseEstimator):
    _task = ""

    def __init__(self, time_budget: float = 60.0, metric: str | None = None, n_jobs: int = 1,
                 strategy: str = "auto", ensemble: bool = True, record: bool = True,
                 db: Any = None, random_state: int = 0) -> None:
        self.time_budget = time_budget
        self.metric = metric
        self.n_jobs = n_jobs
        self.strategy = strategy
        self.ensemble = ensemble
        self.record = record
        self.db = db
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> _AutoMetaBase:
        from automl_meta.automl import fit

        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
        if not isinstance(X, pd.DataFrame):
            frame.columns = [f"x{i}" for i in range(frame.shape[1])]
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        self.result_ = fit((frame, pd.Series(np.asarray(y).ravel(), name="target")),
                           budget=self.time_budget, metric=self.metric, n_jobs=self.n_jobs,
                           task=self._task, strategy=self.strategy, ensemble=self.ensemble,
                           record=self.record, db=self.db, random_state=self.random_state)
        self.model_ = self.result_.model
        self.leaderboard_ = self.result_.leaderboard
        if self._task == "classification":
            self.classes_ = self.model_.classes_
        return self

    def _frame(self, X: Any) -> pd.DataFrame:
        check_is_fitted(self, "model_")
        if isinstance(X, pd.DataFrame):
            return X
        frame = pd.DataFrame(np.asarray(X))
        frame.columns = list(self.feature_names_in_)
        return frame

    def predict(self, X: Any) -> np.ndarray:
        return self.model_.predict(self._frame(X))


class AutoMetaClassifier(ClassifierMixin, _AutoMetaBase):
    """A classifier whose algorithm and hyperparameters are chosen by a meta-learned search.

    Example:
        >>> from sklearn.datasets import load_iris
        >>> X, y = load_iris(return_X_y=True)
        >>> model = AutoMetaClassifier(time_budget=20).fit(X, y)  # doctest: +SKIP
        >>> model.predict(X[:3])  # doctest: +SKIP
    """

    _task = "classification"

    def predict_proba(self, X: Any) -> np.ndarray:
        from automl_meta._metrics import class_scores

        return class_scores(self.model_, self._frame(X), self.classes_)


class AutoMetaRegressor(RegressorMixin, _AutoMetaBase):
    """A regressor whose algorithm and hyperparameters are chosen by a meta-learned search."""

    _task = "regression"
