"""LightGBM, XGBoost and CatBoost in the space: native categoricals, missing values, state
that is plain bytes (so skops can hold it), and the same predictions after a round trip."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from automl_meta import evaluate, load_dataset
from automl_meta.space import (
    REGISTRY,
    boosting,
    build,
    default_config,
    get_algorithm,
    register_boosting,
    sample_configs,
)

BOOSTED = ("lightgbm", "xgboost", "catboost")


@pytest.fixture(autouse=True)
def boosting_registered() -> object:
    """The boosting algorithms registered for the test, and the registry restored after."""
    before = dict(REGISTRY)
    register_boosting()
    yield
    REGISTRY.clear()
    REGISTRY.update(before)
SMALL = {"lightgbm": {"n_estimators": 30, "min_child_samples": 3},
         "xgboost": {"n_estimators": 30}, "catboost": {"iterations": 50}}


def _frame(n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A raw frame: a string categorical that decides the label, a numeric column with
    missing values, and a noisy numeric."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], size=n)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.2] = np.nan
    X = pd.DataFrame({"colour": pd.Categorical(colour), "x": x, "noise": rng.normal(size=n)})
    label = np.where(colour == "red", "yes", "no")
    target = (colour == "blue") * 3.0 + np.nan_to_num(x)
    return X, label, target


@pytest.mark.parametrize("name", BOOSTED)
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_learns_a_string_categorical_with_missing_values(name: str, task: str) -> None:
    X, label, target = _frame()
    y = label if task == "classification" else target
    ds = load_dataset((X, y), task=task, name="raw")
    config = {"algorithm": name, "params": {**default_config(name, task)["params"],
                                            **SMALL[name]}}
    pipe = build(config, ds).fit(ds.X, ds.y)
    predicted = pipe.predict(ds.X)
    if task == "classification":
        assert (predicted == np.asarray(ds.y)).mean() > 0.95
    else:
        assert np.corrcoef(predicted, np.asarray(ds.y, dtype=float))[0, 1] > 0.9
    # the categorical reached the library as categorical: its positions were passed on
    assert pipe.named_steps["model"].categorical_features == [0]


@pytest.mark.parametrize("name", BOOSTED)
def test_state_is_bytes_and_a_copy_predicts_the_same(name: str) -> None:
    X, label, _ = _frame(seed=1)
    X = X.assign(colour=X["colour"].cat.codes.astype(float))
    model = getattr(boosting, {"lightgbm": "LightGBM", "xgboost": "XGBoost",
                               "catboost": "CatBoost"}[name] + "Classifier")(
        SMALL[name], categorical_features=[0]).fit(X.to_numpy(), label)
    state = model.__getstate__()
    assert isinstance(state["model_"], bytes)
    assert "_booster" not in state  # no C handle in what is saved
    twin = copy.deepcopy(model)
    assert twin._booster is None
    np.testing.assert_allclose(twin.predict_proba(X.to_numpy()), model.predict_proba(X.to_numpy()))
    assert model.predict_proba(X.to_numpy()).shape == (len(X), 2)
    assert set(model.predict(X.to_numpy())) <= {"no", "yes"}


def test_an_unseen_category_is_read_as_missing_not_an_error() -> None:
    X, label, _ = _frame(seed=2)
    codes = X["colour"].cat.codes.to_numpy(dtype=float)
    data = np.column_stack([codes, X["x"].to_numpy()])
    for cls in (boosting.LightGBMClassifier, boosting.XGBoostClassifier,
                boosting.CatBoostClassifier):
        name = cls.__name__.removesuffix("Classifier").lower()
        model = cls(SMALL[name], categorical_features=[0]).fit(data, label)
        unseen = data[:5].copy()
        unseen[:, 0] = -1.0  # what the ordinal encoder gives an unseen category
        assert np.isfinite(model.predict_proba(unseen)).all()


def test_a_single_class_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="single class"):
        boosting.LightGBMClassifier({"n_estimators": 5}).fit(np.zeros((10, 1)), ["a"] * 10)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_space_holds_ten_algorithms_with_defaults_inside(task: str) -> None:
    from automl_meta.space import algorithms, validate_config

    names = algorithms(task)
    assert len(names) >= 10 and set(BOOSTED) <= set(names)
    for name in BOOSTED:
        algorithm = get_algorithm(name, task)
        assert algorithm.requires == (name,)
        assert validate_config(default_config(name, task), task)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_adding_algorithms_keeps_the_shipped_grid(task: str) -> None:
    """The shipped meta-db's grid is sample_configs(task, 22, seed=0) of the algorithms it
    had; new algorithms must not reshuffle those samples (their evaluations would orphan)."""
    import json
    from pathlib import Path

    from automl_meta.space import config_hash

    shipped = Path(__file__).resolve().parents[2] / "meta_db"
    grid = pd.read_parquet(shipped / "grid.parquet")
    configs = pd.read_parquet(shipped / "config.parquet").set_index("id")
    ids = grid[grid["name"] == f"{task}:n22:s0"]["config_id"]
    stored = {config_hash({"algorithm": configs.loc[i, "algorithm"],
                           "params": json.loads(configs.loc[i, "params_json"])}) for i in ids}
    sampled = {config_hash(c) for c in sample_configs(task, 22, seed=0)
               if c["algorithm"] not in BOOSTED}
    assert len(stored) > 100 and sampled == stored


def test_evaluate_runs_each_boosted_default_in_a_worker() -> None:
    ds = load_dataset("sklearn:breast_cancer")
    for name in BOOSTED:
        config = {"algorithm": name, "params": {**default_config(name)["params"],
                                                **SMALL[name]}}
        result = evaluate(config, ds)
        assert result.status == "ok", result.error
        assert result.score > 0.9


@pytest.mark.parametrize("name", BOOSTED)
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_fitted_pipeline_saves_and_loads_through_the_safe_skops_path(
        name: str, task: str, tmp_path: pytest.TempPathFactory) -> None:
    import skops.io as sio

    from automl_meta._support.safe_skops import SAVED_MODEL, load_skops
    from automl_meta.evaluation._label_codes import LabelCodedClassifier

    X, label, target = _frame(seed=3)
    ds = load_dataset((X, label if task == "classification" else target), task=task)
    config = {"algorithm": name, "params": {**default_config(name, task)["params"],
                                            **SMALL[name]}}
    model = build(config, ds)
    model = (LabelCodedClassifier(model) if task == "classification" else model).fit(ds.X,
                                                                                     ds.y)
    path = tmp_path / "model.skops"
    sio.dump(model, str(path))
    loaded = load_skops(path, SAVED_MODEL, "Refit it.")
    np.testing.assert_array_equal(loaded.predict(ds.X), model.predict(ds.X))


def test_db_build_grid_of_boosting_algorithms_only(tmp_path: pytest.TempPathFactory) -> None:
    from automl_meta.metadb import BuildSettings, MetaDB
    from automl_meta.metadb import build as build_db

    db = MetaDB(tmp_path / "b.sqlite")
    settings = BuildSettings(configs_per_algorithm=1, algorithms=("lightgbm", "xgboost"),
                             max_rows=150, metafeatures=False)
    totals = build_db(db, ["sklearn:iris"], settings, jobs=1, progress=False)
    assert (totals["ok"], totals["failed"]) == (4, 0)  # a default + 1 random per algorithm
    grid = db.grid("classification:n1:s0:lightgbm+xgboost")
    assert len(grid) == 4


def test_db_build_refuses_an_unknown_algorithm(tmp_path: pytest.TempPathFactory,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    from automl_meta.cli import main

    monkeypatch.setattr(sys, "argv", ["automl-meta", "db", "build", "sklearn:iris", "--db",
                                      str(tmp_path / "b.sqlite"), "--algorithms", "lightgbn"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "Did you mean: 'lightgbm'" in " ".join(stderr.split()) and "Traceback" not in stderr


@pytest.mark.parametrize("cls", [boosting.LightGBMClassifier, boosting.XGBoostClassifier,
                                 boosting.CatBoostClassifier])
def test_changed_model_bytes_are_an_artifact_error(cls: type) -> None:
    from automl_meta.errors import ArtifactError

    name = cls.__name__.removesuffix("Classifier").lower()
    model = cls(SMALL[name]).fit(np.random.default_rng(0).random((40, 2)), [0, 1] * 20)
    model.model_ = b"garbage" * 10
    model._booster = None
    with pytest.raises(ArtifactError, match="cannot be read"):
        model.predict(np.zeros((2, 2)))


def test_no_training_rows_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no rows"):
        boosting.LightGBMRegressor({"n_estimators": 5}).fit(np.zeros((0, 2)), [])


def test_an_unregistered_boosting_algorithm_says_how_to_register_it() -> None:
    from automl_meta.errors import ConfigurationError

    REGISTRY.pop(("classification", "lightgbm"))
    with pytest.raises(ConfigurationError, match="register_boosting"):
        get_algorithm("lightgbm", "classification")
