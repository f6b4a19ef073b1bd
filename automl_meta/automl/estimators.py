"""scikit-learn estimators around :func:`automl_meta.fit`.

They follow the estimator contract: parameters are stored as given in ``__init__`` and
validated in ``fit``; inputs are checked with scikit-learn's ``validate_data`` (so errors
read as scikit-learn's do); ``n_features_in_`` / ``feature_names_in_`` are set. Inputs may
be arrays or DataFrames with categorical or text columns and missing values, which the
search's pipelines encode and impute.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data


class _AutoMetaBase(BaseEstimator):
    _task = ""

    def __init__(self, time_budget: float = 60.0, metric: str | None = None, n_jobs: int = 1,
                 strategy: str = "auto", ensemble: bool = True, record: bool = True,
                 db: Any = None, server: str | None = None, random_state: int = 0) -> None:
        self.time_budget = time_budget
        self.metric = metric
        self.n_jobs = n_jobs
        self.strategy = strategy
        self.ensemble = ensemble
        self.record = record
        self.db = db
        self.server = server
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # imputed by the pipelines
        tags.input_tags.categorical = True
        tags.input_tags.string = True  # text columns are categorical features
        tags.non_deterministic = True  # how many trials fit in the budget varies with load
        return tags

    def fit(self, X: Any, y: Any) -> _AutoMetaBase:
        """Search algorithms and hyperparameters for ``(X, y)`` within ``time_budget``
        seconds and keep the best model (or ensemble), refitted on all rows."""
        from automl_meta.automl import fit
        from automl_meta.data._prepare import MIN_ROWS

        checked, y = validate_data(self, X, y, dtype=None, ensure_all_finite=False,
                                   ensure_min_samples=MIN_ROWS,
                                   y_numeric=self._task == "regression")
        if self._task == "classification":
            check_classification_targets(y)
        frame = _named(X) if isinstance(X, pd.DataFrame) else _named(pd.DataFrame(checked))
        result = fit((frame, pd.Series(y, name="target")), budget=self.time_budget,
                     metric=self.metric, n_jobs=self.n_jobs, task=self._task,
                     strategy=self.strategy, ensemble=self.ensemble, record=self.record,
                     db=self.db, server=self.server, random_state=self.random_state)
        self.model_ = result.model
        self.leaderboard_ = result.leaderboard
        self.best_config_ = result.best_config
        self.best_score_ = result.best_score
        self.ensemble_ = result.ensemble
        self.features_ = result.features
        self.categorical_features_ = result.categorical
        if self._task == "classification":
            self.classes_ = self.model_.classes_
        return self

    def _features(self, X: Any) -> pd.DataFrame:
        from automl_meta.data import load_features

        check_is_fitted(self, "model_")
        checked = validate_data(self, X, reset=False, dtype=None, ensure_all_finite=False)
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(checked)
        return load_features(_named(frame), self.features_, self.categorical_features_)

    def predict(self, X: Any) -> np.ndarray:
        features = self._features(X)  # first: it raises NotFittedError before fit
        return np.asarray(self.model_.predict(features))


def _named(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns named as ``load_dataset((X, y))`` names them (``x0``, ``x1``... for numbers)."""
    return frame.rename(columns=lambda c: c if isinstance(c, str) else f"x{c}")


class AutoMetaClassifier(ClassifierMixin, _AutoMetaBase):
    """A classifier whose algorithm and hyperparameters are chosen by a meta-learned search.

    Args:
        time_budget: seconds for the whole search and refit.
        metric: the search objective (default balanced accuracy).
        n_jobs, strategy, ensemble, record, db, server, random_state: as for
            :func:`automl_meta.fit`.

    Example:
        >>> from sklearn.datasets import load_iris
        >>> X, y = load_iris(return_X_y=True)
        >>> model = AutoMetaClassifier(time_budget=20).fit(X, y)  # doctest: +SKIP
        >>> model.predict(X[:3])  # doctest: +SKIP
    """

    _task = "classification"

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per class of ``classes_``."""
        from automl_meta.evaluation.metrics import class_scores

        features = self._features(X)
        return class_scores(self.model_, features, self.classes_)


class AutoMetaRegressor(RegressorMixin, _AutoMetaBase):
    """A regressor whose algorithm and hyperparameters are chosen by a meta-learned search.

    Takes the parameters of :class:`AutoMetaClassifier` (the default metric is R²).

    Example:
        >>> from sklearn.datasets import load_diabetes
        >>> X, y = load_diabetes(return_X_y=True)
        >>> model = AutoMetaRegressor(time_budget=20).fit(X, y)  # doctest: +SKIP
        >>> model.score(X, y)  # doctest: +SKIP
    """

    _task = "regression"
