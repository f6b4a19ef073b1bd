"""The registries of measures and of the shared dependencies they are computed from.

A *measure* is one named meta-feature before summarising (``cor``, ``nr_inst``...). A
*dependency* is something several measures need (the numeric matrix, the discretised
matrix, the CV folds, a fitted tree...): it is computed at most once per extraction call
and shared. Both are plain functions registered by a decorator; their parameters are the
names of the dependencies they need, so the registry knows the graph without a second
declaration.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

GROUPS = ("general", "statistical", "info-theory", "landmarking", "model-based")

#: Dependencies supplied by the extraction call itself rather than computed.
ROOT_DEPENDENCIES = ("dataset", "random_state")


class NotApplicable(Exception):
    """Raised by a measure or a dependency that does not apply to this dataset.

    The measure is then NaN without a warning (e.g. class entropy of a regression task).
    """


@dataclass(frozen=True)
class Measure:
    """A registered measure: its name, group, function and the dependencies it takes.

    ``multi`` measures return one value per attribute, class, fold... and are summarised
    (``cor.mean``, ``cor.sd``); the others return one number and keep their bare name.
    """

    name: str
    group: str
    func: Callable[..., Any]
    deps: tuple[str, ...]
    multi: bool


@dataclass(frozen=True)
class Dependency:
    """A registered shared intermediate result and the dependencies it is built from."""

    name: str
    func: Callable[..., Any]
    deps: tuple[str, ...]


MEASURES: dict[str, Measure] = {}
DEPENDENCIES: dict[str, Dependency] = {}


def _parameters(func: Callable[..., Any]) -> tuple[str, ...]:
    return tuple(inspect.signature(func).parameters)


def measure(group: str, *, multi: bool = False, name: str | None = None) -> Callable:
    """Register the decorated function as measure ``name`` (default: its own name).

    The function's parameters name the dependencies it receives.
    """
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}")

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        key = name or func.__name__
        if key in MEASURES:
            raise ValueError(f"measure {key!r} registered twice")
        MEASURES[key] = Measure(key, group, func, _parameters(func), multi)
        return func

    return register


def dependency(func: Callable[..., Any]) -> Callable[..., Any]:
    """Register the decorated function as a shared dependency named like the function."""
    key = func.__name__
    if key in DEPENDENCIES or key in ROOT_DEPENDENCIES:
        raise ValueError(f"dependency {key!r} registered twice")
    DEPENDENCIES[key] = Dependency(key, func, _parameters(func))
    return func


def measures_of(groups: tuple[str, ...]) -> list[Measure]:
    """The registered measures of ``groups``, in group order then name order."""
    order = {group: index for index, group in enumerate(GROUPS)}
    chosen = [m for m in MEASURES.values() if m.group in groups]
    return sorted(chosen, key=lambda m: (order[m.group], m.name))
