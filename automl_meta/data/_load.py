"""``load_dataset``: one entry point for every kind of dataset source."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl_meta.data._dataset import TASKS, Dataset
from automl_meta.data._prepare import check_unique_columns, choose_target, prepare
from automl_meta.data._readers import (
    ARFF_SUFFIXES,
    PARQUET_SUFFIXES,
    TABLE_SUFFIXES,
    read_file,
    split_suffix,
)
from automl_meta.errors import DatasetError, NetworkError, did_you_mean

SKLEARN_DATASETS = {
    "iris": ("load_iris", "classification"),
    "wine": ("load_wine", "classification"),
    "breast_cancer": ("load_breast_cancer", "classification"),
    "digits": ("load_digits", "classification"),
    "diabetes": ("load_diabetes", "regression"),
    "linnerud": ("load_linnerud", "regression"),
}


def load_dataset(
    source: Any,
    target: str | None = None,
    task: str | None = None,
    name: str | None = None,
) -> Dataset:
    """Load a supervised dataset from any supported source.

    Args:
        source: a pandas DataFrame (with ``target``), an ``(X, y)`` pair of arrays or
            frames, a path to a CSV / TSV (optionally ``.gz``), Parquet or ARFF file,
            ``"openml:ID"``, ``"sklearn:NAME"``, or an existing :class:`Dataset`.
        target: the label column; by default ``target`` / ``class`` / ``label`` / ``y``,
            or the last attribute of an ARFF file. In a file with repeated column names,
            the repeats are renamed ``name.1``, ``name.2``, ... in file order (the first
            keeps its name), and the default label is the last of a repeated ``target``
            (PMLB's convention); ``target`` names a column by its new name.
        task: ``"classification"`` or ``"regression"``; by default from an ``index.csv``
            beside the file, else inferred from the label (with a warning saying which).
        name: a display name (default: from the source).

    ARFF files are read as Weka reads them where strict ARFF would refuse them: data lines
    with a trailing comma or with values separated by spaces, and ``integer [lo,hi]``
    types. Each such deviation, and each renaming of repeated names, is reported by one
    :class:`~automl_meta.data.ToleratedFormatWarning`.

    Raises:
        DatasetError: when the source cannot be read or is unusable for learning; its
            ``parameter`` names the argument at fault when one is (``"target"``).

    Example:
        >>> ds = load_dataset("sklearn:wine")
        >>> ds.n_classes
        3
    """
    if isinstance(source, Dataset):
        return source
    if isinstance(source, pd.DataFrame):
        label = choose_target(source, target, None, name or "DataFrame")  # checks duplicates
        return prepare(source.drop(columns=[label]), source[label], task,
                       name or "DataFrame", "dataframe")
    if isinstance(source, tuple) and len(source) == 2:
        return _from_xy(source[0], source[1], task, name or "arrays")
    if isinstance(source, (str, os.PathLike)):
        text = str(source)
        if text.startswith("openml:"):
            return _from_openml(text[len("openml:"):], target, task, name)
        if text.startswith("sklearn:"):
            return _from_sklearn(text[len("sklearn:"):], task, name)
        return _from_path(Path(text).expanduser(), target, task, name)
    raise DatasetError(
        f"Cannot load a dataset from a {type(source).__name__}. Expected a DataFrame, an "
        "(X, y) pair, a file path, 'openml:ID' or 'sklearn:NAME'."
    )


def dataset_name(path: Path) -> str:
    """The dataset name of a file: its name without data and compression suffixes.

    Example:
        >>> dataset_name(Path("pmlb/iris.csv.gz")), dataset_name(Path("uci-arff/labor.arff"))
        ('iris', 'labor')
    """
    base = path.name
    suffix, compressed = split_suffix(path)
    if compressed:
        base = base[: -len(".gz")]
    return base[: -len(suffix)] if suffix and base.lower().endswith(suffix) else base


def _from_path(path: Path, target: str | None, task: str | None, name: str | None) -> Dataset:
    frame, default_target = read_file(path)
    display = name or dataset_name(path)
    if task is None:
        task = index_task(path)
    label = choose_target(frame, target, default_target, display)
    return prepare(frame.drop(columns=[label]), frame[label], task, display, str(path))


def index_task(path: Path) -> str | None:
    """The task of ``path`` listed in an ``index.csv`` beside it, if any.

    A task the index lists that is not one of :data:`TASKS` is ignored (the task is then
    inferred, with a warning), so a foreign index cannot make a good file unloadable.
    """
    index_path = path.parent.resolve() / "index.csv"
    try:
        stat = index_path.stat()
    except OSError:
        return None
    index = _read_index(str(index_path), stat.st_mtime_ns, stat.st_size)
    task = index.get(dataset_name(path)) if index else None
    return task if task in TASKS else None


@lru_cache(maxsize=32)
def _read_index(index_path: str, mtime_ns: int, size: int) -> dict[str, str] | None:
    """The name -> task map of an index.csv; cached per file version (mtime and size)."""
    del mtime_ns, size  # only part of the cache key, so an edited index is read again
    try:
        index = pd.read_csv(index_path)
    except Exception:  # a foreign index.csv of another shape is simply not ours
        return None
    if not {"name", "task"} <= set(index.columns):
        return None
    return dict(zip(index["name"].astype(str), index["task"].astype(str), strict=True))


def list_datasets(directory: str | os.PathLike[str]) -> list[Path]:
    """The data files of ``directory`` that ``load_dataset`` can read, sorted by name.

    Example:
        >>> [p.name for p in list_datasets("datasets/uci-arff")][:2]  # doctest: +SKIP
        ['anneal.arff', 'audiology.arff']
    """
    root = Path(directory)
    if not root.is_dir():
        raise DatasetError(f"{str(root)!r} is not a directory of datasets.")
    known = set(TABLE_SUFFIXES) | set(PARQUET_SUFFIXES) | set(ARFF_SUFFIXES)
    return sorted(
        p for p in root.iterdir()
        if p.is_file() and p.name != "index.csv" and split_suffix(p)[0] in known
    )


def iter_datasets(directory: str | os.PathLike[str]) -> Iterator[Dataset]:
    """Load every dataset of a directory in name order.

    Example:
        >>> for ds in iter_datasets("datasets/uci-arff"):  # doctest: +SKIP
        ...     print(ds.name, ds.task, ds.n_rows)
    """
    for path in list_datasets(directory):
        yield load_dataset(path)


def _from_xy(X: Any, y: Any, task: str | None, name: str) -> Dataset:
    try:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
        if isinstance(y, pd.DataFrame) and y.shape[1] == 1:
            y = y.iloc[:, 0]
        if isinstance(y, pd.Series):
            label = y
        else:
            values = np.asarray(y)
            if values.ndim > 1 and sum(n > 1 for n in values.shape) > 1:
                raise DatasetError(
                    f"y has shape {values.shape}; expected one label per row (a 1-d array or "
                    "a single column). Multi-output targets are not supported."
                )
            label = pd.Series(values.ravel())
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(f"Could not read (X, y) as tables: {exc}.") from exc
    if len(frame) != len(label):
        raise DatasetError(
            f"X has {len(frame)} rows but y has {len(label)}; expected one label per row."
        )
    # numpy arrays get columns 0..n-1: name them x0..xn-1 (text names are kept as they are)
    frame = frame.rename(columns=lambda c: c if isinstance(c, str) else f"x{c}")
    check_unique_columns(frame, name)
    label = label.rename(label.name if label.name is not None else "target")
    return prepare(frame.reset_index(drop=True), label.reset_index(drop=True), task, name, "xy")


def _from_sklearn(dataset: str, task: str | None, name: str | None) -> Dataset:
    if dataset not in SKLEARN_DATASETS:
        raise DatasetError(
            f"sklearn:{dataset} is not a toy dataset scikit-learn ships."
            f"{did_you_mean(dataset, list(SKLEARN_DATASETS))} Expected one of "
            f"{', '.join(SKLEARN_DATASETS)}."
        )
    import sklearn.datasets

    loader, default_task = SKLEARN_DATASETS[dataset]
    bunch = getattr(sklearn.datasets, loader)(as_frame=True)
    y = bunch.target if bunch.target.ndim == 1 else bunch.target.iloc[:, 0]
    return prepare(bunch.data, y.rename("target"), task or default_task,
                   name or dataset, f"sklearn:{dataset}")


def _from_openml(ident: str, target: str | None, task: str | None, name: str | None) -> Dataset:
    if not ident.isdigit():
        raise DatasetError(
            f"openml:{ident} is not an OpenML dataset ID; expected openml:<integer>."
        )
    try:
        import openml
    except ImportError as exc:
        raise DatasetError(
            "Loading openml:ID needs the openml package: pip install 'automl-meta[openml]'."
        ) from exc
    try:
        remote = openml.datasets.get_dataset(
            int(ident), download_data=True, download_qualities=False,
            download_features_meta_data=False,
        )
        get_data_kwargs: dict[str, Any] = {}
        if "dataset_format" in inspect.signature(remote.get_data).parameters:
            get_data_kwargs["dataset_format"] = "dataframe"  # openml < 0.16 also has "array"
        frame, _, _, _ = remote.get_data(**get_data_kwargs)
    except Exception as exc:
        if _is_network_error(exc):
            raise NetworkError(
                f"Could not download openml:{ident}: the OpenML server is not reachable "
                f"({type(exc).__name__}). Expected a network connection or a cached copy in "
                f"{_openml_cache_dir()}; connect, or load a local file instead."
            ) from exc
        raise DatasetError(f"OpenML could not provide dataset {ident}: {exc}.") from exc
    display = name or str(remote.name)
    default = remote.default_target_attribute
    if not isinstance(default, str) or default not in frame.columns:
        default = None  # none, or several comma-separated targets: let the user choose
    label = choose_target(frame, target, default, display)
    return prepare(frame.drop(columns=[label]), frame[label], task, display, f"openml:{ident}")


def _openml_cache_dir() -> str:
    try:
        import openml

        return str(openml.config.get_cache_directory())
    except Exception:  # cache location is only used in a message
        return "the OpenML cache directory"


def _is_network_error(exc: BaseException) -> bool:
    import socket

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (ConnectionError, socket.gaierror, TimeoutError)):
            return True
        kind = type(current).__name__
        if kind in {"ConnectionError", "ConnectTimeout", "ReadTimeout", "OpenMLServerNoResult",
                    "OpenMLServerError", "MaxRetryError", "NewConnectionError"}:
            return True
        current = current.__cause__ or current.__context__
    return False
