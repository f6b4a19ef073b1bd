"""``fit``: a whole AutoML search under a budget, started from the meta-learners' advice.

The search runs Optuna with :class:`~automl_meta.MetaSampler` (recommended configurations
first, TPE after), scoring each trial with cross-validation in a worker process whose time
limit is the budget left, so one hung configuration cannot break the budget. The best
configuration, or a greedy ensemble of the top ones when that validates better, is refitted
on all the data. Every evaluation is recorded into the user's meta-database.
"""

from __future__ import annotations

import re
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from automl_meta.data import Dataset, load_dataset
from automl_meta.errors import AutoMLMetaError, ConfigurationError

SEARCH_MAX_ROWS = 10_000
ENSEMBLE_CANDIDATES = 8
REFIT_RESERVE = 0.2  # share of the budget kept for the final refit
MIN_TRIAL_SECONDS = 0.5


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
    if seconds <= 0:
        raise ConfigurationError(f"budget={budget!r} must be positive.")
    return seconds


@dataclass
class FitResult:
    """What :func:`fit` returns: the fitted model and how it was found."""

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

    def predict(self, X: Any) -> np.ndarray:
        return self.model.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        if self.task != "classification":
            raise ConfigurationError("predict_proba is only defined for classification.")
        from automl_meta._metrics import class_scores

        return class_scores(self.model, X, self.model.classes_)


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
    progress: bool = False,
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
        protocol: the search's validation protocol (``cv3`` default).
        ensemble: allow a greedy ensemble of the top configurations.
        record: write every evaluation and the run into the user's meta-database.

    Example:
        >>> result = fit("sklearn:breast_cancer", budget="30s")  # doctest: +SKIP
        >>> result.leaderboard.head()  # doctest: +SKIP
    """
    started = time.perf_counter()  # first, so the imports below count against the budget
    import optuna

    from automl_meta._metrics import LOWER_IS_BETTER, PRIMARY_METRIC, default_metrics
    from automl_meta._recommend import recommend
    from automl_meta.evaluation import evaluate
    from automl_meta.metafeatures import extract_metafeatures
    from automl_meta.optuna_integration import MetaSampler
    from automl_meta.space import suggest

    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    seconds = parse_budget(budget)
    deadline = started + seconds
    if n_jobs < 1:
        raise ConfigurationError(f"n_jobs={n_jobs!r} must be a positive number of workers.")
    data = load_dataset(dataset, target=target, task=task)
    metric = metric or PRIMARY_METRIC[data.task]
    if metric not in default_metrics(data.task):
        raise ConfigurationError(f"metric={metric!r} is not a {data.task} metric; expected one "
                                 f"of {', '.join(default_metrics(data.task))}.")
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    search_data = data.subsample(SEARCH_MAX_ROWS, random_state=random_state)
    metafeatures = extract_metafeatures(data)
    try:
        recs = recommend(metafeatures=metafeatures, task=data.task, k=n_warm,
                         strategy=strategy, db=db)
    except AutoMLMetaError as exc:
        warnings.warn(f"No recommendations ({exc}); starting from TPE alone.", stacklevel=2)
        recs = []
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = MetaSampler(n_startup=len(recs), recommendations=recs, seed=random_state)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    evaluations: list[Any] = []
    def search_deadline() -> float:
        # keep the reserve for refitting the best so far on all rows (its CV fits saw
        # (k-1)/k of at most SEARCH_MAX_ROWS rows each), with a margin for a loaded machine
        done = [e for e in evaluations if e.ok]
        best = max(done, key=lambda e: sign * e.metrics.get(metric, -np.inf), default=None)
        refit = 0.0 if best is None else 3.0 * best.fit_seconds * data.n_rows / max(
            search_data.n_rows, 1)
        return deadline - max(seconds * REFIT_RESERVE, min(refit, seconds * 0.5))

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
        while running:
            finished = [f for f in running if f.done()]
            for future in finished:
                running.remove(future)
                if future.result():
                    running.append(pool.submit(one_trial))
            time.sleep(0.01)

    leaderboard = _leaderboard(evaluations, metric, sign)
    ok = [e for e in evaluations if e.ok and np.isfinite(e.metrics.get(metric, np.nan))]
    if not ok:
        raise AutoMLMetaError(
            f"No configuration finished within the budget of {seconds:.0f} s on {data.name}. "
            "Expected at least one successful trial; give a larger budget."
        )
    ok.sort(key=lambda e: -sign * e.metrics[metric])
    members, weights, best_score = _choose_model(ok, search_data, metric, sign, ensemble)
    model, used = _refit(members, weights, data, deadline, random_state,
                         fallbacks=[e.config for e in ok[1:]], budget=seconds)
    result = FitResult(
        model=model, leaderboard=leaderboard, study=study, best_config=ok[0].config,
        best_score=best_score, task=data.task, metric=metric,
        seconds=time.perf_counter() - started, ensemble=used,
    )
    if record:
        result.run_id = _record(db, data, metafeatures, evaluations, result, seconds, started_at)
    result.seconds = time.perf_counter() - started
    return result


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


def _refit(members: list[dict[str, Any]], weights: list[float], data: Dataset,
           deadline: float, random_state: int, fallbacks: list[dict[str, Any]],
           budget: float) -> tuple[Any, list[tuple[dict[str, Any], float]]]:
    """Refit the chosen members on all rows before the deadline; if none makes it, the next
    best configurations are tried, the last within the 10% tolerance of the budget."""
    from automl_meta._ensemble import WeightedEnsemble
    from automl_meta.evaluation import fit_in_worker

    fitted, used = [], []
    for config, weight in zip(members, weights, strict=True):
        remaining = deadline - time.perf_counter()
        if remaining <= 0.2 and fitted:
            break
        model, _, _ = fit_in_worker(config, data, time_limit=max(remaining, 1.0),
                                    random_state=random_state)
        if model is not None:
            fitted.append(model)
            used.append((config, weight))
    for config in fallbacks if not fitted else []:
        remaining = deadline + 0.09 * budget - time.perf_counter()
        if remaining <= 0.5:
            break
        model, _, _ = fit_in_worker(config, data, time_limit=remaining,
                                    random_state=random_state)
        if model is not None:
            warnings.warn(f"Refitting {members[0]['algorithm']} on all rows did not finish "
                          f"within the budget; returning the next best, "
                          f"{config['algorithm']}.", stacklevel=3)
            fitted.append(model)
            used.append((config, 1.0))
            break
    if not fitted:
        raise AutoMLMetaError(f"The final refit of {members[0]['algorithm']} on all of "
                              f"{data.name} failed or ran out of budget; give a larger budget.")
    if len(fitted) == 1:
        return fitted[0], [(used[0][0], 1.0)]
    return WeightedEnsemble(fitted, [w for _, w in used], data.task), used


def _record(db: Any, data: Dataset, metafeatures: Any, evaluations: list[Any],
            result: FitResult, budget: float, started_at: str) -> int | None:
    from automl_meta.config import user_db_url
    from automl_meta.metadb import MetaDB
    from automl_meta.metadb._record import record_evaluations

    store = db if isinstance(db, MetaDB) else MetaDB(db or user_db_url())
    rows_used = min(data.n_rows, SEARCH_MAX_ROWS)
    dataset_id = record_evaluations(store, data, evaluations, metafeatures, rows_used)
    (best_id,) = store.add_configs(data.task, [result.best_config])
    return store.add_run(dataset_id, "fit", started_at,
                         datetime.now(timezone.utc).isoformat(timespec="seconds"), budget,
                         best_id, result.best_score, len(evaluations),
                         {"metric": result.metric,
                          "ensemble": [c for c, _ in result.ensemble]})


def save_result(result: FitResult, directory: Any) -> list[Any]:
    """Write ``config.json`` (the chosen configuration(s)), ``leaderboard.csv`` and, where
    scikit-learn's safe format can hold it, ``model.skops``. Never a pickle."""
    import json
    from pathlib import Path

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "config.json"
    config_path.write_text(json.dumps({
        "task": result.task, "metric": result.metric, "best_score": result.best_score,
        "best_config": result.best_config,
        "ensemble": [{"config": c, "weight": w} for c, w in result.ensemble],
    }, indent=1, default=str) + "\n")
    board_path = out / "leaderboard.csv"
    result.leaderboard.to_csv(board_path, index=False)
    written = [config_path, board_path]
    try:
        import skops.io as sio

        model_path = out / "model.skops"
        sio.dump(result.model, str(model_path))
        written.append(model_path)
    except Exception as exc:  # e.g. a PyTorch module skops cannot represent
        warnings.warn(f"The fitted model could not be saved with skops ({exc}); config.json "
                      "rebuilds it with automl_meta.space.build(config, dataset).",
                      stacklevel=2)
    return written
