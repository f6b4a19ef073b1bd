"""The search methods: Optuna over automl-meta's space, cold or meta-learned, and neural.

Each runs once up to the largest trial budget and reports the incumbent after every budget
(:func:`~automl_meta.harness.trials.incumbent_outcomes`). Objectives sample with
:func:`automl_meta.space.suggest` and score by cross-validation on the training part.
``tpe_seconds`` is TPE under the wall-time budget of ``fit`` instead of a trial budget.

``lgbm_tpe`` and ``lgbm_warm_tpe`` search LightGBM alone, the way a user's own Optuna
objective does, under LightGBM's own parameter names (:func:`suggest_lightgbm`: the
distributions of the space's ``lightgbm`` algorithm, the names and bounds
``MetaSampler(..., algorithm="lightgbm")`` and ``warm_start(..., algorithm="lightgbm")``
enqueue). ``lgbm_warm_tpe`` first enqueues ``warm_start``'s LightGBM recommendations from
the held-out recommender. Each trial's keywords are turned back into an automl-meta
configuration (:func:`config_from_native`) and cross-validated like every other method's,
so the scores compare. LightGBM is registered in the space only while they run
(:func:`lightgbm_registered`): left registered, it would join the space ``tpe`` and the
meta-learners see for the rest of the process.

``meta_sampler`` repeats ``warm_tpe`` when it provably makes the same trials: MetaSampler's
default proposes the same ``WARM_START_N`` recommendations, then hands over to a seeded TPE
(``n_startup_trials=5``, against the 10 of the TPE after ``warm_start``). The two searches
ask the same trials when every trial up to the ``WARM_START_N``-th was an enqueued
recommendation with every parameter taken from it, in its distribution, and, when the
search went on past them, all of them succeeded: then neither TPE sampled anything before
trial ``WARM_START_N + 1``, and from there both see the same history with at least as many
completed trials as their startup count. :func:`repeats_warm_tpe` checks that on
``warm_tpe``'s run, and that MetaSampler, warm_start and its guard are still the code this
was reasoned about (:data:`CHECKED_SOURCE`); otherwise ``meta_sampler`` runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from automl_meta.errors import ConfigurationError
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
from automl_meta.space import REGISTRY, register_boosting, suggest
from automl_meta.space._params import suggest_value

WARM_START_N = 10  # configurations warm_start enqueues and MetaSampler proposes (defaults)
MIN_TRIAL_SECONDS = 0.5  # a time-budgeted search starts no trial with less left
# the fingerprint of MetaSampler, warm_start and _WarmStartGuard for which the reasoning of
# the module docstring was checked: any change to them makes meta_sampler run again
CHECKED_SOURCE = "2cd83fa749ceeadb"
WARM_START_CLEAN = "warm_start_clean"  # outcome extra: warm_tpe's run is repeatable
NATIVE_ALGORITHM = "lightgbm"  # the algorithm lgbm_tpe and lgbm_warm_tpe search alone
# outcome extras of lgbm_warm_tpe: how many configurations warm_start enqueued, and whether
# they were only LightGBM's default (the knowledge held no evaluated LightGBM configuration)
WARM_STARTED = "warm_started"
WARM_START_DEFAULT = "warm_start_default"


def run_optuna(context: RunContext, make_sampler: Callable[[], Any], n_trials: int,
               prepare: Callable[[Any], None] | None = None,
               deadline: float | None = None,
               sample: Callable[[Any], dict[str, Any]] | None = None,
               ) -> tuple[list[Trial], float, str | None]:
    """Ask-and-tell an Optuna study for ``n_trials`` (or until ``deadline``).

    ``sample`` turns a trial into the configuration to evaluate (default:
    :func:`automl_meta.space.suggest` over the whole space). Returns the trials, the seconds
    spent before the first trial (sampler, warm start) and the error that stopped the search
    early, if one did. A failed evaluation is told as a failed trial and the search goes on.
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
            config = (suggest(trial, context.task) if sample is None
                      else sample(trial))
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

    studies: list[Any] = []

    def prepare(study: Any) -> None:
        studies.append(study)
        warm_start(study, n=WARM_START_N, db=recommender, task=context.task,
                   metafeatures=metafeatures)

    trials, setup, aborted = run_optuna(context, lambda: optuna.samplers.TPESampler(seed=seed),
                                        context.settings.largest_budget, prepare)
    outcomes = incumbent_outcomes(context, trials, context.settings.budgets,
                                  setup + context.metafeature_seconds, aborted)
    clean = aborted is None and bool(studies) and _warm_start_clean(studies[0], len(trials))
    for outcome in outcomes:
        outcome.extra[WARM_START_CLEAN] = clean
    return outcomes


def repeats_warm_tpe(outcomes: Sequence[Outcome]) -> bool:
    """Whether ``meta_sampler`` would make exactly the trials of this ``warm_tpe`` run (see
    the module docstring)."""
    return (source_fingerprint() == CHECKED_SOURCE and bool(outcomes)
            and all(o.extra.get(WARM_START_CLEAN) is True for o in outcomes))


def source_fingerprint() -> str:
    """A hash of the source of MetaSampler, warm_start and its guard."""
    from automl_meta.advice import _optuna

    text = "".join(inspect.getsource(part) for part in (
        _optuna.MetaSampler, _optuna.warm_start, _optuna._WarmStartGuard))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _warm_start_clean(study: Any, n_run: int) -> bool:
    """Every trial up to the ``WARM_START_N``-th enqueued, all its parameters fixed and in
    their distributions; all of them complete when the search went further."""
    from optuna.trial import TrialState

    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    if sum("fixed_params" in t.system_attrs for t in trials) != WARM_START_N:
        return False  # a repeated recommendation: MetaSampler skips repeats its own way
    head = trials[:min(n_run, WARM_START_N)]
    for trial in head:
        fixed = trial.system_attrs.get("fixed_params") or {}
        if not fixed or not set(trial.params) <= set(fixed):
            return False
        for name, value in trial.params.items():
            distribution = trial.distributions[name]
            if not distribution._contains(distribution.to_internal_repr(value)):
                return False  # Optuna keeps it, MetaSampler would ask its fallback
    return n_run <= WARM_START_N or all(t.state == TrialState.COMPLETE for t in head)


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


@contextlib.contextmanager
def lightgbm_registered() -> Iterator[None]:
    """LightGBM in this process's space while the block runs, the space as it was after.

    The search registers it in whichever process runs it (the benchmark's own, or the joblib
    worker of ``--jobs``), as the meta-db builder does in its workers; the evaluation's
    forked workers need no registry, they receive the built pipeline.
    """
    saved = dict(REGISTRY)
    register_boosting([NATIVE_ALGORITHM])
    try:
        yield
    finally:
        REGISTRY.clear()
        REGISTRY.update(saved)


def lightgbm_distributions(task: str) -> dict[str, Any]:
    """The Optuna distribution of each LightGBM parameter a search samples, by LightGBM's
    own name: those of the space's ``lightgbm`` algorithm (its names are
    ``LGBMClassifier``'s keywords), the ones ``warm_start(..., algorithm="lightgbm")``
    enqueues values of. ``subsample_freq`` is not sampled: it follows ``subsample``."""
    from automl_meta.advice._native import native_algorithm

    algorithm = native_algorithm(NATIVE_ALGORITHM, task)
    return {param.name: param.distribution for param in algorithm.params}


def suggest_lightgbm(trial: Any, task: str) -> dict[str, Any]:
    """Sample LightGBM's keywords in an Optuna objective, as a user's own objective does:
    each of :func:`lightgbm_distributions` under its own name, then ``subsample_freq=1``
    whenever ``subsample < 1`` (LightGBM bags only then; the space's factory does the same).

    Example:
        >>> import optuna
        >>> with lightgbm_registered():
        ...     params = suggest_lightgbm(optuna.create_study().ask(), "classification")
        >>> "num_leaves" in params and "algorithm" not in params
        True
    """
    from automl_meta.advice._native import native_algorithm, native_params

    sampled = {name: suggest_value(trial, name, distribution)
               for name, distribution in lightgbm_distributions(task).items()}
    return native_params({"algorithm": NATIVE_ALGORITHM, "params": sampled},
                         native_algorithm(NATIVE_ALGORITHM, task))


def config_from_native(native: Mapping[str, Any], task: str) -> dict[str, Any]:
    """The automl-meta configuration (algorithm ``lightgbm``) whose estimator takes exactly
    the LightGBM keywords ``native``.

    Raises:
        ConfigurationError: when no configuration of the space builds those keywords (an
            unknown keyword, or ``subsample_freq`` that does not follow ``subsample``).
    """
    from automl_meta.advice._native import native_algorithm, native_params

    algorithm = native_algorithm(NATIVE_ALGORITHM, task)
    names = {param.name for param in algorithm.params}
    config = {"algorithm": NATIVE_ALGORITHM,
              "params": {k: v for k, v in native.items() if k in names}}
    if native_params(config, algorithm) != dict(native):
        raise ConfigurationError(
            f"LightGBM keywords {dict(native)!r} are no configuration of the space: expected "
            f"some of {', '.join(sorted(names))}, with subsample_freq=1 exactly when "
            "subsample < 1. Sample them with automl_meta.harness.searches.suggest_lightgbm.")
    return config


@dataclass
class NativeRun:
    """One LightGBM-only search: its trials, what ``warm_start`` enqueued (empty when
    cold), the seconds before the first trial and the error that stopped it, if any."""

    trials: list[Trial]
    setup: float
    aborted: str | None
    recommendations: list[Any] = field(default_factory=list)


def lightgbm_trials(context: RunContext, warm: bool) -> NativeRun:
    """Seeded TPE over :func:`lightgbm_distributions` up to the largest budget, after
    ``warm_start(study, algorithm="lightgbm")`` from the held-out recommender when
    ``warm``. Call it with LightGBM registered (:func:`lightgbm_registered`)."""
    import optuna

    from automl_meta.advice._optuna import warm_start

    seed = context.settings.seed
    task = context.task
    recommendations: list[Any] = []
    prepare = None
    if warm:
        recommender = context.recommender  # no held-out advice: the method fails, says why
        metafeatures = context.metafeatures

        def prepare(study: Any) -> None:
            recommendations.extend(warm_start(
                study, n=WARM_START_N, db=recommender, task=task, metafeatures=metafeatures,
                algorithm=NATIVE_ALGORITHM))

    trials, setup, aborted = run_optuna(
        context, lambda: optuna.samplers.TPESampler(seed=seed),
        context.settings.largest_budget, prepare,
        sample=lambda trial: config_from_native(suggest_lightgbm(trial, task), task))
    if warm:
        setup += context.metafeature_seconds
    return NativeRun(trials, setup, aborted, recommendations)


def lgbm_tpe_search(context: RunContext) -> list[Outcome]:
    """Cold Optuna TPE (seeded, Optuna's defaults) over LightGBM alone, under its own
    parameter names."""
    with lightgbm_registered():
        run = lightgbm_trials(context, warm=False)
        return incumbent_outcomes(context, run.trials, context.settings.budgets, run.setup,
                                  run.aborted)


def lgbm_warm_tpe_search(context: RunContext) -> list[Outcome]:
    """``automl_meta.warm_start(study, algorithm="lightgbm")`` (LightGBM's recommended
    configurations first, under its own names), then the same TPE as ``lgbm_tpe``."""
    with lightgbm_registered():
        run = lightgbm_trials(context, warm=True)
        outcomes = incumbent_outcomes(context, run.trials, context.settings.budgets,
                                      run.setup, run.aborted)
    default = bool(run.recommendations) and all(
        r.strategy == "default" and math.isnan(r.predicted_score) for r in run.recommendations)
    for outcome in outcomes:
        outcome.extra[WARM_STARTED] = len(run.recommendations)
        outcome.extra[WARM_START_DEFAULT] = default
    return outcomes
