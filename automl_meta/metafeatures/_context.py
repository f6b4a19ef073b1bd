"""The per-extraction lazy cache of dependencies, with the time each one took."""

from __future__ import annotations

from time import perf_counter
from typing import Any

from automl_meta.data import Dataset
from automl_meta.metafeatures._registry import (
    DEPENDENCIES,
    ROOT_DEPENDENCIES,
    Measure,
    NotApplicable,
)


class DependencyFailed(Exception):
    """A shared dependency raised: every measure needing it is NaN, reported once."""

    def __init__(self, name: str, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.name = name
        self.error = error


class Context:
    """Computes each dependency at most once for one extraction call and remembers its cost.

    The cache lives on the instance, never globally, so two extractions share nothing.
    """

    def __init__(self, dataset: Dataset, random_state: int) -> None:
        self._values: dict[str, Any] = {"dataset": dataset, "random_state": random_state}
        self._errors: dict[str, BaseException] = {}
        self._seconds: dict[str, float] = dict.fromkeys(ROOT_DEPENDENCIES, 0.0)
        self._closures: dict[str, frozenset[str]] = {}

    def get(self, name: str) -> Any:
        """The value of dependency ``name``, computing it (and what it needs) on first use."""
        if name in self._values:
            return self._values[name]
        if name in self._errors:
            raise self._errors[name]
        dep = DEPENDENCIES[name]
        try:
            kwargs = {arg: self.get(arg) for arg in dep.deps}
            start = perf_counter()
            try:
                value = dep.func(**kwargs)
            finally:
                self._seconds[name] = perf_counter() - start
        except (NotApplicable, DependencyFailed) as exc:
            self._errors[name] = exc
            raise
        except Exception as exc:  # isolate the failure to the measures that need it
            failure = DependencyFailed(name, exc)
            self._errors[name] = failure
            raise failure from exc
        self._values[name] = value
        return value

    def run(self, item: Measure) -> tuple[Any, float]:
        """Compute a measure; return its raw value and its cost in seconds.

        The cost is the measure's own time plus the time of every dependency it needs,
        directly or not (what it would cost alone), so shared work is counted in each
        measure that uses it.
        """
        kwargs = {arg: self.get(arg) for arg in item.deps}
        start = perf_counter()
        value = item.func(**kwargs)
        own = perf_counter() - start
        return value, own + self.cost(item.deps)

    def cost(self, names: tuple[str, ...]) -> float:
        """Seconds spent on ``names`` and all they depend on, each counted once."""
        closure: set[str] = set()
        for name in names:
            closure |= self._closure(name)
        return float(sum(self._seconds.get(name, 0.0) for name in closure))

    def _closure(self, name: str) -> frozenset[str]:
        if name not in self._closures:
            deps = DEPENDENCIES[name].deps if name in DEPENDENCIES else ()
            members = {name}
            for dep in deps:
                members |= self._closure(dep)
            self._closures[name] = frozenset(members)
        return self._closures[name]
