"""scikit-learn estimators around :func:`automl_meta.fit`.

They follow the estimator contract: parameters are stored as given in ``__init__`` and
validated in ``fit``; inputs are checked with scikit-learn's ``validate_data`` (so errors
read as scikit-learn's do); ``n_features_in_`` / ``feature_names_in_`` are set. Inputs may
be arrays or DataFrames with categorical or text columns and missing values, which the
search's pipelines encode and impute.

``time_budget`` was renamed ``budget`` (as in :func:`~automl_meta.fit`) and ``server`` became
``db`` (a server URL is a knowledge source like a store's); the old names still work for one
release, with a deprecation warning (their default is the string ``"deprecated"`` /
``None``, the scikit-learn way of keeping ``get_params`` and ``clone`` working).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from automl_meta.advice._sources import db_or_server
from automl_meta.automl._fit import fit as run_fit
from automl_meta.data import load_features
from automl_meta.data._prepare import MIN_ROWS
from automl_meta.errors import ConfigurationError
from automl_meta.evaluation.metrics import class_scores

DEFAULT_BUDGET = 60.0
DEPRECATED = "deprecated"


class _AutoMetaBase(BaseEstimator):
    _task = ""

    def __init__(self, budget: float | str = DEFAULT_BUDGET, metric: str | None = None,
                 n_jobs: int = 1, strategy: str = "auto", ensemble: bool = True,
                 record: bool = True, db: Any = None, server: Any = None,
                 random_state: int = 0, time_budget: float | str = DEPRECATED) -> None:
        self.budget = budget
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
        """Search algorithms and hyperparameters for ``(X, y)`` within ``budget``
        seconds and keep the best model (or ensemble), refitted on all rows."""
        budget = self._budget()
        db = db_or_server(self.db, self.server, type(self).__name__)
        checked, y = validate_data(self, X, y, dtype=None, ensure_all_finite=False,
                                   ensure_min_samples=MIN_ROWS,
                                   y_numeric=self._task == "regression")
        if self._task == "classification":
            check_classification_targets(y)
        frame = _named(X) if isinstance(X, pd.DataFrame) else _named(pd.DataFrame(checked))
        result = run_fit((frame, pd.Series(y, name="target")), budget=budget,
                         metric=self.metric, n_jobs=self.n_jobs, task=self._task,
                         strategy=self.strategy, ensemble=self.ensemble, record=self.record,
                         db=db, random_state=self.random_state)
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

    def _budget(self) -> float | str:
        """``budget``, or the deprecated ``time_budget`` when that was given instead."""
        if isinstance(self.time_budget, str) and self.time_budget == DEPRECATED:
            return self.budget
        if self.budget != DEFAULT_BUDGET:
            raise ConfigurationError(
                f"Got budget={self.budget!r} and time_budget={self.time_budget!r}; "
                "time_budget is the deprecated name of budget: pass budget alone.")
        warnings.warn(f"{type(self).__name__}(time_budget=...) is deprecated and will be "
                      "removed in the next release; pass budget=... instead (as for "
                      "automl_meta.fit).", DeprecationWarning, stacklevel=3)
        return self.time_budget

    def _features(self, X: Any) -> pd.DataFrame:
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
        budget: seconds (or ``"5m"``...) for the whole search and refit.
        metric: the search objective (default balanced accuracy).
        n_jobs, strategy, ensemble, record, db, random_state: as for
            :func:`automl_meta.fit` (``db`` may be a team server's URL).
        server: deprecated, pass the server's URL as ``db``.
        time_budget: deprecated name of ``budget``.

    Example:
        >>> from sklearn.datasets import load_iris
        >>> X, y = load_iris(return_X_y=True)
        >>> model = AutoMetaClassifier(budget=20).fit(X, y)  # doctest: +SKIP
        >>> model.predict(X[:3])  # doctest: +SKIP
    """

    _task = "classification"

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per class of ``classes_``."""
        features = self._features(X)
        return class_scores(self.model_, features, self.classes_)


class AutoMetaRegressor(RegressorMixin, _AutoMetaBase):
    """A regressor whose algorithm and hyperparameters are chosen by a meta-learned search.

    Takes the parameters of :class:`AutoMetaClassifier` (the default metric is R²).

    Example:
        >>> from sklearn.datasets import load_diabetes
        >>> X, y = load_diabetes(return_X_y=True)
        >>> model = AutoMetaRegressor(budget=20).fit(X, y)  # doctest: +SKIP
        >>> model.score(X, y)  # doctest: +SKIP
    """

    _task = "regression"
