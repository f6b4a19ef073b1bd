"""Tests of dataset loading: every source, every bad input, the shared corpora, properties."""

from __future__ import annotations

import gzip
import re
import socket
import sys
import warnings
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest

from automl_meta import AutoMLMetaError, AutoMLMetaWarning, load_dataset
from automl_meta.data import Dataset, list_datasets
from automl_meta.errors import DatasetError, NetworkError

# ---------------------------------------------------------------- helpers


def _frame(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """A small clean classification frame: numeric, integer and text features."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "num": rng.normal(size=n).round(6),
            "count": rng.integers(0, 5, size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n),
            "target": rng.choice(["yes", "no"], size=n),
        }
    )


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _csv_rows(n: int = 30) -> str:
    return "".join(f"{i % 4},{(i * 7) % 5},{i % 2}\n" for i in range(n))


def _messages(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, AutoMLMetaWarning)]


def _tiny_arff(path: Path) -> Path:
    """30 rows; ``colour`` is missing ('?') in rows 0, 10, 20; ``size`` in row 5."""
    lines = [
        "% a comment line",
        "@relation tiny",
        "@attribute label numeric",  # a 'label' column that is NOT the target in ARFF
        "@attribute colour {red, green, 'light blue'}",
        "@attribute size real",
        "@attribute outcome {good, bad}",
        "@data",
    ]
    colours = ["red", "green", "'light blue'"]
    for i in range(30):
        colour = "?" if i % 10 == 0 else colours[i % 3]
        size = "?" if i == 5 else f"{(i * 37) % 11}.5"
        lines.append(f"{i % 7},{colour},{size},{'good' if i % 3 else 'bad'}")
    return _write(path, "\n".join(lines) + "\n")


# ---------------------------------------------------------------- bad inputs


def test_missing_file_names_the_path_and_similar_files(tmp_path: Path) -> None:
    _write(tmp_path / "housing.csv", "a,target\n1,2\n")
    with pytest.raises(DatasetError, match=r"No file at .*housing\.cvs.*housing\.csv"):
        load_dataset(tmp_path / "housing.cvs")


def test_missing_file_hint_lists_only_close_names(tmp_path: Path) -> None:
    names = ["iris.csv", "dataset.csv", "data_train.csv", "database.csv", "datum.tsv"]
    for name in names:
        _write(tmp_path / name, "a,target\n1,2\n")
    with pytest.raises(DatasetError) as typo:
        load_dataset(tmp_path / "iris.cvs")
    assert "Files with a similar name there: iris.csv." in str(typo.value)
    with pytest.raises(DatasetError) as unrelated:
        load_dataset(tmp_path / "data_x.csv")
    message = str(unrelated.value)
    assert "similar name" not in message
    assert not any(name in message for name in names)
    with pytest.raises(DatasetError, match=r"similar name there: iris\.csv\."):
        load_dataset(tmp_path / "IRIS")  # same name, another case and no suffix


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="is a directory"):
        load_dataset(tmp_path)


def test_unknown_extension(tmp_path: Path) -> None:
    path = _write(tmp_path / "data.xlsx", "not really excel")
    with pytest.raises(DatasetError, match=r"extension '\.xlsx' is not one we know.*Supported"):
        load_dataset(path)


def test_no_extension(tmp_path: Path) -> None:
    path = _write(tmp_path / "data", "a,target\n1,0\n")
    with pytest.raises(DatasetError, match="has no extension"):
        load_dataset(path)


def test_empty_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "empty.csv", "")
    with pytest.raises(DatasetError, match=r"is empty \(0 bytes\)"):
        load_dataset(path)


def test_empty_gzip_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv.gz"
    path.write_bytes(gzip.compress(b""))
    with pytest.raises(DatasetError, match="no header line"):
        load_dataset(path)


def test_header_only(tmp_path: Path) -> None:
    path = _write(tmp_path / "header.csv", "a,b,target\n")
    with pytest.raises(DatasetError, match="has a header but no rows"):
        load_dataset(path)


def test_not_really_gzip(tmp_path: Path) -> None:
    path = _write(tmp_path / "plain.csv.gz", "a,target\n1,0\n")
    with pytest.raises(DatasetError, match=r"Could not read 'plain\.csv\.gz'.*gzip"):
        load_dataset(path)


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        # one row in the middle has an extra field
        (_csv_rows(10) + "1,2,3,4\n" + _csv_rows(10), r"malformed.*Expected 3 fields.*saw 4"),
        # every row has an extra value: pandas would silently drop it
        ("".join(f"{i},{i % 3},{i % 2},9\n" for i in range(30)), r"malformed.*more fields"),
        # rows with too few fields: pandas would silently pad them with missing values
        (_csv_rows(10) + "1,2\n" + _csv_rows(10), r"malformed.*line 12 has 2 fields.*3"),
        # an unclosed quote swallows the rest of the file
        ('1,"x,0\n' + _csv_rows(10), r"malformed.*EOF inside string"),
    ],
    ids=["extra-field", "every-row-extra", "short-row", "unclosed-quote"],
)
def test_ragged_or_malformed_csv(tmp_path: Path, body: str, pattern: str) -> None:
    path = _write(tmp_path / "ragged.csv", "a,b,target\n" + body)
    with pytest.raises(DatasetError, match=pattern):
        load_dataset(path, task="classification")


def test_quoted_newlines_with_missing_last_values_are_not_ragged(tmp_path: Path) -> None:
    # a missing last value triggers the scan for short rows; quoted separators and
    # newlines inside a field must not be mistaken for one
    rows = "".join(f'{i % 4},"note {i % 3},\nsecond line",{"" if i % 5 == 0 else i % 2}\n'
                   for i in range(30))
    path = _write(tmp_path / "quoted.csv", "a,note,target\n" + rows)
    with pytest.warns(AutoMLMetaWarning, match="Dropped 6 of 30 rows"):
        ds = load_dataset(path, task="classification")
    assert ds.n_rows == 24
    assert ds.X["note"].iloc[0] == "note 1,\nsecond line"


def test_trailing_separators_do_not_shift_columns(tmp_path: Path) -> None:
    # pandas takes the first column as the index when every row ends with a separator,
    # shifting every value one column to the left; the loader must not.
    rows = "".join(f"{i % 4},{i % 3},{i % 2},\n" for i in range(30))
    ds = load_dataset(_write(tmp_path / "trailing.csv", "a,b,target\n" + rows),
                      task="classification")
    assert list(ds.X.columns) == ["a", "b"]
    assert ds.X["a"].tolist() == [i % 4 for i in range(30)]
    assert ds.y.tolist() == [i % 2 for i in range(30)]


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


def test_duplicate_column_names_in_csv(tmp_path: Path) -> None:
    path = _write(tmp_path / "dup.csv", "a,b,a,target\n" + "1,2,3,0\n" * 20)
    with pytest.raises(DatasetError, match=r"duplicate column names: 'a'"):
        load_dataset(path)


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


def test_latin1_file_is_read_with_a_warning(tmp_path: Path) -> None:
    text = "city,size,target\n" + "".join(
        f"{'Zürich' if i % 2 else 'Besançon'},{i % 5},{i % 2}\n" for i in range(30)
    )
    path = _write(tmp_path / "latin.csv", text, encoding="latin-1")
    with pytest.warns(AutoMLMetaWarning, match=r"not valid UTF-8.*Latin-1"):
        ds = load_dataset(path, task="classification")
    assert set(ds.X["city"]) == {"Zürich", "Besançon"}


def test_latin1_byte_after_the_encoding_probe(tmp_path: Path) -> None:
    # the encoding is guessed from the first MiB; an invalid byte after it must not crash
    body = "".join(f"{i % 4},plain{i % 3},{i % 2}\n" for i in range(120_000))
    text = "a,b,target\n" + body + "1,café,1\n"
    path = _write(tmp_path / "late.csv", text, encoding="latin-1")
    assert path.stat().st_size > 1 << 20
    with pytest.warns(AutoMLMetaWarning, match="not valid UTF-8"):
        ds = load_dataset(path, task="classification")
    assert ds.n_rows == 120_001
    assert ds.X["b"].iloc[-1] == "café"


def test_utf8_byte_order_mark_is_not_part_of_the_first_name(tmp_path: Path) -> None:
    text = "target,a,b\n" + "".join(f"{i % 2},{i % 4},{i % 3}\n" for i in range(30))
    path = tmp_path / "bom.csv"
    path.write_bytes(text.encode("utf-8-sig"))
    ds = load_dataset(path, task="classification")
    assert ds.y.name == "target"
    assert list(ds.X.columns) == ["a", "b"]


def test_duplicate_first_column_behind_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bomdup.csv"
    path.write_bytes(("a,b,a,target\n" + "1,2,3,0\n" * 20).encode("utf-8-sig"))
    with pytest.raises(DatasetError, match=r"duplicate column names: 'a'"):
        load_dataset(path)


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


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("@relation r\n@attribute a numeric\n@attribute class {x,y}\n@data\nabc,x\n",
         r"not valid ARFF.*numerical value.*line 5"),
        ("@relation r\n@attribute a numeric\n@attribute class {x,y}\n@data\n1,z\n",
         r"not valid ARFF.*z not found in nominal"),
        ("@relation r\n@attribute a numeric\n@attribute a numeric\n@data\n1,2\n",
         r"not valid ARFF.*already in use"),
        ("@relation r\n@attribute a nonsense\n@data\n1\n", r"not valid ARFF.*@ATTRIBUTE type"),
        ("@relation r\n@attribute a string\n@attribute class {x,y}\n@data\n'\\g',x\n",
         r"not valid ARFF.*escape"),
    ],
    ids=["bad-number", "bad-nominal", "duplicate-attribute", "bad-type", "bad-escape"],
)
def test_arff_syntax_error(tmp_path: Path, body: str, pattern: str) -> None:
    with pytest.raises(DatasetError, match=pattern):
        load_dataset(_write(tmp_path / "broken.arff", body))


def test_arff_without_rows(tmp_path: Path) -> None:
    path = _write(tmp_path / "norows.arff", "@relation r\n@attribute a numeric\n@data\n")
    with pytest.raises(DatasetError, match=r"no rows in its @data"):
        load_dataset(path)


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


def test_unsupported_source_type() -> None:
    with pytest.raises(DatasetError, match=r"Cannot load a dataset from a list"):
        load_dataset([[1, 2], [3, 4]])


def test_xy_length_mismatch() -> None:
    with pytest.raises(DatasetError, match="X has 5 rows but y has 4"):
        load_dataset((np.zeros((5, 2)), np.zeros(4)))


def test_xy_multi_output_target() -> None:
    with pytest.raises(DatasetError, match=r"y has shape \(30, 2\).*one label per row"):
        load_dataset((np.zeros((30, 2)), np.zeros((30, 2))))


def test_complex_feature_is_an_error() -> None:
    frame = pd.DataFrame({"z": np.arange(30) + 1j, "target": [0, 1] * 15})
    with pytest.raises(DatasetError, match="'z'.*complex numbers"):
        load_dataset(frame, task="classification")


def test_unknown_sklearn_dataset_suggests_names() -> None:
    with pytest.raises(DatasetError, match=r"sklearn:iriss is not.*Did you mean: 'iris'"):
        load_dataset("sklearn:iriss")


def test_bad_openml_id() -> None:
    with pytest.raises(DatasetError, match="not an OpenML dataset ID"):
        load_dataset("openml:iris")


# ---------------------------------------------------------------- openml, offline


def test_openml_without_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openml", None)  # makes `import openml` fail
    with pytest.raises(DatasetError, match="needs the openml package"):
        load_dataset("openml:61")


def _block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError("network access is blocked in this test")

    def no_dns(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror("name resolution is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)


@pytest.fixture
def offline_openml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """openml with an empty cache in ``tmp_path``, one try per request, no network."""
    openml = pytest.importorskip("openml")
    _block_network(monkeypatch)
    monkeypatch.setattr(openml.config, "_root_cache_directory", tmp_path / "openml-cache")
    monkeypatch.setattr(openml.config, "connection_n_retries", 1)
    return openml


def test_openml_download_failure_is_a_network_error(
    offline_openml: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("simulated: the server is unreachable")

    monkeypatch.setattr(offline_openml.datasets, "get_dataset", fail)
    with pytest.raises(NetworkError, match=r"openml:61.*not reachable.*cached copy"):
        load_dataset("openml:61")


def test_openml_with_empty_cache_and_no_network(offline_openml: Any) -> None:
    # the real openml code path: nothing cached, every connection refused
    with pytest.raises(NetworkError, match=r"openml:61.*not reachable") as info:
        load_dataset("openml:61")
    assert isinstance(info.value, AutoMLMetaError)
    assert str(offline_openml.config.get_cache_directory()) in str(info.value)


def _fake_openml_cache(openml: Any, dataset_id: int, target: str = "class") -> None:
    """Write what openml caches after a download: the description XML and the ARFF file."""
    directory = Path(openml.config.get_cache_directory()) / "datasets" / str(dataset_id)
    directory.mkdir(parents=True)
    (directory / "description.xml").write_text(
        '<oml:data_set_description xmlns:oml="http://openml.org/openml">\n'
        f"<oml:id>{dataset_id}</oml:id><oml:name>tiny-offline</oml:name>"
        "<oml:version>1</oml:version><oml:format>ARFF</oml:format>"
        f"<oml:url>https://openml.invalid/data/{dataset_id}.arff</oml:url>"
        f"<oml:default_target_attribute>{target}</oml:default_target_attribute>"
        "<oml:status>active</oml:status>\n</oml:data_set_description>\n",
        encoding="utf-8",
    )
    rows = "".join(
        f"{'?' if i == 4 else (i * 3) % 7 + 0.5},{'ab'[i % 2]},{'yes' if i % 3 else 'no'}\n"
        for i in range(30)
    )
    (directory / "dataset.arff").write_text(
        "@relation tiny\n@attribute x numeric\n@attribute colour {a,b}\n"
        "@attribute class {yes,no}\n@data\n" + rows,
        encoding="utf-8",
    )


def test_openml_loads_offline_from_a_cached_copy(offline_openml: Any) -> None:
    _fake_openml_cache(offline_openml, 990001)
    with pytest.warns(AutoMLMetaWarning, match="Inferred task 'classification'"):
        ds = load_dataset("openml:990001")
    assert ds.name == "tiny-offline"
    assert ds.source == "openml:990001"
    assert (ds.n_rows, ds.n_features, ds.task) == (30, 2, "classification")
    assert ds.y.value_counts().to_dict() == {"yes": 20, "no": 10}
    assert ds.categorical == ["colour"]
    assert ds.X["x"].isna().sum() == 1


def test_openml_cached_copy_with_unknown_target(offline_openml: Any) -> None:
    _fake_openml_cache(offline_openml, 990002)
    with pytest.raises(DatasetError, match=r"'Class' not found.*Did you mean: 'class'"):
        load_dataset("openml:990002", target="Class")


# ---------------------------------------------------------------- every source


def _check_clean(ds: Dataset) -> None:
    """The Dataset contract: aligned, labelled, typed, finite, fingerprinted."""
    assert isinstance(ds, Dataset)
    assert len(ds.X) == len(ds.y) == ds.n_rows >= 10
    assert ds.y.notna().all()
    assert sorted(ds.categorical + ds.numeric) == sorted(ds.X.columns)
    assert not set(ds.categorical) & set(ds.numeric)
    for column in ds.categorical:
        assert isinstance(ds.X[column].dtype, pd.CategoricalDtype), column
    for column in ds.numeric:
        assert pd.api.types.is_numeric_dtype(ds.X[column].dtype), column
        values = ds.X[column].to_numpy(dtype=float, na_value=np.nan)
        assert not np.isinf(values).any(), column
    assert ds.task in ("classification", "regression")
    if ds.task == "regression":
        assert ds.y.dtype == float
    else:
        assert ds.n_classes >= 2
    assert re.fullmatch(r"[0-9a-f]{32}", ds.fingerprint)


def test_dataframe_with_target() -> None:
    frame = _frame()
    ds = load_dataset(frame, task="classification", name="mine")
    _check_clean(ds)
    assert (ds.name, ds.source) == ("mine", "dataframe")
    assert ds.numeric == ["num", "count"]
    assert ds.categorical == ["colour"]
    assert ds.y.tolist() == frame["target"].tolist()
    assert list(frame.columns) == ["num", "count", "colour", "target"]  # input untouched


def test_numpy_xy() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 3))
    y = rng.normal(size=50)
    with pytest.warns(AutoMLMetaWarning, match="Inferred task 'regression'"):
        ds = load_dataset((X, y))
    _check_clean(ds)
    assert list(ds.X.columns) == ["x0", "x1", "x2"]
    assert ds.y.name == "target"
    np.testing.assert_array_equal(ds.X.to_numpy(), X)
    np.testing.assert_array_equal(ds.y.to_numpy(), y)


def test_dataframe_xy_keeps_column_names() -> None:
    frame = _frame()
    ds = load_dataset((frame.drop(columns="target"), frame["target"]), task="classification")
    assert list(ds.X.columns) == ["num", "count", "colour"]
    assert ds.y.name == "target"


def test_existing_dataset_is_returned_as_is() -> None:
    ds = load_dataset(_frame(), task="classification")
    assert load_dataset(ds) is ds


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt", ".parquet"])
def test_file_formats(tmp_path: Path, suffix: str) -> None:
    frame = _frame()
    path = tmp_path / f"sample{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        sep = "\t" if ".tsv" in suffix or suffix == ".txt" else ","
        frame.to_csv(path, sep=sep, index=False)
    ds = load_dataset(path, task="classification")
    _check_clean(ds)
    assert (ds.name, ds.source) == ("sample", str(path))
    assert (ds.n_rows, ds.numeric, ds.categorical) == (40, ["num", "count"], ["colour"])
    np.testing.assert_allclose(ds.X["num"].to_numpy(), frame["num"].to_numpy())
    assert ds.X["colour"].astype(str).tolist() == frame["colour"].tolist()
    assert ds.y.tolist() == frame["target"].tolist()


def test_csv_missing_markers(tmp_path: Path) -> None:
    rows = "".join(
        f"{['?', 'NA', '', 'null'][i % 4] if i < 8 else i % 5},{'a' if i % 2 else '?'},{i % 2}\n"
        for i in range(30)
    )
    ds = load_dataset(_write(tmp_path / "na.csv", "a,b,target\n" + rows), task="classification")
    assert ds.X["a"].isna().sum() == 8
    assert ds.X["b"].isna().sum() == 15
    assert ds.categorical == ["b"]


def test_arff_types_missing_values_and_label(tmp_path: Path) -> None:
    ds = load_dataset(_tiny_arff(tmp_path / "tiny.arff"), task="classification")
    _check_clean(ds)
    assert ds.y.name == "outcome"  # the last attribute, even though a 'label' column exists
    assert list(ds.X.columns) == ["label", "colour", "size"]
    assert ds.categorical == ["colour"]
    assert ds.numeric == ["label", "size"]
    colour = ds.X["colour"]
    assert isinstance(colour.dtype, pd.CategoricalDtype)
    assert list(colour.cat.categories) == ["red", "green", "light blue"]
    assert colour.isna().sum() == 3
    assert colour[colour.isna()].index.tolist() == [0, 10, 20]
    assert ds.X["size"].isna().sum() == 1
    assert np.isnan(ds.X["size"].iloc[5])


def test_arff_question_mark_level_and_repeated_levels_mean_missing(tmp_path: Path) -> None:
    # UCI anneal declares '?' as a nominal level; it still means missing (as OpenML reads it)
    lines = ["@relation r", "@attribute kind {'?', a, b, a}", "@attribute note string",
             "@attribute class {x, y}", "@data"]
    lines += [f"{[chr(39) + '?' + chr(39), 'a', 'b'][i % 3]},{'?' if i % 2 else 'n' + str(i % 4)},"
              f"{'xy'[i % 2]}" for i in range(30)]
    ds = load_dataset(_write(tmp_path / "levels.arff", "\n".join(lines)), task="classification")
    assert list(ds.X["kind"].cat.categories) == ["a", "b"]
    assert ds.X["kind"].isna().sum() == 10
    assert ds.X["note"].isna().sum() == 15


def test_arff_gz_and_latin1(tmp_path: Path) -> None:
    lines = ["@relation r", "@attribute drink {café,tea}", "@attribute class {x,y}", "@data"]
    lines += [f"{'café' if i % 2 else 'tea'},{'xy'[i % 3 % 2]}" for i in range(30)]
    path = tmp_path / "drinks.arff.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode("latin-1")))
    with pytest.warns(AutoMLMetaWarning, match="not valid UTF-8"):
        ds = load_dataset(path, task="classification")
    assert ds.name == "drinks"
    assert set(ds.X["drink"].cat.categories) == {"café", "tea"}


def test_sklearn_iris() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", AutoMLMetaWarning)  # the task is known: no warning
        ds = load_dataset("sklearn:iris")
    _check_clean(ds)
    assert (ds.n_rows, ds.n_features, ds.task, ds.n_classes) == (150, 4, "classification", 3)
    assert ds.source == "sklearn:iris"


def test_sklearn_diabetes() -> None:
    ds = load_dataset("sklearn:diabetes")
    _check_clean(ds)
    assert (ds.n_rows, ds.n_features, ds.task) == (442, 10, "regression")


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


def test_index_csv_beside_the_file_gives_the_task(tmp_path: Path) -> None:
    path = _write(tmp_path / "counts.tsv", "a\ttarget\n" + "".join(
        f"{(i * 7) % 10}\t{i % 4}\n" for i in range(40)))
    # without an index, few distinct integers would be inferred as classification
    with pytest.warns(AutoMLMetaWarning, match="Inferred task 'classification'"):
        assert load_dataset(path).task == "classification"
    index = tmp_path / "index.csv"
    index.write_text("name,task,n_rows\ncounts,regression,40\nother,classification,10\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", AutoMLMetaWarning)
        ds = load_dataset(path)
    assert ds.task == "regression"
    assert ds.y.dtype == float
    # an edited index is read again (the index is cached per file version)
    index.write_text("name,task\ncounts,classification\n")
    assert load_dataset(path).task == "classification"
    # a task the index lists that we do not know is ignored, and the task is inferred
    index.write_text("name,task\ncounts,ranking\n")
    with pytest.warns(AutoMLMetaWarning, match="Inferred task"):
        assert load_dataset(path).task == "classification"
    # an explicit task wins over the index
    index.write_text("name,task\ncounts,regression\n")
    assert load_dataset(path, task="classification").task == "classification"


def test_list_datasets(tmp_path: Path) -> None:
    for name in ("b.csv", "a.tsv.gz", "c.arff", "d.parquet", "index.csv", "notes.md"):
        (tmp_path / name).write_text("x")
    assert [p.name for p in list_datasets(tmp_path)] == ["a.tsv.gz", "b.csv", "c.arff",
                                                         "d.parquet"]
    with pytest.raises(DatasetError, match="is not a directory"):
        list_datasets(tmp_path / "nope")


def test_subsample_keeps_every_class() -> None:
    frame = pd.DataFrame({"a": np.arange(200) % 17, "target": ["rare"] * 3 + ["common"] * 197})
    ds = load_dataset(frame, task="classification").subsample(20)
    assert ds.n_rows <= 22
    assert set(ds.y) == {"rare", "common"}
    assert ds.fingerprint  # the fingerprint names the source data


# ---------------------------------------------------------------- fingerprint


def _fingerprint_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "f": rng.normal(size=60) * 10.0 ** rng.integers(-6, 6, size=60),
            "i": rng.integers(-5, 50, size=60),
            "s": rng.choice(["x", "y", "z"], size=60).astype(object),
            "target": rng.choice(["p", "q", "r"], size=60),
        }
    )
    frame.loc[[3, 9], "f"] = np.nan
    frame.loc[[4, 11, 12], "s"] = None
    return frame


def test_fingerprint_is_the_same_for_csv_parquet_and_dataframe(tmp_path: Path) -> None:
    frame = _fingerprint_frame()
    frame.to_csv(tmp_path / "fp.csv", index=False)
    frame.to_parquet(tmp_path / "fp.parquet", index=False)
    prints = {
        "dataframe": load_dataset(frame, task="classification").fingerprint,
        "csv": load_dataset(tmp_path / "fp.csv", task="classification").fingerprint,
        "parquet": load_dataset(tmp_path / "fp.parquet", task="classification").fingerprint,
    }
    assert len(set(prints.values())) == 1, prints


@pytest.mark.parametrize(
    ("column", "row", "value"),
    [("f", 0, 1e-9), ("i", 5, 51), ("s", 0, "w"), ("target", 2, "zz"), ("f", 3, 0.0)],
)
def test_fingerprint_changes_with_one_value(column: str, row: int, value: Any) -> None:
    frame = _fingerprint_frame()
    changed = frame.copy()
    changed.loc[row, column] = value if column != "f" else frame.loc[row, column] + value
    if column == "f" and np.isnan(frame.loc[row, column]):
        changed.loc[row, column] = value  # a missing value filled in
    before = load_dataset(frame, task="classification").fingerprint
    after = load_dataset(changed, task="classification").fingerprint
    assert before != after


def test_fingerprint_changes_with_column_name() -> None:
    frame = _fingerprint_frame()
    before = load_dataset(frame, task="classification").fingerprint
    after = load_dataset(frame.rename(columns={"i": "j"}), task="classification").fingerprint
    assert before != after


# ---------------------------------------------------------------- the shared corpora


def _arff_fields(line: str) -> list[tuple[str, bool]]:
    """Split an ARFF data line on commas; each field with whether it was quoted."""
    fields: list[tuple[str, bool]] = []
    current: list[str] = []
    quote: str | None = None
    quoted = False
    index = 0
    while index < len(line):
        char = line[index]
        if quote:
            if char == "\\" and index + 1 < len(line):
                current.append(line[index + 1])
                index += 1
            elif char == quote:
                quote = None
            else:
                current.append(char)
        elif char in "'\"":
            quote, quoted = char, True
        elif char == ",":
            fields.append(("".join(current).strip(), quoted))
            current, quoted = [], False
        else:
            current.append(char)
        index += 1
    fields.append(("".join(current).strip(), quoted))
    return fields


def _parse_arff(path: Path) -> tuple[list[tuple[str, str]], list[list[tuple[str, bool]]]]:
    """A small independent ARFF reader: (name, 'nominal'/'numeric') pairs and the rows."""
    attributes: list[tuple[str, str]] = []
    rows: list[list[tuple[str, bool]]] = []
    in_data = False
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        if in_data:
            rows.append(_arff_fields(line))
        elif line.lower().startswith("@attribute"):
            match = re.match(r"@attribute\s+('[^']*'|\S+)\s+(.*)$", line, re.IGNORECASE)
            assert match, line
            name = match.group(1).strip("'")
            attributes.append((name, "nominal" if match.group(2).startswith("{") else "numeric"))
        elif line.lower().startswith("@data"):
            in_data = True
    return attributes, rows


# Integer-coded row labels (company / firm / instance names) that PMLB kept as features;
# index.csv counts them, load_dataset drops them as row IDs (with a warning).
PMLB_ID_COLUMNS = {
    "analcatdata_bankruptcy": "Company",
    "analcatdata_japansolvent": "Firm",
    "molecular-biology_promoters": "instance",
    "promoters": "name",
}


@pytest.mark.requires_shared
def test_every_pmlb_dataset_loads_and_matches_the_index(shared_datasets: Path) -> None:
    directory = shared_datasets / "pmlb"
    index = pd.read_csv(directory / "index.csv").set_index("name")
    paths = list_datasets(directory)
    assert len(paths) == len(index) == 230
    problems: list[str] = []
    for path in paths:
        name = path.name.removesuffix(".tsv.gz")
        expected = index.loc[name]
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            try:
                ds = load_dataset(path)
            except Exception as exc:  # collect every failure, then report them all
                problems.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
        messages = _messages(record)
        id_column = PMLB_ID_COLUMNS.get(name)
        n_features = int(expected["n_features"]) - (1 if id_column else 0)
        got = (ds.n_rows, ds.n_features, ds.task)
        want = (int(expected["n_rows"]), n_features, expected["task"])
        if got != want:
            problems.append(f"{name}: (rows, features, task) {got} != {want}")
        wanted_messages = [f"Dropped column '{id_column}'"] if id_column else []
        if [m[: len(w)] for m, w in zip(messages, wanted_messages, strict=False)] != (
            wanted_messages
        ) or len(messages) != len(wanted_messages):
            problems.append(f"{name}: unexpected warnings {messages}")
        if ds.task == "classification" and ds.n_classes != int(expected["n_target_values"]):
            problems.append(f"{name}: {ds.n_classes} classes != {expected['n_target_values']}")
        if int(ds.X.isna().sum().sum()) != int(expected["n_missing"]):
            problems.append(f"{name}: missing values differ from the index")
    assert not problems, "\n".join(problems)


UCI_TASKS = {
    "anneal": "classification", "audiology": "classification", "autos": "classification",
    "breast.cancer": "classification", "labor": "classification", "mushroom": "classification",
    "soybean": "classification", "vote": "classification", "autohorse": "regression",
    "cholesterol": "regression", "meta": "regression", "pbc": "regression",
    "servo": "regression",
}

# Documented in the UCI dataset descriptions: missing values per attribute.
UCI_KNOWN_MISSING = {
    "mushroom": {"stalk-root": 2480},
    "anneal": {"family": 772, "steel": 86},  # a quoted '?' level (OpenML: 22175 missing)
    "breast.cancer": {"node-caps": 8, "breast-quad": 1},
}


@pytest.mark.requires_shared
def test_every_uci_arff_dataset_loads_with_types_and_missing_values(
    shared_datasets: Path,
) -> None:
    paths = list_datasets(shared_datasets / "uci-arff")
    assert sorted(p.name.removesuffix(".arff") for p in paths) == sorted(UCI_TASKS)
    problems: list[str] = []
    for path in paths:
        name = path.name.removesuffix(".arff")
        attributes, rows = _parse_arff(path)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            ds = load_dataset(path)
        _check_clean(ds)
        messages = _messages(record)
        if ds.task != UCI_TASKS[name] or not any(
            m.startswith(f"Inferred task '{UCI_TASKS[name]}'") for m in messages
        ):
            problems.append(f"{name}: task {ds.task}, warnings {messages}")
        label, label_kind = attributes[-1]
        if ds.y.name != label:
            problems.append(f"{name}: label {ds.y.name!r}, expected the last attribute {label!r}")
        # the rows kept are those whose label is not missing
        kept = [r for r in rows if r[-1][0] != "?"]
        if len(rows) != len(kept) and not any(
            f"Dropped {len(rows) - len(kept)} of {len(rows)} rows" in m for m in messages
        ):
            problems.append(f"{name}: no warning about {len(rows) - len(kept)} unlabelled rows")
        if ds.n_rows != len(kept):
            problems.append(f"{name}: {ds.n_rows} rows, expected {len(kept)}")
        # '?' quoted or not is missing; columns missing in every row are dropped, with a warning
        empty = [c for i, (c, _) in enumerate(attributes[:-1])
                 if all(r[i][0] == "?" for r in kept)]
        if sorted(ds.X.columns) != sorted(c for c, _ in attributes[:-1] if c not in empty):
            problems.append(f"{name}: features {list(ds.X.columns)}, expected all but {empty}")
        for column in empty:
            if not any(f"column {column!r}" in m and "missing in every row" in m
                       for m in messages):
                problems.append(f"{name}.{column}: dropped without a warning")
        for position, (column, kind) in enumerate(attributes[:-1]):
            if column not in ds.X.columns:
                continue
            series = ds.X[column]
            if kind == "nominal" and not isinstance(series.dtype, pd.CategoricalDtype):
                problems.append(f"{name}.{column}: nominal but {series.dtype}")
            if kind == "numeric" and column not in ds.numeric:
                problems.append(f"{name}.{column}: numeric but {series.dtype}")
            expected_missing = sum(1 for r in kept if r[position][0] == "?")
            if int(series.isna().sum()) != expected_missing:
                problems.append(
                    f"{name}.{column}: {int(series.isna().sum())} missing, "
                    f"the file has {expected_missing} '?'"
                )
        for column, count in UCI_KNOWN_MISSING.get(name, {}).items():
            if int(ds.X[column].isna().sum()) != count:
                problems.append(f"{name}.{column}: expected {count} missing (UCI)")
        if label_kind == "nominal" and ds.task != "classification":
            problems.append(f"{name}: nominal label but task {ds.task}")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- properties

TEXTS = ["", " ", "a", "b", "?", "NaN", "inf", "1", "2.5", "-", "é"]


@st.composite
def _columns(draw: Any, n: int) -> Any:
    kind = draw(st.sampled_from(
        ["float", "int", "constant", "text", "high-card", "bool", "mixed", "missing",
         "category", "nullable-int", "datetime"]
    ))
    if kind == "float":
        return draw(st.lists(st.floats(allow_nan=True, allow_infinity=True),
                             min_size=n, max_size=n))
    if kind == "int":
        return draw(st.lists(st.integers(-(10**12), 10**12), min_size=n, max_size=n))
    if kind == "constant":
        value = draw(st.one_of(st.floats(), st.integers(-5, 5), st.sampled_from(TEXTS)))
        return [value] * n
    if kind == "text":
        return draw(st.lists(st.sampled_from(TEXTS) | st.text(max_size=4),
                             min_size=n, max_size=n))
    if kind == "high-card":
        return [f"level{i}" for i in draw(st.permutations(range(n)))]
    if kind == "bool":
        return draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if kind == "missing":
        return [None] * n
    if kind == "category":
        values = draw(st.lists(st.sampled_from(TEXTS) | st.none(), min_size=n, max_size=n))
        return pd.Categorical(values)
    if kind == "nullable-int":
        values = draw(st.lists(st.integers(-3, 3) | st.none(), min_size=n, max_size=n))
        return pd.array(values, dtype="Int64")
    if kind == "datetime":
        stamps = st.datetimes() | st.none()
        return pd.to_datetime(draw(st.lists(stamps, min_size=n, max_size=n)))
    return draw(st.lists(st.one_of(st.none(), st.integers(-3, 3), st.floats(),
                                   st.sampled_from(TEXTS)), min_size=n, max_size=n))


@st.composite
def _frames(draw: Any) -> pd.DataFrame:
    n = draw(st.integers(1, 45))
    columns = {f"f{i}": draw(_columns(n)) for i in range(draw(st.integers(1, 4)))}
    target_kind = draw(st.sampled_from(["classes", "one-class", "float", "text", "bool"]))
    if target_kind == "classes":
        target: list[Any] = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    elif target_kind == "one-class":
        target = [7] * n
    elif target_kind == "float":
        target = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True),
                               min_size=n, max_size=n))
    elif target_kind == "text":
        target = draw(st.lists(st.sampled_from(["", "x", "y", None, " "]),
                               min_size=n, max_size=n))
    else:
        target = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    columns["target"] = target
    return pd.DataFrame(columns)


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(frame=_frames(), task=st.sampled_from([None, "classification", "regression"]))
def test_load_dataset_returns_a_dataset_or_raises_our_error(
    frame: pd.DataFrame, task: str | None
) -> None:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            ds = load_dataset(frame, task=task)
        except AutoMLMetaError as exc:
            assert str(exc)  # every error says what went wrong
            ds = None
    foreign = [f"{w.category.__name__}: {w.message}" for w in record
               if not issubclass(w.category, AutoMLMetaWarning)]
    assert not foreign  # no stray pandas / numpy warnings leak to the user
    if ds is not None:
        _check_clean(ds)
        if task is not None:
            assert ds.task == task
