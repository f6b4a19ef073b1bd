"""Landmarking: accuracy of simple learners in stratified cross-validation.

As in pymfe: 10 unshuffled stratified folds (fewer when the largest class has fewer
rows), accuracy per fold, learners fitted on ``N`` of ``model_sample`` (at most
``MAX_MODEL_ROWS`` rows). For regression the learners are the same classifiers, fitted
on the target cut into quantile bins (see ``_shared.REGRESSION_BINS``), so that the
values of both tasks mean the same thing: how well a simple model separates the target.

Difference from pymfe, on purpose: ``worst_node`` and ``elite_nn`` pick their attribute
from the feature importances of the shared decision tree of the model-based group
(fitted once on the whole sample), where pymfe fits a full tree on each training fold;
that would cost ten tree fits, the bulk of the extraction time on large data.
``one_nn`` breaks distance ties by the first training row (pymfe's k-d tree by its
traversal order).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sklearn.tree import DecisionTreeClassifier

from automl_meta.metafeatures._learners import (
    gaussian_nb_predict,
    lda_predict,
    nearest_neighbour_1d_predict,
    nearest_neighbour_predict,
)
from automl_meta.metafeatures._registry import dependency, measure
from automl_meta.metafeatures._shared import cap_columns

N_FOLDS = 10
Folds = list[tuple[np.ndarray, np.ndarray]]
Predict = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dependency
def folds(model_N: np.ndarray, model_y: np.ndarray) -> Folds:
    """Stratified, unshuffled folds as pymfe makes them."""
    n_splits = int(min(N_FOLDS, np.bincount(model_y).max()))
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=False)
    return list(splitter.split(model_N, model_y))


@dependency
def importance_rank(tree: DecisionTreeClassifier) -> np.ndarray:
    """Attributes from the least to the most important for the shared tree."""
    return np.argsort(tree.feature_importances_)


def _cv_accuracy(predict: Predict, X: np.ndarray, y: np.ndarray, folds: Folds) -> np.ndarray:
    """Accuracy of ``predict(X_train, y_train, X_test)`` on each fold."""
    scores = np.empty(len(folds))
    for index, (train, test) in enumerate(folds):
        scores[index] = np.mean(predict(X[train], y[train], X[test]) == y[test])
    return scores


def _stump(random_state: int) -> Predict:
    """scikit-learn's depth-1 tree, as pymfe's (its tie-breaking between attributes too)."""

    def predict(X: np.ndarray, y: np.ndarray, X_test: np.ndarray) -> np.ndarray:
        model = DecisionTreeClassifier(max_depth=1, random_state=random_state)
        return model.fit(X, y).predict(X_test)

    return predict


@measure("landmarking", multi=True)
def one_nn(model_N: np.ndarray, model_y: np.ndarray, folds: Folds) -> np.ndarray:
    """Accuracy of the 1-nearest-neighbour classifier."""
    # centring leaves distances unchanged and keeps |a|^2 - 2ab + |b|^2 from cancelling
    centred = model_N - model_N.mean(axis=0)
    squares = np.einsum("ij,ij->i", centred, centred)
    scores = np.empty(len(folds))
    for index, (train, test) in enumerate(folds):
        predicted = nearest_neighbour_predict(
            centred[train], model_y[train], centred[test], squares[train]
        )
        scores[index] = np.mean(predicted == model_y[test])
    return scores


@measure("landmarking", multi=True)
def elite_nn(
    model_N: np.ndarray,
    model_y: np.ndarray,
    folds: Folds,
    importance_rank: np.ndarray,
) -> np.ndarray:
    """Accuracy of 1-NN on the most important attribute."""
    column = model_N[:, importance_rank[-1]]
    return _cv_accuracy(nearest_neighbour_1d_predict, column, model_y, folds)


@measure("landmarking", multi=True)
def naive_bayes(model_N: np.ndarray, model_y: np.ndarray, folds: Folds) -> np.ndarray:
    """Accuracy of Gaussian naive Bayes."""
    return _cv_accuracy(gaussian_nb_predict, model_N, model_y, folds)


@measure("landmarking", multi=True)
def linear_discr(
    model_N: np.ndarray, model_y: np.ndarray, folds: Folds, random_state: int
) -> np.ndarray:
    """Accuracy of linear discriminant analysis (on at most MAX_FEATURES attributes)."""
    return _cv_accuracy(lda_predict, cap_columns(model_N, random_state), model_y, folds)


@measure("landmarking", multi=True)
def best_node(
    model_N: np.ndarray, model_y: np.ndarray, folds: Folds, random_state: int
) -> np.ndarray:
    """Accuracy of a decision stump choosing among all attributes."""
    return _cv_accuracy(_stump(random_state), model_N, model_y, folds)


@measure("landmarking", multi=True)
def random_node(
    model_N: np.ndarray, model_y: np.ndarray, folds: Folds, random_state: int
) -> np.ndarray:
    """Accuracy of a decision stump on one random attribute."""
    # the same draw as pymfe's np.random.seed(random_state); np.random.randint(...)
    column = int(np.random.RandomState(random_state).randint(0, model_N.shape[1], size=1)[0])
    return _cv_accuracy(_stump(random_state), model_N[:, [column]], model_y, folds)


@measure("landmarking", multi=True)
def worst_node(
    model_N: np.ndarray,
    model_y: np.ndarray,
    folds: Folds,
    importance_rank: np.ndarray,
    random_state: int,
) -> np.ndarray:
    """Accuracy of a decision stump on the least important attribute."""
    column = int(importance_rank[0])
    return _cv_accuracy(_stump(random_state), model_N[:, [column]], model_y, folds)
