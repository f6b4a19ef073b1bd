"""Summary functions for multi-valued measures, with pymfe's semantics.

NaN propagates (a measure with one undefined value summarises to NaN, as in pymfe); an
empty measure summarises to NaN (``count`` to 0); ``sd`` and ``var`` are sample
statistics (ddof=1) and NaN for fewer than two values; ``skewness`` and ``kurtosis`` use
pymfe's default "type 3" estimators.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _sd(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if values.size > 1 else np.nan


def _var(values: np.ndarray) -> float:
    return float(np.var(values, ddof=1)) if values.size > 1 else np.nan


def _iq_range(values: np.ndarray) -> float:
    q25, q75 = np.percentile(values, (25, 75))
    return float(q75 - q25)


def central_moments(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, ...]:
    """Mean and the 2nd, 3rd and 4th central moments (biased) along ``axis``."""
    mean = values.mean(axis=axis, keepdims=True)
    centred = values - mean
    squared = centred * centred
    return (
        np.squeeze(mean, axis=axis),
        squared.mean(axis=axis),
        (squared * centred).mean(axis=axis),
        (squared * squared).mean(axis=axis),
    )


def skewness_from_moments(n: int, moments: tuple[np.ndarray, ...]) -> np.ndarray:
    """pymfe's skewness (scipy's biased g1 times ((n-1)/n)^1.5), NaN for constants."""
    mean, m2, m3, _ = moments
    constant = m2 <= (np.finfo(float).resolution * mean) ** 2  # scipy's test
    with np.errstate(all="ignore"):
        g1 = np.where(constant, np.nan, m3 / m2**1.5)
    return g1 * ((n - 1.0) / n) ** 1.5


def kurtosis_from_moments(n: int, moments: tuple[np.ndarray, ...]) -> np.ndarray:
    """pymfe's kurtosis (scipy's biased excess g2, "type 3"), NaN for constants."""
    mean, m2, _, m4 = moments
    constant = m2 <= (np.finfo(float).resolution * mean) ** 2
    with np.errstate(all="ignore"):
        g2 = np.where(constant, np.nan, m4 / m2**2 - 3.0)
    return (g2 + 3.0) * (1.0 - 1.0 / n) ** 2 - 3.0


SUMMARIES: dict[str, Callable[[np.ndarray], float]] = {
    "mean": lambda v: float(np.mean(v)),
    "sd": _sd,
    "var": _var,
    "min": lambda v: float(np.min(v)),
    "max": lambda v: float(np.max(v)),
    "median": lambda v: float(np.median(v)),
    "range": lambda v: float(np.ptp(v)),
    "iq_range": _iq_range,
    "skewness": lambda v: float(skewness_from_moments(v.size, central_moments(v))),
    "kurtosis": lambda v: float(kurtosis_from_moments(v.size, central_moments(v))),
    "sum": lambda v: float(np.sum(v)),
    "count": lambda v: float(v.size),
}


def summarise(values: np.ndarray, summary: tuple[str, ...]) -> list[float]:
    """Apply each summary function of ``summary`` to a 1-D float array."""
    results = []
    for name in summary:
        if values.size == 0:
            results.append(0.0 if name == "count" else np.nan)
            continue
        try:
            results.append(SUMMARIES[name](values))
        except (ValueError, FloatingPointError, ZeroDivisionError):
            results.append(np.nan)
    return results
