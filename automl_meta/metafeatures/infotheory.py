"""Information-theoretic measures of the discretised matrix ``C`` (pymfe's ``info-theory``).

Computed on ``sample`` (at most ``MAX_ROWS`` rows). Entropies are in bits (log base 2),
as in pymfe; joint entropies and concentration coefficients add pymfe's epsilon (1e-8)
to every cell of the observed contingency table, so that values match it exactly.
``class_ent`` is NaN for regression, while the measures relating attributes to the
target (``mut_inf``, ``joint_ent``, ``class_conc``, ``eq_num_attr``, ``ns_ratio``) use
the quantile-binned target.
"""

from __future__ import annotations

import itertools

import numpy as np

from automl_meta.data import Dataset
from automl_meta.metafeatures._registry import NotApplicable, dependency, measure

EPSILON = 1.0e-8
MAX_CONC_ATTRS = 12


def _entropy(counts: np.ndarray, axis: int = -1) -> np.ndarray:
    """Entropy in bits of count vectors along ``axis`` (zero counts ignored)."""
    probs = counts / counts.sum(axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(probs > 0, probs * np.log2(probs), 0.0)
    return -terms.sum(axis=axis)


def _contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Counts of each (a, b) pair of dense codes: an (levels of a) x (levels of b) table."""
    rows, cols = int(a.max()) + 1, int(b.max()) + 1
    return np.bincount(a * cols + b, minlength=rows * cols).reshape(rows, cols)


def _conc(table: np.ndarray) -> float:
    """pymfe's concentration coefficient of a table with the first variable on the rows."""
    pij = table / table.sum() + EPSILON
    isum = pij.sum(axis=0)
    jsum2 = np.sum(pij.sum(axis=1) ** 2)
    return float((np.sum(pij**2 / isum) - jsum2) / (1.0 - jsum2))


@dependency
def joint_counts(C: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per attribute, the attribute-level x class table, padded: (attrs, levels, classes).

    Also returns the mask of real (observed) levels of each attribute.
    """
    n_rows, n_attr = C.shape
    n_levels = int(C.max()) + 1 if C.size else 1
    n_classes = int(y.max()) + 1
    flat = (np.arange(n_attr) * n_levels)[None, :] + C
    flat = flat * n_classes + y[:, None]
    counts = np.bincount(flat.ravel(), minlength=n_attr * n_levels * n_classes)
    counts = counts.reshape(n_attr, n_levels, n_classes)
    observed = np.arange(n_levels)[None, :] <= (C.max(axis=0)[:, None] if C.size else -1)
    return counts, observed


@dependency
def target_ent(y: np.ndarray) -> float:
    """Entropy of the class codes (of the binned target for regression)."""
    return float(_entropy(np.bincount(y)))


@dependency
def attr_ents(joint_counts: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    counts, _ = joint_counts
    return _entropy(counts.sum(axis=2), axis=1)


@dependency
def joint_ents(joint_counts: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    counts, observed = joint_counts
    probs = counts / counts.sum(axis=(1, 2), keepdims=True) + EPSILON
    terms = np.where(observed[:, :, None], probs * np.log2(probs), 0.0)
    return -terms.sum(axis=(1, 2))


@dependency
def mut_infs(attr_ents: np.ndarray, target_ent: float, joint_ents: np.ndarray) -> np.ndarray:
    return attr_ents + target_ent - joint_ents


@measure("info-theory")
def class_ent(dataset: Dataset, target_ent: float) -> float:
    """Entropy of the class (bits)."""
    if dataset.task != "classification":
        raise NotApplicable("a class measure of a regression task")
    return target_ent


@measure("info-theory", multi=True)
def attr_ent(attr_ents: np.ndarray) -> np.ndarray:
    """Entropy of each discretised attribute (bits)."""
    return attr_ents


@measure("info-theory", multi=True)
def joint_ent(joint_ents: np.ndarray) -> np.ndarray:
    """Joint entropy of each attribute with the class (bits)."""
    return joint_ents


@measure("info-theory", multi=True)
def mut_inf(mut_infs: np.ndarray) -> np.ndarray:
    """Mutual information of each attribute with the class (bits)."""
    return mut_infs


@measure("info-theory")
def eq_num_attr(target_ent: float, mut_infs: np.ndarray) -> float:
    """Attributes needed to explain the class if they were independent."""
    return float(mut_infs.size * target_ent / np.sum(mut_infs))


@measure("info-theory")
def ns_ratio(attr_ents: np.ndarray, mut_infs: np.ndarray) -> float:
    """Noise-to-signal ratio: (attribute entropy - mutual information) / mutual information."""
    total = np.sum(mut_infs)
    return float((np.sum(attr_ents) - total) / total)


@measure("info-theory", multi=True)
def class_conc(joint_counts: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Concentration coefficient of each attribute with the class."""
    counts, observed = joint_counts
    pij = counts / counts.sum(axis=(1, 2), keepdims=True) + EPSILON
    pij = np.where(observed[:, :, None], pij, 0.0)
    isum = pij.sum(axis=1)
    jsum2 = np.sum(pij.sum(axis=2) ** 2, axis=1)
    return (np.sum(pij**2 / isum[:, None, :], axis=(1, 2)) - jsum2) / (1.0 - jsum2)


@measure("info-theory", multi=True)
def attr_conc(C: np.ndarray, random_state: int) -> np.ndarray:
    """Concentration coefficient of each ordered pair of (at most 12 random) attributes."""
    columns = np.arange(C.shape[1])
    if columns.size > MAX_CONC_ATTRS:
        # the same draw as pymfe's np.random.seed(random_state); np.random.choice(...)
        columns = np.random.RandomState(random_state).choice(
            columns, size=MAX_CONC_ATTRS, replace=False
        )
    values = {}
    for a, b in itertools.combinations(columns, 2):
        table = _contingency(C[:, a], C[:, b])
        values[a, b] = _conc(table)
        values[b, a] = _conc(table.T)
    return np.array([values[pair] for pair in itertools.permutations(columns, 2)])
