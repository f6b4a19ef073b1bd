"""Fixtures of the evaluation tests: three datasets, and a temporary algorithm."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from automl_meta.data import load_dataset
from automl_meta.space._algorithms import REGISTRY


@pytest.fixture(scope="module")
def cancer() -> Any:
    return load_dataset("sklearn:breast_cancer")


@pytest.fixture(scope="module")
def wine() -> Any:
    return load_dataset("sklearn:wine")


@pytest.fixture(scope="module")
def diabetes() -> Any:
    return load_dataset("sklearn:diabetes")


@pytest.fixture
def inject(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Register a temporary classification algorithm building ``estimator_class()``."""

    def register(name: str, estimator_class: type) -> dict[str, Any]:
        template = REGISTRY[("classification", "knn")]
        algorithm = dataclasses.replace(template, name=name, params=(), default={},
                                        factory=lambda params, seed: estimator_class())
        monkeypatch.setitem(REGISTRY, ("classification", name), algorithm)
        return {"algorithm": name, "params": {}}

    return register
