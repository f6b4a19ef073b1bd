"""A classifier wrapper that learns integer label codes and answers with the labels."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted


def label_codes(y: Any) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct labels and each row's position among them.

    Example:
        >>> [a.tolist() for a in label_codes(["1", "-1", "1"])]
        [['-1', '1'], [1, 0, 1]]
    """
    labels, codes = np.unique(np.asarray(y), return_inverse=True)
    return labels, codes.reshape(-1)


def _inner_has(name: str) -> Any:
    def check(self: LabelCodedClassifier) -> bool:
        return hasattr(getattr(self, "estimator_", self.estimator), name)
    return check


class LabelCodedClassifier(ClassifierMixin, BaseEstimator):
    """Trains ``estimator`` on integer codes of the sorted labels, answers with the labels.

    This is how :func:`~automl_meta.evaluate` trains every classifier (scikit-learn's forests
    with ``class_weight="balanced"`` fail on labels such as ``"-1"``), so a model refitted by
    :func:`~automl_meta.evaluation.fit_in_worker` is the model that was scored.
    ``predict_proba`` and ``decision_function`` columns follow ``classes_``.

    Example:
        >>> from sklearn.ensemble import RandomForestClassifier
        >>> forest = RandomForestClassifier(5, class_weight="balanced", random_state=0)
        >>> model = LabelCodedClassifier(forest).fit([[0], [1], [0], [1]], ["-1", "1"] * 2)
        >>> model.predict([[1]]).tolist(), model.classes_.tolist()
        (['1'], ['-1', '1'])
    """

    def __init__(self, estimator: Any = None) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any, **fit_params: Any) -> LabelCodedClassifier:
        self.classes_, codes = label_codes(y)
        self.estimator_ = clone(self.estimator).fit(X, codes, **fit_params)
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.classes_[np.asarray(self.estimator_.predict(X)).astype(int)]

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    @available_if(_inner_has("decision_function"))
    def decision_function(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.decision_function(X)
