"""``fit``: a whole AutoML search under a budget, started from the meta-learners' advice.

The search runs Optuna with :class:`~automl_meta.MetaSampler` (recommended configurations
first, TPE after), scoring each trial with cross-validation in a worker process whose time
limit is the budget left, so one hung configuration cannot break the budget. The best
configuration, or a greedy ensemble of the top ones when that validates better, is refitted
on all the data. Every evaluation is recorded into the user's meta-database, or into a
team's ``automl-meta serve`` when ``server`` is given.
"""

from __future__ import annotations

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

from automl_meta._saved_model import SavedModel, load_model, save_result
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
        from automl_meta._metrics import class_scores

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
            server's).
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

    from automl_meta._metrics import LOWER_IS_BETTER, PRIMARY_METRIC, default_metrics
    from automl_meta.evaluation import Protocol, evaluate
    from automl_meta.metafeatures import extract_metafeatures
    from automl_meta.optuna_integration import MetaSampler
    from automl_meta.space import suggest

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
    try:
        recs = _recommendations(metafeatures, data.task, n_warm, strategy, db, client)
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
        if record:
            report("record", evaluations)
            if client is not None:
                result.recorded_to = _record_on_server(client, data, metafeatures, evaluations)
            else:
                result.run_id, result.recorded_to = _record(db, data, metafeatures,
                                                            evaluations, result, seconds,
                                                            started_at)
    finally:
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
    from automl_meta._recommend import recommend

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
    from automl_meta._ensemble import greedy_ensemble

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
    from automl_meta._ensemble import WeightedEnsemble

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


def _record(db: Any, data: Dataset, metafeatures: Any, evaluations: list[Any],
            result: FitResult, budget: float, started_at: str) -> tuple[int, str]:
    """Record the evaluations and the run into the local store; (run id, store URL)."""
    from automl_meta.config import user_db_url
    from automl_meta.metadb import MetaDB
    from automl_meta.metadb._record import record_evaluations

    store = db if isinstance(db, MetaDB) else MetaDB(db or user_db_url())
    rows_used = min(data.n_rows, SEARCH_MAX_ROWS)
    dataset_id = record_evaluations(store, data, evaluations, metafeatures, rows_used)
    (best_id,) = store.add_configs(data.task, [result.best_config])
    run_id = store.add_run(dataset_id, "fit", started_at,
                           datetime.now(timezone.utc).isoformat(timespec="seconds"), budget,
                           best_id, result.best_score, len(evaluations),
                           {"metric": result.metric,
                            "ensemble": [c for c, _ in result.ensemble]})
    return run_id, store._safe_url()


def _record_on_server(client: Any, data: Dataset, metafeatures: Any,
                      evaluations: list[Any]) -> str | None:
    """Record the evaluations on the team server (its API keeps evaluations, not runs).

    A failure is a warning, not an error: the search is done and its model is worth
    returning; the user can record again later.
    """
    try:
        client.record(data, evaluations, metafeatures=metafeatures,
                      n_rows_used=min(data.n_rows, SEARCH_MAX_ROWS))
    except AutoMLMetaError as exc:
        warnings.warn(f"The run could not be recorded on {client.url}: {exc} The fitted "
                      "model is returned all the same.", AutoMLMetaWarning, stacklevel=3)
        return None
    return str(client.url)
