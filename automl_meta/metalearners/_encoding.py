"""Numeric encodings of configurations and meta-features for learned meta-models."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from automl_meta.space import BOOSTING, algorithms, get_algorithm

# algorithms registered after the shipped learners were trained: a learner saved without
# its list of algorithms was fitted on the others
_ADDED_LATER = frozenset(a.name for a in BOOSTING)


def fitted_algorithms(info: dict[str, Any], task: str) -> list[str]:
    """The algorithms a learner's ``task`` was fitted on (its encoding's width), from its
    saved ``info`` (``"algorithms"``), or those of the space it was trained in."""
    names = info.get("algorithms")
    if names is None:
        names = [a for a in algorithms(task) if a not in _ADDED_LATER]
    return list(names)


def config_feature_names(task: str, names: list[str] | None = None) -> list[str]:
    """Names of the columns :func:`encode_configs` produces for ``task`` (over the
    algorithms ``names``, default every registered one)."""
    names = algorithms(task) if names is None else list(names)
    columns = [f"algo={a}" for a in names]
    for name in names:
        for param in get_algorithm(name, task).params:
            dist = param.distribution
            if isinstance(dist, CategoricalDistribution):
                columns += [f"{name}.{param.name}={choice}" for choice in dist.choices]
            else:
                columns.append(f"{name}.{param.name}")
    return columns


def encode_configs(configs: list[dict[str, Any]], task: str,
                   names: list[str] | None = None) -> np.ndarray:
    """One row per configuration: algorithm one-hot, numeric params scaled to [0, 1]
    (log scale where the space is logarithmic), categoricals one-hot; inactive -> -1.

    ``names`` are the algorithms encoded (default every registered one): a learner passes
    those it was fitted on, so registering another algorithm later does not change its
    input width. A configuration of an algorithm outside them is all inactive."""
    names = algorithms(task) if names is None else list(names)
    columns = config_feature_names(task, names)
    position = {n: i for i, n in enumerate(columns)}
    out = np.full((len(configs), len(columns)), -1.0, dtype=np.float32)
    out[:, [position[f"algo={a}"] for a in names]] = 0.0
    for row, config in enumerate(configs):
        name = config["algorithm"]
        if name not in names:
            continue
        out[row, position[f"algo={name}"]] = 1.0
        params = config.get("params", {})
        for param in get_algorithm(name, task).params:
            dist = param.distribution
            value = params.get(param.name)
            if isinstance(dist, CategoricalDistribution):
                for choice in dist.choices:
                    out[row, position[f"{name}.{param.name}={choice}"]] = float(
                        param.name in params and value == choice)
            elif value is not None:
                out[row, position[f"{name}.{param.name}"]] = _scaled(value, dist)
    return out


def _scaled(value: float, dist: FloatDistribution | IntDistribution) -> float:
    low, high, v = float(dist.low), float(dist.high), float(value)
    if dist.log:
        low, high, v = math.log(low), math.log(high), math.log(max(v, dist.low))
    return float(np.clip((v - low) / (high - low), 0.0, 1.0)) if high > low else 0.0


class FeatureScaler:
    """Robust scaling of meta-features: log-compress heavy tails, median/IQR, impute 0.

    Fitted on the meta-database's datasets and stored as plain JSON with the learner.
    """

    def __init__(self, columns: list[str] | None = None,
                 center: list[float] | None = None, scale: list[float] | None = None) -> None:
        self.columns = columns or []
        self.center = np.asarray(center or [], dtype=float)
        self.scale = np.asarray(scale or [], dtype=float)

    def fit(self, frame: pd.DataFrame) -> FeatureScaler:
        values = _compress(frame.to_numpy(dtype=float))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            spread = np.nanstd(values, axis=0) if len(values) else np.zeros(values.shape[1])
        usable = (np.isfinite(values).mean(axis=0) >= 0.5) & (spread > 0)
        self.columns = [c for c, u in zip(frame.columns, usable, strict=True) if u]
        kept = values[:, usable]
        if kept.shape[0] == 0 or kept.shape[1] == 0:
            self.center, self.scale = np.zeros(kept.shape[1]), np.ones(kept.shape[1])
            return self
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            self.center = np.nanmedian(kept, axis=0)
            q75, q25 = np.nanpercentile(kept, [75, 25], axis=0)
            fallback = np.nanstd(kept, axis=0)
        spread = q75 - q25
        self.scale = np.where(spread > 1e-12, spread, np.where(fallback > 0, fallback, 1.0))
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return self.transform_values(frame.reindex(columns=self.columns).to_numpy(dtype=float))

    def transform_mapping(self, mapping: Any) -> np.ndarray:
        """Scale one dataset's meta-features given as a mapping (no pandas on this path:
        it is what a recommendation request pays)."""
        get = mapping.get
        row = np.array([[_as_float(get(c)) for c in self.columns]], dtype=float)
        return self.transform_values(row)

    def transform_values(self, values: np.ndarray) -> np.ndarray:
        values = _compress(values)
        scaled = (values - self.center) / self.scale
        scaled = np.clip(scaled, -10.0, 10.0)
        return np.where(np.isfinite(scaled), scaled, 0.0)

    def to_json(self) -> dict[str, Any]:
        return {"columns": self.columns, "center": self.center.tolist(),
                "scale": self.scale.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureScaler:
        return cls(data["columns"], data["center"], data["scale"])


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _compress(values: np.ndarray) -> np.ndarray:
    values = np.where(np.isfinite(values), values, np.nan)
    return np.sign(values) * np.log1p(np.abs(values))
