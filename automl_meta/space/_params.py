"""Declarative hyperparameters: one description serves Optuna, sampling and encoding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its distribution and, optionally, when it is active.

    ``condition=("kernel", "rbf")`` makes the parameter exist only in configurations whose
    ``kernel`` is ``"rbf"``, which is how conditional spaces are written.

    Example:
        >>> gamma = Param("gamma", FloatDistribution(1e-4, 1.0, log=True),
        ...               condition=("kernel", "rbf"))
        >>> gamma.active({"kernel": "rbf"}), gamma.active({"kernel": "linear"})
        (True, False)
    """

    name: str
    distribution: BaseDistribution
    condition: tuple[str, Any] | None = None

    def active(self, params: dict[str, Any]) -> bool:
        if self.condition is None:
            return True
        parent, value = self.condition
        return params.get(parent) == value


def log_float(name: str, low: float, high: float, **kw: Any) -> Param:
    """A float searched on a log scale in ``[low, high]`` (``condition=`` as for Param).

    Example:
        >>> log_float("C", 1e-2, 1e3).distribution.log
        True
    """
    return Param(name, FloatDistribution(low, high, log=True), **kw)


def uniform(name: str, low: float, high: float, **kw: Any) -> Param:
    """A float searched uniformly in ``[low, high]``.

    Example:
        >>> uniform("dropout", 0.0, 0.5).distribution.high
        0.5
    """
    return Param(name, FloatDistribution(low, high), **kw)


def int_range(name: str, low: int, high: int, log: bool = False, **kw: Any) -> Param:
    """An integer in ``[low, high]`` (on a log scale with ``log``).

    Example:
        >>> int_range("n_layers", 1, 3).distribution.low
        1
    """
    return Param(name, IntDistribution(low, high, log=log), **kw)


def choice(name: str, options: list[Any], **kw: Any) -> Param:
    """One of ``options`` (JSON values: str, int, float, bool or None).

    Example:
        >>> choice("weights", ["uniform", "distance"]).distribution.choices
        ('uniform', 'distance')
    """
    return Param(name, CategoricalDistribution(options), **kw)


def suggest_value(trial: Any, name: str, distribution: BaseDistribution) -> Any:
    """Ask an Optuna trial for one value of ``distribution`` under ``name``."""
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(name, distribution.low, distribution.high,
                                   log=distribution.log)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high, log=distribution.log)
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, list(distribution.choices))
    raise TypeError(f"unsupported distribution {distribution!r}")
