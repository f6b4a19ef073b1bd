"""Dataset fingerprints: the same data in any format, different for any change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from automl_meta import load_dataset


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
