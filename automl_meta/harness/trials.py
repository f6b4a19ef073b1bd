"""Trials, incumbents and the per-dataset context every method runs in.

A search's trial is a configuration cross-validated on the training part (with a time
limit, in a worker process, through :func:`~automl_meta.evaluate`). After ``b`` trials the
incumbent is the configuration with the best CV score so far (the earliest on a tie); it is
then fitted on the whole training part and scored on the test part, the number reported.

Evaluations are deterministic for a given configuration, split and seed, so within one
dataset they are cached by configuration: two methods that try the same configuration (the
meta-learned ones share their first recommendations) evaluate it once. A cached trial is
charged the wall time of its first evaluation, so the seconds a method reports stay what it
would have spent alone. Time-budgeted searches never use the cache.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from automl_meta.errors import AutoMLMetaError
from automl_meta.evaluation import Evaluation, evaluate
from automl_meta.harness.advice import Advice
from automl_meta.harness.prepare import PreparedDataset
from automl_meta.harness.settings import BenchmarkSettings
from automl_meta.space import config_hash


@dataclass
class Trial:
    """One configuration tried by a search: its CV score on the training part (NaN when it
    failed) and the seconds it cost, the method's own overhead included."""

    config: dict[str, Any] | None
    score: float
    status: str
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok" and math.isfinite(self.score)


@dataclass
class Outcome:
    """What a method reached at one budget: the test score of its choice and its cost."""

    budget: int | str
    status: str
    score: float | None = None
    seconds: float = 0.0
    cv_score: float | None = None
    config: dict[str, Any] | None = None
    trials: int | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class RunContext:
    """One prepared dataset, the settings, the advice it may use and the evaluation cache."""

    def __init__(self, prepared: PreparedDataset, settings: BenchmarkSettings,
                 advice: Advice | None = None) -> None:
        self.prepared = prepared
        self.settings = settings
        self.advice = advice
        self.task = prepared.task
        self._cv: dict[str, Any] = {}
        self._test: dict[str, Any] = {}
        self._metafeatures: Any = None
        self.metafeature_seconds = 0.0

    @property
    def recommender(self) -> Any:
        """The held-out :class:`~automl_meta.advice.Recommender` (pass it as ``db=``)."""
        return self._advised("recommender")

    @property
    def neural(self) -> Any:
        """The held-out neural learner."""
        return self._advised("neural")

    def _advised(self, name: str) -> Any:
        value = getattr(self.advice, name, None) if self.advice is not None else None
        if value is None:
            reasons = (self.advice.unavailable or {}) if self.advice is not None else {}
            raise RuntimeError(f"no {name} could be prepared for this dataset"
                               + (f": {reasons[name]}" if name in reasons else ""))
        return value

    @property
    def metafeatures(self) -> Any:
        """The meta-features of the training part (computed once; never of the test part)."""
        if self._metafeatures is None:
            from automl_meta.metafeatures import extract_metafeatures

            started = time.perf_counter()
            self._metafeatures = extract_metafeatures(self.prepared.train)
            self.metafeature_seconds = time.perf_counter() - started
        return self._metafeatures

    def cross_validate(self, config: dict[str, Any], time_limit: float | None = None,
                       cached: bool = True) -> Any:
        """The CV evaluation of ``config`` on the training part (an ``Evaluation``), within
        ``time_limit`` (default: the trial limit)."""
        key = config_hash(config)
        if cached and key in self._cv:
            return self._cv[key]
        evaluation = _safe_evaluate(
            config, self.prepared.train,
            self.prepared.search_protocol(self.settings.folds, self.settings.seed),
            time_limit or self.settings.trial_seconds, self.settings.seed, self.task)
        if cached:  # an uncached call may have had less time: it never fills the cache
            self._cv[key] = evaluation
        return evaluation

    def test_score(self, config: dict[str, Any]) -> Any:
        """``config`` fitted on the training part and scored on the test part (cached)."""
        key = config_hash(config)
        if key not in self._test:
            self._test[key] = _safe_evaluate(config, self.prepared.data, self.prepared.split,
                                             self.settings.test_time_limit,
                                             self.settings.seed, self.task)
        return self._test[key]


def _safe_evaluate(config: dict[str, Any], dataset: Any, protocol: Any, time_limit: float,
                   seed: int, task: str) -> Any:
    """``evaluate`` that turns even a rejected configuration into a failed evaluation."""
    started = time.perf_counter()
    try:
        return evaluate(config, dataset, protocol=protocol, time_limit=time_limit,
                        random_state=seed)
    except AutoMLMetaError as exc:
        return Evaluation(config=config, protocol=str(protocol), status="error",
                          error=f"{type(exc).__name__}: {exc}", task=task,
                          wall_seconds=time.perf_counter() - started)


def timed_cross_validation(context: RunContext, config: dict[str, Any],
                           time_limit: float | None = None,
                           cached: bool = True) -> tuple[Any, float]:
    """The CV evaluation of ``config`` and the seconds the call really took (short for a
    cached one, whose ``wall_seconds`` still say what it cost the first time)."""
    started = time.perf_counter()
    evaluation = context.cross_validate(config, time_limit=time_limit, cached=cached)
    return evaluation, time.perf_counter() - started


def trial_from(config: dict[str, Any], evaluation: Any, overhead: float) -> Trial:
    score = evaluation.score if evaluation.ok else math.nan
    return Trial(config, float(score), evaluation.status, overhead + evaluation.wall_seconds,
                 evaluation.error)


def incumbent_outcomes(context: RunContext, trials: list[Trial], budgets: tuple[int, ...],
                       setup_seconds: float = 0.0,
                       aborted: str | None = None) -> list[Outcome]:
    """The test score of the incumbent after each budget of trials.

    A budget no successful trial reached is a failure; so is a budget beyond the trials of
    a search that ``aborted`` (with that message). A search that simply ran out of
    configurations reports its last incumbent, with the number of ``trials`` it made.
    """
    outcomes = []
    for budget in budgets:
        head = trials[:budget]
        seconds = setup_seconds + sum(t.seconds for t in head)
        if aborted is not None and len(trials) < budget:
            outcomes.append(Outcome(budget, "error", seconds=seconds, trials=len(head),
                                    error=aborted))
            continue
        successful = [t for t in head if t.ok]
        if not successful:
            last = next((t.error for t in reversed(head) if t.error), None)
            outcomes.append(Outcome(
                budget, "error", seconds=seconds, trials=len(head),
                error=f"no trial succeeded in {len(head)}" + (f"; last error: {last}"
                                                              if last else "")))
            continue
        best = max(successful, key=lambda t: t.score)  # max keeps the earliest on a tie
        outcomes.append(test_outcome(context, budget, best.config or {}, seconds,
                                     cv_score=best.score, trials=len(head)))
    return outcomes


def test_outcome(context: RunContext, budget: int | str, config: dict[str, Any],
                 seconds: float, cv_score: float | None = None,
                 trials: int | None = None) -> Outcome:
    """The outcome of choosing ``config``: its test score after fitting on the train part."""
    evaluation = context.test_score(config)
    score = float(evaluation.score) if evaluation.ok else None
    if score is not None and not math.isfinite(score):
        score = None
    status, error = evaluation.status, evaluation.error
    if evaluation.ok and score is None:
        status, error = "error", "the test score is not a finite number"
    return Outcome(budget, status, score=score, seconds=seconds, cv_score=cv_score,
                   config=config, trials=trials, error=error,
                   extra={"test_seconds": round(evaluation.wall_seconds, 3)})
