"""The algorithm space: registry, configurations, Optuna integration, pipelines, TorchMLP."""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from automl_meta import space
from automl_meta.data import load_dataset
from automl_meta.errors import ConfigurationError, DeviceError
from automl_meta.space.torch_mlp import TorchMLPClassifier, TorchMLPRegressor

TASKS = ("classification", "regression")
REQUIRED = {"linear", "knn", "svm", "random_forest", "extra_trees", "hist_gb", "mlp"}


def _pairs() -> list[tuple[str, str]]:
    return [(task, name) for task in TASKS for name in space.algorithms(task)]


# --------------------------------------------------------------------------- registry


@pytest.mark.parametrize("task", TASKS)
def test_every_task_lists_the_seven_algorithms(task: str) -> None:
    names = space.algorithms(task)
    assert len(names) >= 7
    assert set(names) >= REQUIRED
    assert len(set(names)) == len(names)


def test_unknown_task_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="classification"):
        space.algorithms("clustering")


@pytest.mark.parametrize(("task", "name"), _pairs())
def test_default_config_is_valid_and_json_stable(task: str, name: str) -> None:
    config = space.default_config(name, task)
    assert config["algorithm"] == name
    assert space.validate_config(config, task) == config
    decoded = json.loads(json.dumps(config))
    assert decoded == config
    assert space.config_hash(decoded) == space.config_hash(config)
    # the default does not share mutable state with the registry
    config["params"]["__mutated__"] = 1
    assert "__mutated__" not in space.default_config(name, task)["params"]


# --------------------------------------------------------------------------- hashing


@pytest.mark.parametrize("task", TASKS)
def test_sampled_configs_round_trip_through_json(task: str) -> None:
    configs = space.sample_configs(task, 5, seed=3)
    assert len(configs) == len({space.config_hash(c) for c in configs})
    for config in configs:
        text = json.dumps(config)
        decoded = json.loads(text)
        assert decoded == config
        assert space.config_hash(decoded) == space.config_hash(config)
        assert space.validate_config(decoded, task) == space.validate_config(config, task)


def test_hash_ignores_key_order_and_int_float_spelling() -> None:
    a = {"algorithm": "svm", "params": {"C": 1, "gamma_mode": "scale", "class_weight": None}}
    b = {"params": {"class_weight": None, "gamma_mode": "scale", "C": 1.0}, "algorithm": "svm"}
    assert space.config_hash(a) == space.config_hash(b)
    knn_int = {"algorithm": "knn", "params": {"n_neighbors": 5, "weights": "uniform", "p": 2}}
    knn_float = {"algorithm": "knn", "params": {"p": 2.0, "n_neighbors": 5.0,
                                                "weights": "uniform"}}
    assert space.config_hash(knn_int) == space.config_hash(knn_float)


def test_hash_separates_different_configs() -> None:
    base = space.default_config("knn", "classification")
    other = {"algorithm": "knn", "params": {**base["params"], "n_neighbors": 6}}
    assert space.config_hash(base) != space.config_hash(other)
    renamed = {"algorithm": "svm", "params": base["params"]}
    assert space.config_hash(base) != space.config_hash(renamed)
    digest = space.config_hash(base)
    assert len(digest) == 16 and int(digest, 16) >= 0


# --------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("task", TASKS)
def test_sample_configs_is_reproducible_and_seed_dependent(task: str) -> None:
    first = space.sample_configs(task, 4, seed=11)
    again = space.sample_configs(task, 4, seed=11)
    other = space.sample_configs(task, 4, seed=12)
    assert first == again
    assert [space.config_hash(c) for c in first] != [space.config_hash(c) for c in other]
    names = space.algorithms(task)
    # each algorithm: its default first, then the random ones
    assert len(first) == len(names) * 5
    for name in names:
        mine = [c for c in first if c["algorithm"] == name]
        assert mine[0] == space.default_config(name, task)
        assert len(mine) == 5
    for config in first:
        assert space.validate_config(config, task) == config


def test_sample_configs_without_defaults() -> None:
    configs = space.sample_configs("regression", 2, seed=0, include_defaults=False)
    defaults = {space.config_hash(space.default_config(n, "regression"))
                for n in space.algorithms("regression")}
    assert len(configs) == 2 * len(space.algorithms("regression"))
    assert not defaults & {space.config_hash(c) for c in configs}


def test_conditional_parameter_only_when_active() -> None:
    configs = space.sample_configs("classification", 30, seed=5, include_defaults=False)
    svm = [c for c in configs if c["algorithm"] == "svm"]
    modes = {c["params"]["gamma_mode"] for c in svm}
    assert modes == {"scale", "value"}
    for config in svm:
        assert ("gamma" in config["params"]) == (config["params"]["gamma_mode"] == "value")


# --------------------------------------------------------------------------- optuna


@pytest.mark.parametrize("task", TASKS)
def test_suggest_inside_a_real_optuna_study(task: str) -> None:
    seen: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        config = space.suggest(trial, task)
        assert space.validate_config(config, task) == config
        assert space.trial_params_to_config(trial.params) == config
        seen.append(config)
        return float(len(config["params"]))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=40)
    assert len(study.trials) == 40
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert len({c["algorithm"] for c in seen}) >= 5
    for trial, config in zip(study.trials, seen, strict=True):
        assert space.trial_params_to_config(trial.params) == config
        assert trial.params[space.ALGORITHM_PARAM] == config["algorithm"]
        for key in trial.params:
            assert key == space.ALGORITHM_PARAM or key.startswith(config["algorithm"] + "__")


def test_suggest_restricted_to_a_subset() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    names: set[str] = set()

    def objective(trial: optuna.Trial) -> float:
        names.add(space.suggest(trial, "regression", ["knn", "linear"])["algorithm"])
        return 0.0

    study.optimize(objective, n_trials=12)
    assert names == {"knn", "linear"}
    with pytest.raises(ConfigurationError, match="Did you mean"):
        space.suggest(study.ask(), "regression", ["knnn"])


@pytest.mark.parametrize("task", TASKS)
def test_trial_params_round_trip(task: str) -> None:
    for config in space.sample_configs(task, 3, seed=7):
        params = space.config_to_trial_params(config)
        assert params[space.ALGORITHM_PARAM] == config["algorithm"]
        assert space.trial_params_to_config(params) == config


def test_enqueued_config_is_reproduced_by_suggest() -> None:
    configs = space.sample_configs("classification", 1, seed=2)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for config in configs:
        study.enqueue_trial(space.config_to_trial_params(config))
    produced: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        produced.append(space.suggest(trial, "classification"))
        return 0.0

    study.optimize(objective, n_trials=len(configs))
    assert produced == configs


# --------------------------------------------------------------------------- validation


def test_unknown_algorithm_suggests_the_close_name() -> None:
    with pytest.raises(ConfigurationError, match=r"random_forrest.*Did you mean: 'random_forest'"):
        space.validate_config({"algorithm": "random_forrest", "params": {}}, "classification")


def test_unknown_parameter_is_named() -> None:
    config = {"algorithm": "knn", "params": {"n_neighbours": 3}}
    with pytest.raises(ConfigurationError, match=r"n_neighbours.*Did you mean: 'n_neighbors'"):
        space.validate_config(config, "classification")


@pytest.mark.parametrize(("algorithm", "params"), [
    ("knn", {"n_neighbors": 0}),
    ("knn", {"n_neighbors": 500}),
    ("knn", {"weights": "gaussian"}),
    ("svm", {"C": -1.0}),
    ("svm", {"gamma_mode": "value", "gamma": 5.0}),
    ("random_forest", {"max_features": float("nan")}),
    ("random_forest", {"bootstrap": "yes"}),
    ("hist_gb", {"learning_rate": "fast"}),
    ("mlp", {"n_layers": True}),
])
def test_out_of_range_value_is_a_configuration_error(algorithm: str, params: dict) -> None:
    with pytest.raises(ConfigurationError, match="outside its range"):
        space.validate_config({"algorithm": algorithm, "params": params}, "classification")


def test_malformed_configs_are_configuration_errors() -> None:
    for bad in (None, [], "knn", {"params": {}}):
        with pytest.raises(ConfigurationError, match="algorithm"):
            space.validate_config(bad, "classification")
    # epsilon exists for the SVM regressor only
    with pytest.raises(ConfigurationError, match="epsilon"):
        space.validate_config({"algorithm": "svm", "params": {"epsilon": 0.1}},
                              "classification")


def test_partial_config_is_completed_from_the_default() -> None:
    config = space.validate_config({"algorithm": "svm", "params": {"gamma_mode": "value"}},
                                   "regression")
    default = space.default_config("svm", "regression")["params"]
    assert config["params"]["C"] == default["C"]
    assert config["params"]["gamma_mode"] == "value"
    assert "gamma" in config["params"]
    inactive = space.validate_config(
        {"algorithm": "svm", "params": {"gamma_mode": "scale", "gamma": 0.1}}, "regression")
    assert "gamma" not in inactive["params"]


# --------------------------------------------------------------------------- build


def _messy_frame(n: int, seed: int, classification: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], size=n).astype(object)
    size = rng.normal(size=n)
    weight = rng.normal(size=n)
    signal = size + (colour == "red") * 1.5
    target: Any = (signal > 0.5).astype(int).astype(str) if classification else signal * 10
    colour[::7] = None  # missing category
    size[::5] = np.nan  # missing number
    return pd.DataFrame({"colour": colour, "size": size, "weight": weight, "target": target})


@pytest.mark.parametrize(("task", "name"), _pairs())
def test_build_handles_missing_values_and_unseen_categories(task: str, name: str) -> None:
    classification = task == "classification"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = load_dataset(_messy_frame(120, 0, classification), target="target",
                               task=task)
    assert dataset.categorical == ["colour"]
    assert dataset.X[["colour", "size"]].isna().any().all()
    pipe = space.build(space.default_config(name, task), dataset, random_state=0)
    assert isinstance(pipe, Pipeline)
    assert [step for step, _ in pipe.steps] == ["preprocess", "model"]
    pipe.fit(dataset.X, dataset.y)

    test = _messy_frame(30, 1, classification).drop(columns="target")
    test["colour"] = test["colour"].astype(object)
    test.loc[0:9, "colour"] = "purple"  # never seen while fitting
    test.loc[10:14, "colour"] = None
    test.loc[15:19, "size"] = np.nan
    test["colour"] = test["colour"].astype("category")
    pred = pipe.predict(test)
    assert pred.shape == (30,)
    if classification:
        assert set(pred) <= set(dataset.y.unique())
    else:
        assert np.isfinite(pred).all()


def test_build_rejects_an_invalid_config() -> None:
    dataset = load_dataset("sklearn:iris")
    with pytest.raises(ConfigurationError):
        space.build({"algorithm": "knn", "params": {"n_neighbors": -3}}, dataset)


def test_build_treats_whole_floats_like_ints() -> None:
    # the same hash must mean the same estimator, e.g. for configs read back from JSON
    dataset = load_dataset("sklearn:iris")
    as_int = {"algorithm": "random_forest", "params": {"n_estimators": 60,
                                                       "min_samples_leaf": 2}}
    as_float = {"algorithm": "random_forest", "params": {"n_estimators": 60.0,
                                                         "min_samples_leaf": 2.0}}
    assert space.config_hash(as_int) == space.config_hash(as_float)
    built = [space.build(c, dataset).named_steps["model"] for c in (as_int, as_float)]
    assert built[0].get_params() == built[1].get_params()
    assert isinstance(built[1].min_samples_leaf, int)  # a float would mean a fraction
    fitted = [space.build(c, dataset).fit(dataset.X, dataset.y) for c in (as_int, as_float)]
    np.testing.assert_array_equal(fitted[0].predict_proba(dataset.X),
                                  fitted[1].predict_proba(dataset.X))
    with pytest.raises(ConfigurationError, match="whole number"):
        space.build({"algorithm": "knn", "params": {"n_neighbors": 3.5}}, dataset)


def test_build_passes_the_seed_and_params_to_the_estimator() -> None:
    dataset = load_dataset("sklearn:iris")
    config = {"algorithm": "random_forest", "params": {"n_estimators": 77}}
    model = space.build(config, dataset, random_state=5).named_steps["model"]
    assert model.n_estimators == 77
    assert model.random_state == 5


def test_row_capped_svm_fits_on_at_most_max_rows_and_keeps_every_class() -> None:
    from sklearn.svm import SVC, SVR

    from automl_meta.space._capped import RowCappedClassifier, RowCappedRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = np.where(X[:, 0] > 0, "up", "down").astype(object)
    y[17] = "rare"  # one row only: the cap must not lose the class
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    capped = RowCappedClassifier(SVC(), max_rows=50, random_state=0)
    on_frame = clone(capped).fit(frame, y)
    on_array = clone(capped).fit(X, y)
    assert list(on_frame.classes_) == ["down", "rare", "up"]
    assert on_frame.estimator_.shape_fit_[0] <= 51
    np.testing.assert_array_equal(on_frame.predict(frame), on_array.predict(X))
    np.testing.assert_allclose(on_frame.decision_function(frame),
                               on_array.decision_function(X))
    assert (on_array.predict(X) == y).mean() > 0.8
    # below the cap every row is used
    full = RowCappedClassifier(SVC(), max_rows=1000).fit(X, y)
    assert full.estimator_.shape_fit_[0] == 300
    regressor = RowCappedRegressor(SVR(), max_rows=40).fit(frame, X[:, 0])
    assert regressor.estimator_.shape_fit_[0] == 40
    assert regressor.predict(frame).shape == (300,)


def test_knn_with_more_neighbours_than_training_rows_trains_on_what_there_is() -> None:
    """A kNN configuration from the space (n_neighbors up to 50) on a 24-row dataset, or a
    CV fold of one, uses every row as a neighbour instead of failing at predict time."""
    from automl_meta.evaluation import evaluate

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(24, 3)), columns=["a", "b", "c"])
    labels = pd.Series(np.where(X["a"] > 0, "up", "down"), name="label")
    for task, y in (("classification", labels), ("regression", X["a"] * 2.0)):
        config = {"algorithm": "knn", "params": {"n_neighbors": 31, "weights": "distance",
                                                 "p": 2}}
        data = load_dataset(X.assign(target=y.to_numpy()), target="target", task=task)
        model = space.build(config, data).fit(data.X, data.y)
        assert model[-1].estimator_.n_neighbors == 24  # capped to the rows
        assert model[-1].estimator.n_neighbors == 31  # the configuration is unchanged
        assert len(model.predict(data.X)) == 24
        result = evaluate(config, data, protocol="cv3")
        assert result.status == "ok", result.error
    uniform = {"algorithm": "knn", "params": {"n_neighbors": 40, "weights": "uniform", "p": 1}}
    data = load_dataset(X.assign(target=labels.to_numpy()), target="target")
    model = space.build(uniform, data).fit(data.X, data.y)
    assert model.predict_proba(data.X).shape == (24, 2)
    assert list(model.classes_) == ["down", "up"]


# --------------------------------------------------------------------------- TorchMLP


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    # tiny fits run faster on one thread than on contended cores (OpenMP threads of
    # gradient boosting spin-wait for each other), as in evaluate()'s workers
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)


def _tiny(estimator: Any) -> Any:
    # few, larger steps keep sklearn's estimator checks fast while still learning
    return estimator.set_params(max_epochs=10, hidden_size=32, learning_rate=1e-2,
                                batch_size=128)


@parametrize_with_checks([_tiny(TorchMLPClassifier()), _tiny(TorchMLPRegressor())])
def test_torch_mlp_passes_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    # every check passes: no expected failures are declared
    check(estimator)


@pytest.mark.parametrize("cls", [TorchMLPClassifier, TorchMLPRegressor])
def test_torch_mlp_clone_get_set_params(cls: type) -> None:
    estimator = cls(hidden_size=17, n_layers=1, dropout=0.2, batch_size=32, random_state=3)
    params = estimator.get_params()
    assert params["hidden_size"] == 17 and params["random_state"] == 3
    copy = clone(estimator)
    assert copy is not estimator
    assert copy.get_params() == params
    assert cls(**params).get_params() == params
    copy.set_params(hidden_size=9, device="cpu")
    assert copy.hidden_size == 9 and copy.device == "cpu"
    assert estimator.hidden_size == 17
    with pytest.raises(ValueError):
        copy.set_params(not_a_param=1)


def test_torch_mlp_classifier_fits_and_predicts() -> None:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = TorchMLPClassifier(max_epochs=40, learning_rate=1e-2).fit(X, names)
    assert list(model.classes_) == ["setosa", "versicolor", "virginica"]
    proba = model.predict_proba(X)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert (model.predict(X) == names).mean() > 0.9
    again = TorchMLPClassifier(max_epochs=40, learning_rate=1e-2).fit(X, names)
    np.testing.assert_allclose(again.predict_proba(X), proba, rtol=1e-5, atol=1e-6)


def test_torch_mlp_regressor_fits_and_predicts() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = 100.0 + 30.0 * X[:, 0] - 20.0 * X[:, 1] + rng.normal(scale=1.0, size=300)
    model = TorchMLPRegressor(max_epochs=60, learning_rate=1e-2).fit(X, y)
    assert model.score(X, y) > 0.9
    assert model.predict(X[:5]).shape == (5,)


def test_torch_mlp_cuda_without_cuda_is_a_device_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the error path needs a CPU-only torch")
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(DeviceError, match="cuda"):
        TorchMLPClassifier(device="cuda", max_epochs=1).fit(X, y)
    with pytest.raises(DeviceError, match="unknown"):
        TorchMLPRegressor(device="tpu", max_epochs=1).fit(X, X[:, 0])


def test_torch_mlp_auto_device_uses_the_cpu_here() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available, so 'auto' would pick it")
    X = np.random.default_rng(0).normal(size=(40, 3))
    model = TorchMLPRegressor(max_epochs=2).fit(X, X[:, 0])
    assert model.device == "auto"
    assert model.device_.type == "cpu"
    assert all(p.device.type == "cpu" for p in model.model_.parameters())
