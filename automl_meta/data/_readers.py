"""Readers that turn a file on disk into a raw DataFrame, with clear errors."""

from __future__ import annotations

import csv
import gzip
import io
import warnings
from pathlib import Path

import pandas as pd

from automl_meta.data._arff import read_arff
from automl_meta.data._names import default_label, unique_names, warn_renamed
from automl_meta.data._text import detect_encoding, warn_latin1
from automl_meta.errors import DatasetError

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": None, ".data": None}
PARQUET_SUFFIXES = (".parquet", ".pq")
ARFF_SUFFIXES = (".arff",)
NA_VALUES = ["?", "NA", "NaN", "nan", "null", "NULL", ""]
SUPPORTED = ".csv, .tsv, .txt, .data (each optionally .gz), .parquet, .pq, .arff (optionally .gz)"
DIRECTORY_ADVICE = "Use automl_meta.data.list_datasets(directory) to iterate over a directory."


def split_suffix(path: Path) -> tuple[str, bool]:
    """The data suffix of ``path`` (``.csv``) and whether it is gzip-compressed."""
    suffixes = [s.lower() for s in path.suffixes]
    compressed = bool(suffixes) and suffixes[-1] == ".gz"
    if compressed:
        suffixes = suffixes[:-1]
    return (suffixes[-1] if suffixes else ""), compressed


def similar_file_names(path: Path, n: int = 3, cutoff: float = 0.8) -> list[str]:
    """Names in ``path``'s directory that ``path`` was probably meant to be: close spellings
    (``iris.cvs`` -> ``iris.csv``, case ignored) and the same name with another data suffix
    (``iris`` -> ``iris.csv.gz``). A shared prefix alone (``data_x`` vs ``dataset``) is not
    enough, so the hint stays short."""
    import difflib
    import itertools

    try:
        names = [p.name for p in itertools.islice(path.parent.iterdir(), 10_000)
                 if not p.name.startswith(".")]
    except OSError:  # no such directory, or not readable: no hint rather than a new error
        return []
    by_lower = {name.lower(): name for name in sorted(names)}
    wanted = path.name.lower()
    close = difflib.get_close_matches(wanted, list(by_lower), n=n, cutoff=cutoff)
    stem = _bare_stem(wanted)
    same_stem = [lower for lower in sorted(by_lower) if _bare_stem(lower) == stem]
    chosen = list(dict.fromkeys(close + same_stem))[:n]
    return [by_lower[lower] for lower in chosen]


def _bare_stem(name: str) -> str:
    """``iris.csv.gz`` -> ``iris``: the name without its data (and compression) suffixes."""
    known = {*TABLE_SUFFIXES, *PARQUET_SUFFIXES, *ARFF_SUFFIXES, ".gz"}
    while "." in name and name[name.rindex("."):] in known:
        name = name[:name.rindex(".")]
    return name


def read_file(path: Path, *, label: bool = True) -> tuple[pd.DataFrame, str | None]:
    """Read a data file. Returns the frame and the default label column, if any (ARFF).

    Repeated column names are renamed by :func:`~automl_meta.data._names.unique_names`
    (``target``, ``target.1``), with a warning; when the usual label name is repeated, the
    default label is the last column of that name (PMLB's convention). ``label=False`` (rows
    to predict) leaves the label out of that warning.
    """
    if not path.exists():
        near = similar_file_names(path)
        hint = f" Files with a similar name there: {', '.join(near)}." if near else ""
        raise DatasetError(
            f"No file at {str(path)!r}. Expected the path of a data file ({SUPPORTED})."
            f"{hint} Check the path and the working directory ({Path.cwd()})."
        )
    if path.is_dir():
        raise DatasetError(
            f"{str(path)!r} is a directory; expected one data file. "
            f"{DIRECTORY_ADVICE}",
            parameter="source", advice=DIRECTORY_ADVICE,
        )
    if path.stat().st_size == 0:
        raise DatasetError(f"{str(path)!r} is empty (0 bytes). Expected a header and rows.")
    suffix, compressed = split_suffix(path)
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path, label)
    if suffix in ARFF_SUFFIXES:
        return read_arff(path, compressed, label)
    if suffix in TABLE_SUFFIXES:
        return _read_table(path, TABLE_SUFFIXES[suffix], compressed, label)
    extension = "".join(path.suffixes)
    problem = f"the extension {extension!r} is not one we know" if extension else (
        "it has no extension, so its format is unknown"
    )
    raise DatasetError(
        f"Cannot read {path.name!r}: {problem}. Supported: {SUPPORTED}. Convert the file or "
        "rename it if the extension is wrong."
    )


def _read_parquet(path: Path, label: bool) -> tuple[pd.DataFrame, str | None]:
    try:
        import pyarrow.parquet as pq

        names = [str(name) for name in pq.read_schema(path).names]
        if len(set(names)) == len(names):
            return pd.read_parquet(path), None
        renamed = unique_names(names)  # pandas refuses a Parquet file with repeated names
        frame = pq.ParquetFile(path).read().rename_columns(renamed).to_pandas()
    except Exception as exc:  # pyarrow raises many unrelated types for a bad file
        raise DatasetError(
            f"Could not read {str(path)!r} as Parquet: {exc}. Expected a valid Parquet file; "
            "check that the file is complete and really Parquet."
        ) from exc
    return frame, _renamed(path, names, renamed, label)


def _renamed(path: Path, names: list[str], renamed: list[str], label: bool) -> str | None:
    """Warn about the renamed repeats; the default label when the usual one is repeated."""
    default = default_label(names, renamed)
    warn_renamed(path.name, names, renamed, default if label else None)
    return default


def _read_table(path: Path, sep: str | None, compressed: bool,
                label: bool) -> tuple[pd.DataFrame, str | None]:
    encoding = detect_encoding(path, compressed)
    header = _read_header(path, compressed, encoding, sep)
    if sep is None:
        sep = "\t" if "\t" in header else ","
    columns = next(csv.reader([header], delimiter=sep))
    renamed: list[str] | None = None
    if len(set(columns)) < len(columns):
        renamed = unique_names(columns)
    try:
        frame = _read_csv(path, sep, encoding, compressed, len(columns), renamed)
    except UnicodeDecodeError as exc:  # an invalid byte after the part probed for encoding
        warn_latin1(path, f"{exc.reason} at byte {exc.start} of a block")
        frame = _read_csv(path, sep, "latin-1", compressed, len(columns), renamed)
        encoding = "latin-1"
    if frame.shape[0] == 0:
        raise DatasetError(
            f"{path.name!r} has a header but no rows. Expected at least one row per example."
        )
    if frame.shape[1] > 1 and frame.iloc[:, -1].isna().any():
        # pandas pads a row with too few fields with missing values; such a row leaves the
        # last column empty, so only then is the file scanned for short rows.
        _check_short_rows(path, compressed, encoding, sep, len(columns))
    if renamed is None:
        return frame, None
    return frame, _renamed(path, columns, renamed, label)


def _read_csv(
    path: Path, sep: str, encoding: str, compressed: bool, n_columns: int,
    names: list[str] | None = None,
) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            # pandas only warns when rows have more fields than the header and drops them
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(
                path,
                sep=sep,
                encoding=encoding,
                compression="gzip" if compressed else None,
                na_values=NA_VALUES,
                keep_default_na=False,
                low_memory=False,
                # never take the first column as the index when rows end with a separator
                index_col=False,
                # repeated header names: ours (pandas' own renaming differs on collisions)
                **({"names": names, "header": 0} if names is not None else {}),
            )
    except pd.errors.EmptyDataError as exc:
        raise DatasetError(
            f"{path.name!r} has no data (no header and no rows). Expected a header line "
            "followed by one row per example."
        ) from exc
    except pd.errors.ParserWarning as exc:
        raise DatasetError(
            f"{path.name!r} is malformed (ragged rows): some rows have more fields than the "
            f"header ({n_columns}), and pandas would silently drop the extra values. Expected "
            "every row to have as many fields as the header; fix the header or those rows."
        ) from exc
    except pd.errors.ParserError as exc:
        raise DatasetError(
            f"{path.name!r} is malformed (ragged rows or an unclosed quote): "
            f"{str(exc).strip().rstrip('.')}. Expected "
            f"every row to have as many fields as the header ({n_columns}); fix or quote the "
            "offending lines."
        ) from exc
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(
            f"Could not read {path.name!r}: {exc}. Expected a readable "
            f"{'gzip-compressed ' if compressed else ''}text table."
        ) from exc


def _check_short_rows(
    path: Path, compressed: bool, encoding: str, sep: str, n_columns: int
) -> None:
    with _open_text(path, compressed, encoding) as handle:
        next(handle, None)
        # fast path: every line has enough separators (only a short row whose quoted fields
        # hold separators escapes it); otherwise an exact scan that understands quoting
        if all(line.count(sep) >= n_columns - 1 or not line.strip() for line in handle):
            return
    with _open_text(path, compressed, encoding) as handle:
        reader = csv.reader(handle, delimiter=sep)
        next(reader, None)
        for record in reader:
            if record and len(record) < n_columns:  # blank lines are skipped, as pandas does
                raise DatasetError(
                    f"{path.name!r} is malformed (ragged rows): line {reader.line_num} has "
                    f"{len(record)} fields but the header has {n_columns}. Expected every row "
                    "to have as many fields as the header; write missing values as empty "
                    f"fields ({sep!r} separated) or '?'."
                )


def _open_text(path: Path, compressed: bool, encoding: str) -> io.TextIOBase:
    if compressed:
        return gzip.open(path, "rt", encoding=encoding, newline="")  # type: ignore[return-value]
    return open(path, encoding=encoding, newline="")  # noqa: SIM115


def _read_header(path: Path, compressed: bool, encoding: str, sep: str | None) -> str:
    try:
        with _open_text(path, compressed, encoding) as handle:
            header = handle.readline().rstrip("\r\n")
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(
            f"Could not read {path.name!r}: {exc}. Expected a readable "
            f"{'gzip-compressed ' if compressed else ''}text table."
        ) from exc
    if not header.strip():
        raise DatasetError(
            f"{path.name!r} has no header line (it is empty or starts with a blank line). "
            "Expected column names on the first line."
        )
    return header
