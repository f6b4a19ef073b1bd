"""How rankings change with size: per-algorithm shifts learned from a second fidelity.

The matrices every learner reads hold scores on at most 1,000 rows of each past dataset.
A build's second pass (protocol ``cv3:s0:r10000``) ran part of the grid again on up to
10,000 rows of the larger datasets. On such a dataset, a configuration's *shift* is how much
its normalised score moved between the two fidelities, less the median move of every
configuration run at both (what more rows give everyone); an algorithm's shift is the mean
over its configurations. LightGBM, say, gains on CatBoost as rows grow when its shift is the
larger. A query with more rows than the base fidelity then gets its neighbours' shifts
added to the predicted scores of each algorithm's configurations (:meth:`SizeShifts.for_query`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from automl_meta.metalearners._knowledge import FLOOR_PERCENTILE, MetaKnowledge

BASE_ROWS = 1000  # the base fidelity's row cap: the matrices' scores
MIN_PAIRED = 4  # configurations run at both fidelities that a dataset needs to lend a shift


@dataclass
class SizeShifts:
    """Per-algorithm shifts of the datasets of one task that ran the second fidelity.

    ``rows`` is that fidelity's row cap, ``datasets`` index the task matrix's rows (the
    datasets with a shift), ``shifts`` is datasets x ``algorithms`` (NaN: the algorithm had
    no configuration run at both fidelities there).

    Example:
        >>> s = SizeShifts(10000, np.array([0, 1]), ["knn", "lightgbm"],
        ...                np.array([[-0.2, 0.1], [-0.1, np.nan]]))
        >>> s.for_query(np.array([1.0, 1.0]), 50_000).round(2).tolist()
        [-0.15, 0.1]
        >>> s.for_query(np.array([1.0, 1.0]), 800).tolist()
        [0.0, 0.0]
    """

    rows: int
    datasets: np.ndarray
    algorithms: list[str]
    shifts: np.ndarray

    def strength(self, n_rows: float) -> float:
        """How much of the shift a query of ``n_rows`` rows gets: 0 up to the base fidelity,
        1 from the second fidelity's rows on, log-linear in between."""
        if not math.isfinite(n_rows) or n_rows <= BASE_ROWS:
            return 0.0
        return min(1.0, math.log(n_rows / BASE_ROWS) / math.log(self.rows / BASE_ROWS))

    def for_query(self, weights: np.ndarray, n_rows: float) -> np.ndarray:
        """Each algorithm's shift for a query of ``n_rows`` rows: the ``weights``-weighted
        mean (one weight per dataset of ``datasets``) over the datasets that have it, times
        :meth:`strength`; 0 where none has it."""
        out = np.zeros(len(self.algorithms))
        strength = self.strength(n_rows)
        if strength == 0.0 or not len(self.datasets):
            return out
        present = np.isfinite(self.shifts)
        mass = (present * weights[:, None]).sum(axis=0)
        total = (np.nan_to_num(self.shifts) * weights[:, None]).sum(axis=0)
        with np.errstate(all="ignore"):
            mean = np.where(mass > 0, total / np.where(mass > 0, mass, 1.0), 0.0)
        return strength * mean

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return ({"rows": self.rows, "algorithms": self.algorithms},
                {"datasets": self.datasets.astype(np.int64),
                 "values": self.shifts.astype(np.float32)})

    @classmethod
    def from_state(cls, info: dict[str, Any], arrays: dict[str, np.ndarray]) -> SizeShifts:
        return cls(int(info["rows"]), np.asarray(arrays["datasets"], dtype=np.int64),
                   list(info["algorithms"]), np.asarray(arrays["values"], dtype=float))


def size_shifts(knowledge: MetaKnowledge, task: str) -> SizeShifts | None:
    """The shifts of ``task``'s matrix datasets that ran the second fidelity, or None when
    none did (or the knowledge holds no such fidelity)."""
    larger = knowledge.larger_runs
    matrix = knowledge.matrices.get(task)
    if matrix is None or larger is None or larger.empty:
        return None
    rows = int(larger["rows"].mode().iloc[0])
    larger = larger[larger["rows"] == rows]
    row_of = {fingerprint: i for i, fingerprint in enumerate(matrix.datasets)}
    column_of = {key: j for j, key in enumerate(matrix.configs)}
    algorithm_of = knowledge.configs["algorithm"]
    names = sorted(set(algorithm_of.loc[matrix.configs]))
    found: list[int] = []
    values: list[np.ndarray] = []
    for fingerprint, group in larger.groupby("fingerprint"):
        if fingerprint not in row_of:
            continue
        i = row_of[fingerprint]
        pairs = [(column_of[c], s) for c, s in zip(group["config"], group["score"], strict=True)
                 if c in column_of and np.isfinite(matrix.raw[i, column_of[c]])]
        if len(pairs) < MIN_PAIRED:
            continue
        shift = _dataset_shift(matrix.raw[i], matrix.anchors, pairs,
                               [algorithm_of.loc[matrix.configs[j]] for j, _ in pairs], names)
        if shift is not None:
            found.append(i)
            values.append(shift)
    if not found:
        return None
    return SizeShifts(rows, np.array(found, dtype=np.int64), names, np.vstack(values))


def base_spread(base: np.ndarray, anchors: np.ndarray) -> float | None:
    """The span of one dataset's base-fidelity normalisation: its best score less the 10th
    percentile of its grid (``anchors``), as :func:`~automl_meta.metalearners._knowledge.
    normalise` scales it; None when the grid's scores do not spread."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = np.nanmax(base) - np.nanpercentile(np.where(anchors, base, np.nan),
                                                    FLOOR_PERCENTILE)
    return float(spread) if np.isfinite(spread) and spread > 1e-12 else None


def _dataset_shift(base: np.ndarray, anchors: np.ndarray, pairs: list[tuple[int, float]],
                   algorithms: list[str], names: list[str]) -> np.ndarray | None:
    """One dataset's per-algorithm shift, on the scale of its base-fidelity normalisation
    (its best base score 1, the 10th percentile of its grid 0)."""
    spread = base_spread(base, anchors)
    if spread is None:
        return None
    columns = np.array([j for j, _ in pairs])
    larger = np.array([s for _, s in pairs], dtype=float)
    # a disastrous score (an R² of -1e6) would swamp every other move: clip to the scale
    moved = np.clip((larger - base[columns]) / spread, -1.0, 1.0)
    moved -= np.median(moved)
    labels = np.asarray(algorithms)
    out = np.full(len(names), np.nan)
    for k, name in enumerate(names):
        mine = labels == name
        if mine.any():
            out[k] = float(moved[mine].mean())
    return out
