"""Helpers shared by the dataset-loading tests: small frames, files, warnings."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from automl_meta import AutoMLMetaWarning
from automl_meta.data import Dataset


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
