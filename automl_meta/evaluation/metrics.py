"""Scoring predictions with several metrics at once."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

CLASSIFICATION_METRICS = ("balanced_accuracy", "accuracy", "roc_auc", "log_loss")
REGRESSION_METRICS = ("r2", "rmse", "mae")
PRIMARY_METRIC = {"classification": "balanced_accuracy", "regression": "r2"}
LOWER_IS_BETTER = {"log_loss", "rmse", "mae"}
# the values each metric can take (inclusive bounds; None: unbounded on that side), which
# the meta-database checks every recorded score against
METRIC_RANGES: dict[str, tuple[float | None, float | None]] = {
    "balanced_accuracy": (0.0, 1.0), "accuracy": (0.0, 1.0), "roc_auc": (0.0, 1.0),
    "log_loss": (0.0, None), "r2": (None, 1.0), "rmse": (0.0, None), "mae": (0.0, None),
}


def default_metrics(task: str) -> tuple[str, ...]:
    return CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS


def class_scores(model: Any, X: Any, classes: np.ndarray) -> np.ndarray | None:
    """Probabilities (or softmaxed decision values) over ``classes``, columns aligned."""
    if hasattr(model, "predict_proba"):
        try:
            raw = np.asarray(model.predict_proba(X), dtype=float)
        except (AttributeError, NotImplementedError):
            raw = None
    else:
        raw = None
    if raw is None and hasattr(model, "decision_function"):
        decision = np.asarray(model.decision_function(X), dtype=float)
        if decision.ndim == 1:
            decision = np.column_stack([-decision, decision])
        decision -= decision.max(axis=1, keepdims=True)
        raw = np.exp(decision)
        raw /= raw.sum(axis=1, keepdims=True)
    if raw is None:
        return None
    model_classes = list(getattr(model, "classes_", classes))
    aligned = np.zeros((raw.shape[0], len(classes)))
    position = {label: i for i, label in enumerate(classes)}
    for column, label in enumerate(model_classes):
        if label in position and column < raw.shape[1]:
            aligned[:, position[label]] = raw[:, column]
    return aligned


def score_predictions(task: str, metrics: tuple[str, ...], y_true: np.ndarray,
                      y_pred: np.ndarray, scores: np.ndarray | None,
                      classes: np.ndarray | None) -> dict[str, float]:
    """Compute every metric in ``metrics``; a metric that cannot be computed is NaN."""
    from sklearn import metrics as skm

    out: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in metrics:
            try:
                out[name] = float(_one_metric(skm, name, task, y_true, y_pred, scores, classes))
            except ValueError:
                out[name] = float("nan")
    return out


def _one_metric(skm: Any, name: str, task: str, y_true: np.ndarray, y_pred: np.ndarray,
                scores: np.ndarray | None, classes: np.ndarray | None) -> float:
    if name == "balanced_accuracy":
        return skm.balanced_accuracy_score(y_true, y_pred)
    if name == "accuracy":
        return skm.accuracy_score(y_true, y_pred)
    if name == "r2":
        return skm.r2_score(y_true, y_pred)
    if name == "rmse":
        return float(np.sqrt(skm.mean_squared_error(y_true, y_pred)))
    if name == "mae":
        return skm.mean_absolute_error(y_true, y_pred)
    if scores is None or classes is None:
        return float("nan")
    if name == "log_loss":
        clipped = np.clip(scores, 1e-15, 1.0)
        return skm.log_loss(y_true, clipped / clipped.sum(axis=1, keepdims=True), labels=classes)
    if name == "roc_auc":
        present = np.isin(classes, np.unique(y_true))
        if present.sum() < 2:
            return float("nan")
        if len(classes) == 2:
            return skm.roc_auc_score(y_true == classes[1], scores[:, 1])
        sub = scores[:, present]
        sub = sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-15, None)
        if present.sum() == 2:
            # two of several classes in this fold: scikit-learn sees a binary target and
            # refuses the two-column scores; one-vs-rest would give this AUC for both
            return skm.roc_auc_score(y_true == classes[present][1], sub[:, 1])
        return skm.roc_auc_score(y_true, sub, multi_class="ovr", average="weighted",
                                 labels=classes[present])
    raise ValueError(f"unknown metric {name}")
