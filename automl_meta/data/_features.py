"""``load_features``: the feature columns of new data, typed as a model saw them in training.

``load_dataset`` needs a label and drops the rows without one, which is right for learning
and wrong for prediction: new data often has no label column, and every row needs a
prediction. Here the label may be absent (it is ignored when present), every row is kept,
and each column is typed as it was in training rather than inferred afresh from a batch
that may be small or unusual.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl_meta.data._dataset import Dataset
from automl_meta.data._load import dataset_name, load_dataset
from automl_meta.data._prepare import _as_text, _column_kind, check_unique_columns, warn
from automl_meta.data._readers import read_file
from automl_meta.errors import DatasetError, did_you_mean


def load_features(
    source: Any,
    columns: Sequence[str],
    categorical: Collection[str] = (),
    name: str | None = None,
) -> pd.DataFrame:
    """The ``columns`` of ``source`` in that order, typed for a model trained on them.

    Args:
        source: a DataFrame, an array (columns ``x0``, ``x1``, ...), an ``(X, y)`` pair, a
            :class:`Dataset`, a CSV / TSV / Parquet / ARFF file, ``sklearn:NAME`` or
            ``openml:ID``. Other columns (the label among them) are ignored.
        columns: the feature columns the model was trained on.
        categorical: which of them were categorical; the others were numeric.
        name: a display name for messages (default: from the source).

    Raises:
        DatasetError: when the source cannot be read, has no rows, or lacks some of
            ``columns`` (the message names them).

    Example:
        >>> from automl_meta.data import load_dataset, load_features
        >>> ds = load_dataset("sklearn:iris")
        >>> X = load_features(ds.X.head(3), list(ds.X.columns))
        >>> X.shape
        (3, 4)
    """
    frame, display = _raw_frame(source, name)
    check_unique_columns(frame, display)
    by_name: dict[str, Any] = {}
    for column in frame.columns:
        by_name.setdefault(str(column), column)
        if not isinstance(column, str):  # load_dataset((X, y)) names array columns x0, x1...
            by_name.setdefault(f"x{column}", column)
    missing = [c for c in columns if c not in by_name]
    if missing:
        extra = [c for c in by_name if c not in set(columns)]  # candidates for a rename
        shown = ", ".join(map(repr, missing[:10])) + (", ..." if len(missing) > 10 else "")
        raise DatasetError(
            f"{display!r} lacks {len(missing)} of the {len(columns)} feature columns the model "
            f"was trained on: {shown}.{did_you_mean(missing[0], extra)} Expected every "
            "training column by name (extra columns, such as the label, are ignored); add or "
            "rename the missing ones."
        )
    if len(frame) == 0:
        raise DatasetError(f"{display!r} has no rows to predict. Expected at least one row.")
    wanted = set(categorical)
    typed = {column: _typed(frame[by_name[column]].reset_index(drop=True), column in wanted,
                            column, display)
             for column in columns}
    return pd.DataFrame(typed, columns=list(columns))


def _raw_frame(source: Any, name: str | None) -> tuple[pd.DataFrame, str]:
    if isinstance(source, Dataset):
        return source.X, name or source.name
    if isinstance(source, pd.DataFrame):
        return source, name or "DataFrame"
    if isinstance(source, tuple) and len(source) == 2:
        source = source[0]
        if isinstance(source, pd.DataFrame):
            return source, name or "arrays"
    if isinstance(source, (str, os.PathLike)):
        text = str(source)
        if text.startswith(("sklearn:", "openml:")):  # these always carry their label
            dataset = load_dataset(text, name=name)
            return dataset.X, dataset.name
        path = Path(text).expanduser()
        frame, _ = read_file(path, label=False)
        return frame, name or dataset_name(path)
    try:
        values = np.asarray(source)
    except Exception as exc:
        raise DatasetError(f"Cannot read features from a {type(source).__name__}: {exc}. "
                           "Expected a DataFrame, an array or a file path.") from exc
    if values.ndim != 2:
        raise DatasetError(f"Features of shape {values.shape} are not a table; expected a "
                           "2-d array (one row per example) or a DataFrame.")
    return pd.DataFrame(values), name or "arrays"


def _typed(series: pd.Series, categorical: bool, column: str, name: str) -> pd.Series:
    """``series`` as the kind it had in training, whatever this batch looks like."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kind, typed = _column_kind(series, column, name)
    if kind == ("categorical" if categorical else "numeric"):
        for item in caught:  # about this column as it is used; others would mislead
            warn(str(item.message))
        return typed
    if categorical:
        text = series.where(series.isna(), _as_text(series).str.strip())
        return text.where(text != "", np.nan).astype("category")
    present = typed.notna()
    values = pd.to_numeric(typed.astype(object), errors="coerce").astype(float)
    unreadable = int((present & values.isna()).sum())
    if unreadable:
        warn(f"Column {column!r} of {name!r} was numeric in training but has {unreadable} "
             "non-numeric values here; they are treated as missing.")
    return values
