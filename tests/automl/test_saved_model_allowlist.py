"""The saved-model allowlist matches what our saving produces: every algorithm of the
space, and the ensemble, saves within it and loads back.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from automl_meta._support.safe_skops import SAVED_MODEL, load_skops
from tests._support._skops_gadgets import _names


def _frame(task: str, labels: tuple[Any, ...] | None, columns: list[str]) -> Any:
    from automl_meta.data._load import _from_xy

    rng = np.random.default_rng(0)
    n = 40
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                      "c": rng.choice(["x", "y", "z"], n)})
    X.loc[3, "a"] = np.nan
    y = (pd.Series([labels[i % len(labels)] for i in range(n)]) if labels is not None
         else pd.Series(rng.normal(size=n)))
    return _from_xy(X[columns], y, task, "tiny")


def _check_every_algorithm(task: str, labels: tuple[Any, ...] | None, columns: list[str],
                           tmp_path: Path) -> None:
    from automl_meta.automl._ensemble import WeightedEnsemble
    from automl_meta.evaluation._engine import _learning_label_codes
    from automl_meta.space import REGISTRY, build, default_config

    dataset = _frame(task, labels, columns)
    models = {}
    for algorithm_task, name in REGISTRY:
        if algorithm_task != task or name == "mlp":  # a torch network: skops cannot hold it
            continue
        model = build(default_config(name, task), dataset)
        model = _learning_label_codes(model) if task == "classification" else model
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            models[name] = model.fit(dataset.X, dataset.y)
    members = list(models.values())[:2]
    models["ensemble"] = WeightedEnsemble(members, [0.6, 0.4], task)
    for name, model in models.items():
        path = tmp_path / f"{task}.{name}.skops"
        sio.dump(model, str(path))
        schema = json.loads(zipfile.ZipFile(path).read("schema.json"))
        named = _names(schema)
        outside = named - SAVED_MODEL.classes - SAVED_MODEL.functions
        assert not outside, (f"{task} {name} saves names outside SAVED_MODEL (another "
                             f"scikit-learn version?): {sorted(outside)}")
        assert set(sio.get_untrusted_types(file=str(path))) <= \
            SAVED_MODEL.classes | SAVED_MODEL.functions
        loaded = load_skops(path, SAVED_MODEL, "")
        assert np.array_equal(np.asarray(loaded.predict(dataset.X)),
                              np.asarray(model.predict(dataset.X))), name


@pytest.mark.parametrize(("task", "labels"), [("classification", ("p", "q", "r")),
                                              ("regression", None)])
def test_every_algorithm_saves_within_the_allowlist_and_loads_back(
        task: str, labels: tuple[Any, ...] | None, tmp_path: Path) -> None:
    _check_every_algorithm(task, labels, ["a", "b", "c"], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(("task", "labels", "columns"), [
    ("classification", (0, 1), ["a", "b", "c"]),
    ("classification", (True, False), ["a", "b"]),
    ("classification", (1.5, 2.5, 3.5), ["c"]),
    ("regression", None, ["a", "b"]),
    ("regression", None, ["c"]),
])
def test_every_algorithm_within_the_allowlist_for_other_labels_and_columns(
        task: str, labels: tuple[Any, ...] | None, columns: list[str], tmp_path: Path) -> None:
    _check_every_algorithm(task, labels, columns, tmp_path)
