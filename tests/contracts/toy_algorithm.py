"""A toy algorithm for both tasks: scikit-learn's dummy estimators, in one module.

Everything a new algorithm writes is here; adding it to the space is one more line per
task, ``register(TOY_CLASSIFIER)`` / ``register(TOY_REGRESSOR)``.
"""

from __future__ import annotations

from typing import Any

from automl_meta.space import Algorithm, choice


def _classifier(params: dict[str, Any], random_state: int) -> Any:
    from sklearn.dummy import DummyClassifier

    return DummyClassifier(strategy=params["strategy"], random_state=random_state)


def _regressor(params: dict[str, Any], random_state: int) -> Any:
    from sklearn.dummy import DummyRegressor

    return DummyRegressor(strategy=params["strategy"])


TOY_CLASSIFIER = Algorithm(
    "toy_dummy", "classification", _classifier,
    (choice("strategy", ["prior", "most_frequent", "stratified", "uniform"]),),
    {"strategy": "prior"}, description="a constant guess (toy)",
    saved_types=("sklearn.dummy.DummyClassifier",))
TOY_REGRESSOR = Algorithm(
    "toy_dummy", "regression", _regressor, (choice("strategy", ["mean", "median"]),),
    {"strategy": "mean"}, description="a constant guess (toy)",
    saved_types=("sklearn.dummy.DummyRegressor",))
