"""The resumable, crash-safe, parallel builder of a dense dataset x configuration matrix.

Each (dataset, chunk of configurations) is one joblib task. Workers write every finished
evaluation straight to the store, where a cell is unique on (dataset, config, protocol):
killing the build at any moment loses at most the evaluations in flight, and running it
again evaluates exactly the missing cells.

Two knobs make a long build come in stages: ``per_algorithm`` evaluates only the first
configurations of each algorithm of the grid (its default first), so every dataset gets every
algorithm before any dataset gets the whole grid; and ``max_rows`` above
:data:`BASE_ROWS` is a second fidelity, stored under its own protocol key
(``cv3:s0:r10000``) so it never overwrites the evaluations on fewer rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automl_meta._support.lifecycle import loky_initializer
from automl_meta._support.progress import eta_progress
from automl_meta.errors import ConfigurationError, did_you_mean
from automl_meta.metadb import _schema as s
from automl_meta.metadb._store import MetaDB

BACKENDS = ("loky", "dask", "ray", "sequential")
# the row cap of the base fidelity; its protocol keys carry no row suffix (meta-db v1, v2)
BASE_ROWS = 1000


@dataclass
class BuildPlan:
    """What a build will do: the configuration grid per task and the missing cells."""

    grids: dict[str, list[int]] = field(default_factory=dict)
    tasks: list[tuple[str, int, list[int]]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def n_missing(self) -> int:
        return sum(len(chunk) for _, _, chunk in self.tasks)


@dataclass
class BuildSettings:
    """The knobs of a build; they are part of its identity (see ``grid_name``).

    Example:
        >>> BuildSettings(configs_per_algorithm=10, seed=1).grid_name("regression")
        'regression:n10:s1'
    """

    configs_per_algorithm: int = 22
    seed: int = 0
    protocol: str = "cv3"
    max_rows: int = 1000
    time_limit: float = 60.0
    memory_limit: int = 4096
    chunk_size: int = 40
    metafeatures: bool = True
    algorithms: tuple[str, ...] | None = None
    # a stage of the grid: only the first N configurations of each algorithm (not part of
    # the grid's identity: a later stage with a larger N continues the same grid)
    per_algorithm: int | None = None
    # only datasets with more rows than this (a second fidelity's pass on the larger ones)
    min_rows: int = 0

    @property
    def protocol_key(self) -> str:
        """The stored protocol: the CV key, plus ``:rN`` when rows are capped above the base.

        Example:
            >>> BuildSettings().protocol_key, BuildSettings(max_rows=10000).protocol_key
            ('cv3:s0', 'cv3:s0:r10000')
        """
        from automl_meta.evaluation import Protocol

        key = Protocol.parse(self.protocol).key
        return key if self.max_rows <= BASE_ROWS else f"{key}:r{self.max_rows}"

    def grid_name(self, task: str) -> str:
        subset = f":{'+'.join(self.algorithms)}" if self.algorithms else ""
        return f"{task}:n{self.configs_per_algorithm}:s{self.seed}{subset}"


def ensure_grid(db: Any, task: str, settings: BuildSettings) -> list[int]:
    """The grid of ``task``: the stored one if present, else sampled and stored now."""
    from automl_meta.space import register_boosting, sample_configs

    if settings.algorithms:
        register_boosting(settings.algorithms)

    name = settings.grid_name(task)
    existing = db.grid(name)
    if existing:
        return existing
    configs = sample_configs(task, settings.configs_per_algorithm, seed=settings.seed)
    if settings.algorithms:
        configs = [c for c in configs if c["algorithm"] in settings.algorithms]
    ids = db.add_configs(task, configs)
    db.set_grid(name, ids)
    return db.grid(name)


def plan_build(db: Any, paths: list[Path | str], settings: BuildSettings) -> BuildPlan:
    """Register the datasets and work out which cells are still missing.

    Example:
        >>> from automl_meta.metadb import MetaDB
        >>> db = MetaDB("sqlite:///:memory:")
        >>> plan = plan_build(db, ["sklearn:iris"], BuildSettings(configs_per_algorithm=1))
        >>> list(plan.grids), plan.n_missing, len(plan.tasks)
        (['classification'], 20, 1)
    """
    from automl_meta.data import load_dataset

    protocol = settings.protocol_key
    plan = BuildPlan()
    entries = []
    for path in paths:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dataset = load_dataset(path)
        except Exception as exc:  # one unreadable file must not stop a long build
            plan.skipped.append((str(path), str(exc)))
            continue
        if dataset.n_rows <= settings.min_rows:
            continue
        if dataset.task not in plan.grids:
            plan.grids[dataset.task] = _stage(db, ensure_grid(db, dataset.task, settings),
                                              settings.per_algorithm)
        dataset_id = db.add_dataset(dataset.name, dataset.fingerprint, dataset.task,
                                    dataset.n_rows, dataset.n_features, dataset.n_classes,
                                    source=_source_name(path))
        missing = [c for c in plan.grids[dataset.task]
                   if c not in db.done_cells(dataset_id, protocol)]
        cost = min(dataset.n_rows, settings.max_rows) * max(dataset.n_features, 1)
        entries.append((cost, str(path), dataset_id, missing))
    # cheap datasets first, so a partial build is dense over as many datasets as possible
    for _, path, dataset_id, missing in sorted(entries):
        for start in range(0, len(missing), settings.chunk_size):
            plan.tasks.append((path, dataset_id, missing[start:start + settings.chunk_size]))
        if not missing and settings.metafeatures:
            plan.tasks.append((path, dataset_id, []))
    return plan


def _stage(db: Any, grid: list[int], per_algorithm: int | None) -> list[int]:
    """The first ``per_algorithm`` configurations of each algorithm of ``grid``, in order."""
    if per_algorithm is None:
        return grid
    from sqlalchemy import select

    with db.engine.connect() as conn:
        algorithm = dict(conn.execute(select(s.config.c.id, s.config.c.algorithm)
                                      .where(s.config.c.id.in_(grid))).all())
    taken: dict[str, int] = {}
    stage = []
    for config_id in grid:
        name = algorithm[config_id]
        if taken.get(name, 0) < per_algorithm:
            taken[name] = taken.get(name, 0) + 1
            stage.append(config_id)
    return stage


def _source_name(path: Path | str) -> str:
    """A file's name, or the ``openml:ID`` / ``sklearn:NAME`` reference as given."""
    text = str(path)
    return text if ":" in text and not Path(text).exists() else Path(text).name


def run_chunk(db_url: str, path: str, dataset_id: int, config_ids: list[int],
              settings: BuildSettings) -> dict[str, int]:
    """Evaluate one chunk (a joblib task); every result is committed as soon as it exists."""
    from joblib import parallel_config

    # joblib hands the build's backend down into its tasks; an evaluation's forked worker
    # that then reaches for the dask (or ray) scheduler waits forever, so the work of one
    # task stays in its own process
    with parallel_config(backend="sequential"):
        return _run_chunk(db_url, path, dataset_id, config_ids, settings)


def _run_chunk(db_url: str, path: str, dataset_id: int, config_ids: list[int],
               settings: BuildSettings) -> dict[str, int]:
    import json

    from sqlalchemy import select

    from automl_meta.data import load_dataset
    from automl_meta.evaluation import Protocol, evaluate
    from automl_meta.space import register_boosting

    if settings.algorithms:  # a fresh worker process: register what the grid names
        register_boosting(settings.algorithms)
    db = MetaDB(db_url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = load_dataset(path)
        if settings.metafeatures:
            _ensure_metafeatures(db, dataset_id, dataset)
    sample = dataset.subsample(settings.max_rows, random_state=settings.seed)
    protocol = Protocol.parse(settings.protocol)
    done = db.done_cells(dataset_id, settings.protocol_key)
    with db.engine.connect() as conn:
        rows = conn.execute(select(s.config.c.id, s.config.c.algorithm, s.config.c.params_json)
                            .where(s.config.c.id.in_(config_ids))).all()
    configs = {int(r[0]): {"algorithm": r[1], "params": json.loads(r[2])} for r in rows}
    counts = {"ok": 0, "failed": 0}
    for config_id in config_ids:
        if config_id in done:
            continue
        result = evaluate(configs[config_id], sample, protocol=protocol,
                          time_limit=settings.time_limit, memory_limit=settings.memory_limit,
                          random_state=settings.seed)
        db.add_evaluations(dataset_id, [{
            "config_id": config_id, "protocol": settings.protocol_key, "status": result.status,
            "score": result.score, "metrics": result.metrics,
            "fit_seconds": result.fit_seconds, "predict_seconds": result.predict_seconds,
            "error": result.error, "n_rows_used": sample.n_rows,
        }])
        counts["ok" if result.ok else "failed"] += 1
    db.close()
    return counts


def _ensure_metafeatures(db: Any, dataset_id: int, dataset: Any) -> None:
    try:
        from automl_meta.metafeatures import EXTRACTOR_VERSION, extract_metafeatures
    except ImportError:
        return
    if db.metafeature_version(dataset_id) == EXTRACTOR_VERSION:
        return
    features = extract_metafeatures(dataset, random_state=0)
    db.add_metafeatures(dataset_id, features.to_dict(), features.seconds, EXTRACTOR_VERSION)


def build(db: Any, paths: list[Path | str], settings: BuildSettings | None = None, jobs: int = 1,
          backend: str = "loky", progress: bool = True) -> dict[str, Any]:
    """Evaluate the grid on every dataset of ``paths``, resuming whatever is missing.

    Returns counts of evaluations done, failed and skipped datasets.

    Example:
        >>> from automl_meta.metadb import MetaDB
        >>> db = MetaDB("sqlite:///my_meta.db")  # doctest: +SKIP
        >>> totals = build(db, ["iris.csv", "wine.csv"], BuildSettings(configs_per_algorithm=5),
        ...                jobs=2)  # doctest: +SKIP
        >>> totals["ok"], totals["failed"], totals["skipped_datasets"]  # doctest: +SKIP
    """
    from joblib import Parallel, delayed, parallel_config

    settings = settings or BuildSettings()
    if backend not in BACKENDS:
        raise ConfigurationError(f"backend={backend!r} is unknown; expected one of "
                                 f"{', '.join(BACKENDS)}.")
    if jobs < 1:
        raise ConfigurationError(f"jobs={jobs!r} must be a positive number of workers.",
                                 parameter="jobs")
    _check_backend(backend)
    _check_algorithms(settings.algorithms)
    plan = plan_build(db, paths, settings)
    totals = {"ok": 0, "failed": 0, "skipped_datasets": len(plan.skipped),
              "missing_before": plan.n_missing}
    calls = [delayed(run_chunk)(db.url, path, dataset_id, chunk, settings)
             for path, dataset_id, chunk in plan.tasks]
    n_jobs = 1 if backend == "sequential" else jobs
    client = _dask_client(jobs) if backend == "dask" else None
    # loky's workers die with this process (dask's and ray's are their cluster's business)
    initializer, initargs = loky_initializer()
    workers = {"initializer": initializer, "initargs": initargs} \
        if backend in ("loky", "sequential") else {}
    try:
        with _progress(progress, plan.n_missing) as advance, parallel_config(
                backend="loky" if backend == "sequential" else backend, n_jobs=n_jobs,
                **workers):
            for counts, (_, _, chunk) in zip(
                    Parallel(return_as="generator")(calls), plan.tasks, strict=True):
                totals["ok"] += counts["ok"]
                totals["failed"] += counts["failed"]
                advance(len(chunk))
    finally:
        if client is not None:
            client.close()
    totals["skipped"] = plan.skipped  # type: ignore[assignment]
    return totals


def _dask_client(jobs: int) -> Any:
    """A local dask cluster of ``jobs`` single-threaded worker processes, unless the user
    already connected a Client (then that cluster is used and left running)."""
    import dask
    from distributed import Client, get_client

    try:
        get_client()
        return None
    except ValueError:
        pass
    # evaluations run in child processes, which daemonic dask workers may not start
    dask.config.set({"distributed.worker.daemon": False})
    return Client(n_workers=jobs, threads_per_worker=1, processes=True,
                  dashboard_address=None)


def _check_algorithms(names: tuple[str, ...] | None) -> None:
    """Refuse an algorithm name the space does not know (registered or boosting)."""
    from automl_meta.space import BOOSTING, REGISTRY

    known = sorted({name for _, name in REGISTRY} | {a.name for a in BOOSTING})
    unknown = [name for name in names or () if name not in known]
    if unknown:
        raise ConfigurationError(
            f"Unknown algorithm {unknown[0]!r} for the build grid; expected some of "
            f"{', '.join(known)}.{did_you_mean(unknown[0], known)}")


def _check_backend(backend: str) -> None:
    if backend == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError as exc:
            raise ConfigurationError(
                "backend='dask' needs dask.distributed: pip install 'automl-meta[dask]', and "
                "a running dask Client (or it starts a local cluster)."
            ) from exc
    if backend == "ray":
        try:
            import ray.util.joblib  # noqa: F401

            ray.util.joblib.register_ray()
        except ImportError as exc:
            raise ConfigurationError(
                "backend='ray' needs ray: pip install 'automl-meta[ray]'."
            ) from exc


class _progress:
    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled and total > 0
        self.total = total

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda n: None

        self._bar = eta_progress("evaluating")
        self._bar.__enter__()
        task = self._bar.add_task("build", total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.__exit__(*exc)
