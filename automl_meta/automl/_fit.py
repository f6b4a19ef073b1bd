"""``fit``: a whole AutoML search under a budget, started from the meta-learners' advice.

The search (:mod:`._search`) runs Optuna with :class:`~automl_meta.MetaSampler`
(recommended configurations first, TPE after), scoring each trial with cross-validation
in a worker process whose time limit is the budget left, so one hung configuration cannot
break the budget. The best configuration, or a greedy ensemble of the top ones when that
validates better, is refitted on all the data (:mod:`._refit`). The first trial is always
the cheapest sound configuration (:func:`._search.baseline_config`), so a budget that allows
it ends with a model however busy the machine. Every evaluation is
recorded as it finishes into the knowledge source ``db`` (:mod:`._recording`): the user's
meta-database by default, or a team's ``automl-meta serve``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from automl_meta.advice._sources import KnowledgeSource, db_or_server, opened_source
from automl_meta.automl._recording import TrialRecorder
from automl_meta.automl._refit import refit_best
from automl_meta.automl._result import (
    FitProgress,
    FitResult,
    ProgressReporter,
    leaderboard,
    parse_budget,
)
from automl_meta.automl._search import Search
from automl_meta.data import Dataset, load_dataset
from automl_meta.errors import AutoMLMetaError, AutoMLMetaWarning, ConfigurationError
from automl_meta.evaluation import Protocol
from automl_meta.evaluation.metrics import LOWER_IS_BETTER, PRIMARY_METRIC, default_metrics
from automl_meta.metafeatures import extract_metafeatures

__all__ = ["FitProgress", "FitResult", "fit", "parse_budget"]

SEARCH_MAX_ROWS = 10_000


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
        record: write every evaluation and the run into ``db``. Trials are recorded as
            they finish, so a fit that is killed keeps what it evaluated; and a fit on data
            whose trials are in the local store resumes from them: its best stored
            configurations (same data, protocol and metric) are evaluated first, and a
            configuration the store already scored is not evaluated again (the search is
            told the stored score instead).
        db: the knowledge source that recommends and records (anything
            :func:`~automl_meta.advice.resolve_source` accepts): by default the user store
            (``$AUTOML_META_DB``); a store's URL or path or a
            :class:`~automl_meta.MetaDB`; a team's ``automl-meta serve`` URL or
            :class:`~automl_meta.service.Client`, which recommends (only the meta-features
            are sent) and records (token from ``$AUTOML_META_TOKEN``; a failure to record
            there is a warning: the fitted model is returned all the same).
        callback: called with a :class:`FitProgress` in the calling thread as the search
            goes (an exception it raises stops ``fit``).
        server: deprecated, pass the server's URL or Client as ``db``.

    Example:
        >>> result = fit("sklearn:breast_cancer", budget="30s")  # doctest: +SKIP
        >>> result.leaderboard.head()  # doctest: +SKIP
        >>> fit("data.csv", budget="5m", db="http://meta.internal:8000")  # doctest: +SKIP
    """
    started = time.perf_counter()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    seconds = parse_budget(budget)
    if n_jobs < 1:
        raise ConfigurationError(f"n_jobs={n_jobs!r} must be a positive number of workers.")
    db = db_or_server(db, server, "fit")
    data = load_dataset(dataset, target=target, task=task)
    metric, sign = _objective(data.task, metric)
    evaluations: list[Any] = []
    report = ProgressReporter(callback, metric, sign, started, seconds)
    report("prepare", evaluations)
    search_data = data.subsample(SEARCH_MAX_ROWS, random_state=random_state)
    protocol_key = Protocol.parse(protocol).key  # a clear error now, not in every trial
    metafeatures = extract_metafeatures(data)
    search = Search(data, search_data, protocol, metric, sign, started + seconds, seconds,
                    random_state, ensemble, evaluations)
    recorder: TrialRecorder | None = None
    completed = False
    # a server that does not answer must not hold the search much beyond its budget
    with opened_source(db, timeout=min(120.0, max(5.0, 0.1 * seconds))) as source:
        try:
            recs = _recommendations(source, metafeatures, data, n_warm, strategy)
            if record and source.records:
                recorder = TrialRecorder(source, data, metafeatures, protocol_key, metric,
                                         min(data.n_rows, SEARCH_MAX_ROWS))
            search.start(recs, n_warm, recorder)
            searching = time.perf_counter()
            stages = {"prepare": searching - started}
            search.run(n_jobs, recorder, report)
            stages["search"] = time.perf_counter() - searching
            result = _refitted(search, data, protocol, ensemble, seconds, started, report,
                               stages)
            recording = time.perf_counter()
            if recorder is not None:
                report("record", evaluations)
                result.run_id, result.recorded_to = recorder.finish(evaluations, result,
                                                                    seconds, started_at)
            stages["record"] = time.perf_counter() - recording
            completed = True
        finally:
            if recorder is not None:
                # a fit stopped by an error, Ctrl-C or SIGTERM keeps the trials it finished
                recorder.close(evaluations, failing=not completed)
    result.seconds = time.perf_counter() - started
    label = (f"ensemble of {len(result.ensemble)}" if len(result.ensemble) > 1
             else result.ensemble[0][0]["algorithm"])
    report("done", evaluations, final=(result.best_score, label))
    return result


def _objective(task: str, metric: str | None) -> tuple[str, float]:
    """The search metric (the task's primary one by default) and +1 / -1 to maximise it."""
    metric = metric or PRIMARY_METRIC[task]
    if metric not in default_metrics(task):
        raise ConfigurationError(f"metric={metric!r} is not a {task} metric; expected one "
                                 f"of {', '.join(default_metrics(task))}.")
    return metric, -1.0 if metric in LOWER_IS_BETTER else 1.0


def _recommendations(source: KnowledgeSource, metafeatures: Any, data: Dataset, k: int,
                     strategy: str) -> list[Any]:
    try:
        return source.recommend(metafeatures, data.task, k=k, strategy=strategy,
                                fingerprint=data.fingerprint)
    except AutoMLMetaError as exc:
        warnings.warn(f"No recommendations ({exc}); starting from TPE alone.",
                      AutoMLMetaWarning, stacklevel=3)
        return []


def _refitted(search: Search, data: Dataset, protocol: str, allow_ensemble: bool,
              seconds: float, started: float, report: ProgressReporter,
              stages: dict[str, float]) -> FitResult:
    """The chosen model refitted on all rows, as a :class:`FitResult` (not yet recorded);
    ``stages`` gets the ensemble and refit times and becomes its ``stage_seconds``."""
    ok = search.ranked()
    if not ok:
        raise AutoMLMetaError(_nothing_finished(search, data, seconds, stages["prepare"]))
    report("refit", search.evaluations)
    model, used, best_config, best_score = refit_best(
        ok, data, search.search_data, search.metric, search.sign, allow_ensemble,
        search.deadline, search.random_state, seconds, stages)
    return FitResult(
        stage_seconds=stages, search_ended=search.ended, refit_reserve=search.reserve,
        search_rows=search.search_data.n_rows,
        model=model, leaderboard=leaderboard(search.evaluations, search.metric, search.sign,
                                             search.finished),
        study=search.study, best_config=best_config, best_score=best_score, task=data.task,
        metric=search.metric, seconds=time.perf_counter() - started, ensemble=used,
        dataset=data.name, target=str(data.y.name), features=[str(c) for c in data.X.columns],
        categorical=list(data.categorical), n_rows=data.n_rows, budget=seconds,
        protocol=protocol)


def _nothing_finished(search: Search, data: Dataset, seconds: float, prepare: float) -> str:
    """Why no trial succeeded, and what to do about it."""
    tried = search.evaluations
    if not tried:
        what = (f"no trial could start: preparing (loading, meta-features, advice) took "
                f"{prepare:.1f} s of it")
    else:
        first = tried[0]
        what = (f"even the first, cheapest configuration ({first.config['algorithm']} with its "
                f"defaults) ended '{first.status}'"
                + (f": {first.error}" if first.error else ""))
        if len(tried) > 1:
            what += f", and the {len(tried) - 1} other trial(s) failed or were stopped too"
    return (f"No configuration finished within the budget of {seconds:.0f} s on {data.name}: "
            f"{what}. Expected at least one successful trial; give a larger budget (say "
            f"{max(2.0 * seconds, 3.0 * prepare + 5.0):.0f} s) or free the machine's cores.")
