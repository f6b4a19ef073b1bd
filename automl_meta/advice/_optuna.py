"""Optuna integration: warm-start any study, or sample from the meta-learners.

Parameter names are those of :func:`automl_meta.space.suggest`: a categorical
``algorithm`` and ``<algorithm>__<param>`` for the chosen algorithm's parameters. A study
whose objective names its parameters differently can pass ``param_map``. With
``algorithm="lightgbm"`` (or any algorithm of the space) they are that algorithm's own, as
its library's estimator takes them (see :mod:`automl_meta.advice._native`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, TPESampler
from optuna.trial import FrozenTrial, TrialState

from automl_meta.advice._guide import ProposalGuide, sequential_learner_class
from automl_meta.advice._native import NATIVE_ATTR, native_recommendations
from automl_meta.advice._sources import db_or_server, local_recommender, recommend
from automl_meta.errors import ConfigurationError
from automl_meta.metalearners import Recommendation, SequentialLearner
from automl_meta.space import config_to_trial_params

WARM_START_ATTR = "automl_meta_warm_start"
ParamMap = Mapping[str, str] | Callable[[dict[str, Any]], dict[str, Any]]


def _trial_params(config: dict[str, Any], param_map: ParamMap | None) -> dict[str, Any]:
    params = config_to_trial_params(config)
    if param_map is None:
        return params
    if callable(param_map):
        return dict(param_map(config))
    return {param_map.get(name, name): value for name, value in params.items()}


def _native_trial_params(rec: Recommendation, param_map: ParamMap | None) -> dict[str, Any]:
    params = dict(rec.details["native_params"])
    if param_map is None:
        return params
    if callable(param_map):
        return dict(param_map(params))
    return {param_map.get(name, name): value for name, value in params.items()}


def _proposals(recs: list[Recommendation], param_map: ParamMap | None,
               native: bool) -> list[dict[str, Any]]:
    if native:
        return [_native_trial_params(r, param_map) for r in recs]
    return [_trial_params(r.config, param_map) for r in recs]


def _recommendations(dataset: Any, n: int, strategy: str, db: Any, task: str | None,
                     metafeatures: Any, algorithm: str | None = None) -> list[Recommendation]:
    if algorithm is not None:
        return native_recommendations(dataset, algorithm, n, strategy, db, task,
                                      metafeatures)[0]
    return recommend(dataset, k=n, strategy=strategy, db=db, task=task,
                     metafeatures=metafeatures)


def warm_start(study: optuna.Study, dataset: Any = None, n: int = 10, strategy: str = "auto",
               db: Any = None, param_map: ParamMap | None = None, task: str | None = None,
               metafeatures: Mapping[str, float] | None = None,
               server: Any = None, algorithm: str | None = None) -> list[Recommendation]:
    """Enqueue the ``n`` recommended configurations into ``study``.

    With ``algorithm="lightgbm"`` (``"xgboost"``, ``"catboost"``, or any algorithm of the
    space: ``"random_forest"``, ``"svm"``, ...) only that algorithm's recommendations are
    enqueued, under its library's own parameter names and types (``num_leaves``,
    ``learning_rate``, ``min_child_samples``, ... as ``lightgbm.LGBMClassifier`` takes
    them) and without an ``algorithm`` parameter, for an objective written against the
    library itself; each one's keywords are also in ``rec.details["native_params"]``. When
    the knowledge holds no evaluated configuration of it, the algorithm's default is
    enqueued with an :class:`~automl_meta.errors.AutoMLMetaWarning`. The boosting
    algorithms are registered on demand. ``param_map`` then renames the native names (or,
    a function, maps the native keywords).

    ``db`` is where the advice comes from, as for :func:`~automl_meta.recommend`: the
    user store by default, a store's URL or path, or a team's ``automl-meta serve`` URL
    (``server=`` is its deprecated spelling).

    Works with in-memory and RDB storages; ``skip_if_exists`` keeps a re-run from enqueuing
    twice. If the objective never asks for the enqueued names, the first warm-start trial
    fails with a clear error instead of silently ignoring the warm start — pass
    ``param_map`` (``{"svm__C": "C", ...}`` or a function of the configuration) then.

    Example:
        >>> study = optuna.create_study(direction="maximize")
        >>> warm_start(study, "sklearn:iris", n=5)  # doctest: +SKIP
        >>> study.optimize(objective, n_trials=30)  # doctest: +SKIP
        >>> warm_start(study, "data.csv", algorithm="lightgbm")  # doctest: +SKIP
    """
    if n < 1:
        raise ConfigurationError(f"n={n!r} must be a positive number of configurations.")
    db = db_or_server(db, server, "warm_start")
    recs = _recommendations(dataset, n, strategy, db, task, metafeatures, algorithm)
    proposals = _proposals(recs, param_map, algorithm is not None)
    _check_names_against_history(study, proposals, algorithm)
    attrs = {} if algorithm is None else {NATIVE_ATTR: algorithm}
    for rec, params in zip(recs, proposals, strict=True):
        study.enqueue_trial(params, user_attrs={WARM_START_ATTR: rec.rank, **attrs},
                            skip_if_exists=True)
    if not isinstance(study.sampler, _WarmStartGuard):
        study.sampler = _WarmStartGuard(study.sampler)
    return recs


def _how_to_sample(algorithm: str | None) -> str:
    if algorithm is None:
        return "automl_meta.space.suggest(trial, task)"
    return f"{algorithm}'s own parameter names (as its estimator takes them)"


def _check_names_against_history(study: optuna.Study, proposals: list[dict[str, Any]],
                                 algorithm: str | None = None) -> None:
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    used = {name for trial in finished for name in trial.params}
    ours = {name for params in proposals for name in params}
    if used and not used & ours:
        raise ConfigurationError(
            "This study's objective uses parameter names "
            f"({', '.join(sorted(used)[:6])}) that differ from automl-meta's "
            f"({', '.join(sorted(ours)[:6])}). Expected an objective that samples with "
            f"{_how_to_sample(algorithm)}; otherwise pass param_map={{ours: yours}} "
            "(or a function of the configuration) to warm_start."
        )


class _WarmStartGuard(BaseSampler):
    """Wraps a study's sampler so that a warm-start trial whose objective asks for names we
    did not enqueue fails loudly instead of quietly becoming a random trial."""

    def __init__(self, inner: BaseSampler) -> None:
        self.inner = inner

    def infer_relative_search_space(self, study: optuna.Study,
                                    trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self.inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        fixed = trial.system_attrs.get("fixed_params") or {}
        if WARM_START_ATTR in trial.user_attrs and fixed and not any(
                name in trial.params for name in fixed):
            raise ConfigurationError(
                f"The objective asked for {param_name!r}, but this warm-start trial enqueued "
                f"{', '.join(sorted(fixed)[:6])}: the warm start would be ignored. Sample with "
                f"{_how_to_sample(trial.user_attrs.get(NATIVE_ATTR))}, or pass param_map to "
                "warm_start."
            )
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.inner.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Any) -> None:
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


class MetaSampler(BaseSampler):
    """An Optuna sampler that starts from the meta-learners' advice.

    The first ``n_startup`` trials take configurations from the meta-learners; each
    parameter the objective asks for is answered from that configuration, and a name it
    lacks (or a value outside the objective's distribution) goes to the ``fallback``
    sampler. After them the ``fallback`` (TPE by default, seeded) takes over, already knowing
    the good region from those trials. Independent sampling only, so any objective works;
    thread-safe for ``study.optimize(n_jobs=...)``.

    Two ways to choose the startup configurations:

    - ``strategy="auto"`` (default), ``"knn"``, ``"portfolio"``, ``"ranker"``: the
      recommendations of :func:`~automl_meta.recommend`, fixed before the first trial;
    - ``strategy="neural"``, or any other registered sequential learner (a
      :class:`~automl_meta.metalearners.SequentialLearner`): the learner proposes each of
      the ``n_startup`` trials when it starts (here the neural learner's way: the first by
      its zero-shot ranking, every next one by expected improvement after fine-tuning on
      the study's completed trials so far), among its candidate pool. The study's trials
      are read back as configurations (failed and pruned ones are not learned from), and
      configurations already tried, running, failed, or outside the distributions the
      objective asked for are never proposed. Set ``n_startup`` to how many trials it
      should guide (all of them: the study's budget). Its proposals are deterministic, so
      a seeded study is reproducible. Without the strategy's learner saved in the meta-db
      (or without a package it requires, such as torch) it warns and behaves as ``"auto"``.

    Args:
        dataset_or_metafeatures: the dataset (anything :func:`~automl_meta.load_dataset`
            accepts) or its precomputed meta-features (then pass ``task``).
        n_startup: how many trials the meta-learners propose before the fallback.
        fallback: the sampler for everything else (default ``TPESampler(seed=seed)``).
        strategy: which meta-learner advises (above).
        seed: seed of the default fallback.
        task: ``"classification"`` or ``"regression"`` (needed with meta-features).
        db: where the advice comes from (as for :func:`~automl_meta.recommend`): the user
            store by default, a store's URL or path, a team server's URL, a
            :class:`~automl_meta.advice.KnowledgeSource`. With a server,
            ``strategy="neural"`` proposes here from the shipped knowledge.
        param_map: the objective's names for automl-meta's parameters (as for
            :func:`warm_start`); with ``strategy="neural"`` only a mapping, which is
            inverted to read the trials back.
        server: deprecated, pass the server's URL as ``db``.
        recommendations: fixed recommendations to propose first (skips ``recommend``);
            with ``strategy="neural"`` the neural proposals follow them.
        learner: a fitted learner of a sequential ``strategy`` (a
            :class:`~automl_meta.metalearners.NeuralLearner` for ``"neural"``; default: the
            one saved as ``<strategy>.json`` with the meta-db's learners).
        candidates: the configurations ``strategy="neural"`` chooses among (default: the
            learner's pool, the meta-db's configurations plus samples from the space).
        algorithm: propose only this algorithm's recommendations, under its library's own
            parameter names (as for :func:`warm_start`); the objective's distributions are
            then the library's own, and the fallback samples them. Not with a sequential
            ``strategy`` (it proposes across algorithms under automl-meta's names).

    Example:
        >>> sampler = MetaSampler("sklearn:iris", n_startup=5, seed=0)  # doctest: +SKIP
        >>> guided = MetaSampler("sklearn:iris", n_startup=30, strategy="neural")  # doctest: +SKIP
        >>> study = optuna.create_study(direction="maximize", sampler=guided)  # doctest: +SKIP
    """

    def __init__(self, dataset_or_metafeatures: Any = None, n_startup: int = 10,
                 fallback: BaseSampler | None = None, strategy: str = "auto",
                 seed: int | None = None,
                 task: str | None = None, db: Any = None, param_map: ParamMap | None = None,
                 recommendations: list[Recommendation] | None = None,
                 learner: SequentialLearner | None = None,
                 candidates: Sequence[dict[str, Any]] | None = None,
                 server: Any = None, algorithm: str | None = None) -> None:
        if n_startup < 0:
            raise ConfigurationError(f"n_startup={n_startup!r} must be >= 0.")
        if algorithm is not None and sequential_learner_class(strategy) is not None:
            raise ConfigurationError(
                f"strategy={strategy!r} proposes across algorithms under automl-meta's names, "
                f"so it cannot serve algorithm={algorithm!r}; expected a fixed strategy "
                "('auto', 'knn', 'portfolio', 'ranker') with algorithm=.")
        if algorithm is not None and recommendations is not None:
            raise ConfigurationError("Pass recommendations= or algorithm=, not both "
                                     "(algorithm= chooses the recommendations itself).")
        db = db_or_server(db, server, "MetaSampler")
        self.algorithm = algorithm
        self.n_startup = n_startup
        self.fallback = fallback or TPESampler(seed=seed, n_startup_trials=5)
        self.param_map = param_map
        self.strategy = strategy
        self.guide: ProposalGuide | None = None
        if n_startup > 0 and sequential_learner_class(strategy) is not None:
            self.guide = ProposalGuide.create(strategy, dataset_or_metafeatures, task,
                                              local_recommender(db) if learner is None else None,
                                              param_map, learner, candidates)
            if self.guide is None:
                strategy = "auto"
        if recommendations is None and n_startup > 0 and self.guide is None:
            is_mapping = isinstance(dataset_or_metafeatures, Mapping)
            recommendations = _recommendations(
                None if is_mapping else dataset_or_metafeatures, n_startup, strategy, db,
                task, dataset_or_metafeatures if is_mapping else None, algorithm)
        self.recommendations = list(recommendations or [])[:n_startup]
        self._proposals = _proposals(self.recommendations, param_map, algorithm is not None)
        self._assigned: dict[int, dict[str, Any] | None] = {}
        self._proposed: list[dict[str, Any]] = []  # configurations handed out, in order
        self._next = 0
        self._lock = threading.Lock()

    def _proposal_for(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, Any] | None:
        with self._lock:
            if trial.number not in self._assigned:
                self._assigned[trial.number] = self._next_proposal(study)
            return self._assigned[trial.number]

    def _next_proposal(self, study: optuna.Study) -> dict[str, Any] | None:
        if len(self._proposed) >= self.n_startup:
            return None
        if self._next < len(self._proposals):
            tried = [t.params for t in study.get_trials(deepcopy=False)
                     if t.state == TrialState.COMPLETE]
            while self._next < len(self._proposals) and self._proposals[self._next] in tried:
                self._next += 1
        if self._next < len(self._proposals):
            self._next += 1
            self._proposed.append(self.recommendations[self._next - 1].config)
            return self._proposals[self._next - 1]
        if self.guide is None:
            return None
        config = self.guide.propose(study, self._proposed)
        if config is None:
            return None
        self._proposed.append(config)
        return _trial_params(config, self.param_map)

    def infer_relative_search_space(self, study: optuna.Study,
                                    trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        proposal = self._proposal_for(study, trial)
        if proposal is not None and param_name in proposal:
            value = proposal[param_name]
            if _contains(param_distribution, value):
                return value
        return self.fallback.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.fallback.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Any) -> None:
        self.fallback.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.fallback.reseed_rng()


def _contains(distribution: BaseDistribution, value: Any) -> bool:
    try:
        return bool(distribution._contains(distribution.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False
