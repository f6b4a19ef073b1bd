"""Statistical measures of the numeric matrix ``N`` (pymfe's ``statistical`` group).

Computed on ``sample`` (at most ``MAX_ROWS`` rows); the O(d^2)/O(d^3) measures (``cor``,
``cov``, ``eigenvalues``, ``nr_cor_attr``, the canonical-correlation family and
``sd_ratio``) use at most ``MAX_FEATURES`` randomly chosen columns. Target-aware measures
(``can_cor``, ``gravity``, ``sd_ratio``, ``w_lambda``...) use the class codes, or the
quantile-binned target for regression.

Differences from pymfe, on purpose:

- ``can_cor`` is the exact set of canonical correlations between ``N`` and the one-hot
  target (from whitened covariance matrices), where pymfe runs scikit-learn's iterative
  CCA; values agree to its convergence tolerance.
- ``sd_ratio`` is Box's M statistic as published. pymfe 0.4 flips the per-class
  covariance matrices against the class weights (and flips their rows, which changes
  the sign of the determinant for some dimensions, giving NaN).
"""

from __future__ import annotations

import numpy as np
import scipy.stats

from automl_meta.metafeatures._registry import NotApplicable, dependency, measure
from automl_meta.metafeatures._shared import cap_columns
from automl_meta.metafeatures._summary import (
    central_moments,
    kurtosis_from_moments,
    skewness_from_moments,
)

MAD_FACTOR = 1.4826
TRIM = 0.2
OUTLIER_WHISKER = 1.5
COR_THRESHOLD = 0.5
NORMALITY_ALPHA = 0.05


def _quantile_sorted(sorted_values: np.ndarray, q: float) -> np.ndarray:
    """Column quantile of an already sorted matrix, numpy's "linear" method exactly."""
    index = (sorted_values.shape[0] - 1) * q
    low = int(np.floor(index))
    high = min(low + 1, sorted_values.shape[0] - 1)
    gamma = index - low
    a, b = sorted_values[low], sorted_values[high]
    diff = b - a
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


@dependency
def N_sorted(N: np.ndarray) -> np.ndarray:
    return np.sort(N, axis=0)


@dependency
def moments(N: np.ndarray) -> tuple[np.ndarray, ...]:
    return central_moments(N, axis=0)


@dependency
def N_capped(N: np.ndarray, random_state: int) -> np.ndarray:
    """``N`` with at most MAX_FEATURES columns, for the quadratic/cubic measures."""
    return cap_columns(N, random_state)


@dependency
def cov_mat(N_capped: np.ndarray) -> np.ndarray:
    return np.atleast_2d(np.cov(N_capped, rowvar=False, ddof=1))


@dependency
def abs_corr_mat(cov_mat: np.ndarray) -> np.ndarray:
    """Absolute correlations, computed from the covariances the way np.corrcoef does."""
    stddev = np.sqrt(np.diag(cov_mat))
    corr = cov_mat / stddev[:, None]
    corr = corr / stddev[None, :]
    return np.abs(np.clip(corr, -1, 1))


def _whitener(cov: np.ndarray) -> np.ndarray:
    """W with W' cov W = I on the non-degenerate subspace (columns scaled to unit sd)."""
    sd = np.sqrt(np.diag(cov))
    keep = sd > 0
    corr = cov[np.ix_(keep, keep)] / np.outer(sd[keep], sd[keep])
    values, vectors = np.linalg.eigh(corr)
    rank = values > values.max() * 1e-12 if values.size else values > 0
    whitener = np.zeros((cov.shape[0], int(rank.sum())))
    whitener[keep] = vectors[:, rank] / np.sqrt(values[rank]) / sd[keep][:, None]
    return whitener


@dependency
def can_cors(N_capped: np.ndarray, y: np.ndarray, cov_mat: np.ndarray) -> np.ndarray:
    """Canonical correlations between ``N`` and the one-hot target, largest first."""
    onehot = (y[:, None] == np.arange(int(y.max()) + 1)[None, :]).astype(float)
    if onehot.shape[1] < 2 or N_capped.shape[1] == 0:
        return np.empty(0)
    centred = N_capped - N_capped.mean(axis=0)
    cross = centred.T @ (onehot - onehot.mean(axis=0)) / (len(y) - 1)
    cov_y = np.cov(onehot, rowvar=False, ddof=1)
    core = _whitener(cov_mat).T @ cross @ _whitener(cov_y)
    if core.size == 0:
        return np.empty(0)
    return np.clip(np.linalg.svd(core, compute_uv=False), 0.0, 1.0)


@dependency
def can_cor_eigvals(can_cors: np.ndarray) -> np.ndarray:
    squared = np.square(can_cors)
    return squared / (1 - squared)


@measure("statistical", multi=True)
def mean(moments: tuple[np.ndarray, ...]) -> np.ndarray:
    return moments[0]


@measure("statistical", multi=True)
def sd(N: np.ndarray) -> np.ndarray:
    return N.std(axis=0, ddof=1)


@measure("statistical", multi=True)
def var(N: np.ndarray) -> np.ndarray:
    return N.var(axis=0, ddof=1)


@measure("statistical", multi=True, name="min")
def min_(N_sorted: np.ndarray) -> np.ndarray:
    return N_sorted[0]


@measure("statistical", multi=True, name="max")
def max_(N_sorted: np.ndarray) -> np.ndarray:
    return N_sorted[-1]


@measure("statistical", multi=True, name="range")
def range_(N_sorted: np.ndarray) -> np.ndarray:
    return N_sorted[-1] - N_sorted[0]


@measure("statistical", multi=True)
def median(N_sorted: np.ndarray) -> np.ndarray:
    return _quantile_sorted(N_sorted, 0.5)


@measure("statistical", multi=True)
def iq_range(N_sorted: np.ndarray) -> np.ndarray:
    return _quantile_sorted(N_sorted, 0.75) - _quantile_sorted(N_sorted, 0.25)


@measure("statistical", multi=True)
def t_mean(N_sorted: np.ndarray) -> np.ndarray:
    """Mean without the lowest and highest 20% of each column."""
    cut = int(TRIM * N_sorted.shape[0])
    return N_sorted[cut : N_sorted.shape[0] - cut].mean(axis=0)


@measure("statistical", multi=True)
def mad(N: np.ndarray, N_sorted: np.ndarray) -> np.ndarray:
    """Median absolute deviation, scaled to estimate the sd of a normal (x 1.4826)."""
    deviations = np.abs(N - _quantile_sorted(N_sorted, 0.5))
    return np.median(deviations, axis=0) / (1.0 / MAD_FACTOR)


@measure("statistical")
def nr_outliers(N_sorted: np.ndarray) -> int:
    """Attributes with a value beyond the 1.5 IQR whiskers of a box plot."""
    q1, q3 = _quantile_sorted(N_sorted, 0.25), _quantile_sorted(N_sorted, 0.75)
    whisker = OUTLIER_WHISKER * (q3 - q1)
    return int(np.sum((q1 - whisker > N_sorted[0]) | (q3 + whisker < N_sorted[-1])))


@measure("statistical", multi=True)
def skewness(N: np.ndarray, moments: tuple[np.ndarray, ...]) -> np.ndarray:
    return skewness_from_moments(N.shape[0], moments)


@measure("statistical", multi=True)
def kurtosis(N: np.ndarray, moments: tuple[np.ndarray, ...]) -> np.ndarray:
    return kurtosis_from_moments(N.shape[0], moments)


@measure("statistical", multi=True)
def g_mean(N: np.ndarray, N_sorted: np.ndarray) -> np.ndarray:
    """Geometric mean; 0 for columns with a 0 minimum, NaN with negative values."""
    low = N_sorted[0]
    invalid = low < 0.0
    valid = low >= 1e-10
    result = np.zeros(N.shape[1])
    result[valid] = np.exp(np.mean(np.log(N[:, valid]), axis=0))
    result[invalid] = np.nan
    return result


@measure("statistical", multi=True)
def h_mean(N: np.ndarray, N_sorted: np.ndarray) -> np.ndarray:
    """Harmonic mean; NaN for columns with negative values."""
    result = 1.0 / np.mean(1.0 / N, axis=0)
    return np.where(N_sorted[0] < 0, np.nan, result)


@measure("statistical", multi=True)
def sparsity(num_block: np.ndarray, cat_codes: np.ndarray) -> np.ndarray:
    """(rows / distinct values - 1) / (rows - 1) of each attribute."""
    values = np.sort(np.hstack([num_block, cat_codes.astype(float)]), axis=0)
    distinct = 1 + np.count_nonzero(np.diff(values, axis=0), axis=0)
    n_rows = values.shape[0]
    return (n_rows / distinct - 1.0) / (n_rows - 1.0)


@measure("statistical")
def nr_norm(N: np.ndarray) -> float:
    """Attributes a Shapiro-Wilk test does not reject as normal (at 5%)."""
    p_values = [scipy.stats.shapiro(column)[1] for column in N.T]
    return float(np.sum(np.asarray(p_values) > NORMALITY_ALPHA))


@measure("statistical", multi=True)
def cov(cov_mat: np.ndarray) -> np.ndarray:
    """Absolute covariance of each pair of attributes."""
    return np.abs(cov_mat[np.tril_indices(cov_mat.shape[0], k=-1)])


@measure("statistical", multi=True)
def cor(abs_corr_mat: np.ndarray) -> np.ndarray:
    """Absolute correlation of each pair of attributes."""
    return abs_corr_mat[np.tril_indices(abs_corr_mat.shape[0], k=-1)]


@measure("statistical")
def nr_cor_attr(abs_corr_mat: np.ndarray) -> float:
    """Share of attribute pairs with an absolute correlation of 0.5 or more."""
    n_attr = abs_corr_mat.shape[0]
    if n_attr < 2:
        raise NotApplicable("fewer than two attributes")
    pairs = abs_corr_mat[np.tril_indices(n_attr, k=-1)]
    return float(np.sum(pairs >= COR_THRESHOLD) * 2.0 / (n_attr * (n_attr - 1.0)))


@measure("statistical", multi=True)
def eigenvalues(cov_mat: np.ndarray) -> np.ndarray:
    return np.linalg.eigvalsh(cov_mat)


@measure("statistical")
def gravity(N: np.ndarray, class_freqs: np.ndarray, class_index: list) -> float:
    """Distance between the centres of the majority and the minority class."""
    if class_freqs.size < 2:
        raise NotApplicable("a single class")
    majority = int(np.argmax(class_freqs))
    others = np.delete(np.arange(class_freqs.size), majority)
    minority = int(others[np.argmin(class_freqs[others])])
    centre = N[class_index[majority]].mean(axis=0) - N[class_index[minority]].mean(axis=0)
    return float(np.linalg.norm(centre, ord=2))


@measure("statistical", multi=True)
def can_cor(can_cors: np.ndarray) -> np.ndarray:
    return can_cors


@measure("statistical")
def nr_disc(can_cors: np.ndarray) -> int:
    """Number of canonical discriminant functions."""
    return int(can_cors.size)


@measure("statistical")
def w_lambda(can_cor_eigvals: np.ndarray) -> float:
    """Wilks' lambda."""
    if can_cor_eigvals.size == 0:
        raise NotApplicable("no canonical correlation")
    return float(np.exp(-np.sum(np.log1p(can_cor_eigvals))))


@measure("statistical")
def p_trace(can_cors: np.ndarray) -> float:
    """Pillai's trace."""
    if can_cors.size == 0:
        raise NotApplicable("no canonical correlation")
    return float(np.sum(np.square(can_cors)))


@measure("statistical")
def lh_trace(can_cor_eigvals: np.ndarray) -> float:
    """Lawley-Hotelling trace."""
    if can_cor_eigvals.size == 0:
        raise NotApplicable("no canonical correlation")
    return float(np.sum(can_cor_eigvals))


@measure("statistical")
def roy_root(can_cor_eigvals: np.ndarray) -> float:
    """Roy's largest root."""
    if can_cor_eigvals.size == 0:
        raise NotApplicable("no canonical correlation")
    return float(np.max(can_cor_eigvals))


@measure("statistical")
def sd_ratio(N_capped: np.ndarray, class_freqs: np.ndarray, class_index: list) -> float:
    """Homogeneity of the class covariance matrices (Box's M, as a ratio)."""
    n_rows, n_attr = N_capped.shape
    n_classes = class_freqs.size
    if n_classes < 2:
        raise NotApplicable("a single class")
    weights = class_freqs - 1.0
    covs = [np.atleast_2d(np.cov(N_capped[rows], rowvar=False, ddof=1)) for rows in class_index]
    pooled = sum(w * c for w, c in zip(weights, covs, strict=True)) / (n_rows - n_classes)
    gamma = 1.0 - (
        (2.0 * n_attr**2 + 3.0 * n_attr - 1.0) / (6.0 * (n_attr + 1.0) * (n_classes - 1.0))
    ) * (np.sum(1.0 / weights) - 1.0 / (n_rows - n_classes))
    logdets = np.array([_logdet(c) for c in covs])
    m_factor = gamma * ((n_rows - n_classes) * _logdet(pooled) - np.dot(weights, logdets))
    if not np.isfinite(m_factor):
        return np.nan
    return float(np.exp(m_factor / (n_attr * (n_rows - n_classes))))


def _logdet(matrix: np.ndarray) -> float:
    sign, logdet = np.linalg.slogdet(matrix)
    return float(logdet) if sign > 0 else -np.inf
