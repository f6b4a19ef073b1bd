"""Every algorithm of the space meets the ``Algorithm`` contract: a new algorithm is tested
by being registered. The boosting algorithms (not in the default registry, see
``automl_meta.space.BOOSTING``) are checked too when their packages import."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from automl_meta.space import BOOSTING, REGISTRY, Algorithm, register
from tests.contracts.checks import (
    check_algorithm_declaration,
    check_fit_predict,
    check_sampled_configs_build,
    check_save_and_safe_load,
    fitted_model,
    tiny_dataset,
)

# smaller than the defaults (within each space), so every fit takes a fraction of a second
FAST_PARAMS: dict[str, dict[str, Any]] = {
    "random_forest": {"n_estimators": 50}, "extra_trees": {"n_estimators": 50},
    "hist_gb": {"max_iter": 50}, "lightgbm": {"n_estimators": 16},
    "xgboost": {"n_estimators": 16}, "catboost": {"iterations": 50},
}
ALGORITHMS = [pytest.param(a, id=f"{a.task}-{a.name}") for a in REGISTRY.values()] + [
    pytest.param(a, id=f"{a.task}-{a.name}", marks=pytest.mark.skipif(
        any(importlib.util.find_spec(p) is None for p in a.requires),
        reason=f"needs {', '.join(a.requires)}"))
    for a in BOOSTING]


@pytest.fixture
def algorithm(request: pytest.FixtureRequest) -> Iterator[Algorithm]:
    """The algorithm under test, registered for the test (the registry restored after)."""
    chosen: Algorithm = request.param
    before = dict(REGISTRY)
    register(chosen)
    yield chosen
    REGISTRY.clear()
    REGISTRY.update(before)


@pytest.fixture(scope="module")
def datasets() -> dict[str, Any]:
    return {task: tiny_dataset(task) for task in ("classification", "regression")}


def test_both_tasks_of_every_default_algorithm_are_registered() -> None:
    names = {task: {n for t, n in REGISTRY if t == task}
             for task in ("classification", "regression")}
    assert names["classification"] == names["regression"]
    assert {"linear", "knn", "random_forest", "hist_gb", "mlp"} <= names["classification"]


@pytest.mark.parametrize("algorithm", ALGORITHMS, indirect=True)
def test_declaration_is_valid(algorithm: Algorithm) -> None:
    check_algorithm_declaration(algorithm)


@pytest.mark.parametrize("algorithm", ALGORITHMS, indirect=True)
def test_sampled_configurations_build(algorithm: Algorithm, datasets: dict[str, Any]) -> None:
    check_sampled_configs_build(algorithm, datasets[algorithm.task])


# a torch network's first training in a process takes many seconds: slow
FITTED = [pytest.param(*p.values, id=p.id, marks=(*p.marks, pytest.mark.slow))
          if "torch" in p.values[0].preload else p for p in ALGORITHMS]


@pytest.mark.parametrize("algorithm", FITTED, indirect=True)
def test_fits_predicts_saves_and_loads_safely(algorithm: Algorithm, datasets: dict[str, Any],
                                              tmp_path: Path) -> None:
    dataset = datasets[algorithm.task]
    model = fitted_model(algorithm, dataset, FAST_PARAMS.get(algorithm.name))
    check_fit_predict(model, dataset)
    check_save_and_safe_load(algorithm, model, dataset, tmp_path)
