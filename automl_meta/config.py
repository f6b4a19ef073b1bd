"""Settings: where the meta-database lives, which device to compute on, default seeds.

Every setting can be given explicitly to the function that uses it; the environment
variables below only change the defaults.

- ``AUTOML_META_DB``: URL or path of the user's writable store (default: a SQLite file
  under the user's data directory).
- ``AUTOML_META_SHIPPED``: directory of the read-only shipped meta-knowledge (default: the
  ``meta_db/`` directory of this repository or installation).
- ``AUTOML_META_DEVICE``: ``auto`` (default), ``cpu`` or ``cuda``.
"""

from __future__ import annotations

import os
from pathlib import Path

from automl_meta.errors import ConfigurationError

DEFAULT_SEED = 0
DEVICES = ("auto", "cpu", "cuda")


def user_data_dir() -> Path:
    """The per-user directory automl-meta writes to (created on demand)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "automl-meta"


def shipped_meta_db_dir() -> Path:
    """The directory of the shipped, read-only meta-knowledge bundle."""
    env = os.environ.get("AUTOML_META_SHIPPED")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "meta_db"


def user_db_url() -> str:
    """The SQLAlchemy URL of the user's writable meta-database store."""
    env = os.environ.get("AUTOML_META_DB")
    if env:
        return as_db_url(env)
    return as_db_url(str(user_data_dir() / "user.sqlite"))


def as_db_url(location: str | os.PathLike[str]) -> str:
    """Turn a path or URL into a SQLAlchemy URL (a bare path means a SQLite file)."""
    text = str(location)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def default_device() -> str:
    """The device setting from ``AUTOML_META_DEVICE`` (``auto`` when unset)."""
    device = os.environ.get("AUTOML_META_DEVICE", "auto").lower()
    if device not in DEVICES:
        raise ConfigurationError(
            f"AUTOML_META_DEVICE={device!r} is not a device we know; expected one of "
            f"{', '.join(DEVICES)}. Unset it or set it to one of those."
        )
    return device
