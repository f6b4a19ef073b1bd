"""From a raw frame to a clean :class:`Dataset`: label, types, task, checks, fingerprint."""

from __future__ import annotations

import hashlib
import sys
import warnings

import numpy as np
import pandas as pd

from automl_meta.data._dataset import TASKS, Dataset
from automl_meta.errors import AutoMLMetaWarning, DatasetError, did_you_mean

DEFAULT_TARGET_NAMES = ("target", "class", "label", "y")
MIN_ROWS = 10
MAX_CLASSIFICATION_INT_LEVELS = 20
MIXED_NUMERIC_SHARE = 0.95


TARGET_ADVICE = "Pass target=<column name>."


def warn(message: str, category: type[AutoMLMetaWarning] = AutoMLMetaWarning, *,
         parameter: str | None = None, advice: str | None = None) -> None:
    """Warn with ``category``, attributed to the first caller outside automl-meta.

    The loading code calls this from various depths, so a fixed ``stacklevel`` would point at
    some line of ours; the user wants to see the line of their own code. ``parameter`` and
    ``advice`` are kept on the warning (see :class:`~automl_meta.errors.AutoMLMetaError`).
    """
    frame = sys._getframe(1)
    level = 2
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith(
        "automl_meta."
    ):
        frame = frame.f_back
        level += 1
    warnings.warn(category(message, parameter=parameter, advice=advice), stacklevel=level)


def check_unique_columns(frame: pd.DataFrame, name: str) -> None:
    """Raise a :class:`DatasetError` naming the duplicated column names of ``frame``.

    Names are compared as text, so ``1`` and ``"1"`` count as duplicates: the features are
    renamed to text later and must stay distinct.
    """
    columns = pd.Index([str(c) for c in frame.columns])
    if columns.has_duplicates:
        duplicates = sorted(set(columns[columns.duplicated()]))
        raise DatasetError(
            f"{name!r} has duplicate column names: {', '.join(map(repr, duplicates))}. "
            "Expected unique column names; rename the duplicates."
        )


def choose_target(frame: pd.DataFrame, target: str | None, default: str | None, name: str) -> str:
    """The label column: the one given, else target/class/label, else the format's default."""
    columns = [str(c) for c in frame.columns]
    check_unique_columns(frame, name)
    if target is not None:
        if target in frame.columns:
            return target
        raise DatasetError(
            f"Target column {target!r} not found in {name!r}.{did_you_mean(target, columns)} "
            f"Expected one of its {len(columns)} columns: {', '.join(columns[:12])}"
            f"{', ...' if len(columns) > 12 else ''}. {TARGET_ADVICE}",
            parameter="target",
        )
    if default is not None:
        return default
    lowered = {str(c).lower(): c for c in frame.columns}
    for candidate in DEFAULT_TARGET_NAMES:
        if candidate in lowered:
            return lowered[candidate]
    raise DatasetError(
        f"No target column given for {name!r} and none is named "
        f"{'/'.join(DEFAULT_TARGET_NAMES)} (columns: {', '.join(columns[:12])}"
        f"{', ...' if len(columns) > 12 else ''}). {TARGET_ADVICE}",
        parameter="target",
    )


def prepare(
    X: pd.DataFrame, y: pd.Series, task: str | None, name: str, source: str
) -> Dataset:
    """Validate and clean features and label, infer column types and the task."""
    if task is not None and task not in TASKS:
        raise DatasetError(
            f"task={task!r} is not a task we know; expected 'classification' or 'regression'.",
            parameter="task",
        )
    _check_columns(X, name)
    y = _clean_target(y, name)
    keep = y.notna().to_numpy()
    if not keep.all():
        dropped = int((~keep).sum())
        if dropped == len(y):
            raise DatasetError(
                f"The target {y.name!r} of {name!r} is missing in every row. Expected a label "
                "in at least some rows; check that you chose the right target column."
            )
        warn(f"Dropped {dropped} of {len(y)} rows of {name!r} whose target {y.name!r} is missing.")
        X, y = X.loc[keep].reset_index(drop=True), y.loc[keep].reset_index(drop=True)
    else:
        X, y = X.reset_index(drop=True), y.reset_index(drop=True)
    if len(y) < MIN_ROWS:
        raise DatasetError(
            f"{name!r} has only {len(y)} usable row{'' if len(y) == 1 else 's'} (rows with a "
            f"label); a model needs at least {MIN_ROWS} to learn from and to be scored. "
            "Provide more data."
        )
    if task is None:
        task = infer_task(y)
    y = _finish_target(y, task, name)
    X, categorical, numeric = clean_features(X, name)
    dataset = Dataset(X=X, y=y, task=task, name=name, categorical=categorical,
                      numeric=numeric, source=source)
    dataset.fingerprint = fingerprint(X, y)
    return dataset


def _check_columns(X: pd.DataFrame, name: str) -> None:
    check_unique_columns(X, name)
    if X.shape[1] == 0:
        raise DatasetError(f"{name!r} has no feature columns besides the target.")


def _clean_target(y: pd.Series, name: str) -> pd.Series:
    if isinstance(y.dtype, pd.CategoricalDtype):
        y = y.astype("object")
    if pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype):
        values = y.to_numpy(dtype=float, na_value=np.nan)
        if np.isinf(values).any():
            raise DatasetError(
                f"The target {y.name!r} of {name!r} contains infinite values. Expected finite "
                "numbers; remove or fix those rows."
            )
    elif _is_text_dtype(y.dtype):
        y = y.where(y.isna() | (_as_text(y).str.strip() != ""), np.nan)
    return y


def _is_text_dtype(dtype: object) -> bool:
    """Object columns and pandas' string dtypes (the default for text since pandas 3)."""
    return pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)


def _as_text(series: pd.Series) -> pd.Series:
    """``series`` as text; bytes that are not valid UTF-8 are decoded with replacement."""
    try:
        return series.astype(str)
    except (UnicodeDecodeError, TypeError, ValueError):
        return series.map(
            lambda v: v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)
        ).astype(str)


def infer_task(y: pd.Series) -> str:
    """Classification for non-numeric labels or few distinct integers, else regression.

    It warns (:class:`~automl_meta.errors.AutoMLMetaWarning`) which task it inferred.

    Example:
        >>> infer_task(pd.Series([0, 1, 1, 2])), infer_task(pd.Series([0.5, 1.25, 3.0]))
        ('classification', 'regression')
    """
    if not pd.api.types.is_numeric_dtype(y.dtype) or pd.api.types.is_bool_dtype(y.dtype):
        task = "classification"
    else:
        values = y.to_numpy(dtype=float)
        integral = bool(np.all(np.mod(values, 1) == 0))
        n_unique = int(pd.unique(values).size)
        task = (
            "classification"
            if integral and n_unique <= max(MAX_CLASSIFICATION_INT_LEVELS, 0)
            else "regression"
        )
    warn(f"Inferred task {task!r} from the target {y.name!r}; pass task=... to override.",
         parameter="task")
    return task


def _finish_target(y: pd.Series, task: str, name: str) -> pd.Series:
    if task == "regression":
        numeric = pd.to_numeric(y, errors="coerce")
        if numeric.isna().any():
            raise DatasetError(
                f"task='regression' but the target {y.name!r} of {name!r} has non-numeric "
                f"values such as {y[numeric.isna()].iloc[0]!r}. Expected numbers; "
                "use task='classification' for labels.",
                parameter="task",
            )
        return numeric.astype(float)
    if _is_text_dtype(y.dtype) and pd.api.types.infer_dtype(y, skipna=True) in (
        "mixed", "mixed-integer"
    ):
        warn(f"The target {y.name!r} of {name!r} mixes values of different types (such as "
             "numbers and text); its labels are compared as text.")
        y = _as_text(y)
    if y.nunique() < 2:
        raise DatasetError(
            f"The target {y.name!r} of {name!r} has a single class ({y.iloc[0]!r}). "
            "Classification needs at least two classes; check the target column."
        )
    return y


def clean_features(X: pd.DataFrame, name: str) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Type each column numeric or categorical; drop ID-like and empty columns."""
    X = X.copy(deep=False)
    X.columns = [str(c) for c in X.columns]
    categorical: list[str] = []
    numeric: list[str] = []
    dropped: list[str] = []
    n_rows = len(X)
    for column in list(X.columns):
        original = X[column]
        kind, series = _column_kind(original, column, name)
        if kind == "drop" or series.isna().all():
            warn(f"Dropped column {column!r} of {name!r}: it is missing in every row.")
            dropped.append(column)
            continue
        if _is_id_like(series, kind, n_rows):
            warn(f"Dropped column {column!r} of {name!r}: it looks like a row ID "
                 "(a distinct value in every row).")
            dropped.append(column)
            continue
        if series is not original:
            X[column] = series
        (numeric if kind == "numeric" else categorical).append(column)
    X = X.drop(columns=dropped)
    if X.shape[1] == 0 or not _any_varying(X):
        raise DatasetError(
            f"{name!r} has no usable feature: every column is empty, an ID, or constant. "
            "Expected at least one feature that varies across rows."
        )
    return X, categorical, numeric


def _column_kind(series: pd.Series, column: str, name: str) -> tuple[str, pd.Series]:
    dtype = series.dtype
    if isinstance(dtype, pd.SparseDtype):
        series = series.sparse.to_dense()
        dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical", series.astype("category")
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical", series
    if pd.api.types.is_complex_dtype(dtype):
        raise DatasetError(
            f"Column {column!r} of {name!r} holds complex numbers. Expected real numbers, "
            "text or categories; split it into real and imaginary parts."
        )
    if isinstance(dtype, pd.PeriodDtype):
        series = series.dt.to_timestamp()
        dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if getattr(dtype, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return "numeric", _seconds(series)
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "numeric", _seconds(series)
    if pd.api.types.is_numeric_dtype(dtype):
        if pd.api.types.is_float_dtype(dtype):
            series = _infinite_to_missing(series, column, name)
        return "numeric", series
    return _object_kind(series, column, name)


def _seconds(series: pd.Series) -> pd.Series:
    """Seconds since the epoch (or in a duration) as floats, missing where NaT.

    Works on the stored integers in the column's own unit, so dates outside the nanosecond
    range (pandas 3 keeps them at coarser units) do not overflow.
    """
    values = series.to_numpy()
    unit = np.datetime_data(values.dtype)[0]
    per_second = np.timedelta64(1, "s") / np.timedelta64(1, unit)
    seconds = values.view("int64") / per_second
    seconds[np.isnat(values)] = np.nan
    return pd.Series(seconds, index=series.index, name=series.name)


def _infinite_to_missing(series: pd.Series, column: str, name: str) -> pd.Series:
    infinite = np.isinf(series.to_numpy(dtype=float, na_value=np.nan))
    if infinite.any():
        warn(f"Column {column!r} of {name!r} has {int(infinite.sum())} infinite values; "
             "they are treated as missing.")
        series = series.where(~infinite, np.nan)
    return series


def _object_kind(series: pd.Series, column: str, name: str) -> tuple[str, pd.Series]:
    text = series.where(series.isna(), _as_text(series).str.strip())
    text = text.where(text != "", np.nan)
    present = text.notna()
    if not present.any():
        return "drop", text
    parsed = pd.to_numeric(text, errors="coerce")
    share = float(parsed.notna().sum() / present.sum())
    if share == 1.0:
        return "numeric", _infinite_to_missing(parsed.astype(float), column, name)
    if share >= MIXED_NUMERIC_SHARE:
        bad = text[present & parsed.isna()]
        warn(f"Column {column!r} of {name!r} mixes numbers with {len(bad)} non-numeric "
             f"values such as {bad.iloc[0]!r}; those are treated as missing.")
        return "numeric", _infinite_to_missing(parsed.astype(float), column, name)
    if share > 0:
        warn(f"Column {column!r} of {name!r} mixes text and numbers; it is treated as "
             "categorical.")
    return "categorical", text.astype("category")


def _is_id_like(series: pd.Series, kind: str, n_rows: int) -> bool:
    """A column with a distinct value in every row that carries no signal: text labels, or
    integers that are a permutation of a consecutive range (row numbers, in any order)."""
    if n_rows < 20:
        return False
    if kind == "categorical":
        return series.nunique() == n_rows
    if not pd.api.types.is_integer_dtype(series.dtype) or series.hasnans:
        return False
    first, last = int(series.min()), int(series.max())
    return last - first == n_rows - 1 and series.is_unique


def _any_varying(X: pd.DataFrame) -> bool:
    return any(X[column].nunique(dropna=False) > 1 for column in X.columns)


def fingerprint(X: pd.DataFrame, y: pd.Series) -> str:
    """A content hash of features and label: same data, same fingerprint.

    Example:
        >>> X, y = pd.DataFrame({"a": [1, 2, 3]}), pd.Series([0, 1, 0], name="label")
        >>> fingerprint(X, y) == fingerprint(X.copy(), y.copy()), len(fingerprint(X, y))
        (True, 32)
        >>> fingerprint(X, y) == fingerprint(X, y.rename("other"))
        False
    """
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, X.columns)).encode())
    digest.update(str(y.name).encode())
    rows = pd.util.hash_pandas_object(X, index=False).to_numpy()
    digest.update(rows.tobytes())
    digest.update(pd.util.hash_pandas_object(y, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:32]
