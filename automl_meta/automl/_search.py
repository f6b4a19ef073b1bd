"""The search loop of :func:`~automl_meta.fit`: Optuna with the meta-learners' advice first,
each trial cross-validated in a worker whose time limit is the budget left."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import optuna

from automl_meta import evaluation
from automl_meta.advice import MetaSampler
from automl_meta.automl._recording import TrialRecorder, _resume_first
from automl_meta.automl._refit import _refit_seconds
from automl_meta.data import Dataset
from automl_meta.metalearners import Recommendation
from automl_meta.space import algorithms, config_hash, default_config, suggest

REFIT_RESERVE = 0.06  # least share of the budget kept for the final refit and recording
MIN_RESERVE_SECONDS = 0.5
MIN_TRIAL_SECONDS = 0.5
PROGRESS_INTERVAL = 0.25  # seconds between progress reports while trials run
# the first trial, in this order of preference: quick to cross-validate and to refit, and
# sound on any data (scaled and one-hot encoded by the pipeline)
BASELINES = ("linear", "hist_gb", "random_forest")


def baseline_config(task: str) -> dict[str, Any]:
    """The cheapest sound configuration of the space for ``task``: the default of the first
    of :data:`BASELINES` it has (else of its first algorithm)."""
    names = algorithms(task)
    name = next((n for n in BASELINES if n in names), names[0])
    return default_config(name, task)


class Search:
    """Trials on ``search_data`` until the time kept for the refit is reached.

    The warm start is the recommendations, or when resuming the best configurations the
    source already scored on this data first; a configuration it scored is not evaluated
    again (the study is told the stored score), except those re-run for the ensemble.
    ``evaluations`` (shared with the caller, only ever appended to) holds every trial run,
    ``finished`` when each ended (seconds since the fit started).

    The first trial is always :func:`baseline_config`, so that something is there to refit
    however busy the machine: it may run until the time kept for the refit is reached
    (not only until the search's own deadline). When resuming, a score the store holds for
    it stands in for it like any other, since the best stored configurations, which
    finished before on this data, are evaluated again.
    ``ended`` and ``reserve`` say when the search stopped (seconds since the fit started)
    and how much of the budget was then left for the refit.
    """

    def __init__(self, data: Dataset, search_data: Dataset, protocol: str, metric: str,
                 sign: float, deadline: float, budget: float, random_state: int,
                 keep_predictions: bool, evaluations: list[Any]) -> None:
        self.data, self.search_data = data, search_data
        self.protocol, self.metric, self.sign = protocol, metric, sign
        self.deadline, self.budget = deadline, budget
        self.random_state = random_state
        self.keep_predictions = keep_predictions
        self.evaluations = evaluations
        self.known: dict[str, float] = {}
        self.rerun: set[str] = set()
        self.study: optuna.Study | None = None
        self.started = deadline - budget
        self.finished: list[float] = []
        self.baseline: str | None = None
        self.ended: float | None = None
        self.reserve = 0.0
        self._asked = 0
        self._lock = threading.Lock()

    def start(self, recs: list[Any], n_warm: int, recorder: TrialRecorder | None) -> None:
        """The study, warm-started from ``recs`` (and what ``recorder`` found stored)."""
        if recorder is not None:
            self.known = recorder.previous
            recs, self.rerun = _resume_first(self.known, recorder.previous_configs, recs,
                                             n_warm, self.sign)
        baseline = baseline_config(self.data.task)
        self.baseline = config_hash(baseline)
        recs = [Recommendation(baseline["algorithm"], baseline["params"], 0.0, "baseline",
                               "the cheapest sound configuration, evaluated first"),
                *(r for r in recs if config_hash(r.config) != self.baseline)]
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = MetaSampler(n_startup=len(recs), recommendations=recs,
                              seed=self.random_state)
        self.study = optuna.create_study(direction="maximize", sampler=sampler)

    def run(self, n_jobs: int, recorder: TrialRecorder | None,
            report: Callable[[str, list[Any]], None]) -> None:
        """``n_jobs`` trials at a time; finished ones are recorded, then reported."""
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            running = [pool.submit(self._one_trial) for _ in range(n_jobs)]
            last_report = time.perf_counter()
            while running:
                finished = [f for f in running if f.done()]
                for future in finished:
                    running.remove(future)
                    if future.result():
                        running.append(pool.submit(self._one_trial))
                if recorder is not None and len(self.evaluations) > recorder.recorded:
                    recorder.flush(self.evaluations)  # before the report that counts them
                if finished or time.perf_counter() - last_report >= PROGRESS_INTERVAL:
                    report("search", self.evaluations)
                    last_report = time.perf_counter()
                time.sleep(0.01)
        self.ended = time.perf_counter() - self.started
        self.reserve = max(0.0, self.budget - self.ended)

    def ranked(self) -> list[Any]:
        """The successful trials, best first."""
        ok = [e for e in self.evaluations
              if e.ok and np.isfinite(e.metrics.get(self.metric, np.nan))]
        return sorted(ok, key=lambda e: -self.sign * e.metrics[self.metric])

    def _search_deadline(self) -> float:
        # keep a reserve for refitting the chosen model on all rows: 3x the expected refits
        # of the top three configurations, which covers an ensemble's members and a loaded
        # machine
        refit = 3.0 * sum(_refit_seconds(e, self.data, self.search_data)
                          for e in self.ranked()[:3])
        floor = max(self.budget * REFIT_RESERVE, MIN_RESERVE_SECONDS)
        return self.deadline - max(floor, min(refit, self.budget * 0.5))

    def _one_trial(self) -> bool:
        assert self.study is not None, "start() comes first"
        now = time.perf_counter()
        remaining = self._search_deadline() - now
        with self._lock:  # the first trial asked is the baseline's
            first = self._asked == 0 and self.baseline is not None
            if first:
                remaining = max(remaining, self.deadline - now - MIN_RESERVE_SECONDS)
            if remaining < (0.1 if first else MIN_TRIAL_SECONDS):
                return False
            trial = self.study.ask()
            self._asked += 1
        config = suggest(trial, self.data.task)
        if first and config_hash(config) != self.baseline:
            remaining = min(remaining, self._search_deadline() - now)
            if remaining <= 0:
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                return False
        stored = self.known.get(config_hash(config))
        if stored is not None and config_hash(config) not in self.rerun:
            # scored by an earlier fit on this data: learn from it, do not redo it
            if stored == stored:
                self.study.tell(trial, self.sign * stored)
            else:
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return True
        result = evaluation.evaluate(config, self.search_data, protocol=self.protocol,
                                     time_limit=remaining, random_state=self.random_state,
                                     return_predictions=self.keep_predictions)
        with self._lock:
            self.evaluations.append(result)
            self.finished.append(time.perf_counter() - self.started)
        value = result.metrics.get(self.metric, float("nan"))
        if result.ok and np.isfinite(value):
            self.study.tell(trial, self.sign * value)
        else:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return True
