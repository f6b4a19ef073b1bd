"""General measures: simple counts and ratios of the whole dataset (never subsampled).

Same names and definitions as pymfe's ``general`` group, plus four missing-value measures
pymfe lacks (``nr_missing``, ``freq_missing``, ``freq_inst_missing``,
``nr_attr_missing``). Class measures (``nr_class``, ``freq_class``) are NaN for
regression.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from automl_meta.data import Dataset
from automl_meta.metafeatures._registry import NotApplicable, dependency, measure

BINARY_PROBE = 1000


def _classification_only(dataset: Dataset) -> None:
    if dataset.task != "classification":
        raise NotApplicable("a class measure of a regression task")


@dependency
def missing_mask(dataset: Dataset) -> np.ndarray:
    """Which cells of the full ``X`` are missing."""
    return dataset.X.isna().to_numpy()


@measure("general")
def nr_inst(dataset: Dataset) -> int:
    return dataset.n_rows


@measure("general")
def nr_attr(dataset: Dataset) -> int:
    return dataset.n_features


@measure("general")
def nr_num(dataset: Dataset) -> int:
    return len(dataset.numeric)


@measure("general")
def nr_cat(dataset: Dataset) -> int:
    return len(dataset.categorical)


@measure("general")
def nr_bin(dataset: Dataset) -> int:
    """Attributes with exactly two distinct (non-missing) values."""
    return sum(_is_binary(dataset.X[name]) for name in dataset.X.columns)


def _is_binary(series: pd.Series) -> bool:
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        return int(np.count_nonzero(np.bincount(codes[codes >= 0]))) == 2
    values = series.to_numpy(dtype=float, na_value=np.nan)
    head = values[:BINARY_PROBE]
    if np.unique(head[~np.isnan(head)]).size > 2:  # cheap early exit for most columns
        return False
    low, high = np.fmin.reduce(values), np.fmax.reduce(values)
    if not low < high:
        return False
    hits = np.count_nonzero(values == low) + np.count_nonzero(values == high)
    return hits + int(np.count_nonzero(np.isnan(values))) == values.size


@measure("general")
def nr_class(dataset: Dataset) -> int:
    _classification_only(dataset)
    return dataset.n_classes


@measure("general", multi=True)
def freq_class(dataset: Dataset) -> np.ndarray:
    """Share of the rows in each class."""
    _classification_only(dataset)
    counts = dataset.y.value_counts(sort=False).to_numpy()
    return counts[counts > 0] / dataset.n_rows


@measure("general")
def attr_to_inst(dataset: Dataset) -> float:
    return dataset.n_features / dataset.n_rows


@measure("general")
def inst_to_attr(dataset: Dataset) -> float:
    return dataset.n_rows / dataset.n_features


@measure("general")
def cat_to_num(dataset: Dataset) -> float:
    if not dataset.numeric:
        raise NotApplicable("no numeric attribute")
    return len(dataset.categorical) / len(dataset.numeric)


@measure("general")
def num_to_cat(dataset: Dataset) -> float:
    if not dataset.categorical:
        raise NotApplicable("no categorical attribute")
    return len(dataset.numeric) / len(dataset.categorical)


@measure("general")
def nr_missing(missing_mask: np.ndarray) -> int:
    """Missing cells."""
    return int(missing_mask.sum())


@measure("general")
def freq_missing(missing_mask: np.ndarray) -> float:
    """Share of the cells that are missing."""
    return float(missing_mask.mean())


@measure("general")
def freq_inst_missing(missing_mask: np.ndarray) -> float:
    """Share of the rows with at least one missing value."""
    return float(missing_mask.any(axis=1).mean())


@measure("general")
def nr_attr_missing(missing_mask: np.ndarray) -> int:
    """Attributes with at least one missing value."""
    return int(missing_mask.any(axis=0).sum())
