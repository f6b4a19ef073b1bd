"""Uploaded datasets: a safe name, a private directory, size caps, and never a pickle.

An upload is written to a fresh directory under the server's data directory with a name
reduced to ``[A-Za-z0-9._-]`` (so ``../../etc/passwd.csv`` becomes ``passwd.csv`` inside
that directory), read by :func:`automl_meta.load_dataset` according to its suffix (CSV /
TSV / Parquet / ARFF, optionally gzip-compressed), and deleted with its directory when the
request ends. Formats that can run code when loaded (pickle, joblib, numpy object arrays,
torch files) are refused by name.
"""

from __future__ import annotations

import gzip
import logging
import re
import shutil
import tempfile
import unicodedata
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from automl_meta.errors import AutoMLMetaError
from automl_meta.service.limits import ServiceProblem, too_large_message

logger = logging.getLogger("automl_meta.service")

DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".data", ".parquet", ".pq", ".arff")
CODE_SUFFIXES = (".pkl", ".pickle", ".p", ".joblib", ".npy", ".npz", ".sav", ".pt", ".pth",
                 ".ckpt", ".bin", ".dill", ".cloudpickle", ".h5", ".hdf5", ".keras")
DECOMPRESSED_FACTOR = 20  # a .gz upload may expand to at most this many times the limit
CHUNK = 1 << 16


def safe_filename(name: str | None) -> str:
    """The last path component of ``name`` reduced to ``[A-Za-z0-9._-]``, never hidden."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFKC", name or ""))[-1]
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")[:128]
    return base or "upload"


def check_suffix(filename: str) -> None:
    """Refuse names whose format we do not read, and loudly those that would run code."""
    suffixes = [s.lower() for s in Path(filename).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in CODE_SUFFIXES:
        raise ServiceProblem(415, (
            f"Refusing {filename!r}: {suffix} files (pickle, joblib, numpy, torch) can run "
            "arbitrary code when loaded, so this server never opens them. Upload the data as "
            "CSV, TSV, Parquet or ARFF (e.g. DataFrame.to_parquet)."), "UnsupportedMediaType")
    if suffix not in DATA_SUFFIXES:
        what = f"the suffix {suffix!r}" if suffix else "no suffix"
        raise ServiceProblem(415, (
            f"Cannot read {filename!r}: it has {what}. Expected a file name ending in "
            f"{', '.join(DATA_SUFFIXES)} (optionally .gz), which selects the reader."),
            "UnsupportedMediaType")


@contextmanager
def private_directory(data_dir: Path) -> Iterator[Path]:
    """A fresh directory under ``data_dir`` for one request, removed afterwards."""
    data_dir.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="upload-", dir=data_dir))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def save_upload(source: BinaryIO, filename: str | None, directory: Path,
                max_bytes: int) -> Path:
    """Copy an uploaded file into ``directory`` under a safe name; returns the readable path.

    A ``.gz`` upload is decompressed (to at most ``DECOMPRESSED_FACTOR * max_bytes``), so
    a small compressed file cannot expand without bound while being parsed.
    """
    name = safe_filename(filename)
    check_suffix(name)
    path = (directory / name).resolve()
    if path.parent != directory.resolve():  # unreachable after safe_filename; belt and braces
        raise ServiceProblem(400, f"Refusing the file name {filename!r}.")
    _copy_capped(source, path, max_bytes, "uploaded file")
    if path.suffix.lower() == ".gz":
        plain = path.with_suffix("")
        with path.open("rb") as raw, gzip.GzipFile(fileobj=raw) as unpacked:
            try:
                _copy_capped(unpacked, plain, DECOMPRESSED_FACTOR * max_bytes,
                             "decompressed file")
            except (OSError, EOFError, zlib.error) as exc:
                raise ServiceProblem(400, f"{name!r} is not a valid gzip file: {exc}.",
                                     "DatasetError") from exc
        path.unlink()
        path = plain
    if path.suffix.lower() in (".parquet", ".pq"):
        _check_parquet_size(path, DECOMPRESSED_FACTOR * max_bytes)
    return path


def _copy_capped(source: Any, target: Path, max_bytes: int, what: str) -> None:
    written = 0
    with target.open("xb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > max_bytes:
                raise ServiceProblem(413, too_large_message(max_bytes, what), "PayloadTooLarge")
            out.write(chunk)
    if written == 0:
        raise ServiceProblem(400, f"The {what} is empty (0 bytes); expected a header and rows.",
                             "DatasetError")


def _check_parquet_size(path: Path, max_bytes: int) -> None:
    import pyarrow.parquet as pq

    try:
        metadata = pq.ParquetFile(path).metadata
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise ServiceProblem(400, f"{path.name!r} is not a readable Parquet file: {exc}.",
                             "DatasetError") from exc
    size = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    if size > max_bytes:
        raise ServiceProblem(413, too_large_message(max_bytes, "decompressed Parquet data"),
                             "PayloadTooLarge")


def load_upload(path: Path, target: str | None, task: str | None) -> Any:
    """Load a saved upload as a :class:`~automl_meta.Dataset` (clear 400 when unreadable)."""
    from automl_meta.data import dataset_name, load_dataset

    try:
        dataset = load_dataset(path, target=target, task=task, name=dataset_name(path))
    except AutoMLMetaError:
        raise
    except Exception as exc:  # a parser failing on user-supplied bytes is the file's fault
        logger.info("could not read upload %s", path.name, exc_info=True)
        raise ServiceProblem(400, f"Could not read {path.name!r} as a dataset: "
                             f"{exc.__class__.__name__}: {exc}.", "DatasetError") from exc
    dataset.source = f"upload:{path.name}"
    return dataset
