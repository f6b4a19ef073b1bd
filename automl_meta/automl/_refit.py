"""After the search: the model to keep (best configuration or greedy ensemble), refitted on
all rows before the deadline, with the next best configurations as fallbacks."""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from automl_meta import evaluation
from automl_meta.automl._ensemble import WeightedEnsemble, greedy_ensemble
from automl_meta.data import Dataset
from automl_meta.errors import AutoMLMetaError, AutoMLMetaWarning

ENSEMBLE_CANDIDATES = 8


def _choose_model(ok: list[Any], data: Dataset, metric: str, sign: float,
                  allow_ensemble: bool) -> tuple[list[dict[str, Any]], list[float], float]:
    """The members, their weights and the validation score of the model to keep: the best
    configuration, or a greedy ensemble of the top ones when that validates better."""
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


def _refit_seconds(evaluation_: Any, data: Dataset, search_data: Dataset) -> float:
    """About how long refitting ``evaluation_``'s configuration on all of ``data`` takes: its
    validation fits (k fits on (k-1)/k of the search rows are k-1 full fits; a holdout's
    one fit on 1-f of them) scaled from the search rows to all rows."""
    protocol = evaluation.Protocol.parse(evaluation_.protocol)
    full_fits = (protocol.n_splits - 1.0 if protocol.kind == "cv"
                 else 1.0 - protocol.test_size)
    return evaluation_.fit_seconds / full_fits * data.n_rows / max(search_data.n_rows, 1)


def _refit(members: list[dict[str, Any]], weights: list[float], data: Dataset,
           deadline: float, random_state: int,
           fallbacks: list[tuple[dict[str, Any], float]],
           budget: float, search_data: Dataset | None = None,
           expected: list[float] | None = None) -> tuple[Any, list[tuple[dict[str, Any], float]]]:
    """Refit the chosen members on all rows before the deadline (a member whose
    ``expected`` refit seconds are over twice the time left is not started). If none makes
    it, the next best configurations ``(config, expected refit seconds)`` are tried within
    the 10% tolerance of the budget, skipping those that would not finish in the time left
    (so a tight budget still ends with the best model that fits in it); and if none of those
    does either, the best member is fitted on ``search_data``, the rows the search used,
    which is quick because each of its trials did as much several times over."""
    fitted, used = [], []
    for index, (config, weight) in enumerate(zip(members, weights, strict=True)):
        remaining = deadline - time.perf_counter()
        if remaining <= 0.2 and fitted:
            break
        if expected is not None and expected[index] > 2.0 * max(remaining, 0.0):
            continue
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
                          f"did, {config['algorithm']}.", AutoMLMetaWarning, stacklevel=5)
            fitted.append(model)
            used.append((config, 1.0))
            break
    if not fitted and search_data is not None and search_data.n_rows < data.n_rows:
        remaining = max(deadline + 0.09 * budget - time.perf_counter(), 2.0)
        model = _fit_on_all_rows(members[0], search_data, remaining, random_state)
        if model is not None:
            warnings.warn(f"Refitting {members[0]['algorithm']} on all {data.n_rows:,} rows "
                          "would not finish within the budget; the model was fitted on the "
                          f"{search_data.n_rows:,} rows the search used instead. Give a larger "
                          "budget for a model of all rows.", AutoMLMetaWarning, stacklevel=5)
            fitted.append(model)
            used.append((members[0], 1.0))
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
    try:
        model, _, _ = evaluation.fit_in_worker(config, data, time_limit=time_limit,
                                               random_state=random_state)
    except (OSError, EOFError) as exc:
        warnings.warn(f"The refitted {config['algorithm']} could not be received from its "
                      f"worker process ({type(exc).__name__}: {exc}); trying the next "
                      "configuration.", AutoMLMetaWarning, stacklevel=6)
        return None
    return model


def refit_best(ok: list[Any], data: Dataset, search_data: Dataset, metric: str, sign: float,
               allow_ensemble: bool, deadline: float, random_state: int, budget: float,
               stage_seconds: dict[str, float] | None = None
               ) -> tuple[Any, list[tuple[dict[str, Any], float]], dict[str, Any], float]:
    """Choose among the successful trials ``ok`` (best first) and refit on all rows: the
    model, the members it holds with their weights, its best configuration and score.
    ``stage_seconds`` gets the seconds of the ``"ensemble"`` selection and the ``"refit"``."""
    times = stage_seconds if stage_seconds is not None else {}
    started = time.perf_counter()
    members, weights, chosen_score = _choose_model(ok, search_data, metric, sign,
                                                   allow_ensemble)
    fallbacks = [(e.config, _refit_seconds(e, data, search_data)) for e in ok[1:]]
    by_config = {id(e.config): _refit_seconds(e, data, search_data) for e in ok}
    expected = [by_config.get(id(config), 0.0) for config in members]
    chosen = time.perf_counter()
    times["ensemble"] = chosen - started
    try:
        model, used = _refit(members, weights, data, deadline, random_state,
                             fallbacks=fallbacks, budget=budget, search_data=search_data,
                             expected=expected)
    finally:
        times["refit"] = time.perf_counter() - chosen
    best_config, best_score = _describe_refit(ok, members, used, metric, sign, chosen_score)
    return model, used, best_config, best_score

