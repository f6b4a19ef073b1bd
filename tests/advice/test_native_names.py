"""warm_start / MetaSampler with ``algorithm=``: one algorithm's recommendations under its
library's own parameter names, for a user's own objective."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import optuna
import pytest

from automl_meta.advice import MetaSampler, recommend, warm_start
from automl_meta.advice._native import native_params
from automl_meta.errors import AutoMLMetaWarning, ConfigurationError
from automl_meta.space import BOOSTING, REGISTRY
from automl_meta.space._capped import _Wrapper
from tests.advice._knowledge import LIGHTGBM, lightgbm_store, tiny_dataset

lightgbm = pytest.importorskip("lightgbm")



@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lightgbm_store(tmp_path_factory.mktemp("native") / "store.sqlite")


@pytest.fixture(autouse=True)
def only_this_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Only the tiny store counts, and the space is restored (boosting registers on demand;
    left registered it would widen the encodings of the shipped learners of later tests)."""
    monkeypatch.setenv("AUTOML_META_SHIPPED", str(tmp_path / "no-shipped-bundle"))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    saved = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(saved)


def _expected(store: Path, n: int) -> list[dict[str, Any]]:
    recs = recommend(tiny_dataset(9), k=1000, db=store)
    return [native_params(r.config, LIGHTGBM) for r in recs if r.algorithm == "lightgbm"][:n]


def _lightgbm_objective(received: list[dict[str, Any]]) -> Any:
    data = tiny_dataset(9)

    def objective(trial: optuna.Trial) -> float:
        params = {
            "n_estimators": trial.suggest_int("n_estimators", 16, 1024, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.005, 0.5, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, 256, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 2, 128, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "subsample_freq": trial.suggest_int("subsample_freq", 0, 1),
        }
        received.append(params)
        model = lightgbm.LGBMClassifier(**params, n_jobs=1, verbose=-1).fit(data.X, data.y)
        return float(model.score(data.X, data.y))

    return objective


def test_warm_start_enqueues_native_names_and_types(store: Path) -> None:
    study = optuna.create_study(direction="maximize")
    recs = warm_start(study, tiny_dataset(9), n=3, db=store, algorithm="lightgbm")

    enqueued = [t.system_attrs["fixed_params"] for t in study.get_trials(deepcopy=False)]
    assert enqueued == _expected(store, 3) == [r.details["native_params"] for r in recs]
    assert [r.algorithm for r in recs] == ["lightgbm"] * 3 and [r.rank for r in recs] == [1, 2, 3]
    keywords = set(inspect.signature(lightgbm.LGBMClassifier).parameters)
    for params, rec in zip(enqueued, recs, strict=True):
        assert "algorithm" not in params and set(params) <= keywords
        assert all(type(params[k]) is int for k in ("n_estimators", "num_leaves",
                                                    "min_child_samples"))
        assert type(params["learning_rate"]) is float
        # the recommended configuration, translated: same values, bagging switched on
        assert {k: v for k, v in params.items() if k != "subsample_freq"} == rec.params
        assert ("subsample_freq" in params) == (rec.params["subsample"] < 1.0)
    assert ("classification", "lightgbm") in REGISTRY  # registered on demand


def test_a_real_lightgbm_objective_receives_them(store: Path) -> None:
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    warm_start(study, tiny_dataset(9), n=3, db=store, algorithm="lightgbm")
    received: list[dict[str, Any]] = []
    study.optimize(_lightgbm_objective(received), n_trials=3)

    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    for got, expected in zip(received, _expected(store, 3), strict=True):
        assert got == {k: expected.get(k, got[k]) for k in got}
        assert type(got["num_leaves"]) is int
    assert [t.params for t in study.trials] == received


def test_meta_sampler_proposes_native_names_then_falls_back(store: Path) -> None:
    sampler = MetaSampler(tiny_dataset(9), n_startup=2, db=store, algorithm="lightgbm",
                          seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    received: list[dict[str, Any]] = []
    study.optimize(_lightgbm_objective(received), n_trials=4)

    for got, expected in zip(received[:2], _expected(store, 2), strict=True):
        assert got == {k: expected.get(k, got[k]) for k in got}
    assert 16 <= received[3]["n_estimators"] <= 1024  # the objective's own distributions
    assert all("algorithm" not in t.params for t in study.trials)


def test_no_known_configuration_falls_back_on_the_default_with_a_warning(store: Path) -> None:
    study = optuna.create_study(direction="maximize")
    with pytest.warns(AutoMLMetaWarning, match="automl-meta db build --algorithms xgboost"):
        recs = warm_start(study, tiny_dataset(9), n=5, db=store, algorithm="xgboost")
    xgboost = next(a for a in BOOSTING if a.name == "xgboost")
    assert [r.params for r in recs] == [xgboost.default]
    assert study.trials[0].system_attrs["fixed_params"] == xgboost.default
    with pytest.warns(AutoMLMetaWarning, match="catboost"):
        sampler = MetaSampler(tiny_dataset(9), n_startup=3, db=store, algorithm="catboost")
    assert sampler._proposals[0]["iterations"] == 300


def test_unknown_algorithm_and_sequential_strategy_are_refused(store: Path) -> None:
    study = optuna.create_study()
    with pytest.raises(ConfigurationError, match="Did you mean: 'lightgbm'"):
        warm_start(study, tiny_dataset(9), db=store, algorithm="lightgmb")
    with pytest.raises(ConfigurationError, match="neural"):
        MetaSampler(tiny_dataset(9), db=store, algorithm="lightgbm", strategy="neural")


def test_native_names_are_the_estimators_own_keywords() -> None:
    """Every algorithm's default, translated, is what its factory's estimator holds."""
    for (task, name), algorithm in sorted(REGISTRY.items()):
        if name == "mlp" or algorithm in BOOSTING:
            continue  # our own TorchMLP: its names are the space's (no torch import here);
            # the boosting wrappers pass theirs through (below)
        native = native_params({"algorithm": name, "params": algorithm.default}, algorithm)
        estimator = algorithm.factory(algorithm.default, 0)
        inner = estimator.estimator if isinstance(estimator, _Wrapper) else estimator
        held = inner.get_params()
        assert {k: held[k] for k in native} == native, (task, name)
    svm = REGISTRY[("regression", "svm")]
    value = {"algorithm": "svm", "params": {"C": 3, "gamma_mode": "value", "gamma": 0.01,
                                            "epsilon": 0.2}}
    assert native_params(value, svm) == {"C": 3.0, "epsilon": 0.2, "gamma": 0.01}
    for algorithm in BOOSTING:
        library = algorithm.factory(algorithm.default, 0)
        native = native_params({"algorithm": algorithm.name, "params": algorithm.default},
                               algorithm)
        assert native == library.params, algorithm.name  # the wrapper passes them through
        assert set(native) <= _library_keywords(algorithm.name), algorithm.name


def _library_keywords(name: str) -> set[str]:
    module = pytest.importorskip(name)
    cls = {"lightgbm": lambda: module.LGBMModel, "xgboost": lambda: module.XGBModel,
           "catboost": lambda: module.CatBoostClassifier}[name]()
    return set(inspect.signature(cls.__init__).parameters)
