"""The ``SequentialLearner`` contract: a meta-learner that proposes step by step.

A one-shot meta-learner ranks configurations once, from the meta-features alone. A sequential
one also reads the trials of the search so far and proposes what to try next, so it can
guide every trial of a search rather than only its start. On top of the
:class:`~automl_meta.metalearners.MetaLearner` contract, a subclass implements

- ``propose(metafeatures, task, observed, k, candidates, exclude)``: at most ``k`` distinct
  configurations, best first, never one of ``observed`` or ``exclude``, taken from
  ``candidates`` when given (else from its own pool);
- ``knows_task(task)`` and ``candidate_pool(task)``: whether it can advise on ``task`` at
  all, and the configurations it chooses among by default.

It may override ``prepare(task)`` (load what proposing needs now rather than in the first
trial) and list the importable packages it needs in ``requires``. Registered under its
``name``, it is then usable as ``MetaSampler(strategy=name)`` with no other change: the
sampler picks any strategy whose learner class has ``sequential = True``.
"""

from __future__ import annotations

import importlib
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import pandas as pd

from automl_meta.metalearners._base import MetaLearner, Recommendation

#: One trial of a search: its configuration and score (higher is better; ``None`` or NaN
#: for a trial that failed).
Observation = tuple[dict[str, Any], float | None]


class SequentialLearner(MetaLearner):
    """Base class of the meta-learners that propose configurations one step at a time.

    ``recommend`` is ``propose`` with nothing observed yet.

    Example:
        >>> from automl_meta.metalearners import SequentialLearner
        >>> from automl_meta.metalearners.neural import NeuralLearner
        >>> issubclass(NeuralLearner, SequentialLearner), NeuralLearner.sequential
        (True, True)
        >>> learner.propose(metafeatures, "classification",  # doctest: +SKIP
        ...                 observed=[(config, 0.81)], k=1)
    """

    sequential: ClassVar[bool] = True
    #: How a user gets a fitted learner of this kind saved with the meta-db (e.g. the
    #: command that trains it), named in the warning ``MetaSampler`` gives without one.
    train_hint: ClassVar[str] = ""

    @abstractmethod
    def propose(self, metafeatures: Mapping[str, float] | pd.Series, task: str,
                observed: Sequence[Observation] = (), k: int = 1,
                candidates: Sequence[dict[str, Any]] | None = None,
                exclude: Iterable[dict[str, Any]] = ()) -> list[Recommendation]:
        """The next ``k`` configurations to try on a dataset, given its trials so far.

        ``observed`` are ``(configuration, score)`` pairs, higher is better (``None`` or
        NaN: failed). Returns at most ``k`` distinct configurations, best first, none of
        them observed or in ``exclude``, all from ``candidates`` when given; ``[]`` when
        nothing is left or the learner knows no ``task`` datasets.
        """

    @abstractmethod
    def knows_task(self, task: str) -> bool:
        """Whether the fitted learner can propose for ``task`` datasets."""

    @abstractmethod
    def candidate_pool(self, task: str) -> list[dict[str, Any]]:
        """The configurations ``propose`` chooses among when given no ``candidates``."""

    def prepare(self, task: str) -> None:
        """Make ready what proposing for ``task`` needs, so the first proposal is not slow
        (default: nothing to do)."""

    def recommend(self, metafeatures: Mapping[str, float] | pd.Series, task: str,
                  k: int = 10) -> list[Recommendation]:
        """The ``k`` best configurations with nothing observed yet."""
        return self.propose(metafeatures, task, (), k)

    @classmethod
    def missing_requirements(cls) -> list[str]:
        """The packages of the class's ``requires`` that do not import here."""
        missing = []
        for package in cls.requires:
            try:
                importlib.import_module(package)
            except ImportError:
                missing.append(package)
        return missing
