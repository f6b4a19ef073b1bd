"""``NeuralLearner``: the optimisation-based meta-learner (FSBO-style deep-kernel GP).

The class holds the parameters and the fitted state and implements the
:class:`~automl_meta.metalearners.SequentialLearner` contract; the work is done by the
modules beside it: ``fitting`` (meta-training per task), ``runtime`` (the networks on a
device), ``scoring`` (zero-shot and fine-tuned predictions), ``recall`` (the kNN memory),
``acquisition`` (what to propose next) and ``state`` (saving and loading).

Importing this module does not import torch (so ``import automl_meta`` stays light and the
learner can sit in the strategy registry); torch is imported when a learner is fitted, loaded
onto a device or asked for advice.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from automl_meta.errors import ArtifactError, ConfigurationError
from automl_meta.metalearners._base import MetaLearner, Recommendation, check_k
from automl_meta.metalearners._knowledge import MetaKnowledge
from automl_meta.metalearners._sequential import Observation, SequentialLearner
from automl_meta.metalearners.knn import KNNLearner
from automl_meta.metalearners.neural import acquisition, fitting, runtime, scoring
from automl_meta.metalearners.neural.recall import fill_by_algorithm
from automl_meta.metalearners.neural.state import restore, state_of

if TYPE_CHECKING:
    import torch

__all__ = ["NeuralLearner", "Observation", "fill_by_algorithm"]


class NeuralLearner(SequentialLearner):
    """A surrogate meta-trained across past datasets and fine-tuned on the new one.

    Per task, a deep-kernel Gaussian process (see ``neural.model``): an ensemble of small
    MLPs over ``[scaled meta-features ; configuration encoding]`` gives the zero-shot mean
    (its disagreement part of the uncertainty), an MLP over the configuration the kernel's
    embedding. For the configurations past datasets ran, the GP's prior mean blends in
    what a kNN memory of those datasets predicts (``memory_weight``). It is meta-trained
    on episodes of past searches (``neural.train``); on a new dataset, :meth:`recommend`
    ranks the candidate pool by the zero-shot mean and :meth:`propose` fine-tunes a copy on
    the trials observed so far, conditions on them and picks by expected improvement
    (``neural.adapt``).

    The candidate pool is the meta-db's configurations of the task plus
    ``extra_candidates`` sampled from the space.

    The defaults of ``memory_weight`` (0.7) and ``xi`` (0.1) were chosen by the simulated
    leave-one-family-out search of ``benchmarks/neural.py`` on the shipped meta-db, among
    {0.3, 0.5, 0.7} and {0, 0.05, 0.1, 0.2} (see ``benchmarks/RESULTS.md``).

    Args:
        hidden, depth, embedding: width and number of hidden layers, embedding size.
        members: size of the ensemble behind the zero-shot mean.
        steps, batch_size: meta-training steps per task and episodes per step.
        max_support, n_query: largest support set and query size of an episode.
        learning_rate, weight_decay: AdamW settings of meta-training.
        budget: optional cap in seconds on the whole meta-training (split over tasks).
        calibration: fraction of the datasets (whole families) held out of the first
            training stage to calibrate how far the GP trusts the mean network (0: none).
        finetune_steps, finetune_lr: Adam steps and rate of the per-dataset fine-tuning.
        xi: expected-improvement margin on the scale of the observed scores normalised
            within themselves (larger explores more).
        extra_candidates: configurations sampled from the space into the candidate pool.
        memory_weight: share of the kNN memory (a ``KNNLearner`` fitted on the same
            meta-db) in the GP's prior mean, for the configurations past datasets ran; the
            rest is the network's zero-shot mean (0: the network alone). See
            ``neural.adapt.Memory``.
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda"``.
        threads: at most this many CPU threads while the learner computes (``None``: torch's
            setting); one is fastest for these small networks.
        random_state: seed of initialisation, episodes and pool (reproducible on CPU).
        progress: rich progress bar while meta-training (``None``: when on a terminal).
        time_budget: deprecated name of ``budget`` (works for one release, with a
            ``DeprecationWarning``).

    Example:
        >>> learner = NeuralLearner(steps=500).fit(knowledge)  # doctest: +SKIP
        >>> trials = [(config, 0.81)]  # doctest: +SKIP
        >>> learner.propose(metafeatures, "classification", trials, k=1)  # doctest: +SKIP
    """

    name = "neural"
    requires: ClassVar[tuple[str, ...]] = ("torch",)
    # meta-training once per left-out family would take hours: benchmarks/neural.py judges it
    lodo_judged: ClassVar[bool] = False
    lodo_groups = 5  # meta-training takes minutes: refitted per group of families
    train_hint: ClassVar[str] = "train them with `automl-meta db train-neural`"

    def __init__(self, hidden: int = 64, depth: int = 2, embedding: int = 16, members: int = 5,
                 steps: int = 2000, batch_size: int = 16, max_support: int = 32,
                 n_query: int = 32, learning_rate: float = 5e-3, weight_decay: float = 1e-4,
                 budget: float | None = None, calibration: float = 0.2,
                 finetune_steps: int = 10, finetune_lr: float = 1e-3, xi: float = 0.1,
                 extra_candidates: int = 300, memory_weight: float = 0.7,
                 device: str = "auto", threads: int | None = 1, random_state: int = 0,
                 progress: bool | None = None, time_budget: float | None = None) -> None:
        if time_budget is not None:
            _warn_time_budget(stacklevel=3)
            if budget is not None and budget != time_budget:
                raise ConfigurationError(
                    f"budget={budget!r} and time_budget={time_budget!r} disagree; pass only "
                    "budget (time_budget is its deprecated name).")
            budget = time_budget
        self.hidden = hidden
        self.depth = depth
        self.embedding = embedding
        self.members = members
        self.steps = steps
        self.batch_size = batch_size
        self.max_support = max_support
        self.n_query = n_query
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.budget = budget
        self.calibration = calibration
        self.finetune_steps = finetune_steps
        self.finetune_lr = finetune_lr
        self.xi = xi
        self.extra_candidates = extra_candidates
        self.memory_weight = memory_weight
        self.device = device
        self.threads = threads
        self.random_state = random_state
        self.progress = progress
        self.tasks: dict[str, dict[str, Any]] = {}
        self._arrays: dict[str, np.ndarray] = {}
        self._runtime: dict[str, dict[str, Any]] = {}
        self._memory: KNNLearner | None = None

    @property
    def time_budget(self) -> float | None:
        """Deprecated name of :attr:`budget`."""
        _warn_time_budget(stacklevel=3)
        return self.budget

    @time_budget.setter
    def time_budget(self, value: float | None) -> None:
        _warn_time_budget(stacklevel=3)
        self.budget = value

    def fit(self, knowledge: MetaKnowledge) -> NeuralLearner:
        """Meta-train one surrogate per task of ``knowledge``; returns ``self``."""
        fitting.fit_tasks(self, knowledge)
        return self

    # -- the sequential-learner contract ---------------------------------------------------

    def knows_task(self, task: str) -> bool:
        """Whether the learner was meta-trained on ``task`` datasets."""
        return task in self.tasks

    def candidate_pool(self, task: str) -> list[dict[str, Any]]:
        """The meta-db's configurations of ``task`` plus those sampled from the space."""
        return list(self.tasks[task]["candidates"])

    def prepare(self, task: str) -> None:
        """Put ``task``'s weights onto the device and encode its pool now."""
        self._task_runtime(task)

    def recommend(self, metafeatures: Mapping[str, float] | pd.Series, task: str,
                  k: int = 10) -> list[Recommendation]:
        """The ``k`` candidates with the best zero-shot predicted score."""
        return self.propose(metafeatures, task, (), k)

    def propose(self, metafeatures: Mapping[str, float] | pd.Series, task: str,
                observed: Sequence[Observation] = (), k: int = 1,
                candidates: Sequence[dict[str, Any]] | None = None,
                exclude: Iterable[dict[str, Any]] = ()) -> list[Recommendation]:
        """The next ``k`` configurations to try on a dataset, given its trials so far.

        Args:
            metafeatures: the dataset's meta-features.
            task: ``"classification"`` or ``"regression"``.
            observed: ``(configuration, score)`` of the trials so far, raw or normalised
                (higher is better; ``None``/NaN for a failed trial). Scores are normalised
                within this set, so any affine scale works.
            k: how many configurations (a batch is spread by a kriging believer).
            candidates: the configurations to choose from (default: the learner's pool).
            exclude: configurations never to propose, though not observed (a trial that
                failed, or one still running).

        An observed configuration is never proposed again. Without observations the
        candidates are ranked by predicted score, as :meth:`recommend` does.
        """
        k = check_k(k)
        self._check_fitted()
        if task not in self.tasks:
            return []
        return acquisition.propose(self, metafeatures, task, observed, k, candidates, exclude)

    def predict(self, metafeatures: Mapping[str, float] | pd.Series, task: str,
                configs: Sequence[dict[str, Any]],
                observed: Sequence[Observation] = ()) -> tuple[np.ndarray, np.ndarray]:
        """Predicted score and its standard deviation for each configuration.

        Without observations the mean is the zero-shot normalised score (1 = the best known
        configuration of the dataset); with observations it is the posterior after
        fine-tuning, on the scale of the observed scores normalised within themselves
        (1 = the best observed so far).
        """
        self._check_fitted()
        if task not in self.tasks:
            raise ConfigurationError(f"The neural learner knows no {task} datasets.")
        return scoring.predict(self, metafeatures, task, configs, observed)

    # -- the fitted surrogate on a device (see ``neural.runtime``) -------------------------

    def _task_runtime(self, task: str) -> dict[str, Any]:
        return runtime.task_runtime(self, task)

    def _features(self, task: str, metafeatures: Mapping[str, float] | pd.Series) -> torch.Tensor:
        return runtime.features(self, task, metafeatures)

    def _encode(self, task: str, configs: Sequence[dict[str, Any]]) -> torch.Tensor:
        return runtime.encode(self, task, configs)

    def _check_fitted(self) -> None:
        if not self.tasks:
            raise ConfigurationError("This NeuralLearner is not fitted; call fit(knowledge) "
                                     "or NeuralLearner.load(path) first.")

    # -- persistence (see ``neural.state``) ------------------------------------------------

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return state_of(self)

    @classmethod
    def _from_state(cls, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> MetaLearner:
        return restore(cls, state, arrays)

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> NeuralLearner:  # type: ignore[override]
        """Load a learner saved by :meth:`save` (JSON + safetensors), optionally onto another
        ``device`` than the one it was saved with."""
        learner = MetaLearner.load(path)
        if not isinstance(learner, NeuralLearner):
            raise ArtifactError(f"{path} holds a {learner.name!r} learner, not a neural one.")
        if device is not None:
            learner.device = device
        return learner


def _warn_time_budget(stacklevel: int) -> None:
    warnings.warn("NeuralLearner's time_budget is deprecated and will be removed in the next "
                  "release; use budget (the name fit uses) instead.", DeprecationWarning,
                  stacklevel=stacklevel)
