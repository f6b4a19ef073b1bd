"""Loading ARFF files: syntax errors, types, missing values, compression, encodings."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from automl_meta import AutoMLMetaWarning, load_dataset
from automl_meta.errors import DatasetError
from tests.data._helpers import _check_clean, _tiny_arff, _write


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("@relation r\n@attribute a numeric\n@attribute class {x,y}\n@data\nabc,x\n",
         r"not valid ARFF.*numerical value.*line 5"),
        ("@relation r\n@attribute a numeric\n@attribute class {x,y}\n@data\n1,z\n",
         r"not valid ARFF.*z not found in nominal"),
        ("@relation r\n@attribute a nonsense\n@data\n1\n", r"not valid ARFF.*@ATTRIBUTE type"),
        ("@relation r\n@attribute a string\n@attribute class {x,y}\n@data\n'\\g',x\n",
         r"not valid ARFF.*escape"),
    ],
    ids=["bad-number", "bad-nominal", "bad-type", "bad-escape"],
)
def test_arff_syntax_error(tmp_path: Path, body: str, pattern: str) -> None:
    with pytest.raises(DatasetError, match=pattern):
        load_dataset(_write(tmp_path / "broken.arff", body))


def test_arff_without_rows(tmp_path: Path) -> None:
    path = _write(tmp_path / "norows.arff", "@relation r\n@attribute a numeric\n@data\n")
    with pytest.raises(DatasetError, match=r"no rows in its @data"):
        load_dataset(path)


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
