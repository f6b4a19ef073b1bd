"""Loading dataset files: missing and unreadable files, CSV parsing, encodings,
formats, ``index.csv`` and ``list_datasets``."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest

from automl_meta import AutoMLMetaWarning, load_dataset
from automl_meta.data import list_datasets
from automl_meta.errors import DatasetError
from tests.data._helpers import _check_clean, _csv_rows, _frame, _write


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


def test_duplicate_column_names_in_csv(tmp_path: Path) -> None:
    # repeated names are renamed (a, a.1), not refused: every value stays in its column
    rows = "".join(f"{i % 3},{i % 4},{i % 5},{i % 2}\n" for i in range(20))
    path = _write(tmp_path / "dup.csv", "a,b,a,target\n" + rows)
    with pytest.warns(AutoMLMetaWarning, match=r"2 columns are named 'a'; read them as 'a', "
                      r"'a\.1'"):
        ds = load_dataset(path, task="classification")
    assert list(ds.X.columns) == ["a", "b", "a.1"]
    assert ds.X["a.1"].tolist() == [i % 5 for i in range(20)]


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
    rows = "".join(f"{i % 3},{i % 4},{i % 5},{i % 2}\n" for i in range(20))
    path.write_bytes(("a,b,a,target\n" + rows).encode("utf-8-sig"))
    with pytest.warns(AutoMLMetaWarning, match=r"2 columns are named 'a'"):
        ds = load_dataset(path, task="classification")
    assert list(ds.X.columns) == ["a", "b", "a.1"]  # the mark is not part of the first 'a'


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
