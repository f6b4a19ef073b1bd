"""What loading makes of the values: the target, rows and features dropped, column
types, the task inferred, the warnings."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from automl_meta import AutoMLMetaWarning, load_dataset
from automl_meta.errors import DatasetError
from tests.data._helpers import _frame, _messages, _write


def test_target_not_found_lists_close_matches() -> None:
    frame = _frame().rename(columns={"target": "Target_col"})
    with pytest.raises(DatasetError, match=r"'target_col' not found.*Did you mean: 'Target_col'"):
        load_dataset(frame, target="target_col")


def test_no_target_given_and_no_default_name() -> None:
    frame = _frame().rename(columns={"target": "outcome"})
    with pytest.raises(DatasetError, match=r"No target column given.*Pass target="):
        load_dataset(frame)


def test_target_missing_in_every_row() -> None:
    frame = _frame()
    frame["target"] = np.nan
    with pytest.raises(DatasetError, match="missing in every row"):
        load_dataset(frame)


def test_rows_with_missing_target_are_dropped_with_a_count(tmp_path: Path) -> None:
    lines = [f"{i % 5},{i % 3},{'' if i in (3, 8, 21) else i % 2}" for i in range(30)]
    path = _write(tmp_path / "holes.csv", "a,b,target\n" + "\n".join(lines) + "\n")
    with pytest.warns(AutoMLMetaWarning, match=r"Dropped 3 of 30 rows .*target 'target'"):
        ds = load_dataset(path, task="classification")
    assert ds.n_rows == 27
    assert ds.y.notna().all()
    assert ds.X["a"].tolist() == [i % 5 for i in range(30) if i not in (3, 8, 21)]


def test_blank_text_labels_count_as_missing() -> None:
    frame = _frame()
    frame.loc[[0, 1], "target"] = ["", "  "]
    with pytest.warns(AutoMLMetaWarning, match="Dropped 2 of 40 rows"):
        ds = load_dataset(frame, task="classification")
    assert set(ds.y) == {"yes", "no"}


def test_single_class() -> None:
    frame = _frame()
    frame["target"] = "yes"
    with pytest.raises(DatasetError, match=r"single class \('yes'\).*at least two classes"):
        load_dataset(frame, task="classification")


@pytest.mark.parametrize("n_rows", [1, 5, 9])
def test_too_few_rows(n_rows: int) -> None:
    frame = _frame(n_rows)
    frame["target"] = ["yes", "no"] * (n_rows // 2) + ["yes"] * (n_rows % 2)
    with pytest.raises(DatasetError, match=rf"only {n_rows} usable row.*at least 10"):
        load_dataset(frame, task="classification")


def test_all_features_constant() -> None:
    frame = pd.DataFrame({"a": [1.0] * 30, "b": ["x"] * 30, "target": [0, 1] * 15})
    with pytest.raises(DatasetError, match="no usable feature.*constant"):
        load_dataset(frame, task="classification")


def test_no_feature_left_after_dropping_ids_and_empty_columns() -> None:
    frame = pd.DataFrame({"row": range(30), "empty": [np.nan] * 30, "target": [0, 1] * 15})
    with (
        pytest.warns(AutoMLMetaWarning, match="'row'.*row ID"),
        pytest.warns(AutoMLMetaWarning, match="'empty'.*missing in every row"),
        pytest.raises(DatasetError, match="no usable feature"),
    ):
        load_dataset(frame, task="classification")


def test_only_target_column() -> None:
    with pytest.raises(DatasetError, match="no feature columns besides the target"):
        load_dataset(pd.DataFrame({"target": [0, 1] * 15}))


@pytest.mark.parametrize(
    "columns", [["a", "a", "target"], ["a", "target", "target"], [1, "1", "target"]],
    ids=["feature", "target", "int-and-text"],
)
def test_duplicate_column_names_in_dataframe(columns: list[Any]) -> None:
    values = np.column_stack([np.arange(30) % 3, np.arange(30) % 5, np.arange(30) % 2])
    frame = pd.DataFrame(values, columns=columns)
    with pytest.raises(DatasetError, match="duplicate column names"):
        load_dataset(frame, task="classification")


def test_infinite_feature_values_become_missing() -> None:
    frame = _frame()
    frame.loc[[2, 7], "num"] = [np.inf, -np.inf]
    with pytest.warns(AutoMLMetaWarning, match=r"'num'.*2 infinite values.*missing"):
        ds = load_dataset(frame, task="classification")
    assert ds.X["num"].isna().sum() == 2
    assert np.isfinite(ds.X["num"].dropna()).all()


def test_infinite_values_written_as_text_become_missing() -> None:
    frame = pd.DataFrame({"a": ["inf", "1.5", "2"] * 10, "target": [0, 1] * 15})
    with pytest.warns(AutoMLMetaWarning, match=r"'a'.*10 infinite values"):
        ds = load_dataset(frame, task="classification")
    assert "a" in ds.numeric
    assert ds.X["a"].isna().sum() == 10


def test_infinite_target_is_an_error() -> None:
    frame = pd.DataFrame({"a": np.arange(30) % 7, "target": np.linspace(0, 1, 30)})
    frame.loc[4, "target"] = np.inf
    with pytest.raises(DatasetError, match="target 'target'.*infinite values"):
        load_dataset(frame, task="regression")


def test_mostly_numeric_column_with_stray_text() -> None:
    values: list[Any] = [str(i % 9) for i in range(40)]
    values[7] = "n/a"
    frame = pd.DataFrame({"a": values, "target": [0, 1] * 20})
    with pytest.warns(AutoMLMetaWarning, match=r"'a'.*mixes numbers with 1 non-numeric.*'n/a'"):
        ds = load_dataset(frame, task="classification")
    assert "a" in ds.numeric
    assert ds.X["a"].dtype == float
    assert ds.X["a"].isna().sum() == 1


def test_column_mixing_text_and_numbers_is_categorical() -> None:
    frame = pd.DataFrame({"a": [1, "x", 2.5, "y"] * 10, "target": [0, 1] * 20})
    with pytest.warns(AutoMLMetaWarning, match=r"'a'.*mixes text and numbers.*categorical"):
        ds = load_dataset(frame, task="classification")
    assert ds.categorical == ["a"]
    assert isinstance(ds.X["a"].dtype, pd.CategoricalDtype)


def test_target_mixing_types_is_compared_as_text() -> None:
    frame = pd.DataFrame({"a": np.arange(30) % 4, "target": [1, "one"] * 15})
    with pytest.warns(AutoMLMetaWarning, match="mixes values of different types"):
        ds = load_dataset(frame, task="classification")
    assert sorted(ds.y.unique()) == ["1", "one"]


def test_dates_and_durations_become_seconds() -> None:
    n = 30
    frame = pd.DataFrame(
        {
            "day": pd.to_datetime(["2020-01-01", None, "1970-01-01 00:00:01.5"] * 10,
                                  format="ISO8601"),
            "far": pd.to_datetime(["2263-01-01", "1500-06-01", None] * 10),  # beyond ns range
            "utc": pd.date_range("2020-01-01", periods=n, freq="h", tz="Europe/Paris"),
            "month": pd.period_range("2020-01", periods=n, freq="M"),
            "wait": pd.to_timedelta(np.arange(n) % 4, unit="ms"),
            "target": [0, 1] * 15,
        }
    )
    ds = load_dataset(frame, task="classification")
    assert ds.numeric == ["day", "far", "utc", "month", "wait"]
    assert ds.X["day"].iloc[:3].tolist()[::2] == [1_577_836_800.0, 1.5]
    assert ds.X["day"].isna().sum() == 10
    assert ds.X["far"].iloc[0] == pd.Timestamp("2263-01-01").timestamp()
    assert ds.X["utc"].iloc[0] == 1_577_833_200.0  # midnight in Paris is 23:00 UTC
    assert ds.X["wait"].iloc[:4].tolist() == [0.0, 0.001, 0.002, 0.003]


def test_id_like_columns_are_dropped_with_a_warning() -> None:
    rng = np.random.default_rng(1)
    n = 50
    frame = pd.DataFrame(
        {
            "row": np.arange(n),  # row numbers in file order
            "customer": rng.permutation(n) + 1000,  # shuffled consecutive IDs
            "code": [f"C{i:04d}" for i in rng.permutation(n)],  # a distinct text per row
            "x": rng.normal(size=n),  # unique floats are a real feature, not an ID
            "k": rng.integers(0, 3, size=n),
            "target": rng.integers(0, 2, size=n),
        }
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        ds = load_dataset(frame, task="classification")
    dropped = [m for m in _messages(record) if "row ID" in m]
    assert len(dropped) == 3
    assert all(any(f"'{c}'" in m for m in dropped) for c in ("row", "customer", "code"))
    assert list(ds.X.columns) == ["x", "k"]


def test_no_id_dropping_for_tiny_frames() -> None:
    frame = pd.DataFrame({"row": range(12), "k": [0, 1, 2] * 4, "target": [0, 1] * 6})
    assert load_dataset(frame, task="classification").n_features == 2


def test_unknown_task() -> None:
    with pytest.raises(DatasetError, match=r"task='binary' is not a task we know"):
        load_dataset(_frame(), task="binary")


def test_regression_on_text_labels() -> None:
    with pytest.raises(DatasetError, match=r"task='regression'.*non-numeric values such as"):
        load_dataset(_frame(), task="regression")


@pytest.mark.parametrize("label", ["target", "class", "label", "Class", "y"])
def test_default_target_names(label: str) -> None:
    frame = _frame().rename(columns={"target": label})
    ds = load_dataset(frame, task="classification")
    assert ds.y.name == label
    assert label not in ds.X.columns


def test_explicit_target_wins_over_default_names() -> None:
    frame = _frame()
    frame["outcome"] = np.arange(40) % 3
    ds = load_dataset(frame, target="outcome", task="classification")
    assert ds.y.name == "outcome"
    assert "target" in ds.X.columns


def test_task_inference_warns_and_says_which() -> None:
    frame = _frame()
    with pytest.warns(AutoMLMetaWarning, match=r"Inferred task 'classification'.*'target'"):
        assert load_dataset(frame).task == "classification"
    frame["target"] = np.linspace(0, 1, 40)
    with pytest.warns(AutoMLMetaWarning, match=r"Inferred task 'regression'.*task=\.\.\."):
        assert load_dataset(frame).task == "regression"
    frame["target"] = np.arange(40) % 4  # few distinct integers: classification
    with pytest.warns(AutoMLMetaWarning, match="Inferred task 'classification'"):
        assert load_dataset(frame).task == "classification"


def test_warnings_point_at_the_caller() -> None:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        load_dataset(_frame())
    assert record
    assert all(Path(w.filename).resolve() == Path(__file__).resolve() for w in record)


def test_subsample_keeps_every_class() -> None:
    frame = pd.DataFrame({"a": np.arange(200) % 17, "target": ["rare"] * 3 + ["common"] * 197})
    ds = load_dataset(frame, task="classification").subsample(20)
    assert ds.n_rows <= 22
    assert set(ds.y) == {"rare", "common"}
    assert ds.fingerprint  # the fingerprint names the source data
