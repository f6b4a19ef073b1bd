"""The methods that choose once, and the ones that run their own search under a time budget.

One-shot: ``hgb_default`` (scikit-learn's HistGradientBoosting at its defaults, through our
space), ``recommend_top1`` (the first recommendation) and ``flaml_zeroshot`` (FLAML's
data-dependent LightGBM defaults, ``flaml.default``). Time-budgeted: ``fit``
(:func:`automl_meta.fit`, never recording into a store) and ``flaml_automl`` (FLAML's
AutoML). Those run in a child process under a hard limit (three times the budget plus a
minute); each gets one core, as every trial of the searches does.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from automl_meta.evaluation.metrics import PRIMARY_METRIC, score_predictions
from automl_meta.harness._isolate import run_in_child
from automl_meta.harness.trials import Outcome, RunContext, test_outcome
from automl_meta.space import default_config

ONCE = 1  # the budget of a one-shot method: one configuration


def hgb_default(context: RunContext) -> list[Outcome]:
    """HistGradientBoosting with its default hyperparameters, fitted on the train part."""
    config = default_config("hist_gb", context.task)
    outcome = test_outcome(context, ONCE, config, 0.0, trials=1)
    outcome.seconds = outcome.extra["test_seconds"]
    return [outcome]


def recommend_top1(context: RunContext) -> list[Outcome]:
    """The first configuration :func:`automl_meta.recommend` gives, with no trial at all."""
    from automl_meta.advice import recommend

    recommender = context.recommender
    metafeatures = context.metafeatures
    started = time.perf_counter()
    recs = recommend(metafeatures=metafeatures, task=context.task, k=1, db=recommender)
    advice_seconds = time.perf_counter() - started + context.metafeature_seconds
    outcome = test_outcome(context, ONCE, recs[0].config, 0.0, trials=1)
    outcome.seconds = advice_seconds + outcome.extra["test_seconds"]
    outcome.extra["predicted_score"] = recs[0].predicted_score
    outcome.extra["strategy"] = recs[0].strategy
    return [outcome]


def flaml_zeroshot(context: RunContext) -> list[Outcome]:
    """FLAML's zero-shot LightGBM (``flaml.default``), fitted on the train part."""
    prepared = context.prepared

    def work() -> dict[str, Any]:
        from flaml import default

        estimator_class = (default.LGBMClassifier if prepared.task == "classification"
                           else default.LGBMRegressor)
        started = time.perf_counter()
        model = estimator_class(n_jobs=1, random_state=context.settings.seed, verbose=-1)
        model.fit(prepared.train.X, prepared.train.y)
        seconds = time.perf_counter() - started
        return {"score": _test_score(model, context), "seconds": seconds}

    result = run_in_child(work, time_limit=4 * context.settings.test_time_limit + 60)
    return [_outcome(ONCE, result, trials=1)]


def flaml_automl(context: RunContext) -> list[Outcome]:
    """FLAML's AutoML under the time budget, optimising the benchmark's metric."""
    prepared, settings = context.prepared, context.settings

    def work() -> dict[str, Any]:
        from flaml import AutoML

        automl = AutoML()
        classification = prepared.task == "classification"
        started = time.perf_counter()
        automl.fit(X_train=prepared.train.X, y_train=prepared.train.y,
                   task="classification" if classification else "regression",
                   metric=_balanced_accuracy_loss if classification else "r2",
                   time_budget=settings.seconds, seed=settings.seed, n_jobs=1, verbose=0,
                   log_file_name="")
        seconds = time.perf_counter() - started
        return {"score": _test_score(automl, context), "seconds": seconds,
                "config": {"algorithm": automl.best_estimator,
                           "params": _plain(automl.best_config)},
                "cv_score": _flaml_validation_score(automl)}

    result = run_in_child(work, time_limit=hard_limit(settings.seconds))
    return [budget_outcome(context, result)]


def automl_fit(context: RunContext) -> list[Outcome]:
    """:func:`automl_meta.fit` under the time budget, advised by the held-out recommender
    and recording nothing (``record=False``)."""
    from automl_meta.automl import fit

    warm_imports()

    prepared, settings = context.prepared, context.settings
    recommender = context.recommender

    def work() -> dict[str, Any]:
        started = time.perf_counter()
        result = fit(prepared.train, budget=settings.seconds, record=False, db=recommender,
                     random_state=settings.seed, n_jobs=1)
        seconds = time.perf_counter() - started
        return {"score": _test_score(result, context), "seconds": seconds,
                "config": result.best_config, "cv_score": float(result.best_score),
                "trials": len(result.leaderboard),
                "ensemble": len(result.ensemble), "fit_seconds": float(result.seconds)}

    result = run_in_child(work, time_limit=hard_limit(settings.seconds))
    return [budget_outcome(context, result)]


def warm_imports() -> None:
    """Import, before a timed method starts, what its first trials would import: a
    long-lived process pays that once, so it is not charged to every dataset's budget
    (PyTorch alone, for the first ``mlp`` trial, takes seconds)."""
    import importlib
    import importlib.util

    for name in ("optuna", "automl_meta.metafeatures", "automl_meta.advice._optuna",
                 "torch"):
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


def hard_limit(seconds: float) -> float:
    """When a time-budgeted method is stopped: three times its budget plus a minute."""
    return 3.0 * seconds + 60.0


def _test_score(model: Any, context: RunContext) -> float:
    return score_test_predictions(model.predict(context.prepared.test.X), context)


def score_test_predictions(predictions: Any, context: RunContext) -> float:
    """The benchmark's metric of ``predictions`` (labels or values, one per test row)
    against the test part, as every peer is scored."""
    test = context.prepared.test
    metric = PRIMARY_METRIC[test.task]
    predictions = np.asarray(predictions)
    truth = test.y.to_numpy()
    if test.task == "classification" and predictions.dtype != truth.dtype:
        # a peer may hand labels back as another type (1 for "1"): compare them as text
        predictions, truth = predictions.astype(str), truth.astype(str)
    return score_predictions(test.task, (metric,), truth, predictions, None, None)[metric]


def _balanced_accuracy_loss(X_val: Any, y_val: Any, estimator: Any, *args: Any,
                            **kwargs: Any) -> tuple[float, dict[str, float]]:
    """FLAML's custom-metric contract: (loss to minimise, metrics to log)."""
    from sklearn.metrics import balanced_accuracy_score

    score = balanced_accuracy_score(y_val, estimator.predict(X_val))
    return 1.0 - score, {"balanced_accuracy": score}


def _flaml_validation_score(automl: Any) -> float | None:
    loss = getattr(automl, "best_loss", None)
    if loss is None or not math.isfinite(loss):
        return None
    return float(1.0 - loss)  # both metrics are reported by FLAML as 1 - score


def _plain(params: Any) -> dict[str, Any]:
    out = {}
    for key, value in dict(params or {}).items():
        out[str(key)] = value.item() if isinstance(value, np.generic) else value
    return out


def _outcome(budget: int | str, result: dict[str, Any], trials: int | None = None) -> Outcome:
    score = result.get("score")
    ok = result.get("status") == "ok" and score is not None and math.isfinite(score)
    status = "ok" if ok else (result.get("status") if result.get("status") != "ok" else "error")
    error = result.get("error") if not ok else None
    if result.get("status") == "ok" and not ok:
        error = "the test score is not a finite number"
    return Outcome(budget, status, score=float(score) if ok else None,
                   seconds=float(result.get("seconds", 0.0)),
                   cv_score=result.get("cv_score"), config=result.get("config"),
                   trials=result.get("trials", trials), error=error)


def budget_outcome(context: RunContext, result: dict[str, Any]) -> Outcome:
    """The outcome of a time-budgeted method's ``result`` (as :func:`run_in_child` gives
    it), with its budget and overrun."""
    settings = context.settings
    outcome = _outcome(settings.seconds_label, result)
    outcome.extra["budget_seconds"] = settings.seconds
    outcome.extra["overrun"] = round(outcome.seconds / settings.seconds - 1.0, 4)
    for key in ("ensemble", "fit_seconds", "peak_memory_mb"):
        if key in result:
            outcome.extra[key] = result[key]
    return outcome
