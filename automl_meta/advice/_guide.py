"""The neural meta-learner behind ``MetaSampler(strategy="neural")``.

:class:`NeuralGuide` reads an Optuna study back as ``(configuration, score)`` observations
(the inverse of :func:`~automl_meta.space.config_to_trial_params`) and asks the neural
meta-learner for the next configuration by expected improvement. Torch is imported only
when a guide is created.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, cast

import optuna
from optuna.distributions import BaseDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from automl_meta.errors import AutoMLMetaWarning, ConfigurationError
from automl_meta.metalearners import NeuralLearner
from automl_meta.space import (
    ALGORITHM_PARAM,
    config_to_trial_params,
    trial_params_to_config,
    validate_config,
)

NEURAL = "neural"
# one fine-tune-and-propose at a time per process: samplers may share a learner, and on CPU
# two at once are slower than one after the other
_COMPUTE_LOCK = threading.Lock()
_UNFINISHED = (TrialState.RUNNING, TrialState.WAITING)


class NeuralGuide:
    """Proposes configurations for a study on one dataset with a fitted ``NeuralLearner``.

    Completed trials are the observations (their values negated when the study minimises);
    failed and pruned trials are not learned from, but neither they nor configurations
    already handed out are proposed again; nor is a candidate whose parameters fall outside
    the distributions the objective has asked for so far (an objective sampling a subset of
    the algorithms, or narrower ranges).

    Example:
        >>> guide = NeuralGuide(learner, metafeatures, "classification")  # doctest: +SKIP
        >>> guide.propose(study, proposed=[])  # doctest: +SKIP
        {'algorithm': 'hist_gb', 'params': {...}}
    """

    def __init__(self, learner: NeuralLearner, metafeatures: Mapping[str, float], task: str,
                 param_map: Mapping[str, str] | None = None,
                 candidates: Sequence[dict[str, Any]] | None = None) -> None:
        self.learner = learner
        self.metafeatures = metafeatures
        self.task = task
        self.param_map = dict(param_map or {})
        self.candidates = None if candidates is None else list(candidates)
        self._inverse = {theirs: ours for ours, theirs in self.param_map.items()}
        self._outside_cache: tuple[Any, list[dict[str, Any]]] = (None, [])
        self._warned_multi_objective = False

    @classmethod
    def create(cls, dataset_or_metafeatures: Any, task: str | None, db: Any,
               param_map: Any, learner: NeuralLearner | None = None,
               candidates: Sequence[dict[str, Any]] | None = None) -> NeuralGuide | None:
        """A guide for this dataset, or ``None`` (with a warning) when the neural learner is
        not available: no trained weights in the meta-db, no torch, or no such task."""
        if param_map is not None and not isinstance(param_map, Mapping):
            raise ConfigurationError(
                "strategy='neural' reads the study's trials back as configurations, which a "
                "param_map function cannot do. Pass param_map as a mapping "
                "{automl-meta name: your name}, or use another strategy.")
        try:
            import torch  # noqa: F401
        except ImportError:
            return _unavailable("needs PyTorch, which is not installed (pip install torch)")
        if learner is None:
            learner = _saved_learner(db)
            if learner is None:
                return None
        metafeatures, task = _metafeatures(dataset_or_metafeatures, task)
        if task not in learner.tasks:
            return _unavailable(f"was trained on no {task} datasets")
        learner._task_runtime(task)  # weights onto the device now, not in the first trial
        return cls(learner, metafeatures, task, param_map, candidates)

    @property
    def pool(self) -> list[dict[str, Any]]:
        return self.candidates if self.candidates is not None else \
            self.learner.tasks[self.task]["candidates"]

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
                warnings.warn("MetaSampler(strategy='neural') guides single-objective studies "
                              "only; this one's trials go to the fallback sampler.",
                              AutoMLMetaWarning, stacklevel=3)
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


def _unavailable(reason: str) -> None:
    warnings.warn(f"MetaSampler(strategy='neural'): the neural meta-learner {reason}; "
                  "proposing the 'auto' recommendations instead.", AutoMLMetaWarning,
                  stacklevel=4)


def _saved_learner(db: Any) -> NeuralLearner | None:
    """The neural learner saved with the meta-db's learners, or ``None`` with a warning
    (never trains one here: that takes minutes)."""
    from automl_meta.advice._recommend import get_recommender

    recommender = get_recommender(db)
    directory = recommender.learners_dir
    if directory is None or not (directory / f"{NEURAL}.json").is_file():
        return _unavailable(f"has no trained weights in {directory or 'the meta-db'} "
                            "(train them with `automl-meta db train-neural`)")
    return cast(NeuralLearner, recommender.learner(NEURAL))


def _metafeatures(dataset_or_metafeatures: Any, task: str | None) -> tuple[Any, str]:
    if isinstance(dataset_or_metafeatures, Mapping):
        if task is None:
            raise ConfigurationError("With precomputed metafeatures, pass "
                                     "task='classification' or task='regression'.")
        return dataset_or_metafeatures, task
    if dataset_or_metafeatures is None:
        raise ConfigurationError("MetaSampler(strategy='neural') needs the dataset or its "
                                 "meta-features (with task=...).")
    from automl_meta.data import load_dataset
    from automl_meta.metafeatures import extract_metafeatures

    dataset = load_dataset(dataset_or_metafeatures, task=task)
    return extract_metafeatures(dataset), dataset.task
