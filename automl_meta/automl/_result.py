"""What a :func:`~automl_meta.fit` hands back: its budget, progress and result."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from automl_meta.errors import ConfigurationError
from automl_meta.evaluation.metrics import class_scores

STAGES = ("prepare", "search", "refit", "record", "done")


def parse_budget(budget: str | float | int) -> float:
    """Seconds from ``60``, ``"60s"``, ``"2m"``, ``"1h"`` or ``"1m30s"``."""
    if isinstance(budget, (int, float)) and not isinstance(budget, bool):
        seconds = float(budget)
    else:
        text = str(budget).strip().lower()
        parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?",
                             text)
        if not text or parts is None or not any(parts.groups()):
            raise ConfigurationError(f"budget={budget!r} is not a duration; expected seconds "
                                     "or a string like '60s', '5m', '1h'.")
        hours, minutes, secs = (float(g) if g else 0.0 for g in parts.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if not np.isfinite(seconds) or seconds <= 0:
        raise ConfigurationError(f"budget={budget!r} must be a positive, finite duration.")
    return seconds


@dataclass(frozen=True)
class FitProgress:
    """A snapshot of a running :func:`~automl_meta.fit`, handed to its ``callback``.

    ``stage`` is ``"prepare"`` (meta-features and recommendations), ``"search"`` (reported
    after every finished trial and every quarter second), ``"refit"`` (the chosen model on
    all rows), ``"record"`` or ``"done"``. ``best_score`` is the best cross-validated
    ``metric`` so far (``None`` before a trial succeeds); at ``"done"`` it is the final
    score, an ensemble's included.

    Example:
        >>> def show(p: FitProgress) -> None:
        ...     print(f"{p.trials} trials, best {p.best_score}, {p.time_left:.0f} s left")
        >>> fit("sklearn:iris", budget="10s", callback=show)  # doctest: +SKIP
    """

    stage: str
    trials: int
    failed: int
    best_score: float | None
    best_algorithm: str | None
    metric: str
    elapsed: float
    budget: float

    @property
    def time_left(self) -> float:
        """Seconds of the budget not yet spent (never negative)."""
        return max(0.0, self.budget - self.elapsed)


@dataclass
class FitResult:
    """What :func:`~automl_meta.fit` returns: the fitted model and how it was found.

    Besides the model and the search (``leaderboard``, ``study``, ``best_config``,
    ``ensemble`` members with their weights), it describes the training data (``dataset``,
    ``target``, the ``features`` the model reads in order, which of them are
    ``categorical``) so that :func:`~automl_meta.automl.save_result` writes all
    :func:`~automl_meta.load_model` needs.

    Example:
        >>> result = fit("sklearn:iris", budget="10s")  # doctest: +SKIP
        >>> result.best_config["algorithm"], result.best_score  # doctest: +SKIP
        >>> result.leaderboard[["algorithm", "status", result.metric]].head(3)  # doctest: +SKIP
        >>> result.predict(new_rows)  # doctest: +SKIP
    """

    model: Any
    leaderboard: pd.DataFrame
    study: Any
    best_config: dict[str, Any]
    best_score: float
    task: str
    metric: str
    seconds: float
    ensemble: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    run_id: int | None = None
    dataset: str = ""
    target: str = "target"
    features: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    n_rows: int = 0
    budget: float = 0.0
    protocol: str = "cv3"
    recorded_to: str | None = None

    def predict(self, X: Any) -> np.ndarray:
        return self.model.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        if self.task != "classification":
            raise ConfigurationError("predict_proba is only defined for classification.")
        return class_scores(self.model, X, self.model.classes_)


class ProgressReporter:
    """Builds :class:`FitProgress` snapshots from the evaluations so far for a callback."""

    def __init__(self, callback: Callable[[FitProgress], None] | None, metric: str,
                 sign: float, started: float, budget: float) -> None:
        self.callback = callback
        self.metric = metric
        self.sign = sign
        self.started = started
        self.budget = budget

    def __call__(self, stage: str, evaluations: list[Any],
                 final: tuple[float, str] | None = None) -> None:
        if self.callback is None:
            return
        done = list(evaluations)  # trials may append from worker threads meanwhile
        scored = [e for e in done if e.ok and np.isfinite(e.metrics.get(self.metric, np.nan))]
        best = max(scored, key=lambda e: self.sign * e.metrics[self.metric], default=None)
        score, algorithm = final or ((best.metrics[self.metric], best.config["algorithm"])
                                     if best is not None else (None, None))
        self.callback(FitProgress(stage=stage, trials=len(done), failed=len(done) - len(scored),
                                  best_score=score, best_algorithm=algorithm,
                                  metric=self.metric, elapsed=time.perf_counter() - self.started,
                                  budget=self.budget))


def leaderboard(evaluations: list[Any], metric: str, sign: float) -> pd.DataFrame:
    """One row per trial, best ``metric`` first (failures last)."""
    rows = [{"trial": i, "algorithm": e.config["algorithm"], "params": e.config["params"],
             "status": e.status, metric: e.metrics.get(metric, np.nan),
             "fit_seconds": e.fit_seconds, "wall_seconds": e.wall_seconds}
            for i, e in enumerate(evaluations)]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    order = frame[metric].fillna(-np.inf * sign) * sign
    return frame.assign(_o=order).sort_values("_o", ascending=False).drop(columns="_o") \
        .reset_index(drop=True)
