"""Explicit schema migrations: ``MIGRATIONS[v]`` upgrades a store from version v to v + 1.

Each migration runs in one transaction with the new ``schema_version`` row, so a store is
never left half-upgraded. Back the store up first all the same (``db export``).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Connection

from automl_meta.config import as_db_url
from automl_meta.errors import MetaDBError, SchemaVersionError
from automl_meta.metadb import _schema as s
from automl_meta.metadb._store import _make_engine, check_sqlite_file, now


def _add_rows_used(conn: Connection) -> None:
    """v1 -> v2: evaluations remember how many rows they were computed on (the build caps
    rows per dataset, so a score on 1,000 of 50,000 rows is told apart)."""
    columns = {c["name"] for c in inspect(conn).get_columns("evaluation")}
    if "n_rows_used" not in columns:
        conn.execute(text("ALTER TABLE evaluation ADD COLUMN n_rows_used INTEGER"))


MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _add_rows_used}


def upgrade(url: str) -> tuple[int, int]:
    """Migrate the store at ``url`` to the current schema; returns (from, to) versions."""
    check_sqlite_file(as_db_url(url))
    engine = _make_engine(as_db_url(url))
    try:
        if "schema_version" not in inspect(engine).get_table_names():
            raise MetaDBError(f"{url} is not an automl-meta meta-database (no schema_version).")
        with engine.connect() as conn:
            found = int(conn.execute(select(func.max(s.schema_version.c.version))).scalar() or 0)
        if found > s.SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{url} has schema version {found}, newer than this automl-meta "
                f"({s.SCHEMA_VERSION}); upgrade automl-meta instead."
            )
        for version in range(found, s.SCHEMA_VERSION):
            if version not in MIGRATIONS:
                raise SchemaVersionError(f"No migration from schema version {version}.")
            with engine.begin() as conn:
                MIGRATIONS[version](conn)
                conn.execute(s.schema_version.insert().values(version=version + 1,
                                                              applied_at=now()))
        return found, s.SCHEMA_VERSION
    finally:
        engine.dispose()
