"""The ``MetaLearner`` contract.

A meta-learner turns the meta-database into advice for a new dataset. It is fitted once on
a :class:`~automl_meta.metalearners.MetaKnowledge` (all past datasets, their meta-features
and the scores of every configuration tried on them) and then, given only the meta-features
of a new dataset and its task, ranks configurations without training anything on the new
data. That separation is what makes recommendations take milliseconds.

A subclass must:

- set ``name`` (the strategy name users pass to ``recommend``);
- implement ``fit(knowledge)``, learning only from ``knowledge`` (the leave-one-dataset-out
  evaluation relies on that: it fits on a copy without the evaluated dataset's family);
- implement ``recommend(metafeatures, task, k)`` returning at most ``k`` distinct
  configurations, best first, each a :class:`Recommendation` whose ``why`` a person can read;
- implement ``_state()`` / ``_from_state()`` with JSON-able data (plus, optionally, numpy
  arrays saved as safetensors), so ``save`` and ``load`` never pickle;
- declare its traits as class attributes (see :class:`MetaLearner`): they replace every
  list that used to name learners by hand.

It becomes a strategy by one explicit registration, ``register_learner(MyLearner)`` (or
``@register_learner`` on the class). :data:`LEARNERS` is the registry: ``recommend``'s
strategies, the service's ``strategy`` field, the CLI's help, ``db train``, the
leave-one-dataset-out factories and the benchmark's grouped refits all read it. Defining a
subclass registers nothing (so a test's or a user's subclass never replaces a shipped
strategy by accident).

Example:
    >>> from automl_meta.metalearners import LEARNERS
    >>> list(LEARNERS)
    ['knn', 'portfolio', 'ranker', 'neural']
    >>> [name for name, cls in LEARNERS.items() if cls.memory_based]
    ['knn', 'portfolio']
"""

from __future__ import annotations

import inspect
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd

from automl_meta._version import __version__
from automl_meta.errors import ArtifactError, ConfigurationError, did_you_mean
from automl_meta.metalearners._encoding import FeatureScaler
from automl_meta.metalearners._knowledge import MetaKnowledge

L = TypeVar("L", bound="MetaLearner")


@dataclass
class Recommendation:
    """One recommended configuration.

    ``predicted_score`` is the expected normalised score: 1.0 means as good as the best
    known configuration on similar datasets, 0.0 as bad as their weak ones. It is not the
    metric itself: ``expected_metric`` is the raw value of ``metric`` (``balanced_accuracy``
    for classification, ``r2`` for regression) this configuration is expected to reach,
    from what it scored on the nearest past datasets that ran it (or on this very data,
    for an earlier run); ``None`` when no past dataset ran it. ``details["expected"]`` names
    those datasets and their scores.

    ``summary`` is a few words on why the recommendation sits where it does in the list:
    the picks after the first of a hedging strategy (``knn``, ``portfolio``) are chosen to
    cover what the picks above miss, so they are not in ``predicted_score`` order;
    ``details["covers"]`` lists the neighbours where a pick beats every pick above it.
    ``recommend`` fills these three fields (and appends the same to ``why``); a learner's
    own ``recommend`` leaves them empty.

    Example:
        >>> rec = Recommendation("knn", {"n_neighbors": 7}, 0.92, "knn",
        ...                      "best on 3 of the 5 nearest past datasets", rank=1)
        >>> rec.config
        {'algorithm': 'knn', 'params': {'n_neighbors': 7}}
    """

    algorithm: str
    params: dict[str, Any]
    predicted_score: float
    strategy: str
    why: str
    rank: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    metric: str | None = None
    expected_metric: float | None = None
    summary: str = ""

    @property
    def config(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "params": dict(self.params)}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MetaLearner(ABC):
    """Base class of every meta-learner (see the module docstring for the contract).

    Example:
        >>> learner = MetaLearner.load("meta_db/learners/knn.json")  # doctest: +SKIP
        >>> recs = learner.recommend(metafeatures, "classification", k=3)  # doctest: +SKIP
        >>> learner.save("my_learners/")  # doctest: +SKIP
    """

    #: The strategy name users pass to ``recommend`` (lower case, not ``"auto"``).
    name: ClassVar[str] = ""
    #: Cheap to refit: once the user's store holds evaluations, ``recommend`` refits it on
    #: shipped + user knowledge rather than loading the saved one.
    memory_based: ClassVar[bool] = False
    #: Slow to refit: leave-one-dataset-out evaluations refit it once per this many groups
    #: of families instead of once per family (``None``: once per family).
    lodo_groups: ClassVar[int | None] = None
    #: Proposes step by step from a search's trials (``propose``; see ``SequentialLearner``).
    sequential: ClassVar[bool] = False
    #: Importable packages it needs beyond the core ones (e.g. ``("torch",)``).
    requires: ClassVar[tuple[str, ...]] = ()
    #: Fitted and saved with the meta-db by ``automl-meta db train``.
    trained: ClassVar[bool] = True
    #: Judged by ``db train``'s leave-one-dataset-out evaluation, which picks ``auto`` among
    #: the judged learners (each built by :meth:`lodo_learner`).
    lodo_judged: ClassVar[bool] = True

    @classmethod
    def lodo_learner(cls, fast: bool = True) -> MetaLearner:
        """A new, unfitted learner as the leave-one-dataset-out evaluation judges it
        (``fast``: the cheaper settings ``db train`` uses; default: ``cls()``)."""
        return cls()

    def load_files(self, directory: Path) -> None:
        """Load what :meth:`save` wrote into ``directory`` besides the JSON and safetensors
        (the ranker's skops models); :func:`~automl_meta.metalearners.load_learner` calls it
        after :meth:`load`. Default: nothing."""
        return None

    @abstractmethod
    def fit(self, knowledge: MetaKnowledge) -> MetaLearner:
        """Learn from the meta-database; returns ``self``."""

    @abstractmethod
    def recommend(self, metafeatures: Mapping[str, float] | pd.Series, task: str,
                  k: int = 10) -> list[Recommendation]:
        """The ``k`` best configurations for a dataset with these meta-features."""

    @abstractmethod
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able state and named arrays that fully describe the fitted learner."""

    @classmethod
    @abstractmethod
    def _from_state(cls, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> MetaLearner:
        """Rebuild a fitted learner from what ``_state`` returned."""

    def task_scaler(self, task: str) -> Any:
        """The meta-feature scaler of ``task`` stored in ``self.tasks[task]["scaler"]``,
        rebuilt from its JSON once per fit rather than on every query."""

        cache = self.__dict__.setdefault("_scalers", {})
        if task not in cache:
            cache[task] = FeatureScaler.from_json(self.tasks[task]["scaler"])  # type: ignore[attr-defined]
        return cache[task]

    def forget_scalers(self) -> None:
        """Drop cached scalers; a subclass calls it at the start of ``fit``."""
        self.__dict__.pop("_scalers", None)

    def save(self, directory: str | Path) -> Path:
        """Write ``<name>.json`` (and ``<name>.safetensors`` when there are arrays)."""
        from safetensors.numpy import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        state, arrays = self._state()
        document = {"learner": self.name, "version": __version__, "state": state,
                    "arrays": sorted(arrays)}
        (out / f"{self.name}.json").write_text(json.dumps(document, indent=1) + "\n")
        if arrays:
            save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()},
                      str(out / f"{self.name}.safetensors"))
        return out / f"{self.name}.json"

    @staticmethod
    def load(path: str | Path) -> MetaLearner:
        """Load a learner saved by :meth:`save` (JSON + safetensors; never unpickles).

        Files under a bundle's ``learners/`` are verified against the checksums in its
        ``manifest.json`` first (see :mod:`automl_meta.metadb._learners`)."""
        from safetensors.numpy import load_file

        path = Path(path)
        if path.suffix in (".pkl", ".pickle", ".joblib"):
            raise ArtifactError(f"Refusing to load {path.name}: pickles can run arbitrary code. "
                                "Expected a learner saved as JSON (+ safetensors).")
        if path.suffix != ".json":
            raise ArtifactError(f"Expected the .json file of a saved learner, got {path.name}.")
        if not path.is_file():
            raise ArtifactError(f"No saved learner at {path}.")
        from automl_meta.metadb._learners import verify_learner_file

        verify_learner_file(path)  # against the bundle manifest's checksums, when it has them
        try:
            document = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{path} is not valid JSON: {exc}.") from exc
        cls = LEARNERS.get(document.get("learner", ""))
        if cls is None:
            raise ArtifactError(f"{path} names an unknown learner {document.get('learner')!r}; "
                                f"expected one of {', '.join(LEARNERS)}. A learner of your "
                                "own must be registered with register_learner() first.")
        arrays = {}
        if document.get("arrays"):
            weights = path.with_suffix(".safetensors")
            if not weights.is_file():
                raise ArtifactError(f"{path} lists arrays but {weights.name} is missing; "
                                    "retrain the learner.")
            verify_learner_file(weights)
            arrays = load_file(str(weights))
        return cls._from_state(document["state"], arrays)


_NAME = re.compile(r"[a-z][a-z0-9_]*")


class LearnerRegistry(Mapping[str, "type[MetaLearner]"]):
    """The registered meta-learner classes by strategy name, in registration order.

    A read-only, live view: :func:`register_learner` and :func:`unregister_learner` change
    it, and everything derived from it (:attr:`strategies`, :meth:`groups`) reads it anew.

    Example:
        >>> from automl_meta.metalearners import LEARNERS
        >>> LEARNERS["knn"].memory_based, LEARNERS["ranker"].lodo_groups
        (True, 10)
        >>> LEARNERS.strategies[:3], "ranker" in LEARNERS.strategies
        (('auto', 'knn', 'portfolio'), True)
        >>> LEARNERS.groups()
        {'ranker': 10, 'neural': 5}
    """

    def __init__(self) -> None:
        self._classes: dict[str, type[MetaLearner]] = {}

    def __getitem__(self, name: str) -> type[MetaLearner]:
        return self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._classes))

    def __len__(self) -> int:
        return len(self._classes)

    def __repr__(self) -> str:
        return f"LearnerRegistry({', '.join(self._classes)})"

    @property
    def strategies(self) -> Sequence[str]:
        """``"auto"`` and every registered name (a live sequence, for ``in`` and help)."""
        return _Strategies(self)

    @property
    def slow_groups(self) -> Mapping[str, int]:
        """A live view of :meth:`groups` (the benchmark's ``SLOW_LEARNER_GROUPS``)."""
        return _SlowGroups(self)

    def groups(self, judged_only: bool = False) -> dict[str, int]:
        """``name -> lodo_groups`` of the learners refitted per group of families."""
        return {name: cls.lodo_groups for name, cls in self._classes.items()
                if cls.lodo_groups is not None and (cls.lodo_judged or not judged_only)}


class _Strategies(Sequence[str]):
    """``("auto", *LEARNERS)``, read from the registry on every use."""

    def __init__(self, registry: LearnerRegistry) -> None:
        self._registry = registry

    def _names(self) -> tuple[str, ...]:
        return ("auto", *self._registry)

    def __getitem__(self, index: Any) -> Any:
        return self._names()[index]

    def __len__(self) -> int:
        return 1 + len(self._registry)

    def __contains__(self, name: object) -> bool:
        return name == "auto" or name in self._registry

    def __eq__(self, other: object) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, Sequence) else other)

    def __repr__(self) -> str:
        return repr(self._names())


class _SlowGroups(Mapping[str, int]):
    """``LEARNERS.groups()``, read from the registry on every use."""

    def __init__(self, registry: LearnerRegistry) -> None:
        self._registry = registry

    def __getitem__(self, name: str) -> int:
        return self._registry.groups()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry.groups())

    def __len__(self) -> int:
        return len(self._registry.groups())

    def __repr__(self) -> str:
        return repr(self._registry.groups())


#: The meta-learner registry (see the module docstring).
LEARNERS = LearnerRegistry()


def register_learner(cls: type[L], replace: bool = False) -> type[L]:
    """Make the learner class ``cls`` a strategy under ``cls.name``; returns ``cls`` (so it
    also works as a class decorator).

    Registering the same class again does nothing; another class under a taken name is
    an error unless ``replace``.

    Raises:
        ConfigurationError: when ``cls`` is not a concrete :class:`MetaLearner`, its name
            is not a lower-case identifier (or is ``"auto"``), a trait has the wrong type,
            or the name is taken.

    Example:
        >>> from automl_meta.metalearners import PortfolioLearner, register_learner
        >>> class Top3(PortfolioLearner):
        ...     name = "top3"
        >>> register_learner(Top3) is Top3
        True
        >>> "top3" in LEARNERS.strategies
        True
        >>> unregister_learner("top3")
    """
    if not (isinstance(cls, type) and issubclass(cls, MetaLearner)):
        raise ConfigurationError(f"register_learner expects a MetaLearner subclass; got "
                                 f"{cls!r}.")
    where = f"{cls.__module__}.{cls.__qualname__}"
    problems = []
    if not isinstance(cls.name, str) or not _NAME.fullmatch(cls.name) or cls.name == "auto":
        problems.append(f"name={cls.name!r} must be a lower-case identifier other than 'auto'")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        problems.append(f"it does not implement {missing}")
    groups = cls.lodo_groups
    if groups is not None and (not isinstance(groups, int) or isinstance(groups, bool)
                               or groups < 2):
        problems.append(f"lodo_groups={groups!r} must be None or an integer of at least 2")
    if not isinstance(cls.requires, tuple) or not all(isinstance(r, str) for r in cls.requires):
        problems.append(f"requires={cls.requires!r} must be a tuple of package names")
    for trait in ("memory_based", "sequential", "trained", "lodo_judged"):
        if not isinstance(getattr(cls, trait), bool):
            problems.append(f"{trait}={getattr(cls, trait)!r} must be True or False")
    if cls.sequential and not callable(getattr(cls, "propose", None)):
        problems.append("sequential=True needs a propose() method")
    if problems:
        raise ConfigurationError(f"Cannot register {where}: {'; '.join(problems)}.")
    taken = LEARNERS._classes.get(cls.name)
    if taken is not None and taken is not cls and not replace:
        raise ConfigurationError(
            f"Cannot register {where}: the strategy name {cls.name!r} is taken by "
            f"{taken.__module__}.{taken.__qualname__}. Choose another name, or pass "
            "replace=True to replace it.")
    LEARNERS._classes[cls.name] = cls
    return cls


def unregister_learner(name: str) -> None:
    """Remove the strategy ``name`` from the registry (e.g. after a test).

    Raises:
        ConfigurationError: when no learner is registered under ``name``.

    Example:
        >>> from automl_meta.metalearners import PortfolioLearner, register_learner
        >>> class Top(PortfolioLearner):
        ...     name = "top"
        >>> _ = register_learner(Top)
        >>> unregister_learner("top")
        >>> "top" in LEARNERS
        False
    """
    if name not in LEARNERS._classes:
        raise ConfigurationError(f"No learner is registered as {name!r}."
                                 f"{did_you_mean(name, list(LEARNERS))} "
                                 f"Registered: {', '.join(LEARNERS)}.")
    del LEARNERS._classes[name]


def metafeature_frame(metafeatures: Mapping[str, float] | pd.Series) -> pd.DataFrame:
    """One-row frame of meta-features (from a MetaFeatures, dict or Series)."""
    if isinstance(metafeatures, pd.Series):
        series = metafeatures.astype(float)
    elif isinstance(metafeatures, Mapping):
        series = pd.Series({k: float(v) for k, v in metafeatures.items()}, dtype=float)
    else:
        raise ConfigurationError(
            f"metafeatures must be a mapping of name -> value; got {type(metafeatures).__name__}."
        )
    return series.to_frame().T


def check_k(k: int) -> int:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ConfigurationError(f"k={k!r} must be a positive integer number of recommendations.",
                                 parameter="k")
    return int(k)
