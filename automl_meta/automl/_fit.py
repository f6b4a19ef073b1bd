"""``fit``: a whole AutoML search under a budget, started from the meta-learners' advice.

The search runs Optuna with :class:`~automl_meta.MetaSampler` (recommended configurations
first, TPE after), scoring each trial with cross-validation in a worker process whose time
limit is the budget left, so one hung configuration cannot break the budget. The best
configuration, or a greedy ensemble of the top ones when that validates better, is refitted
on all the data. Every evaluation is recorded into the user's meta-database, or into a
team's ``automl-meta serve`` when ``server`` is given.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from automl_meta._support import lifecycle as _lifecycle
from automl_meta.automl._saved_model import SavedModel, load_model, save_result
from automl_meta.data import Dataset, load_dataset
from automl_meta.errors import AutoMLMetaError, AutoMLMetaWarning, ConfigurationError

__all__ = ["FitProgress", "FitResult", "SavedModel", "fit", "load_model", "parse_budget",
           "save_result"]

SEARCH_MAX_ROWS = 10_000
ENSEMBLE_CANDIDATES = 8
REFIT_RESERVE = 0.06  # least share of the budget kept for the final refit and recording
MIN_RESERVE_SECONDS = 0.5
MIN_TRIAL_SECONDS = 0.5
PROGRESS_INTERVAL = 0.25  # seconds between progress reports while trials run
# a team server is sent the finished trials every few trials or seconds (the local store
# gets each poll's finished trials at once: one SQLite transaction is ~1 ms)
SERVER_FLUSH_TRIALS = 5
SERVER_FLUSH_SECONDS = 2.0
RESUME_RERUN = 3  # best stored configurations of the same data evaluated again first
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
    """A snapshot of a running :func:`fit`, handed to its ``callback``.

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
    """What :func:`fit` returns: the fitted model and how it was found.

    Besides the model and the search (``leaderboard``, ``study``, ``best_config``,
    ``ensemble`` members with their weights), it describes the training data (``dataset``,
    ``target``, the ``features`` the model reads in order, which of them are
    ``categorical``) so that :func:`save_result` writes all :func:`load_model` needs.

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
        from automl_meta.evaluation.metrics import class_scores

        return class_scores(self.model, X, self.model.classes_)


class _Reporter:
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


def fit(
    dataset: Any,
    budget: str | float = "60s",
    metric: str | None = None,
    n_jobs: int = 1,
    target: str | None = None,
    task: str | None = None,
    strategy: str = "auto",
    n_warm: int = 10,
    protocol: str = "cv3",
    ensemble: bool = True,
    record: bool = True,
    db: Any = None,
    random_state: int = 0,
    callback: Callable[[FitProgress], None] | None = None,
    server: Any = None,
) -> FitResult:
    """Search configurations for ``dataset`` within ``budget`` and return the fitted model.

    Args:
        dataset: anything :func:`~automl_meta.load_dataset` accepts.
        budget: total wall time, e.g. ``"60s"``, ``"5m"`` or seconds; ``fit`` returns
            within it (plus at most 10%).
        metric: the search objective (default balanced accuracy / R²); one of the task's
            metrics of :func:`~automl_meta.evaluate`.
        n_jobs: trials evaluated at once.
        strategy: the meta-learner giving the first ``n_warm`` configurations.
        protocol: the search's validation protocol, ``cvK`` or ``holdoutF`` (``cv3``
            default; ``cv5`` was no better on the search benchmark, see
            ``benchmarks/RESULTS.md``).
        ensemble: allow a greedy ensemble of the top configurations.
        record: write every evaluation and the run into the user's meta-database (or the
            server's). Trials are recorded as they finish, so a fit that is killed keeps
            what it evaluated; and a fit on data whose trials are in the local store
            resumes from them: its best stored configurations (same data, protocol and
            metric) are evaluated first, and a configuration the store already scored is
            not evaluated again (the search is told the stored score instead).
        db: the user store (URL, path or :class:`~automl_meta.MetaDB`) that recommends and
            records; default ``$AUTOML_META_DB``.
        callback: called with a :class:`FitProgress` in the calling thread as the search
            goes (an exception it raises stops ``fit``).
        server: a team's ``automl-meta serve`` URL, or a
            :class:`~automl_meta.service.Client`, instead of ``db``: the recommendations come
            from the server (only the meta-features are sent) and the evaluations are
            recorded there (token from ``$AUTOML_META_TOKEN``). A failure to record is a
            warning: the fitted model is returned all the same.

    Example:
        >>> result = fit("sklearn:breast_cancer", budget="30s")  # doctest: +SKIP
        >>> result.leaderboard.head()  # doctest: +SKIP
    """
    started = time.perf_counter()  # first, so the imports below count against the budget
    import optuna

    from automl_meta.advice._optuna import MetaSampler
    from automl_meta.evaluation import Protocol, evaluate
    from automl_meta.evaluation.metrics import LOWER_IS_BETTER, PRIMARY_METRIC, default_metrics
    from automl_meta.metafeatures import extract_metafeatures
    from automl_meta.space import config_hash, suggest

    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    seconds = parse_budget(budget)
    deadline = started + seconds
    if n_jobs < 1:
        raise ConfigurationError(f"n_jobs={n_jobs!r} must be a positive number of workers.")
    if server is not None and db is not None:
        raise ConfigurationError("Pass db= or server=, not both: with a server, the server's "
                                 "meta-database recommends and records.")
    data = load_dataset(dataset, target=target, task=task)
    metric = metric or PRIMARY_METRIC[data.task]
    if metric not in default_metrics(data.task):
        raise ConfigurationError(f"metric={metric!r} is not a {data.task} metric; expected one "
                                 f"of {', '.join(default_metrics(data.task))}.")
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    evaluations: list[Any] = []
    report = _Reporter(callback, metric, sign, started, seconds)
    report("prepare", evaluations)
    search_data = data.subsample(SEARCH_MAX_ROWS, random_state=random_state)
    Protocol.parse(protocol)  # a clear error now rather than a failure in every trial
    metafeatures = extract_metafeatures(data)
    client, own_client = _server_client(server, seconds)
    recorder: _TrialRecorder | None = None
    completed = False
    try:
        recs = _recommendations(metafeatures, data.task, n_warm, strategy, db, client)
        if record:
            recorder = _TrialRecorder(db, client, data, metafeatures,
                                      Protocol.parse(protocol).key, metric)
        known = recorder.previous if recorder is not None else {}
        recs, rerun = _resume_first(known, recorder.previous_configs if recorder else {},
                                    recs, n_warm, sign)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = MetaSampler(n_startup=len(recs), recommendations=recs, seed=random_state)
        study = optuna.create_study(direction="maximize", sampler=sampler)

        def search_deadline() -> float:
            # keep a reserve for refitting the chosen model on all rows: 3x the expected
            # refits of the top three configurations, which covers an ensemble's members
            # and a loaded machine
            done = sorted((e for e in evaluations
                           if e.ok and np.isfinite(e.metrics.get(metric, np.nan))),
                          key=lambda e: -sign * e.metrics[metric])[:3]
            refit = 3.0 * sum(_refit_seconds(e, data, search_data) for e in done)
            floor = max(seconds * REFIT_RESERVE, MIN_RESERVE_SECONDS)
            return deadline - max(floor, min(refit, seconds * 0.5))

        def one_trial() -> bool:
            remaining = search_deadline() - time.perf_counter()
            if remaining < MIN_TRIAL_SECONDS:
                return False
            trial = study.ask()
            config = suggest(trial, data.task)
            stored = known.get(config_hash(config))
            if stored is not None and config_hash(config) not in rerun:
                # scored by an earlier fit on this data: learn from it, do not redo it
                if stored == stored:
                    study.tell(trial, sign * stored)
                else:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                return True
            result = evaluate(config, search_data, protocol=protocol, time_limit=remaining,
                              random_state=random_state, return_predictions=ensemble)
            evaluations.append(result)
            value = result.metrics.get(metric, float("nan"))
            if result.ok and np.isfinite(value):
                study.tell(trial, sign * value)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return True

        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            running = [pool.submit(one_trial) for _ in range(n_jobs)]
            last_report = time.perf_counter()
            while running:
                finished = [f for f in running if f.done()]
                for future in finished:
                    running.remove(future)
                    if future.result():
                        running.append(pool.submit(one_trial))
                if recorder is not None and len(evaluations) > recorder.recorded:
                    recorder.flush(evaluations)  # before the report that counts them
                if finished or time.perf_counter() - last_report >= PROGRESS_INTERVAL:
                    report("search", evaluations)
                    last_report = time.perf_counter()
                time.sleep(0.01)

        leaderboard = _leaderboard(evaluations, metric, sign)
        ok = [e for e in evaluations if e.ok and np.isfinite(e.metrics.get(metric, np.nan))]
        if not ok:
            raise AutoMLMetaError(
                f"No configuration finished within the budget of {seconds:.0f} s on "
                f"{data.name}. Expected at least one successful trial; give a larger budget."
            )
        ok.sort(key=lambda e: -sign * e.metrics[metric])
        members, weights, best_score = _choose_model(ok, search_data, metric, sign, ensemble)
        report("refit", evaluations)
        fallbacks = [(e.config, _refit_seconds(e, data, search_data)) for e in ok[1:]]
        model, used = _refit(members, weights, data, deadline, random_state,
                             fallbacks=fallbacks, budget=seconds)
        best_config, best_score = _describe_refit(ok, members, used, metric, sign, best_score)
        result = FitResult(
            model=model, leaderboard=leaderboard, study=study, best_config=best_config,
            best_score=best_score, task=data.task, metric=metric,
            seconds=time.perf_counter() - started, ensemble=used, dataset=data.name,
            target=str(data.y.name), features=[str(c) for c in data.X.columns],
            categorical=list(data.categorical), n_rows=data.n_rows, budget=seconds,
            protocol=protocol,
        )
        if recorder is not None:
            report("record", evaluations)
            result.run_id, result.recorded_to = recorder.finish(evaluations, result, seconds,
                                                                started_at)
        completed = True
    finally:
        if recorder is not None:
            # a fit stopped by an error, Ctrl-C or SIGTERM keeps the trials it finished
            recorder.close(evaluations, failing=not completed)
        if own_client:
            client.close()
    result.seconds = time.perf_counter() - started
    label = f"ensemble of {len(used)}" if len(used) > 1 else used[0][0]["algorithm"]
    report("done", evaluations, final=(result.best_score, label))
    return result


def _server_client(server: Any, budget: float) -> tuple[Any, bool]:
    """The :class:`~automl_meta.service.Client` for ``server`` and whether ``fit`` owns it
    (a URL: yes, closed at the end; a client the caller made: no)."""
    if server is None:
        return None, False
    if not isinstance(server, str):
        return server, False
    from automl_meta.service import Client

    # a server that does not answer must not hold the search much beyond its budget
    return Client(server, timeout=min(120.0, max(5.0, 0.1 * budget))), True


def _recommendations(metafeatures: Any, task: str, k: int, strategy: str, db: Any,
                     client: Any) -> list[Any]:
    from automl_meta.advice._recommend import recommend

    try:
        if client is not None:
            return client.recommend(metafeatures=metafeatures, task=task, k=k,
                                    strategy=strategy)
        return recommend(metafeatures=metafeatures, task=task, k=k, strategy=strategy, db=db)
    except AutoMLMetaError as exc:
        warnings.warn(f"No recommendations ({exc}); starting from TPE alone.",
                      AutoMLMetaWarning, stacklevel=3)
        return []


def _leaderboard(evaluations: list[Any], metric: str, sign: float) -> pd.DataFrame:
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


def _choose_model(ok: list[Any], data: Dataset, metric: str, sign: float,
                  allow_ensemble: bool) -> tuple[list[dict[str, Any]], list[float], float]:
    from automl_meta.automl._ensemble import greedy_ensemble

    best = ok[0]
    single = ([best.config], [1.0], best.metrics[metric])
    candidates = [e for e in ok[:ENSEMBLE_CANDIDATES] if getattr(e, "predictions", None)
                  is not None]
    if not allow_ensemble or len(candidates) < 2:
        return single
    y = data.y.to_numpy()
    classes = np.unique(y) if data.task == "classification" else None
    chosen, score = greedy_ensemble([np.asarray(e.predictions) for e in candidates], y,
                                    data.task, classes)
    own = greedy_ensemble([np.asarray(candidates[0].predictions)], y, data.task, classes)[1]
    if len(set(chosen)) < 2 or score <= own + 1e-4:
        return single
    counts = np.bincount(chosen, minlength=len(candidates))
    members = [candidates[i].config for i in np.flatnonzero(counts)]
    weights = [float(counts[i]) for i in np.flatnonzero(counts)]
    return members, weights, best.metrics[metric] + (score - own)


def _describe_refit(ok: list[Any], members: list[dict[str, Any]],
                    used: list[tuple[dict[str, Any], float]], metric: str, sign: float,
                    chosen_score: float) -> tuple[dict[str, Any], float]:
    """The best configuration the returned model holds, and its validation score: the
    chosen model's score when every chosen member was refitted, else what the members that
    made it scored on their own (a fallback's own score, say)."""
    score = {id(e.config): e.metrics[metric] for e in ok}
    configs = [config for config, _ in used]
    best = max(configs, key=lambda config: sign * score[id(config)])
    if len(configs) == len(members) and all(a is b for a, b in zip(configs, members,
                                                                    strict=True)):
        return best, chosen_score
    return best, score[id(best)]


def _refit_seconds(evaluation: Any, data: Dataset, search_data: Dataset) -> float:
    """About how long refitting ``evaluation``'s configuration on all of ``data`` takes: its
    validation fits (k fits on (k-1)/k of the search rows are k-1 full fits; a holdout's
    one fit on 1-f of them) scaled from the search rows to all rows."""
    from automl_meta.evaluation import Protocol

    protocol = Protocol.parse(evaluation.protocol)
    full_fits = (protocol.n_splits - 1.0 if protocol.kind == "cv"
                 else 1.0 - protocol.test_size)
    return evaluation.fit_seconds / full_fits * data.n_rows / max(search_data.n_rows, 1)


def _refit(members: list[dict[str, Any]], weights: list[float], data: Dataset,
           deadline: float, random_state: int,
           fallbacks: list[tuple[dict[str, Any], float]],
           budget: float) -> tuple[Any, list[tuple[dict[str, Any], float]]]:
    """Refit the chosen members on all rows before the deadline. If none makes it, the
    next best configurations ``(config, expected refit seconds)`` are tried within the 10%
    tolerance of the budget, skipping those that would not finish in the time left (so a
    tight budget still ends with the best model that fits in it)."""
    from automl_meta.automl._ensemble import WeightedEnsemble

    fitted, used = [], []
    for config, weight in zip(members, weights, strict=True):
        remaining = deadline - time.perf_counter()
        if remaining <= 0.2 and fitted:
            break
        model = _fit_on_all_rows(config, data, max(remaining, 1.0), random_state)
        if model is not None:
            fitted.append(model)
            used.append((config, weight))
    for config, expected in fallbacks if not fitted else []:
        remaining = deadline + 0.09 * budget - time.perf_counter()
        if remaining <= 0.1:
            break
        if expected > remaining:
            continue
        model = _fit_on_all_rows(config, data, remaining, random_state)
        if model is not None:
            warnings.warn(f"Refitting {members[0]['algorithm']} on all rows failed or did "
                          f"not finish within the budget; returning the next best that "
                          f"did, {config['algorithm']}.", AutoMLMetaWarning, stacklevel=3)
            fitted.append(model)
            used.append((config, 1.0))
            break
    if not fitted:
        raise AutoMLMetaError(f"The final refit of {members[0]['algorithm']} on all of "
                              f"{data.name} failed or ran out of budget; give a larger budget.")
    if len(fitted) == 1:
        return fitted[0], [(used[0][0], 1.0)]
    return WeightedEnsemble(fitted, [w for _, w in used], data.task), used


def _fit_on_all_rows(config: dict[str, Any], data: Dataset, time_limit: float,
                     random_state: int) -> Any:
    """The pipeline of ``config`` fitted in a worker, or ``None`` when that failed.

    A model that cannot travel back from the worker (the transport raises ``OSError``)
    counts as a failed refit, so the next best configuration gets its turn.
    """
    from automl_meta.evaluation import fit_in_worker

    try:
        model, _, _ = fit_in_worker(config, data, time_limit=time_limit,
                                    random_state=random_state)
    except (OSError, EOFError) as exc:
        warnings.warn(f"The refitted {config['algorithm']} could not be received from its "
                      f"worker process ({type(exc).__name__}: {exc}); trying the next "
                      "configuration.", AutoMLMetaWarning, stacklevel=4)
        return None
    return model


class _TrialRecorder:
    """Records a fit's trials as they finish: into the local store (each batch of finished
    trials one transaction, the dataset and its meta-features first) or onto a team server
    (every few trials or seconds; a failure there is a warning and ends the recording).

    ``previous`` maps the hash of each configuration the local store already scored on
    this data (same protocol and rows) to its ``metric`` (NaN for a failure), for resuming.
    """

    def __init__(self, db: Any, client: Any, data: Dataset, metafeatures: Any,
                 protocol_key: str, metric: str) -> None:
        self.client, self.data, self.metafeatures = client, data, metafeatures
        self.rows_used = min(data.n_rows, SEARCH_MAX_ROWS)
        self.recorded = 0
        self.last_flush = time.perf_counter()
        self.failed: str | None = None
        self.previous: dict[str, float] = {}
        self.previous_configs: dict[str, dict[str, Any]] = {}
        self.store: Any = None
        self.own_store = False
        self.dataset_id: int | None = None
        if client is None:
            from automl_meta.config import user_db_url
            from automl_meta.metadb import MetaDB
            from automl_meta.metadb._record import record_dataset

            self.own_store = not isinstance(db, MetaDB)
            self.store = MetaDB(db or user_db_url()) if self.own_store else db
            self.dataset_id = record_dataset(self.store, data, metafeatures)
            self.previous, self.previous_configs = _stored_trials(
                self.store, self.dataset_id, protocol_key, metric, self.rows_used)
        where = client.url if client is not None else self.store._safe_url()
        _lifecycle.note_kept(lambda: f"{self.recorded} finished trials were recorded to "
                             f"{where}; rerun fit on the same data to resume from them")

    def flush(self, evaluations: list[Any], force: bool = False) -> None:
        """Record the evaluations not yet recorded (the list only ever grows); a stop signal
        waits until the write is done, so it never lands mid-commit."""
        with _lifecycle.shielded():
            self._flush(evaluations, force)

    def _flush(self, evaluations: list[Any], force: bool) -> None:
        end = len(evaluations)
        pending = evaluations[self.recorded:end]
        if not pending or self.failed is not None:
            return
        if self.client is not None and not force and len(pending) < SERVER_FLUSH_TRIALS \
                and time.perf_counter() - self.last_flush < SERVER_FLUSH_SECONDS:
            return
        if self.client is not None:
            try:
                self.client.record(self.data, pending, metafeatures=self.metafeatures,
                                   n_rows_used=self.rows_used)
            except AutoMLMetaError as exc:
                self.failed = str(exc)
                warnings.warn(f"The run could not be recorded on {self.client.url}: {exc} "
                              "The fitted model is returned all the same.",
                              AutoMLMetaWarning, stacklevel=4)
                return
        else:
            from automl_meta.metadb._record import record_evaluations

            record_evaluations(self.store, self.data, pending, self.metafeatures,
                               self.rows_used)
        self.recorded = end
        self.last_flush = time.perf_counter()

    def finish(self, evaluations: list[Any], result: FitResult, budget: float,
               started_at: str) -> tuple[int | None, str | None]:
        """Record what is left and the run; (run id, where it was recorded)."""
        self.flush(evaluations, force=True)
        if self.client is not None:  # the service's API keeps evaluations, not runs
            return None, None if self.failed is not None else str(self.client.url)
        (best_id,) = self.store.add_configs(self.data.task, [result.best_config])
        run_id = self.store.add_run(
            self.dataset_id, "fit", started_at,
            datetime.now(timezone.utc).isoformat(timespec="seconds"), budget, best_id,
            result.best_score, len(evaluations),
            {"metric": result.metric, "ensemble": [c for c, _ in result.ensemble]})
        return run_id, self.store._safe_url()

    def close(self, evaluations: list[Any], failing: bool) -> None:
        """The last flush; while another exception propagates, a failure here only warns
        so that exception is the one the caller sees."""
        try:
            self.flush(evaluations, force=True)
        except Exception as exc:
            if not failing:
                raise
            warnings.warn(f"{len(evaluations) - self.recorded} finished trial(s) could not "
                          f"be recorded while stopping: {type(exc).__name__}: {exc}",
                          AutoMLMetaWarning, stacklevel=3)
        finally:
            if self.own_store:
                self.store.close()


def _stored_trials(store: Any, dataset_id: int, protocol_key: str, metric: str,
                   rows_used: int) -> tuple[dict[str, float], dict[str, dict[str, Any]]]:
    """Config hash -> stored ``metric`` (NaN: failed) of the trials of ``dataset_id``, and
    config hash -> configuration.

    Only verdicts that do not depend on the time left count: scored trials and errors,
    not timeouts or memory-outs (a later fit with more budget may finish those).
    """
    from sqlalchemy import or_, select

    from automl_meta.metadb import _schema as s

    ev, cf = s.evaluation, s.config
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(cf.c.hash, ev.c.status, ev.c[metric], cf.c.algorithm, cf.c.params_json)
            .join(cf, cf.c.id == ev.c.config_id)
            .where(ev.c.dataset_id == dataset_id, ev.c.protocol == protocol_key,
                   or_(ev.c.n_rows_used.is_(None), ev.c.n_rows_used == rows_used),
                   ev.c.status.in_(["ok", "error"]))).all()
    scores = {str(h): float(value) if status == "ok" else float("nan")
              for h, status, value, _, _ in rows if status == "error" or value is not None}
    configs = {str(h): {"algorithm": algorithm, "params": json.loads(params)}
               for h, _, _, algorithm, params in rows if str(h) in scores}
    return scores, configs


def _resume_first(known: dict[str, float], configs: dict[str, dict[str, Any]],
                  recs: list[Any], n_warm: int, sign: float) -> tuple[list[Any], set[str]]:
    """The warm-start list when resuming: the best stored configurations first (evaluated
    again, so they can join an ensemble and compete with predictions), then the
    recommendations the store has not scored yet; and the hashes to evaluate again."""
    from automl_meta.metalearners import Recommendation
    from automl_meta.space import config_hash

    if not known:
        return recs, set()
    best = sorted((h for h, v in known.items() if v == v and h in configs),
                  key=lambda h: -sign * known[h])[:min(RESUME_RERUN, max(n_warm, 1))]
    first = [Recommendation(configs[h]["algorithm"], configs[h]["params"], 1.0, "resume",
                            f"scored {known[h]:.4f} on this data by an earlier fit", rank=i)
             for i, h in enumerate(best, start=1)]
    rest = [r for r in recs if config_hash(r.config) not in known]
    return first + rest, set(best)
