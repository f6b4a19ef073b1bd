"""Categories a saved model never saw in training: predicted as unknown, with one warning
per predict call naming the columns and how many rows (for Python users and the CLI)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from automl_meta.automl import load_model, save_result
from automl_meta.errors import AutoMLMetaWarning
from automl_meta.space._pipeline import unseen_categories
from tests._support._skops_gadgets import _main
from tests.automl._helpers import one_model_result

COLOURS = ["red", "blue", "green"]
CITIES = ["Oslo", "Lima", "Pune", "Kyiv"]


def _train(rows: int = 80) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=rows), "colour": rng.choice(COLOURS, rows),
                      "city": rng.choice(CITIES, rows), "b": rng.normal(size=rows)})
    return X, pd.Series(np.where(X["a"] + (X["colour"] == "red") > 0.5, "yes", "no"))


def _config(algorithm: str) -> dict[str, Any]:
    from automl_meta.space import default_config

    config = default_config(algorithm, "classification")
    if algorithm == "hist_gb":
        config["params"]["max_iter"] = 50  # the fewest allowed: the encoder is under test
    return config


def _saved(directory: Path, algorithm: str = "linear", ensemble: bool = False) -> Path:
    from automl_meta import load_dataset
    from automl_meta.automl._ensemble import WeightedEnsemble
    from automl_meta.space import build

    X, y = _train()
    dataset = load_dataset((X, y.rename("label")), task="classification")
    config = _config(algorithm)
    model = build(config, dataset).fit(dataset.X, dataset.y)
    if ensemble:
        other = build(_config("hist_gb"), dataset)
        model = WeightedEnsemble([model, other.fit(dataset.X, dataset.y)], [0.5, 0.5],
                                 "classification")
    result = one_model_result(model, config, dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_result(result, directory)
    return directory


def _new_rows() -> pd.DataFrame:
    X, _ = _train()
    rows = X.head(6).copy()
    rows.loc[[0, 2, 4], "colour"] = ["teal", "teal", "mauve"]
    rows.loc[5, "city"] = "Quito"
    rows.loc[1, "city"] = np.nan  # missing, not new: not counted
    return rows


def _unseen_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, AutoMLMetaWarning)
            and "not seen in training" in str(w.message)]


@pytest.mark.parametrize("algorithm", ["linear", "hist_gb"])  # one-hot and ordinal encoders
def test_unseen_categories_warn_once_naming_columns_and_rows(tmp_path: Path,
                                                             algorithm: str) -> None:
    saved = load_model(_saved(tmp_path / "model", algorithm))
    rows = _new_rows()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predictions = saved.predict(rows)
    assert len(predictions) == len(rows)  # every row still predicted
    messages = _unseen_warnings(caught)
    assert len(messages) == 1, messages
    assert messages[0].startswith("2 columns had categories not seen in training: "
                                  "colour (3 rows, e.g. 'teal', 'mauve'); "
                                  "city (1 row, e.g. 'Quito'); they were encoded as unknown")


def test_predict_proba_and_the_prediction_frame_warn_once_too(tmp_path: Path) -> None:
    saved = load_model(_saved(tmp_path / "model"))
    for call in (saved.predict_proba, lambda r: saved.prediction_frame(r, proba=True),
                 saved.prediction_frame):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call(_new_rows())
        assert len(_unseen_warnings(caught)) == 1


def test_known_categories_and_missing_values_do_not_warn(tmp_path: Path) -> None:
    saved = load_model(_saved(tmp_path / "model"))
    rows = _train()[0].head(6)
    rows.loc[1, "city"] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        saved.predict(rows)
    assert _unseen_warnings(caught) == []


def test_an_ensemble_counts_each_column_once(tmp_path: Path) -> None:
    saved = load_model(_saved(tmp_path / "model", ensemble=True))
    assert unseen_categories(saved.model, saved.features_of(_new_rows())) == {
        "colour": (3, ["teal", "mauve"]), "city": (1, ["Quito"])}


def test_cli_predict_prints_the_warning_as_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = _saved(tmp_path / "model")
    rows = tmp_path / "rows.csv"
    _new_rows().to_csv(rows, index=False)
    code, stderr = _main(monkeypatch, capsys, "predict", str(root), str(rows),
                         "--out", str(tmp_path / "out.csv"))
    assert code == 0, stderr
    # one warning (rich wraps a long line to the terminal's width)
    assert stderr.count("warning:") == 1 and stderr.count("not seen in training") == 1
    text = " ".join(stderr.split())
    assert "warning: 2 columns had categories not seen in training: colour (3 rows" in text
    assert "city (1 row, e.g. 'Quito')" in text
    assert len(pd.read_csv(tmp_path / "out.csv")) == 6
