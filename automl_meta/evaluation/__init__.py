"""Evaluation: score one configuration on one dataset, safely and within limits.

:func:`evaluate` runs a configuration under a :class:`Protocol` (cross-validation or a
holdout) in a worker process that dies with its caller, within a time and memory limit;
:mod:`~automl_meta.evaluation.metrics` holds the metrics and their ranges.
"""

from __future__ import annotations

from automl_meta.evaluation._engine import (
    STATUSES,
    Evaluation,
    Protocol,
    evaluate,
    fit_in_worker,
)

__all__ = ["STATUSES", "Evaluation", "Protocol", "evaluate", "fit_in_worker"]
