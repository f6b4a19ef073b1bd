"""Dependencies shared across groups: row samples, encoded matrices, target codes.

Encodings follow pymfe's defaults so that same-named measures agree with it:

- ``N``, the numeric matrix: numeric columns (missing values imputed with the column
  median) followed by the categorical columns (missing values imputed with the mode) in
  pymfe's default ``gray`` model-matrix coding: the first categorical column gets one
  indicator per level, every further one drops its first level (levels sorted as text).
- ``C``, the discretised matrix: categorical codes followed by the numeric columns cut
  into ``int(n ** (1 / 3))`` equal-frequency bins (pymfe's ``transform_num``).
- ``y``, the target codes: class indices in sorted label order; for regression the
  target cut into :data:`REGRESSION_BINS` equal-frequency (quantile) bins.

Rows: ``sample`` holds at most :data:`MAX_ROWS` rows and ``model_sample`` at most
:data:`MAX_MODEL_ROWS` (both from :meth:`Dataset.subsample`, stratified by class), so
large datasets cost about the same as medium ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from automl_meta.data import Dataset
from automl_meta.metafeatures._registry import dependency

#: Row cap of the statistical and info-theory groups.
MAX_ROWS = 5000
#: Row cap of the landmarking and model-based groups: they fit a tree and 10-fold models,
#: the bulk of the time (at 5,000 rows a 100-column dataset takes 3 s instead of 1 s).
MAX_MODEL_ROWS = 2000
#: Feature cap of the O(d^2) / O(d^3) measures (correlations, covariances, eigenvalues,
#: canonical correlations, sd_ratio, linear_discr); beyond it a random subset is used.
MAX_FEATURES = 250
#: Equal-frequency bins of a regression target for target-aware measures.
REGRESSION_BINS = 5


def dense_codes(codes: np.ndarray) -> np.ndarray:
    """Renumber each column of a non-negative integer matrix to 0..levels-1 (order kept)."""
    n_rows, n_cols = codes.shape
    if n_cols == 0 or n_rows == 0:
        return codes.astype(np.int64)
    width = int(codes.max()) + 1
    flat = codes + np.arange(n_cols) * width
    present = np.bincount(flat.ravel(), minlength=n_cols * width).reshape(n_cols, width) > 0
    remap = np.cumsum(present, axis=1) - 1
    return remap[np.arange(n_cols), codes]


def equal_frequency_codes(values: np.ndarray, bins: int, tol: float = 1e-8) -> np.ndarray:
    """Cut each column into ``bins`` equal-frequency bins as pymfe does (dense codes)."""
    n_rows, n_cols = values.shape
    if n_cols == 0:
        return np.zeros((n_rows, 0), dtype=np.int64)
    edges = np.quantile(values, np.linspace(0, 1, bins + 1)[1:], axis=0)
    codes = np.empty((n_rows, n_cols), dtype=np.int64)
    for j in range(n_cols):
        column_edges = edges[:, j]
        # pymfe drops edges closer than tol to the previous one, then digitizes (right=True)
        column_edges = np.unique(column_edges[np.append(True, np.diff(column_edges) > tol)])
        codes[:, j] = np.searchsorted(column_edges, values[:, j], side="left")
    return dense_codes(codes)


def numeric_block(data: Dataset) -> np.ndarray:
    """The numeric columns as floats, missing values imputed with the column median."""
    block = data.X[data.numeric].to_numpy(dtype=float, na_value=np.nan)
    if block.size and np.isnan(block).any():
        missing = np.isnan(block)
        medians = np.nanmedian(np.where(missing.all(axis=0), 0.0, block), axis=0)
        block = np.where(missing, medians, block)
    return block


def categorical_codes(data: Dataset) -> np.ndarray:
    """Categorical columns as dense level codes (levels sorted as text), mode-imputed."""
    columns = []
    for name in data.categorical:
        series = data.X[name]
        if not isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype("category")
        categories = [str(c) for c in series.cat.categories]
        rank = np.empty(len(categories), dtype=np.int64)
        rank[np.argsort(categories, kind="stable")] = np.arange(len(categories))
        raw = series.cat.codes.to_numpy()
        codes = np.where(raw >= 0, rank[np.maximum(raw, 0)] if len(rank) else 0, -1)
        present = codes[codes >= 0]
        mode = int(np.argmax(np.bincount(present))) if present.size else 0
        columns.append(np.where(codes >= 0, codes, mode))
    if not columns:
        return np.zeros((data.n_rows, 0), dtype=np.int64)
    return dense_codes(np.column_stack(columns))


def gray_coding(codes: np.ndarray) -> np.ndarray:
    """pymfe's default categorical coding (patsy ``~ 0 + C0 + C1 + ...``) as floats."""
    blocks = []
    for j in range(codes.shape[1]):
        levels = int(codes[:, j].max()) + 1
        indicators = codes[:, j, None] == np.arange(levels)[None, :]
        blocks.append(indicators if j == 0 else indicators[:, 1:])
    if not blocks:
        return np.zeros((codes.shape[0], 0))
    return np.hstack(blocks).astype(float)


def target_codes(data: Dataset) -> np.ndarray:
    """Class indices in sorted label order, or quantile-bin indices for regression."""
    values = data.y.to_numpy()
    if data.task == "regression":
        bins = equal_frequency_codes(values.astype(float)[:, None], REGRESSION_BINS)
        return bins[:, 0]
    if not pd.api.types.is_numeric_dtype(data.y.dtype) or pd.api.types.is_bool_dtype(
        data.y.dtype
    ):
        values = values.astype(str)
    return np.unique(values, return_inverse=True)[1].astype(np.int64).ravel()


def cap_columns(matrix: np.ndarray, random_state: int) -> np.ndarray:
    """``matrix`` with at most MAX_FEATURES of its columns (a random subset, kept in order)."""
    if matrix.shape[1] <= MAX_FEATURES:
        return matrix
    rng = np.random.RandomState(random_state)
    return matrix[:, np.sort(rng.choice(matrix.shape[1], MAX_FEATURES, replace=False))]


def numeric_matrix(block: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``N``: numeric block then the gray-coded categoricals."""
    return np.hstack([block, gray_coding(codes)])


@dependency
def sample(dataset: Dataset, random_state: int) -> Dataset:
    """At most MAX_ROWS rows, stratified by class."""
    return dataset.subsample(MAX_ROWS, random_state)


@dependency
def model_sample(dataset: Dataset, random_state: int, sample: Dataset) -> Dataset:
    """At most MAX_MODEL_ROWS rows, stratified by class (``sample`` itself when it fits)."""
    if sample.n_rows <= MAX_MODEL_ROWS:
        return sample
    return dataset.subsample(MAX_MODEL_ROWS, random_state)


@dependency
def num_block(sample: Dataset) -> np.ndarray:
    return numeric_block(sample)


@dependency
def cat_codes(sample: Dataset) -> np.ndarray:
    return categorical_codes(sample)


@dependency
def N(num_block: np.ndarray, cat_codes: np.ndarray) -> np.ndarray:
    return numeric_matrix(num_block, cat_codes)


@dependency
def C(num_block: np.ndarray, cat_codes: np.ndarray) -> np.ndarray:
    bins = int(num_block.shape[0] ** (1 / 3))  # pymfe's expression, rounding included
    return np.hstack([cat_codes, equal_frequency_codes(num_block, bins)])


@dependency
def y(sample: Dataset) -> np.ndarray:
    return target_codes(sample)


@dependency
def class_freqs(y: np.ndarray) -> np.ndarray:
    return np.bincount(y)


@dependency
def class_index(y: np.ndarray) -> list[np.ndarray]:
    """Row indices of each class (or target bin) in ``sample``."""
    order = np.argsort(y, kind="stable")
    return np.split(order, np.cumsum(np.bincount(y))[:-1])


@dependency
def model_N(
    model_sample: Dataset, sample: Dataset, N: np.ndarray
) -> np.ndarray:
    if model_sample is sample:
        return N
    return numeric_matrix(numeric_block(model_sample), categorical_codes(model_sample))


@dependency
def model_y(model_sample: Dataset, sample: Dataset, y: np.ndarray) -> np.ndarray:
    return y if model_sample is sample else target_codes(model_sample)
