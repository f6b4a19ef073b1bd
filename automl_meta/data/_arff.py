"""Weka ARFF reading through liac-arff, keeping nominal attributes categorical.

liac-arff is strict; Weka and most ARFF readers accept a few deviations that real files
have. :func:`read_arff` tolerates these, each with one :class:`ToleratedFormatWarning`:

- a data line ending with a comma (``1,2,3,``) is read as if the comma were absent;
- a data line whose values are separated by spaces or tabs instead of commas is read as
  comma-separated, when it then has one value per attribute;
- a numeric type with a range (``integer [1,10]``) is read as the type alone; the range is
  not checked;
- repeated attribute names are renamed ``name``, ``name.1``, ... (see
  :func:`~automl_meta.data._names.unique_names`).

Anything else stays an error naming the line: a data line with the wrong number of values
after these tolerances is refused.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from automl_meta.data._names import ToleratedFormatWarning, unique_names, warn_renamed
from automl_meta.data._prepare import warn
from automl_meta.data._text import detect_encoding, warn_latin1
from automl_meta.errors import DatasetError

# the name as liac-arff reads it: quoted (greedy, as liac-arff) or up to the first blank
_ATTRIBUTE = re.compile(r"""^(\s*@attribute\s+)(".*"|'.*'|[^{}%,\s]*)(\s+)(.+?)\s*$""",
                        re.IGNORECASE)
_RANGED_TYPE = re.compile(r"^(integer|real|numeric)\s*[\[(][^\])]*[\])]$", re.IGNORECASE)
_NEEDS_QUOTES = re.compile(r"[\s,{}%'\"]")
_QUOTES = ("'", '"')


def read_arff(path: Path, compressed: bool,
              label: bool = True) -> tuple[pd.DataFrame, str | None]:
    """Read an ARFF file; the default label is the last attribute (the Weka convention).

    Nominal attributes become categoricals with the declared levels; ``?`` (quoted or not)
    is a missing value. The deviations listed in this module's docstring are read with a
    warning each (``label=False``: rows to predict, the warnings do not name the label).
    """
    import arff  # liac-arff: only for ARFF files

    encoding = detect_encoding(path, compressed)
    lenient = _Lenient()
    try:
        try:
            content = _load(arff, path, compressed, encoding, lenient)
        except UnicodeDecodeError as exc:  # an invalid byte after the part probed
            warn_latin1(path, f"{exc.reason} at byte {exc.start} of a block")
            lenient = _Lenient()
            content = _load(arff, path, compressed, "latin-1", lenient)
    except (arff.ArffException, ValueError) as exc:  # liac-arff raises ValueError for escapes
        in_data = isinstance(exc, (arff.BadDataFormat, arff.BadLayout)) and lenient.in_data
        expected = (f"{len(lenient.names)} values per data line, separated by commas"
                    if in_data else "an @relation line, @attribute lines and an @data section")
        raise DatasetError(
            f"{path.name!r} is not valid ARFF: {str(exc).rstrip('.')}. Expected {expected}; "
            "fix the line the message names."
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
    lenient.warn(path.name, names[-1] if label else None)
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


def _load(arff: Any, path: Path, compressed: bool, encoding: str,
          lenient: _Lenient) -> dict[str, Any]:
    opener = gzip.open if compressed else open
    with opener(path, "rt", encoding=encoding) as handle:
        # lines are passed one for one, so liac-arff's line numbers stay those of the file
        return arff.load(lenient.lines(handle))  # type: ignore[no-any-return]


class _Lenient:
    """Rewrites the tolerated deviations line by line and counts them for the warnings."""

    def __init__(self) -> None:
        self.ranged: list[str] = []  # the ranged types, as written
        self.trailing = 0
        self.spaced = 0
        self.names: list[str] = []
        self.renamed: list[str] = []
        self.in_data = False  # whether the @data section was reached

    def lines(self, handle: Iterable[str]) -> Iterator[str]:
        """The lines of ``handle``, with the header and data lines rewritten as needed."""
        source = iter(handle)
        header: list[str] = []
        for line in source:  # the header is small: read it whole, to rename repeats
            header.append(line)
            if line.lstrip().lower().startswith("@data"):
                break
        yield from self._header(header)
        self.in_data = bool(header) and header[-1].lstrip().lower().startswith("@data")
        n_values = len(self.names)
        for line in source:
            yield self._data(line, n_values)

    def _header(self, lines: list[str]) -> list[str]:
        matches = [_ATTRIBUTE.match(line) for line in lines]
        self.names = [m.group(2).strip("'\"") for m in matches if m]
        self.renamed = unique_names(self.names)
        new_names = iter(self.renamed)
        result = []
        for line, match in zip(lines, matches, strict=True):
            if match is None:
                result.append(line)
                continue
            name, kind = next(new_names), match.group(4)
            ranged = _RANGED_TYPE.match(kind)
            if name == match.group(2).strip("'\"") and not ranged:
                result.append(line)
                continue
            if ranged:
                self.ranged.append(kind)
                kind = ranged.group(1)
            result.append(f"{match.group(1)}{_quoted(name)}{match.group(3)}{kind}\n")
        return result

    def _data(self, line: str, n_values: int) -> str:
        row = line.strip()
        if not row or row[0] in "%{":  # blank, comment, sparse
            return line
        fields = _split(row, ",")
        if fields is None:
            return line
        if len(fields) == n_values + 1 and not fields[-1].strip():
            self.trailing += 1
            return row.rstrip()[:-1] + "\n"
        if len(fields) == 1 and n_values > 1:
            values = _split(row, None)
            if values is not None and len(values) == n_values:
                self.spaced += 1
                return ",".join(values) + "\n"
        return line

    def warn(self, filename: str, label: str | None) -> None:
        """One warning per kind of deviation that was tolerated."""
        if self.trailing:
            warn(f"{filename}: {_count(self.trailing, 'data line')} "
                 f"{_verb(self.trailing, 'end')} with a trailing comma; read as if it were "
                 "absent.", ToleratedFormatWarning)
        if self.spaced:
            warn(f"{filename}: {_count(self.spaced, 'data line')} "
                 f"{_verb(self.spaced, 'separate')} values by spaces instead of commas; read "
                 "as comma-separated.", ToleratedFormatWarning)
        if self.ranged:
            kinds = ", ".join(repr(kind) for kind in dict.fromkeys(self.ranged))
            warn(f"{filename}: {_count(len(self.ranged), 'attribute')} "
                 f"{_verb(len(self.ranged), 'declare')} a numeric type with a range "
                 f"({kinds}); read as numbers, without checking the range.",
                 ToleratedFormatWarning)
        if self.renamed != self.names:
            warn_renamed(filename, self.names, self.renamed, label)


def _split(row: str, sep: str | None) -> list[str] | None:
    """``row`` split at ``sep`` (``None``: runs of blanks) outside quotes; ``None`` when a
    quote is left open. Only counts values: liac-arff still parses them."""
    if "'" not in row and '"' not in row:
        return row.split(sep)
    fields: list[str] = []
    current: list[str] = []
    quote = ""
    chars = iter(row)
    for char in chars:
        if quote:
            current.append(char)
            if char == "\\":
                current.append(next(chars, ""))
            elif char == quote:
                quote = ""
        elif char in _QUOTES:
            quote = char
            current.append(char)
        elif char == sep or (sep is None and char.isspace()):
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    if quote:
        return None
    fields.append("".join(current))
    return [field for field in fields if field] if sep is None else fields


def _quoted(name: str) -> str:
    if not _NEEDS_QUOTES.search(name):
        return name
    return f'"{name}"' if "'" in name else f"'{name}'"


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _verb(count: int, verb: str) -> str:
    return f"{verb}s" if count == 1 else verb
