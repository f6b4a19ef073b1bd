"""Helpers of the evaluation tests: metric lists, folds by hand, estimators that
hang, hog memory, raise or crash, and worker checks."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from automl_meta.evaluation import Protocol, evaluate
from automl_meta.evaluation._workers import idle_pids
from automl_meta.space import build, default_config

CLF_METRICS = ("balanced_accuracy", "accuracy", "roc_auc", "log_loss")
REG_METRICS = ("r2", "rmse", "mae")


def _manual_folds(config: dict[str, Any], dataset: Any, protocol: str) -> list[dict[str, Any]]:
    """Fit and predict each fold by hand: what evaluate() must reproduce."""
    folds = []
    for train, test in Protocol.parse(protocol).splits(dataset):
        model = build(config, dataset, random_state=0).fit(dataset.X.iloc[train],
                                                           dataset.y.iloc[train])
        X_test = dataset.X.iloc[test]
        fold = {"y": dataset.y.to_numpy()[test], "pred": model.predict(X_test)}
        if hasattr(model, "predict_proba"):
            fold["proba"] = model.predict_proba(X_test)
            fold["classes"] = model.classes_
        folds.append(fold)
    return folds


# --------------------------------------------------------------------------- isolation


class _Sleeper(ClassifierMixin, BaseEstimator):
    """Never finishes fitting."""

    def fit(self, X: Any, y: Any) -> _Sleeper:
        time.sleep(3600)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))


class _Hog(ClassifierMixin, BaseEstimator):
    """Touches 64 MB after 64 MB, up to 1 GB: far past a 128 MB limit."""

    def fit(self, X: Any, y: Any) -> _Hog:
        chunks = [np.ones(8 * 1024 * 1024) for _ in range(16)]
        self.classes_ = np.unique(y)
        self.size_ = sum(c.nbytes for c in chunks)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.repeat(self.classes_[0], len(X))


class _Raiser(ClassifierMixin, BaseEstimator):
    def fit(self, X: Any, y: Any) -> _Raiser:
        raise ValueError("deliberate failure 4217 while fitting")

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))


class _Crasher(ClassifierMixin, BaseEstimator):
    """Ends its process without a word, like a crash in native code."""

    def fit(self, X: Any, y: Any) -> _Crasher:
        os._exit(3)

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))


def _warm_worker(dataset: Any) -> int:
    """The pid of the idle worker the next evaluation of ``dataset`` will use: the one that
    has just finished a good evaluation of it."""
    assert evaluate(default_config("knn"), dataset, protocol="cv3", metrics=("accuracy",)).ok
    pids = idle_pids(dataset)
    assert pids
    return pids[-1]


def _is_gone(pid: int) -> bool:
    """The worker ``pid`` was killed and reaped, and every live child is an idle worker
    (none is left running a failed evaluation)."""
    live = {p.pid for p in mp.active_children()}
    return pid not in live and not os.path.exists(f"/proc/{pid}") and live <= set(idle_pids())
