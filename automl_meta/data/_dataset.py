"""The :class:`Dataset` container."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

TASKS = ("classification", "regression")


@dataclass
class Dataset:
    """A supervised tabular dataset ready for learning.

    ``X`` holds only usable features (ID-like and empty columns removed), ``y`` has no
    missing values, ``categorical`` and ``numeric`` partition ``X.columns``, and
    ``fingerprint`` is a hash of the content (same data, same fingerprint, whatever the
    source).

    Example:
        >>> from automl_meta import load_dataset
        >>> ds = load_dataset("sklearn:iris")
        >>> ds.task, ds.X.shape
        ('classification', (150, 4))
    """

    X: pd.DataFrame
    y: pd.Series
    task: str
    name: str = "dataset"
    categorical: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    source: str = ""
    fingerprint: str = ""

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int:
        """Number of distinct labels (0 for regression)."""
        return int(self.y.nunique()) if self.task == "classification" else 0

    def subsample(self, max_rows: int, random_state: int = 0) -> Dataset:
        """A copy with at most ``max_rows`` rows, stratified by class for classification.

        Every class keeps at least one row (and two when the class has them), so the result
        stays usable for stratified splits.
        """
        if self.n_rows <= max_rows:
            return self
        rng = np.random.default_rng(random_state)
        if self.task == "classification":
            index = _stratified_indices(self.y.to_numpy(), max_rows, rng)
        else:
            index = np.sort(rng.choice(self.n_rows, size=max_rows, replace=False))
        return Dataset(
            X=self.X.iloc[index].reset_index(drop=True),
            y=self.y.iloc[index].reset_index(drop=True),
            task=self.task,
            name=self.name,
            categorical=list(self.categorical),
            numeric=list(self.numeric),
            source=self.source,
            fingerprint=self.fingerprint,
        )

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, task={self.task!r}, rows={self.n_rows}, "
            f"numeric={len(self.numeric)}, categorical={len(self.categorical)})"
        )


def _stratified_indices(y: np.ndarray, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    labels, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    quota = np.maximum(np.minimum(counts, 2), np.floor(counts * max_rows / len(y))).astype(int)
    chosen = []
    for label_index in range(len(labels)):
        members = np.flatnonzero(inverse == label_index)
        size = min(quota[label_index], len(members))
        chosen.append(rng.choice(members, size=size, replace=False))
    return np.sort(np.concatenate(chosen))
