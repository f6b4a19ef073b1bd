"""``MetaDB``: the durable store of datasets, meta-features, configurations and scores."""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy import create_engine, event, func, inspect, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from automl_meta.config import as_db_url
from automl_meta.errors import MetaDBError, SchemaVersionError
from automl_meta.metadb import _schema as s

T = TypeVar("T")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def family_of(name: str) -> str:
    """The PMLB family of a dataset: its name without numeric prefix, up to ``_`` or ``-``.

    Example:
        >>> family_of("195_auto_price"), family_of("house-votes-84")
        ('auto', 'house')
    """
    parts = name.split("_")
    if len(parts) > 1 and parts[0].isdigit():
        parts = parts[1:]
    return "_".join(parts).replace("-", "_").split("_")[0].lower()


class MetaDB:
    """The meta-database: SQLite by default, PostgreSQL for teams.

    Every write is idempotent: a dataset is unique by content fingerprint, a configuration
    by hash, and an evaluation by (dataset, configuration, protocol), so a rebuild or a
    second worker never writes a cell twice.

    Example:
        >>> db = MetaDB("sqlite:///:memory:")
        >>> db.stats()["evaluations"]
        0
    """

    def __init__(self, url: str | Path, create: bool = True) -> None:
        self.url = as_db_url(url)
        check_sqlite_file(self.url)
        if self.url.startswith("sqlite:///") and ":memory:" not in self.url:
            Path(self.url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = _make_engine(self.url)
            self._check_schema(create)
        except SQLAlchemyError as exc:
            raise MetaDBError(
                f"Could not open the meta-database at {self._safe_url()}: {exc.__class__.__name__}"
                f": {str(exc).splitlines()[0]}. Expected a reachable SQLite path or "
                "PostgreSQL URL; check the URL, the server and the credentials."
            ) from exc

    def _safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True) if hasattr(
            self, "engine") else self.url.split("@")[-1]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -- schema ---------------------------------------------------------------------------
    def _check_schema(self, create: bool) -> None:
        tables = set(inspect(self.engine).get_table_names())
        if "schema_version" not in tables:
            if not create:
                raise MetaDBError(f"{self._safe_url()} is not an automl-meta meta-database.")
            s.metadata.create_all(self.engine)
            with self.engine.begin() as conn:
                conn.execute(_insert_ignore(self.engine, s.schema_version,
                                            [{"version": s.SCHEMA_VERSION, "applied_at": now()}]))
            return
        found = self.schema_version()
        if found != s.SCHEMA_VERSION:
            raise SchemaVersionError(
                f"The meta-database at {self._safe_url()} has schema version {found}; this "
                f"automl-meta expects {s.SCHEMA_VERSION}. Run `automl-meta db upgrade --db "
                f"{self._safe_url()}` to migrate it (back it up first)."
            )

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(s.schema_version.c.version))).scalar() or 0)

    # -- writing --------------------------------------------------------------------------
    def add_dataset(self, name: str, fingerprint: str, task: str, n_rows: int,
                    n_features: int, n_classes: int = 0, source: str = "") -> int:
        """Register a dataset (idempotent by fingerprint) and return its id."""
        row = {"name": name, "source": source, "fingerprint": fingerprint, "task": task,
               "family": family_of(name), "n_rows": int(n_rows), "n_features": int(n_features),
               "n_classes": int(n_classes), "created_at": now()}

        def write() -> int:
            with self.engine.begin() as conn:
                conn.execute(_insert_ignore(self.engine, s.dataset, [row]))
                return int(conn.execute(select(s.dataset.c.id).where(
                    s.dataset.c.fingerprint == fingerprint)).scalar_one())

        return _retry(write)

    def add_configs(self, task: str, configs: Iterable[dict[str, Any]]) -> list[int]:
        """Register configurations (idempotent by hash); returns their ids in order."""
        from automl_meta.space import config_hash

        rows = [{"task": task, "algorithm": c["algorithm"], "hash": config_hash(c),
                 "params_json": json.dumps(c.get("params", {}), sort_keys=True)}
                for c in configs]
        if not rows:
            return []

        def write() -> list[int]:
            with self.engine.begin() as conn:
                conn.execute(_insert_ignore(self.engine, s.config, rows))
                found = dict(conn.execute(select(s.config.c.hash, s.config.c.id).where(
                    s.config.c.task == task,
                    s.config.c.hash.in_([r["hash"] for r in rows]))).all())
            return [int(found[r["hash"]]) for r in rows]

        return _retry(write)

    def set_grid(self, name: str, config_ids: list[int]) -> None:
        rows = [{"name": name, "config_id": config_id, "position": position}
                for position, config_id in enumerate(config_ids)]
        _retry(lambda: self._execute(_insert_ignore(self.engine, s.grid, rows)))

    def grid(self, name: str) -> list[int]:
        """The configuration ids of the build grid ``name`` in order (empty if none)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.grid.c.config_id).where(s.grid.c.name == name)
                                .order_by(s.grid.c.position)).all()
        return [int(r[0]) for r in rows]

    def add_metafeatures(self, dataset_id: int, values: dict[str, float],
                         seconds: dict[str, float], version: str) -> None:
        """Store the meta-features of a dataset, replacing those of an older extractor."""
        rows = [{"dataset_id": dataset_id, "name": name, "value": _finite_or_none(value),
                 "seconds": float(seconds.get(name, 0.0)), "extractor_version": version}
                for name, value in values.items()]

        def write() -> None:
            with self.engine.begin() as conn:
                conn.execute(s.metafeature.delete().where(
                    s.metafeature.c.dataset_id == dataset_id,
                    s.metafeature.c.extractor_version != version))
                if rows:
                    conn.execute(_insert_ignore(self.engine, s.metafeature, rows))

        _retry(write)

    def metafeature_version(self, dataset_id: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(s.metafeature.c.extractor_version).where(
                s.metafeature.c.dataset_id == dataset_id).limit(1)).scalar()

    def add_evaluations(self, dataset_id: int, rows: list[dict[str, Any]]) -> int:
        """Record evaluations; a cell already present is left untouched. Returns rows sent."""
        host = socket.gethostname()
        clean = []
        for row in rows:
            metrics = row.get("metrics", {})
            clean.append({
                "dataset_id": dataset_id, "config_id": int(row["config_id"]),
                "protocol": row["protocol"], "status": row["status"],
                "score": _finite_or_none(row.get("score")),
                **{m: _finite_or_none(metrics.get(m)) for m in s.METRIC_COLUMNS},
                "fit_seconds": float(row.get("fit_seconds") or 0.0),
                "predict_seconds": float(row.get("predict_seconds") or 0.0),
                "error": (row.get("error") or None) and str(row["error"])[:500],
                "n_rows_used": _int_or_none(row.get("n_rows_used")),
                "created_at": now(), "host": host,
            })
        if clean:
            _retry(lambda: self._execute(_insert_ignore(self.engine, s.evaluation, clean)))
        return len(clean)

    def add_run(self, dataset_id: int, kind: str, started: str, finished: str | None,
                budget: float | None, best_config_id: int | None, best_score: float | None,
                n_trials: int, notes: dict[str, Any] | None = None) -> int:
        row = {"dataset_id": dataset_id, "kind": kind, "started": started, "finished": finished,
               "budget": budget, "best_config_id": best_config_id,
               "best_score": _finite_or_none(best_score), "n_trials": n_trials,
               "notes": json.dumps(notes or {})}

        def write() -> int:
            with self.engine.begin() as conn:
                return int(conn.execute(s.run.insert().values(**row)).inserted_primary_key[0])

        return _retry(write)

    def _execute(self, statement: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(statement)

    # -- reading --------------------------------------------------------------------------
    def done_cells(self, dataset_id: int, protocol: str) -> set[int]:
        """Configuration ids already evaluated on ``dataset_id`` under ``protocol``."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.evaluation.c.config_id).where(
                s.evaluation.c.dataset_id == dataset_id,
                s.evaluation.c.protocol == protocol)).all()
        return {int(r[0]) for r in rows}

    def table(self, name: str) -> pd.DataFrame:
        """A whole table as a DataFrame (``dataset``, ``evaluation``, ...)."""
        tables = {t.name: t for t in (*s.TABLES, s.schema_version)}
        if name not in tables:
            raise MetaDBError(f"No table {name!r}; expected one of {', '.join(tables)}.")
        with self.engine.connect() as conn:
            return pd.read_sql(select(tables[name]), conn)

    def stats(self) -> dict[str, Any]:
        """Coverage counts: datasets, configs (per algorithm), evaluations, failures, bytes."""
        with self.engine.connect() as conn:
            count = lambda table, *where: int(conn.execute(  # noqa: E731
                select(func.count()).select_from(table).where(*where)).scalar_one())
            per_algorithm = dict(conn.execute(select(s.config.c.algorithm, func.count())
                                              .group_by(s.config.c.algorithm)).all())
            by_status = dict(conn.execute(select(s.evaluation.c.status, func.count())
                                          .group_by(s.evaluation.c.status)).all())
            with_mf = int(conn.execute(select(func.count(func.distinct(
                s.metafeature.c.dataset_id)))).scalar_one())
            out = {
                "datasets": count(s.dataset), "configs": count(s.config),
                "evaluations": count(s.evaluation),
                "failures": count(s.evaluation, s.evaluation.c.status != "ok"),
                "runs": count(s.run), "datasets_with_metafeatures": with_mf,
                "datasets_evaluated": int(conn.execute(select(func.count(func.distinct(
                    s.evaluation.c.dataset_id)))).scalar_one()),
                "configs_per_algorithm": {k: int(v) for k, v in per_algorithm.items()},
                "evaluations_by_status": {k: int(v) for k, v in by_status.items()},
            }
        out["bytes"] = self.size_bytes()
        out["schema_version"] = self.schema_version()
        return out

    def change_token(self) -> tuple[int, int, int]:
        """Cheap fingerprint of the store's content: changes whenever evaluations or
        meta-features are added (one query, for caches that must notice new runs)."""
        with self.engine.connect() as conn:
            count, last = conn.execute(select(func.count(), func.max(s.evaluation.c.id))).one()
            features = conn.execute(select(func.count()).select_from(s.metafeature)).scalar()
        return int(count), int(last or 0), int(features or 0)

    def size_bytes(self) -> int:
        if self.dialect == "sqlite":
            path = self.engine.url.database
            if path and path != ":memory:" and Path(path).exists():
                return sum(p.stat().st_size for p in Path(path).parent.glob(Path(path).name + "*"))
            return 0
        with self.engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())")
                       .scalar_one())

    def close(self) -> None:
        self.engine.dispose()


SQLITE_HEADER = b"SQLite format 3\x00"


def check_sqlite_file(url: str, settle_seconds: float = 1.0) -> None:
    """Refuse an existing file that is not an SQLite database, before SQLite touches it.

    SQLite would turn an existing empty or short file (a CSV given by mistake) into a
    database, and fail on a longer one with "file is not a database"; here the file is only
    read, never written. A file that does not exist yet
    is fine (it becomes a new store). An empty file may be a store another process is
    creating at this instant (SQLite creates the file, then writes its header), so it is
    given ``settle_seconds`` to gain a header before it is refused.
    """
    if not url.startswith("sqlite"):
        return
    try:
        database = make_url(url).database
    except Exception:  # an unparsable URL fails later, in create_engine, with its message
        return
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.is_file():
        return
    deadline = time.monotonic() + settle_seconds
    header = _read_header(path)
    while not header and time.monotonic() < deadline:
        time.sleep(0.05)
        header = _read_header(path)
    if header == SQLITE_HEADER:
        return
    what = "is empty (0 bytes)" if not header else "is not an SQLite database"
    raise MetaDBError(
        f"The meta-database file {str(path)!r} exists but {what}; refusing to turn it into "
        "a meta-database (it was left unchanged). Expected an SQLite file written by "
        "automl-meta, or a path that does not exist yet. Check the --db path (did you pass "
        "a data file?), or move the file away to create a new store there."
    )


def _read_header(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise MetaDBError(f"Could not read the meta-database file {str(path)!r}: {exc}. "
                          "Check its permissions.") from exc


def _finite_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _int_or_none(value: Any) -> int | None:
    number = _finite_or_none(value)
    return None if number is None else int(number)


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            if ":memory:" not in url:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _insert_ignore(engine: Engine, table: Any, rows: list[dict[str, Any]]) -> Any:
    """An INSERT that skips rows conflicting with a unique constraint, on any backend."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise MetaDBError(f"Backend {engine.dialect.name!r} is not supported; use SQLite or "
                          "PostgreSQL.")
    return insert(table).values(rows).on_conflict_do_nothing()


def _retry(write: Callable[[], T], attempts: int = 8) -> T:
    """Run ``write``, retrying when another writer holds the lock (SQLite) or a deadlock."""
    for attempt in range(attempts):
        try:
            return write()
        except OperationalError as exc:
            text = str(exc).lower()
            transient = "locked" in text or "busy" in text or "deadlock" in text
            if not transient or attempt == attempts - 1:
                raise
            time.sleep(min(2.0, 0.05 * 2 ** attempt) * (1 + random.random()))
    raise AssertionError("unreachable")
