"""``results.jsonl``: one JSON line per dataset x method x budget, appended as it comes.

Every line is written with one ``write`` under an exclusive lock and flushed, so a run
killed at any moment loses at most the method it was running, and parallel workers never
interleave lines. A torn last line (a kill mid-write) is skipped when reading and sealed
with a newline before the next append. When the same key appears twice, the last line wins.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.jsonl"
SKIPPED = "skipped"


def row_key(row: Mapping[str, Any]) -> tuple[str, str, str]:
    """The identity of a result: (dataset, method, budget as text)."""
    return str(row["dataset"]), str(row["method"]), str(row["budget"])


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """Every complete line of a results file, in file order (missing file: none)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a kill
            if isinstance(row, dict) and {"dataset", "method", "budget"} <= set(row):
                rows.append(row)
    return rows


def latest(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The last row of each key."""
    return {row_key(row): dict(row) for row in rows}


def done_keys(path: str | Path) -> set[tuple[str, str, str]]:
    """Keys a rerun skips: every result except ``skipped`` ones (retried, in case the
    missing package has been installed since)."""
    return {key for key, row in latest(read_results(path)).items()
            if row.get("status") != SKIPPED}


def seal(path: str | Path) -> None:
    """End a file torn mid-line with a newline, so the next line starts clean."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) != b"\n":
            handle.write(b"\n")


def append_rows(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Append rows, one locked and flushed write each."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: appends of one short write each, unlocked
        fcntl = None  # type: ignore[assignment]

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for row in rows:
        line = (json.dumps(_jsonable(row), default=str) + "\n").encode("utf-8")
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
            os.write(descriptor, line)
        finally:
            os.close(descriptor)  # closing releases the lock


def _jsonable(value: Any) -> Any:
    """Plain JSON: numpy scalars as numbers, non-finite floats as null."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
