"""Choosing a text file's encoding: UTF-8 when it decodes, else Latin-1 with a warning."""

from __future__ import annotations

import gzip
from pathlib import Path

from automl_meta.data._prepare import warn
from automl_meta.errors import DatasetError


def detect_encoding(path: Path, compressed: bool, probe_bytes: int = 1 << 20) -> str:
    """``utf-8-sig`` when the first MiB is UTF-8 (a byte order mark is skipped), else
    ``latin-1`` with a warning (Latin-1 decodes any byte, so reading cannot fail)."""
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as handle:
            sample = handle.read(probe_bytes)
    except (OSError, EOFError) as exc:
        raise DatasetError(f"Could not read {path.name!r}: {exc}.") from exc
    try:
        sample.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        if len(sample) == probe_bytes and exc.start >= len(sample) - 4:
            return "utf-8-sig"  # a multi-byte character cut by the probe
        warn_latin1(path, f"byte {exc.start}")
        return "latin-1"


def warn_latin1(path: Path, where: str) -> None:
    """Warn that ``path`` is read as Latin-1 because of the invalid UTF-8 at ``where``."""
    warn(
        f"{path.name!r} is not valid UTF-8 ({where}); read it as Latin-1 instead. "
        "Re-save the file as UTF-8 if some text looks wrong."
    )
