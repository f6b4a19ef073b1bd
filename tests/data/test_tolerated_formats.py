"""Files other readers accept that strict ARFF refuses, and repeated column names: read
with one warning each that says what was tolerated; anything worse is still refused."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from automl_meta import AutoMLMetaWarning, load_dataset
from automl_meta.data import Dataset, ToleratedFormatWarning, load_features
from automl_meta.data._names import unique_names
from automl_meta.errors import DatasetError
from tests.data._helpers import _write

HEADER = ("% a comment\n@relation r\n@attribute a numeric\n@attribute b real\n"
          "@attribute class {x, y}\n\n@data\n")
N_ROWS = 24


def _rows(sep: str = ",", end: str = "") -> str:
    return "".join(f"{i % 5}{sep}{i * 0.5}{sep}{'xy'[i % 2]}{end}\n" for i in range(N_ROWS))


def _load_warned(path: Path, **kwargs: str) -> tuple[Dataset, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_dataset(path, task="classification", **kwargs)
    return dataset, [w for w in caught if issubclass(w.category, ToleratedFormatWarning)]


def _check_values(dataset: Dataset) -> None:
    assert list(dataset.X.columns) == ["a", "b"]
    assert dataset.X["a"].tolist() == [i % 5 for i in range(N_ROWS)]
    assert dataset.X["b"].tolist() == [i * 0.5 for i in range(N_ROWS)]
    assert dataset.y.tolist() == ["xy"[i % 2] for i in range(N_ROWS)]


def test_the_warning_is_a_project_warning() -> None:
    assert issubclass(ToleratedFormatWarning, AutoMLMetaWarning)


def test_trailing_comma_on_data_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "trail.arff", HEADER + _rows(end=",\r"))  # CRLF, as bank8FM
    dataset, tolerated = _load_warned(path)
    _check_values(dataset)
    assert [str(w.message) for w in tolerated] == [
        f"trail.arff: {N_ROWS} data lines end with a trailing comma; read as if it were absent."
    ]


def test_values_separated_by_spaces_and_tabs(tmp_path: Path) -> None:
    rows = "".join(f"{i % 5}  {i * 0.5}\t{'xy'[i % 2]}\n" for i in range(N_ROWS))
    dataset, tolerated = _load_warned(_write(tmp_path / "spaced.arff", HEADER + rows))
    _check_values(dataset)
    assert [str(w.message) for w in tolerated] == [
        f"spaced.arff: {N_ROWS} data lines separate values by spaces instead of commas; read "
        "as comma-separated."
    ]


def test_quoted_values_with_spaces_are_one_value(tmp_path: Path) -> None:
    header = "@relation r\n@attribute a numeric\n@attribute s string\n@attribute class {x,y}\n"
    rows = "".join(f"{i} 'light blue {i % 3}' {'xy'[i % 2]}\n" for i in range(N_ROWS))
    dataset, tolerated = _load_warned(_write(tmp_path / "q.arff", header + "@data\n" + rows))
    assert dataset.X["s"].iloc[4] == "light blue 1"
    assert len(tolerated) == 1


def test_integer_type_with_a_range(tmp_path: Path) -> None:
    header = HEADER.replace("@attribute a numeric", "@attribute a integer [0,4]").replace(
        "@attribute b real", "@attribute 'b' REAL [0, 20]")
    dataset, tolerated = _load_warned(_write(tmp_path / "ranged.arff", header + _rows()))
    _check_values(dataset)
    assert pd.api.types.is_numeric_dtype(dataset.X["a"])
    assert [str(w.message) for w in tolerated] == [
        "ranged.arff: 2 attributes declare a numeric type with a range ('integer [0,4]', "
        "'REAL [0, 20]'); read as numbers, without checking the range."
    ]


def test_a_line_with_the_wrong_count_after_tolerance_is_still_refused(tmp_path: Path) -> None:
    # line 8 of the file is the first data line; line 8 + 24 is the bad one
    bad_line = 8 + N_ROWS
    too_many = _write(tmp_path / "many.arff", HEADER + _rows(end=",") + "1,2,x,y,\n")
    with pytest.raises(DatasetError, match=rf"line {bad_line}\b.*Expected 3 values per data"):
        load_dataset(too_many)
    too_few = _write(tmp_path / "few.arff", HEADER + _rows(sep=" ") + "1 x\n")
    with pytest.raises(DatasetError, match=rf"line {bad_line}\b.*Expected 3 values per data"):
        load_dataset(too_few)


def test_no_warning_for_a_strict_file(tmp_path: Path) -> None:
    _, tolerated = _load_warned(_write(tmp_path / "strict.arff", HEADER + _rows()))
    assert tolerated == []


def test_unique_names_rule() -> None:
    assert unique_names(["target", "x", "target"]) == ["target", "x", "target.1"]
    assert unique_names(["a", "a", "a"]) == ["a", "a.1", "a.2"]
    assert unique_names(["a", "a", "a.1"]) == ["a", "a.2", "a.1"]  # no collision


def _schizo_like(path: Path) -> Path:
    """As PMLB's schizo: a feature named ``target`` besides the label ``target`` (last)."""
    rows = "".join(f"{i % 5}\t{i % 7}\t{i % 3}\t{i % 2}\n" for i in range(30))
    return _write(path, "a\ttarget\tb\ttarget\n" + rows)


def test_repeated_names_in_a_table_and_the_pmlb_label_rule(tmp_path: Path) -> None:
    dataset, tolerated = _load_warned(_schizo_like(tmp_path / "schizo.tsv"))
    assert list(dataset.X.columns) == ["a", "target", "b"]
    assert dataset.X["target"].tolist() == [i % 7 for i in range(30)]
    assert dataset.y.name == "target.1"
    assert dataset.y.tolist() == [i % 2 for i in range(30)]
    assert [str(w.message) for w in tolerated] == [
        "schizo.tsv: 2 columns are named 'target'; read them as 'target', 'target.1' (a "
        "repeated name gets .1, .2, ... in file order). By default the label is 'target.1', "
        "the last of them; pass target=<column name> to choose another."
    ]
    assert tolerated[0].message.parameter == "target"  # type: ignore[union-attr]


@pytest.mark.parametrize(("target", "label", "values"), [
    ("target", "target", [i % 7 for i in range(30)]),
    ("b", "b", [i % 3 for i in range(30)]),
])
def test_target_chooses_among_renamed_columns(tmp_path: Path, target: str, label: str,
                                              values: list[int]) -> None:
    dataset, _ = _load_warned(_schizo_like(tmp_path / "schizo.tsv"), target=target)
    assert dataset.y.name == label
    assert dataset.y.tolist() == values
    assert "target.1" in dataset.X.columns


def test_repeated_attribute_names_in_arff(tmp_path: Path) -> None:
    header = ("@relation r\n@attribute a numeric\n@attribute a real\n@attribute 'class' {x,y}\n"
              "@attribute class {x,y}\n@data\n")
    rows = "".join(f"{i % 5},{i},{'xy'[i % 3 % 2]},{'xy'[i % 2]}\n" for i in range(N_ROWS))
    dataset, tolerated = _load_warned(_write(tmp_path / "dup.arff", header + rows))
    assert list(dataset.X.columns) == ["a", "a.1", "class"]
    assert dataset.X["a.1"].tolist() == list(range(N_ROWS))
    assert dataset.y.name == "class.1"  # the last attribute
    message = str(tolerated[0].message)
    assert len(tolerated) == 1
    assert "2 columns are named 'a'; read them as 'a', 'a.1'" in message
    assert "2 columns are named 'class'; read them as 'class', 'class.1'" in message


def test_rows_to_predict_with_repeated_names(tmp_path: Path) -> None:
    path = _schizo_like(tmp_path / "rows.tsv")
    with pytest.warns(ToleratedFormatWarning) as caught:
        X = load_features(path, ["a", "target", "b"])
    assert X["target"].tolist() == [i % 7 for i in range(30)]
    assert "label" not in str(caught[0].message)  # no label when predicting


def test_repeated_names_in_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table([list(range(30)), [i % 4 for i in range(30)], [i % 2 for i in range(30)]],
                     names=["x", "target", "target"])
    pq.write_table(table, tmp_path / "dup.parquet")
    dataset, tolerated = _load_warned(tmp_path / "dup.parquet")
    assert dataset.y.name == "target.1"
    assert dataset.y.tolist() == [i % 2 for i in range(30)]
    assert len(tolerated) == 1


def test_a_dataframe_with_repeated_names_is_still_refused() -> None:
    frame = pd.DataFrame([[1, 2, 0]] * 20, columns=["a", "a", "target"])
    with pytest.raises(DatasetError, match="duplicate column names"):
        load_dataset(frame)
