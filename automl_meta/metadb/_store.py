"""``MetaDB``: the durable store of datasets, meta-features, configurations and scores."""

from __future__ import annotations

import json
import math
import random
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy import create_engine, event, func, inspect, or_, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from automl_meta.config import as_db_url
from automl_meta.errors import DatasetError, MetaDBError, SchemaVersionError
from automl_meta.metadb import _schema as s

T = TypeVar("T")

# rows per IN (...) lookup: under SQLite's oldest default limit of 999 bound variables
LOOKUP_CHUNK = 500
# a PostgreSQL advisory lock key for schema creation ("automlme" in ASCII)
SCHEMA_LOCK_KEY = 0x6175746F6D6C6D65


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


def _nested(rows: Iterable[Any]) -> dict[str, dict[str, int]]:
    """``(task, algorithm, count)`` rows as ``{task: {algorithm: count}}``."""
    out: dict[str, dict[str, int]] = {}
    for task, algorithm, count in rows:
        out.setdefault(str(task), {})[str(algorithm)] = int(count)
    return out


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
            _retry(self._ping)
        except SQLAlchemyError as exc:
            raise MetaDBError(
                f"Could not open the meta-database at {self._safe_url()}: {exc.__class__.__name__}"
                f": {str(exc).splitlines()[0]}. Expected a reachable SQLite path or "
                "PostgreSQL URL; check the URL, the server and the credentials."
            ) from exc
        try:
            _retry(lambda: self._check_schema(create))
        except SQLAlchemyError as exc:
            raise MetaDBError(
                f"The meta-database at {self._safe_url()} was reached, but checking or creating "
                f"its tables failed: {exc.__class__.__name__}: {str(exc).splitlines()[0]}. "
                "Another process may hold a long lock on it (retry in a moment), or the store "
                "is damaged (restore it from a backup or `db export` bundle)."
            ) from exc

    def _ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def _safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True) if hasattr(
            self, "engine") else self.url.split("@")[-1]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -- schema ---------------------------------------------------------------------------
    def _check_schema(self, create: bool) -> None:
        if "schema_version" not in inspect(self.engine).get_table_names():
            if not create:
                raise MetaDBError(f"{self._safe_url()} is not an automl-meta meta-database.")
            # several processes may create the same new store at once: the write lock is
            # taken first and the tables are looked for again under it, so one creates them
            # and the others find them
            with self._begin() as conn:
                if not inspect(conn).has_table("schema_version"):
                    s.metadata.create_all(conn)
                    conn.execute(_insert_ignore(self.engine, s.schema_version,
                                                [{"version": s.SCHEMA_VERSION,
                                                  "applied_at": now()}]))
        found = self.schema_version()
        if found != s.SCHEMA_VERSION:
            raise SchemaVersionError(
                f"The meta-database at {self._safe_url()} has schema version {found}; this "
                f"automl-meta expects {s.SCHEMA_VERSION}. Run `automl-meta db upgrade --db "
                f"{self._safe_url()}` to migrate it (back it up first)."
            )

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A write transaction holding the store's write lock from its first statement.

        On SQLite, ``BEGIN IMMEDIATE`` waits (busy timeout) for the lock up front instead of
        upgrading a read lock later, which can fail at once with "database is locked"; on
        PostgreSQL an advisory lock serialises schema creation only (rows use constraints).
        """
        with self.engine.begin() as conn:
            if self.dialect == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif self.dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})")
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[Writer]:
        """One all-or-nothing write: everything done through the yielded :class:`Writer` is
        committed together, or nothing is when an exception leaves the block.

        Example:
            >>> db = MetaDB("sqlite:///:memory:")
            >>> with db.transaction() as w:
            ...     dataset_id = w.add_dataset("iris", "f" * 32, "classification", 150, 4, 3)
            >>> db.stats()["datasets"]
            1
        """
        with self._begin() as conn:
            yield Writer(self, conn)

    def write(self, work: Callable[[Writer], T]) -> T:
        """``work(writer)`` in one :meth:`transaction`, retried whole when the database was
        locked or a deadlock was detected."""
        def attempt() -> T:
            with self.transaction() as writer:
                return work(writer)

        return _retry(attempt)

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(s.schema_version.c.version))).scalar() or 0)

    # -- writing --------------------------------------------------------------------------
    def add_dataset(self, name: str, fingerprint: str, task: str, n_rows: int,
                    n_features: int, n_classes: int = 0, source: str = "") -> int:
        """Register a dataset (idempotent by fingerprint) and return its id."""
        return self.write(lambda w: w.add_dataset(name, fingerprint, task, n_rows, n_features,
                                                  n_classes, source))

    def add_configs(self, task: str, configs: Iterable[dict[str, Any]]) -> list[int]:
        """Register configurations (idempotent by hash); returns their ids in order."""
        configs = list(configs)
        return self.write(lambda w: w.add_configs(task, configs)) if configs else []

    def drop_retired_params(self) -> int:
        """Rewrite stored configurations that hold a parameter the space has retired
        (``automl_meta.space.RETIRED_PARAMS``); returns how many were rewritten.

        A retired parameter did nothing, so each evaluation stays that of the configuration
        without it. Its id stays too: grids and evaluations keep pointing at it.
        """
        return self.write(lambda w: w.drop_retired_params())

    def set_grid(self, name: str, config_ids: list[int]) -> None:
        self.write(lambda w: w.set_grid(name, config_ids))

    def grid(self, name: str) -> list[int]:
        """The configuration ids of the build grid ``name`` in order (empty if none)."""
        with self.engine.connect() as conn:
            return _grid(conn, name)

    def add_metafeatures(self, dataset_id: int, values: dict[str, float],
                         seconds: dict[str, float], version: str) -> None:
        """Store the meta-features of a dataset, replacing those of an older extractor."""
        self.write(lambda w: w.add_metafeatures(dataset_id, values, seconds, version))

    def metafeature_version(self, dataset_id: int) -> str | None:
        with self.engine.connect() as conn:
            return _metafeature_version(conn, dataset_id)

    def add_evaluations(self, dataset_id: int, rows: list[dict[str, Any]]) -> int:
        """Record evaluations; a cell already present is left untouched. Returns rows sent.

        All rows are checked first (see :meth:`Writer.add_evaluations`) and written in one
        transaction, in statements under every backend's bind-parameter limit.
        """
        rows = list(rows)
        return self.write(lambda w: w.add_evaluations(dataset_id, rows)) if rows else 0

    def record(self, dataset: Mapping[str, Any], configs: Sequence[dict[str, Any]],
               rows: Sequence[dict[str, Any]], metafeatures: Mapping[str, Any] | None = None,
               metafeature_seconds: Mapping[str, float] | None = None,
               extractor_version: str | None = None) -> tuple[int, list[int], bool]:
        """Record one dataset's evaluations all or nothing: the dataset, its meta-features,
        the configurations and the evaluations (``rows[i]`` is of ``configs[i]``, without
        ``config_id``) in one transaction. Returns (dataset id, config ids, whether the
        meta-features were stored). ``dataset`` holds the arguments of :meth:`add_dataset`.

        Meta-features are stored when given and the dataset has none of
        ``extractor_version`` yet; a dataset recorded without them is kept out of the
        nearest-neighbour search until a later record brings them.
        """
        if len(configs) != len(rows):
            raise MetaDBError(f"record() got {len(configs)} configurations for {len(rows)} "
                              "evaluations; expected one configuration per evaluation.")

        def work(w: Writer) -> tuple[int, list[int], bool]:
            dataset_id = w.add_dataset(**dataset)
            stored = False
            if metafeatures and extractor_version is not None and \
                    w.metafeature_version(dataset_id) != extractor_version:
                w.add_metafeatures(dataset_id, dict(metafeatures),
                                   dict(metafeature_seconds or {}), extractor_version)
                stored = True
            config_ids = w.add_configs(dataset["task"], configs) if configs else []
            w.add_evaluations(dataset_id, [{**row, "config_id": cid}
                                           for cid, row in zip(config_ids, rows, strict=True)])
            return dataset_id, config_ids, stored

        return self.write(work)

    def add_run(self, dataset_id: int, kind: str, started: str, finished: str | None,
                budget: float | None, best_config_id: int | None, best_score: float | None,
                n_trials: int, notes: dict[str, Any] | None = None) -> int:
        return self.write(lambda w: w.add_run(dataset_id, kind, started, finished, budget,
                                              best_config_id, best_score, n_trials, notes))

    # -- reading --------------------------------------------------------------------------
    def scored_configs(self, dataset_id: int, protocol: str, metric: str, rows_used: int
                       ) -> tuple[dict[str, float], dict[str, dict[str, Any]]]:
        """What ``dataset_id`` holds under ``protocol`` on ``rows_used`` rows (or an
        unrecorded row count): ``metric`` by configuration hash (NaN for a configuration
        that failed with an error), and each of those configurations."""
        ev, cf = s.evaluation, s.config
        if metric not in s.METRIC_COLUMNS:
            raise MetaDBError(f"{metric!r} is not a metric the meta-database stores; expected "
                              f"one of {', '.join(s.METRIC_COLUMNS)}.")
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(cf.c.hash, ev.c.status, ev.c[metric], cf.c.algorithm, cf.c.params_json)
                .join(cf, cf.c.id == ev.c.config_id)
                .where(ev.c.dataset_id == dataset_id, ev.c.protocol == protocol,
                       or_(ev.c.n_rows_used.is_(None), ev.c.n_rows_used == rows_used),
                       ev.c.status.in_(["ok", "error"]))).all()
        scores = {str(h): float(value) if status == "ok" else float("nan")
                  for h, status, value, _, _ in rows if status == "error" or value is not None}
        configs = {str(h): {"algorithm": algorithm, "params": json.loads(params)}
                   for h, _, _, algorithm, params in rows if str(h) in scores}
        return scores, configs

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
            ok = s.evaluation.c.status == "ok"
            joined = s.evaluation.join(s.config, s.config.c.id == s.evaluation.c.config_id)
            evaluated = conn.execute(select(s.config.c.task, s.config.c.algorithm, func.count())
                                     .select_from(joined).where(ok)
                                     .group_by(s.config.c.task, s.config.c.algorithm)).all()
            by_protocol = dict(conn.execute(select(s.evaluation.c.protocol, func.count())
                                            .group_by(s.evaluation.c.protocol)).all())
            out = {
                "datasets": count(s.dataset), "configs": count(s.config),
                "evaluations": count(s.evaluation),
                "failures": count(s.evaluation, s.evaluation.c.status != "ok"),
                "runs": count(s.run), "datasets_with_metafeatures": with_mf,
                "datasets_evaluated": int(conn.execute(select(func.count(func.distinct(
                    s.evaluation.c.dataset_id)))).scalar_one()),
                "configs_per_algorithm": {k: int(v) for k, v in per_algorithm.items()},
                "evaluations_by_status": {k: int(v) for k, v in by_status.items()},
                # the successful evaluations of each task, by algorithm; and by protocol
                # (a second fidelity's protocol ends in ":r<rows>", see metadb._builder)
                "ok_evaluations_per_task": _nested(evaluated),
                "algorithms_per_task": {task: len(counts)
                                        for task, counts in _nested(evaluated).items()},
                "evaluations_by_protocol": {k: int(v) for k, v in by_protocol.items()},
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


class Writer:
    """The writes of one :meth:`MetaDB.transaction`, all on its connection.

    Every write is idempotent as in :class:`MetaDB`; rows go in ``executemany`` batches,
    which SQLAlchemy splits under the backend's bind-parameter limit, so a write of any
    size is one transaction.
    """

    def __init__(self, db: MetaDB, conn: Connection) -> None:
        self.db = db
        self.conn = conn

    def add_dataset(self, name: str, fingerprint: str, task: str, n_rows: int,
                    n_features: int, n_classes: int = 0, source: str = "") -> int:
        """Register a dataset (idempotent by fingerprint) and return its id."""
        row = {"name": name, "source": source, "fingerprint": fingerprint, "task": task,
               "family": family_of(name), "n_rows": int(n_rows), "n_features": int(n_features),
               "n_classes": int(n_classes), "created_at": now()}
        _insert_many(self.conn, s.dataset, [row])
        return int(self.conn.execute(select(s.dataset.c.id).where(
            s.dataset.c.fingerprint == fingerprint)).scalar_one())

    def add_configs(self, task: str, configs: Iterable[dict[str, Any]]) -> list[int]:
        """Register configurations (idempotent by hash); returns their ids in order."""
        from automl_meta.space import config_hash, without_retired

        configs = [without_retired(c) for c in configs]
        rows = [{"task": task, "algorithm": c["algorithm"], "hash": config_hash(c),
                 "params_json": json.dumps(c.get("params", {}), sort_keys=True)}
                for c in configs]
        _insert_many(self.conn, s.config, rows)
        hashes = sorted({r["hash"] for r in rows})
        found: dict[str, int] = {}
        for start in range(0, len(hashes), LOOKUP_CHUNK):
            found.update(self.conn.execute(select(s.config.c.hash, s.config.c.id).where(
                s.config.c.task == task,
                s.config.c.hash.in_(hashes[start:start + LOOKUP_CHUNK]))).all())
        return [int(found[r["hash"]]) for r in rows]

    def drop_retired_params(self) -> int:
        from automl_meta.space import RETIRED_PARAMS, config_hash, without_retired

        rows = self.conn.execute(select(s.config.c.id, s.config.c.task, s.config.c.algorithm,
                                        s.config.c.params_json)
                                 .where(s.config.c.algorithm.in_(list(RETIRED_PARAMS)))).all()
        rewritten = 0
        for config_id, task, algorithm, params_json in rows:
            old = {"algorithm": algorithm, "params": json.loads(params_json)}
            new = without_retired(old)
            if new is old:
                continue
            key = config_hash(new)
            clash = self.conn.execute(select(s.config.c.id).where(
                s.config.c.task == task, s.config.c.hash == key)).scalar()
            if clash is not None:
                raise MetaDBError(
                    f"Configuration {config_id} ({algorithm}) without its retired parameters "
                    f"is configuration {clash}, already stored; both were evaluated. Nothing "
                    "was changed. Export the store and merge the two by hand, or keep using "
                    "the previous release for it.")
            self.conn.execute(s.config.update().where(s.config.c.id == config_id).values(
                hash=key, params_json=json.dumps(new["params"], sort_keys=True)))
            rewritten += 1
        return rewritten

    def set_grid(self, name: str, config_ids: list[int]) -> None:
        _insert_many(self.conn, s.grid, [
            {"name": name, "config_id": config_id, "position": position}
            for position, config_id in enumerate(config_ids)])

    def grid(self, name: str) -> list[int]:
        return _grid(self.conn, name)

    def add_metafeatures(self, dataset_id: int, values: Mapping[str, Any],
                         seconds: Mapping[str, float], version: str) -> None:
        """Store the meta-features of a dataset, replacing those of an older extractor."""
        self.conn.execute(s.metafeature.delete().where(
            s.metafeature.c.dataset_id == dataset_id,
            s.metafeature.c.extractor_version != version))
        _insert_many(self.conn, s.metafeature, [
            {"dataset_id": dataset_id, "name": name, "value": _finite_or_none(value),
             "seconds": float(seconds.get(name, 0.0)), "extractor_version": version}
            for name, value in values.items()])

    def metafeature_version(self, dataset_id: int) -> str | None:
        return _metafeature_version(self.conn, dataset_id)

    def add_evaluations(self, dataset_id: int, rows: Sequence[dict[str, Any]]) -> int:
        """Record evaluations; a cell already present is left untouched. Returns rows sent.

        Every score is checked against its metric's range before anything is written
        (:data:`automl_meta.evaluation.metrics.METRIC_RANGES`; ``score`` is the task's primary
        metric): a value must be a finite number in range, or missing (``None``, or NaN as
        :func:`~automl_meta.evaluate` reports a metric it could not compute). Anything else
        raises :class:`~automl_meta.errors.DatasetError` naming the row and the field.
        """
        from automl_meta.evaluation.metrics import PRIMARY_METRIC

        task = self.conn.execute(select(s.dataset.c.task).where(
            s.dataset.c.id == dataset_id)).scalar()
        if task is None:
            raise MetaDBError(f"No dataset with id {dataset_id} in {self.db._safe_url()}; "
                              "register the dataset (add_dataset) before its evaluations.")
        host = socket.gethostname()
        clean = [_clean_evaluation(i, row, dataset_id, PRIMARY_METRIC.get(task), host)
                 for i, row in enumerate(rows)]
        _insert_many(self.conn, s.evaluation, clean)
        return len(clean)

    def add_run(self, dataset_id: int, kind: str, started: str, finished: str | None,
                budget: float | None, best_config_id: int | None, best_score: float | None,
                n_trials: int, notes: dict[str, Any] | None = None) -> int:
        row = {"dataset_id": dataset_id, "kind": kind, "started": started, "finished": finished,
               "budget": budget, "best_config_id": best_config_id,
               "best_score": _finite_or_none(best_score), "n_trials": n_trials,
               "notes": json.dumps(notes or {})}
        return int(self.conn.execute(s.run.insert().values(**row)).inserted_primary_key[0])


def _grid(conn: Connection, name: str) -> list[int]:
    rows = conn.execute(select(s.grid.c.config_id).where(s.grid.c.name == name)
                        .order_by(s.grid.c.position)).all()
    return [int(r[0]) for r in rows]


def _metafeature_version(conn: Connection, dataset_id: int) -> str | None:
    return conn.execute(select(s.metafeature.c.extractor_version).where(
        s.metafeature.c.dataset_id == dataset_id).limit(1)).scalar()


def _clean_evaluation(index: int, row: Mapping[str, Any], dataset_id: int,
                      primary: str | None, host: str) -> dict[str, Any]:
    """One evaluation row as stored, every score checked (see Writer.add_evaluations)."""
    where = f"evaluations[{index}]"
    if not isinstance(row, Mapping):
        raise DatasetError(f"{where} is a {type(row).__name__}; expected a mapping.")
    missing = [key for key in ("config_id", "protocol", "status") if row.get(key) is None]
    if missing:
        raise DatasetError(f"{where} lacks {', '.join(missing)}; every evaluation needs "
                           "config_id, protocol and status. Nothing was recorded.")
    metrics = row.get("metrics") or {}
    if not isinstance(metrics, Mapping):
        raise DatasetError(f"{where}.metrics is a {type(metrics).__name__}; expected a "
                           "mapping of metric name to score. Nothing was recorded.")
    score = row.get("score")
    if str(row["status"]) == "ok" and isinstance(score, float) and math.isnan(score):
        raise DatasetError(f"{where}.score is NaN but its status is 'ok'; expected a finite "
                           "score for a finished evaluation (or another status, e.g. "
                           "'error', when it failed). Nothing was recorded.")
    return {
        "dataset_id": dataset_id, "config_id": int(row["config_id"]),
        "protocol": str(row["protocol"]), "status": str(row["status"]),
        "score": checked_score(score, primary, f"{where}.score"),
        **{m: checked_score(metrics.get(m), m, f"{where}.metrics.{m}")
           for m in s.METRIC_COLUMNS},
        "fit_seconds": _seconds(row.get("fit_seconds"), f"{where}.fit_seconds"),
        "predict_seconds": _seconds(row.get("predict_seconds"), f"{where}.predict_seconds"),
        "error": (row.get("error") or None) and str(row["error"])[:500],
        "n_rows_used": _int_or_none(row.get("n_rows_used")),
        "created_at": now(), "host": host,
    }


SCORE_TOLERANCE = 1e-9  # rounding of a metric computed in floating point


def checked_score(value: Any, metric: str | None, field: str) -> float | None:
    """``value`` as a stored score of ``metric``: None when missing (None or NaN), else a
    finite number within the metric's range; anything else raises ``DatasetError``.

    Example:
        >>> checked_score(0.5, "accuracy", "score"), checked_score(None, "r2", "score")
        (0.5, None)
        >>> checked_score(-5, "accuracy", "evaluations[3].score")
        Traceback (most recent call last):
        ...
        automl_meta.errors.DatasetError: evaluations[3].score = -5 is outside the range of \
accuracy, [0, 1]; expected a finite score in that range, or null when it was not computed. \
Nothing was recorded.
    """
    from automl_meta.evaluation.metrics import METRIC_RANGES

    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(
            value, "__float__"):
        raise DatasetError(f"{field} = {value!r} is not a number; expected a finite score "
                           "or null. Nothing was recorded.")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DatasetError(f"{field} = {value!r} is not a number; expected a finite score "
                           "or null. Nothing was recorded.") from exc
    if math.isnan(number):
        return None
    low, high = METRIC_RANGES.get(metric or "", (None, None))
    if math.isinf(number) or (low is not None and number < low - SCORE_TOLERANCE) or (
            high is not None and number > high + SCORE_TOLERANCE):
        bounds = f"[{_fmt_bound(low, '-inf')}, {_fmt_bound(high, 'inf')}]"
        what = f"the range of {metric}, {bounds}" if metric in METRIC_RANGES else "finite"
        raise DatasetError(f"{field} = {value!r} is outside {what}; expected a finite score "
                           "in that range, or null when it was not computed. Nothing was "
                           "recorded.")
    return number


def _fmt_bound(bound: float | None, unbounded: str) -> str:
    return unbounded if bound is None else f"{bound:g}"


def _seconds(value: Any, field: str) -> float:
    number = _finite_or_none(value)
    if value is not None and number is None and not (isinstance(value, float)
                                                     and math.isnan(value)):
        raise DatasetError(f"{field} = {value!r} is not a finite number of seconds. Nothing "
                           "was recorded.")
    if number is not None and number < 0:
        raise DatasetError(f"{field} = {value!r} is negative; expected seconds >= 0. Nothing "
                           "was recorded.")
    return number or 0.0


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
    """An INSERT of ``rows`` that skips those conflicting with a unique constraint."""
    return _insert_ignore_statement(engine, table).values(rows)


def _insert_ignore_statement(engine: Engine, table: Any) -> Any:
    """An INSERT that skips rows conflicting with a unique constraint, on any backend."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise MetaDBError(f"Backend {engine.dialect.name!r} is not supported; use SQLite or "
                          "PostgreSQL.")
    return insert(table).on_conflict_do_nothing()


def _insert_many(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (same keys each) skipping those conflicting with a unique constraint.

    One ``executemany``: SQLAlchemy's "insertmanyvalues" pages it into statements under the
    dialect's bind-parameter limit (999 for an old SQLite), so no size fails on that.
    """
    if rows:
        conn.execute(_insert_ignore_statement(conn.engine, table), rows)


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
