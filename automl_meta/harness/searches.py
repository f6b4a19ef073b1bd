"""The search methods: Optuna over automl-meta's space, cold or meta-learned, and neural.

Each runs once up to the largest trial budget and reports the incumbent after every budget
(:func:`~automl_meta.harness.trials.incumbent_outcomes`). Objectives sample with
:func:`automl_meta.space.suggest` and score by cross-validation on the training part.
``tpe_seconds`` is TPE under the wall-time budget of ``fit`` instead of a trial budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from automl_meta.harness.one_shot import warm_imports
from automl_meta.harness.trials import (
    Outcome,
    RunContext,
    Trial,
    incumbent_outcomes,
    test_outcome,
    timed_cross_validation,
    trial_from,
)
from automl_meta.space import suggest

WARM_START_N = 10  # configurations warm_start enqueues and MetaSampler proposes (defaults)
MIN_TRIAL_SECONDS = 0.5  # a time-budgeted search starts no trial with less left


def run_optuna(context: RunContext, make_sampler: Callable[[], Any], n_trials: int,
               prepare: Callable[[Any], None] | None = None,
               deadline: float | None = None) -> tuple[list[Trial], float, str | None]:
    """Ask-and-tell an Optuna study for ``n_trials`` (or until ``deadline``).

    Returns the trials, the seconds spent before the first trial (sampler, warm start) and
    the error that stopped the search early, if one did. A failed evaluation is told as a
    failed trial and the search goes on.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    trials: list[Trial] = []
    try:
        study = optuna.create_study(direction="maximize", sampler=make_sampler())
        if prepare is not None:
            prepare(study)
    except Exception as exc:  # a method that cannot start fails, the benchmark goes on
        return trials, time.perf_counter() - started, _message(exc)
    setup = time.perf_counter() - started
    while len(trials) < n_trials:
        time_limit = None
        if deadline is not None:
            time_limit = min(deadline - time.perf_counter(), context.settings.trial_seconds)
            if time_limit < MIN_TRIAL_SECONDS:
                break
        began = time.perf_counter()
        try:
            trial = study.ask()
            config = suggest(trial, context.task)
            evaluation, took = timed_cross_validation(context, config, time_limit,
                                                      cached=deadline is None)
            if evaluation.ok and evaluation.score == evaluation.score:
                study.tell(trial, evaluation.score)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
        except Exception as exc:
            return trials, setup, _message(exc)
        overhead = time.perf_counter() - began - took
        trials.append(trial_from(config, evaluation, overhead))
    return trials, setup, None


def random_search(context: RunContext) -> list[Outcome]:
    """Optuna's RandomSampler over the space."""
    import optuna

    seed = context.settings.seed
    return _trial_budgets(context, lambda: optuna.samplers.RandomSampler(seed=seed))


def tpe_search(context: RunContext) -> list[Outcome]:
    """Cold Optuna TPE over the space (Optuna's default settings, seeded)."""
    import optuna

    seed = context.settings.seed
    return _trial_budgets(context, lambda: optuna.samplers.TPESampler(seed=seed))


def warm_tpe_search(context: RunContext) -> list[Outcome]:
    """:func:`automl_meta.warm_start` (the recommended configurations first), then TPE."""
    import optuna

    from automl_meta.advice._optuna import warm_start

    seed = context.settings.seed
    recommender = context.recommender
    metafeatures = context.metafeatures

    def prepare(study: Any) -> None:
        warm_start(study, n=WARM_START_N, db=recommender, task=context.task,
                   metafeatures=metafeatures)

    return _trial_budgets(context, lambda: optuna.samplers.TPESampler(seed=seed), prepare,
                          uses_metafeatures=True)


def meta_sampler_search(context: RunContext) -> list[Outcome]:
    """:class:`automl_meta.MetaSampler`: recommendations first, its fallback after."""
    from automl_meta.advice._optuna import MetaSampler

    recommender = context.recommender
    metafeatures = context.metafeatures
    return _trial_budgets(context, lambda: MetaSampler(
        metafeatures, n_startup=WARM_START_N, task=context.task, db=recommender,
        seed=context.settings.seed), uses_metafeatures=True)


def neural_search(context: RunContext) -> list[Outcome]:
    """The neural meta-learner proposes every trial: zero-shot first, then by expected
    improvement after fine-tuning on the trials so far."""
    learner = context.neural
    metafeatures = context.metafeatures
    setup = context.metafeature_seconds
    trials: list[Trial] = []
    observed: list[tuple[dict[str, Any], float | None]] = []
    aborted = None
    while len(trials) < context.settings.largest_budget:
        began = time.perf_counter()
        try:
            proposals = learner.propose(metafeatures, context.task, observed, k=1)
        except Exception as exc:
            aborted = _message(exc)
            break
        if not proposals:
            break  # every candidate tried
        config = proposals[0].config
        evaluation, took = timed_cross_validation(context, config)
        trial = trial_from(config, evaluation, time.perf_counter() - began - took)
        trials.append(trial)
        observed.append((config, trial.score if trial.ok else None))
    return incumbent_outcomes(context, trials, context.settings.budgets, setup, aborted)


def tpe_seconds_search(context: RunContext) -> list[Outcome]:
    """Cold TPE until the wall-time budget of ``fit`` is spent (no evaluation cache); the
    incumbent's test score is measured after the budget, at no cost to the search."""
    import optuna

    warm_imports()
    seed = context.settings.seed
    started = time.perf_counter()
    deadline = started + context.settings.seconds
    trials, _, aborted = run_optuna(context, lambda: optuna.samplers.TPESampler(seed=seed),
                                    n_trials=10**9, deadline=deadline)
    seconds = time.perf_counter() - started
    label = context.settings.seconds_label
    successful = [t for t in trials if t.ok]
    if not successful:
        return [Outcome(label, "error", seconds=seconds, trials=len(trials),
                        error=aborted or f"no trial succeeded in {len(trials)}")]
    best = max(successful, key=lambda t: t.score)
    outcome = test_outcome(context, label, best.config or {}, seconds, cv_score=best.score,
                           trials=len(trials))
    outcome.extra["budget_seconds"] = context.settings.seconds
    return [outcome]


def _trial_budgets(context: RunContext, make_sampler: Callable[[], Any],
                   prepare: Callable[[Any], None] | None = None,
                   uses_metafeatures: bool = False) -> list[Outcome]:
    """Run the search to the largest budget; a method that needs the meta-features is
    charged the seconds of their extraction (computed once per dataset, before)."""
    trials, setup, aborted = run_optuna(context, make_sampler,
                                        context.settings.largest_budget, prepare)
    if uses_metafeatures:
        setup += context.metafeature_seconds
    return incumbent_outcomes(context, trials, context.settings.budgets, setup, aborted)


def _message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()[:2000]
