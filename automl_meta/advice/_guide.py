"""Sequential proposals in an Optuna study: ``MetaSampler(strategy=...)`` for any strategy
whose learner is a :class:`~automl_meta.metalearners.SequentialLearner` (``"neural"``, or
any registered learner class with ``sequential = True``).

:class:`ProposalGuide` reads an Optuna study back as ``(configuration, score)`` observations
(the inverse of :func:`~automl_meta.space.config_to_trial_params`) and asks the fitted
learner for the next configuration. The guide knows the contract only, never a learner by
name: a new sequential learner is guided by being registered.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from automl_meta.advice._recommend import get_recommender
from automl_meta.data import load_dataset
from automl_meta.errors import AutoMLMetaWarning, ConfigurationError
from automl_meta.metafeatures import extract_metafeatures
from automl_meta.metalearners import LEARNERS, SequentialLearner
from automl_meta.space import (
    ALGORITHM_PARAM,
    config_to_trial_params,
    trial_params_to_config,
    validate_config,
)

# one fine-tune-and-propose at a time per process: samplers may share a learner, and on CPU
# two at once are slower than one after the other
_COMPUTE_LOCK = threading.Lock()
_UNFINISHED = (TrialState.RUNNING, TrialState.WAITING)


def sequential_learner_class(strategy: str) -> type[SequentialLearner] | None:
    """The registered learner class of ``strategy`` if it proposes step by step, else
    ``None`` (a one-shot strategy, ``"auto"``, or an unknown name).

    Example:
        >>> sequential_learner_class("neural").__name__, sequential_learner_class("knn")
        ('NeuralLearner', None)
    """
    cls = LEARNERS.get(strategy) if isinstance(strategy, str) else None
    if isinstance(cls, type) and issubclass(cls, SequentialLearner) and cls.sequential:
        return cls
    return None


class ProposalGuide:
    """Proposes configurations for a study on one dataset with a fitted sequential learner.

    Completed trials are the observations (their values negated when the study minimises);
    failed and pruned trials are not learned from, but neither they nor configurations
    already handed out are proposed again; nor is a candidate whose parameters fall outside
    the distributions the objective has asked for so far (an objective sampling a subset of
    the algorithms, or narrower ranges).

    Example:
        >>> guide = ProposalGuide(learner, metafeatures, "classification")  # doctest: +SKIP
        >>> guide.propose(study, proposed=[])  # doctest: +SKIP
        {'algorithm': 'hist_gb', 'params': {...}}
    """

    def __init__(self, learner: SequentialLearner, metafeatures: Mapping[str, float],
                 task: str, param_map: Mapping[str, str] | None = None,
                 candidates: Sequence[dict[str, Any]] | None = None) -> None:
        self.learner = learner
        self.metafeatures = metafeatures
        self.task = task
        self.param_map = dict(param_map or {})
        self.candidates = None if candidates is None else list(candidates)
        self._inverse = {theirs: ours for ours, theirs in self.param_map.items()}
        self._outside_cache: tuple[Any, list[dict[str, Any]]] = (None, [])
        self._pool: list[dict[str, Any]] | None = None
        self._warned_multi_objective = False

    @property
    def strategy(self) -> str:
        """The strategy name of the guiding learner."""
        return self.learner.name

    @classmethod
    def create(cls, strategy: str, dataset_or_metafeatures: Any, task: str | None, db: Any,
               param_map: Any, learner: SequentialLearner | None = None,
               candidates: Sequence[dict[str, Any]] | None = None) -> ProposalGuide | None:
        """A guide for this dataset by ``strategy``'s learner, or ``None`` (with a warning)
        when that learner is not available: none saved with the meta-db, a package it
        requires missing, or no such task."""
        learner_class = sequential_learner_class(strategy)
        if learner_class is None:
            raise ConfigurationError(
                f"strategy={strategy!r} is not a sequential meta-learner; expected one of "
                f"{', '.join(sorted(s for s in LEARNERS if sequential_learner_class(s)))}.")
        if param_map is not None and not isinstance(param_map, Mapping):
            raise ConfigurationError(
                f"strategy={strategy!r} reads the study's trials back as configurations, "
                "which a param_map function cannot do. Pass param_map as a mapping "
                "{automl-meta name: your name}, or use another strategy.")
        if learner is not None and not isinstance(learner, learner_class):
            raise ConfigurationError(
                f"learner= is a {type(learner).__name__}, but strategy={strategy!r} expects "
                f"a fitted {learner_class.__name__}; pass one, or the matching strategy.")
        missing = learner_class.missing_requirements()
        if missing:
            return _unavailable(strategy, f"needs {', '.join(missing)}, which is not "
                                f"installed (pip install {' '.join(missing)})")
        if learner is None:
            learner = _saved_learner(strategy, learner_class, db)
            if learner is None:
                return None
        metafeatures, task = _metafeatures(strategy, dataset_or_metafeatures, task)
        if not learner.knows_task(task):
            return _unavailable(strategy, f"was trained on no {task} datasets")
        learner.prepare(task)  # e.g. weights onto the device now, not in the first trial
        return cls(learner, metafeatures, task, param_map, candidates)

    @property
    def pool(self) -> list[dict[str, Any]]:
        """The configurations the guide chooses among."""
        if self.candidates is not None:
            return self.candidates
        if self._pool is None:
            self._pool = self.learner.candidate_pool(self.task)
        return self._pool

    def config_of(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The configuration behind a trial's parameters (``None`` if they are not one)."""
        ours = {self._inverse.get(name, name): value for name, value in params.items()}
        if ALGORITHM_PARAM not in ours:
            return None
        config = trial_params_to_config(ours)
        try:
            validate_config(config, self.task)
        except (ConfigurationError, TypeError):
            return None
        return config

    def propose(self, study: optuna.Study,
                proposed: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
        """The next configuration for ``study`` (``None``: nothing left, or a
        multi-objective study); ``proposed`` are configurations already handed out."""
        if len(study.directions) > 1:
            if not self._warned_multi_objective:
                self._warned_multi_objective = True
                warnings.warn(f"MetaSampler(strategy={self.strategy!r}) guides "
                              "single-objective studies only; this one's trials go to the "
                              "fallback sampler.", AutoMLMetaWarning, stacklevel=3)
            return None
        sign = -1.0 if study.direction == StudyDirection.MINIMIZE else 1.0
        observed: list[tuple[dict[str, Any], float]] = []
        skipped = list(proposed)
        asked: dict[str, BaseDistribution] = {}
        for trial in study.get_trials(deepcopy=False):
            asked.update(trial.distributions)
            if trial.state in _UNFINISHED:
                continue  # a running trial's proposal is in ``proposed``
            config = self.config_of(trial.params)
            if config is None:
                continue
            value = _value(trial)
            if value is None:
                skipped.append(config)
            else:
                observed.append((config, sign * value))
        skipped += self._outside(asked)
        with _COMPUTE_LOCK:
            recs = self.learner.propose(self.metafeatures, self.task, observed, k=1,
                                        candidates=self.candidates, exclude=skipped)
        return recs[0].config if recs else None

    def _outside(self, asked: dict[str, BaseDistribution]) -> list[dict[str, Any]]:
        """Candidates with a parameter outside what the objective asked for under its name."""
        key = tuple(sorted((name, repr(d)) for name, d in asked.items()))
        if self._outside_cache[0] != key:
            outside = []
            for config in self.pool:
                params = config_to_trial_params(config)
                if any(_conflicts(asked.get(self.param_map.get(name, name)), value)
                       for name, value in params.items()):
                    outside.append(config)
            self._outside_cache = (key, outside)
        return self._outside_cache[1]


def _conflicts(distribution: BaseDistribution | None, value: Any) -> bool:
    if distribution is None:
        return False
    try:
        return not distribution._contains(distribution.to_internal_repr(value))
    except (ValueError, TypeError):
        return True


def _value(trial: FrozenTrial) -> float | None:
    if trial.state != TrialState.COMPLETE or trial.value is None:
        return None
    value = float(trial.value)
    return value if math.isfinite(value) else None


def _unavailable(strategy: str, reason: str) -> None:
    warnings.warn(f"MetaSampler(strategy={strategy!r}): the {strategy!r} meta-learner "
                  f"{reason}; proposing the 'auto' recommendations instead.",
                  AutoMLMetaWarning, stacklevel=4)


def _saved_learner(strategy: str, learner_class: type[SequentialLearner],
                   db: Any) -> SequentialLearner | None:
    """The learner saved as ``<strategy>.json`` with the meta-db's learners, or ``None``
    with a warning (never fits one here: that may take minutes)."""
    recommender = get_recommender(db)
    directory = recommender.learners_dir
    if directory is None or not (directory / f"{strategy}.json").is_file():
        hint = learner_class.train_hint or (
            f"fit a {learner_class.__name__} and save it there with learner.save(directory)")
        return _unavailable(strategy, f"has no trained weights ({strategy}.json) in "
                            f"{directory or 'the meta-db'} ({hint})")
    learner = recommender.learner(strategy)
    if not isinstance(learner, learner_class):
        raise ConfigurationError(
            f"{directory / f'{strategy}.json'} holds a {type(learner).__name__}, not the "
            f"{learner_class.__name__} strategy={strategy!r} expects; retrain it.")
    return learner


def _metafeatures(strategy: str, dataset_or_metafeatures: Any,
                  task: str | None) -> tuple[Any, str]:
    if isinstance(dataset_or_metafeatures, Mapping):
        if task is None:
            raise ConfigurationError("With precomputed metafeatures, pass "
                                     "task='classification' or task='regression'.")
        return dataset_or_metafeatures, task
    if dataset_or_metafeatures is None:
        raise ConfigurationError(f"MetaSampler(strategy={strategy!r}) needs the dataset or "
                                 "its meta-features (with task=...).")

    dataset = load_dataset(dataset_or_metafeatures, task=task)
    return extract_metafeatures(dataset), dataset.task
