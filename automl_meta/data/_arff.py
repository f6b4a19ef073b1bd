"""Weka ARFF reading through liac-arff, keeping nominal attributes categorical."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pandas as pd

from automl_meta.data._text import detect_encoding, warn_latin1
from automl_meta.errors import DatasetError


def read_arff(path: Path, compressed: bool) -> tuple[pd.DataFrame, str | None]:
    """Read an ARFF file; the default label is the last attribute (the Weka convention).

    Nominal attributes become categoricals with the declared levels; ``?`` (quoted or not)
    is a missing value.
    """
    import arff  # liac-arff: only for ARFF files

    encoding = detect_encoding(path, compressed)
    try:
        try:
            content = _load(arff, path, compressed, encoding)
        except UnicodeDecodeError as exc:  # an invalid byte after the part probed
            warn_latin1(path, f"{exc.reason} at byte {exc.start} of a block")
            content = _load(arff, path, compressed, "latin-1")
    except (arff.ArffException, ValueError) as exc:  # liac-arff raises ValueError for escapes
        raise DatasetError(
            f"{path.name!r} is not valid ARFF: {exc}. Expected an @relation line, @attribute "
            "lines and an @data section; fix the line the message names."
        ) from exc
    except (OSError, EOFError) as exc:
        raise DatasetError(f"Could not read {path.name!r}: {exc}.") from exc
    attributes = content["attributes"]
    if not attributes:
        raise DatasetError(f"{path.name!r} declares no @attribute; expected at least two.")
    names = [name for name, _ in attributes]
    frame = pd.DataFrame(content["data"], columns=names)
    if frame.shape[0] == 0:
        raise DatasetError(f"{path.name!r} has no rows in its @data section.")
    for name, kind in attributes:
        if isinstance(kind, list):  # nominal
            # A quoted '?' declared as a level (as in UCI anneal) still means "missing", as
            # the UCI documentation says and as OpenML reads it; a level "?" carries nothing.
            levels = [level for level in dict.fromkeys(str(k) for k in kind) if level != "?"]
            values = frame[name].astype("object")
            frame[name] = pd.Categorical(values.where(values != "?", None), categories=levels)
        elif str(kind).upper() in ("NUMERIC", "REAL", "INTEGER"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
        else:
            column = frame[name].astype("object")
            frame[name] = column.where(column != "?", None)
    return frame, names[-1]


def _load(arff: Any, path: Path, compressed: bool, encoding: str) -> dict[str, Any]:
    opener = gzip.open if compressed else open
    with opener(path, "rt", encoding=encoding) as handle:
        return arff.load(handle)  # type: ignore[no-any-return]
