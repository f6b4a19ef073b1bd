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
  arrays saved as safetensors), so ``save`` and ``load`` never pickle.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from automl_meta._version import __version__
from automl_meta.errors import ArtifactError, ConfigurationError
from automl_meta.metalearners._knowledge import MetaKnowledge


@dataclass
class Recommendation:
    """One recommended configuration.

    ``predicted_score`` is the expected normalised score: 1.0 means as good as the best
    known configuration on similar datasets, 0.0 as bad as their weak ones.

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

    name: ClassVar[str] = ""
    _registry: ClassVar[dict[str, type[MetaLearner]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            MetaLearner._registry[cls.name] = cls

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
        from automl_meta.metalearners._encoding import FeatureScaler

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
        cls = MetaLearner._registry.get(document.get("learner", ""))
        if cls is None:
            raise ArtifactError(f"{path} names an unknown learner {document.get('learner')!r}.")
        arrays = {}
        if document.get("arrays"):
            weights = path.with_suffix(".safetensors")
            if not weights.is_file():
                raise ArtifactError(f"{path} lists arrays but {weights.name} is missing; "
                                    "retrain the learner.")
            verify_learner_file(weights)
            arrays = load_file(str(weights))
        return cls._from_state(document["state"], arrays)


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
        raise ConfigurationError(f"k={k!r} must be a positive integer number of recommendations.")
    return int(k)
