"""Importing an existing Optuna study, so the runs users already made become memory.

Each COMPLETE trial whose parameters follow :func:`automl_meta.space.suggest`'s naming (a
categorical ``algorithm`` plus ``<algorithm>__<param>``, or names mapped onto it with
``param_map``) becomes one evaluation of the study's dataset. The choices, and why:

* **Protocol.** The evaluations are stored under an automl-meta protocol key that the user
  gives (``protocol``, default ``cv5``: say how the objective scored a configuration). The
  protocol column says how a score was measured, so it must be a protocol that the rest of
  automl-meta can parse and compare; a study name (``optuna:<name>``) would say neither and
  may not fit the column. The study's name and storage are kept in the notes of a ``run``
  row of kind ``optuna_import`` instead. Because an evaluation is unique on (dataset,
  configuration, protocol), importing the same study twice records nothing new, and a cell
  already in the store (from a build or a ``fit`` under the same protocol) is kept as is.
* **Objective value.** It is recorded under ``metric`` (default: balanced_accuracy or r2,
  the task's primary metric), which must agree with the study's direction: a score for a
  study that maximises, a loss (log_loss, rmse, mae) for one that minimises (``negate``
  when the objective returned minus the metric). Only the primary metric fills the ``score``
  column that the meta-learners rank by; another metric is kept in its own column.
* **Other trials.** FAILED, PRUNED, RUNNING and WAITING trials are skipped and counted, not
  recorded as errors: an Optuna failure may come from the objective's own code or an
  interruption rather than the configuration, and a pruned trial has no final score, yet
  the meta-learners would count any recorded failure against the configuration.
* **Repeats.** Trials that sampled the same configuration are one cell holding the mean of
  their values.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from automl_meta.errors import ArtifactError, ConfigurationError, did_you_mean
from automl_meta.metadb import _schema as s
from automl_meta.metadb._store import SQLITE_HEADER, MetaDB

DEFAULT_PROTOCOL = "cv5"
RUN_KIND = "optuna_import"
NAMING = "params not in automl-meta naming"
INVALID = "configuration outside automl-meta's space"
NOT_FINITE = "objective value not finite"
STATE_REASONS = {"FAIL": "failed trials", "PRUNED": "pruned trials",
                 "RUNNING": "running trials", "WAITING": "waiting trials"}


@dataclass
class ImportSummary:
    """What :func:`import_optuna_study` did; ``str()`` gives a one-line account.

    ``trials == imported + already_present + repeats + sum(skipped.values())``: every trial
    is a new cell, a cell the store already held, a repeat of a configuration, or skipped
    (``skipped`` counts per reason, ``examples`` holds the first trial of each reason).

    Example:
        >>> summary = ImportSummary("my-study", "iris", 1, "cv5", "accuracy", "maximize",
        ...                         trials=12, imported=10, skipped={"failed trials": 2})
        >>> str(summary)
        'imported 10, skipped 2: failed trials'
    """

    study: str
    dataset: str
    dataset_id: int | None
    protocol: str
    metric: str
    direction: str
    trials: int = 0
    imported: int = 0
    already_present: int = 0
    repeats: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    run_id: int | None = None

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def __str__(self) -> str:
        text = f"imported {self.imported}"
        if self.already_present:
            text += f" ({self.already_present} already in the store)"
        if self.repeats:
            text += f", {self.repeats} repeated a configuration (averaged)"
        if self.n_skipped:
            parts = [self._reason(reason) for reason in self.skipped]
            if len(self.skipped) > 1:
                parts = [f"{count} {part}"
                         for count, part in zip(self.skipped.values(), parts, strict=True)]
            text += f", skipped {self.n_skipped}: {'; '.join(parts)}"
        return text

    def _reason(self, reason: str) -> str:
        if reason == NAMING:
            return (f"{reason} (first: {self.examples[reason]}; name them as "
                    "automl_meta.space.suggest does, or map them with --param-map)")
        if reason in self.examples and reason not in STATE_REASONS.values():
            return f"{reason} (first: {self.examples[reason]})"
        return reason

    def to_dict(self) -> dict[str, Any]:
        return {"study": self.study, "dataset": self.dataset, "dataset_id": self.dataset_id,
                "protocol": self.protocol, "metric": self.metric, "direction": self.direction,
                "trials": self.trials, "imported": self.imported,
                "already_present": self.already_present, "repeats": self.repeats,
                "skipped": dict(self.skipped), "examples": dict(self.examples),
                "notes": list(self.notes), "run_id": self.run_id}


class _Skip(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def import_optuna_study(db: MetaDB | str | Path, storage: Any, study_name: str, dataset: Any,
                        *, target: str | None = None, task: str | None = None,
                        metric: str | None = None, protocol: str = DEFAULT_PROTOCOL,
                        param_map: dict[str, str | None] | None = None,
                        negate: bool = False) -> ImportSummary:
    """Record the COMPLETE trials of an Optuna study as evaluations of ``dataset``.

    Args:
        db: the target meta-database (a :class:`MetaDB`, URL or SQLite path).
        storage: an Optuna RDB URL (``sqlite:///optuna.db``, ``postgresql://...``), the
            path of an Optuna SQLite file or journal file, or an Optuna storage object.
        study_name: the study to read.
        dataset: the data the study was run on: a :class:`~automl_meta.data.Dataset` or
            anything :func:`~automl_meta.load_dataset` reads (with ``target``, ``task``).
            It is registered, with its meta-features, if the store lacks it.
        metric: what the objective returned (default: balanced_accuracy or r2).
        protocol: how the objective scored a trial (default ``cv5``); part of each
            evaluation's identity, see the module docstring.
        param_map: the study's parameter names mapped to automl-meta's
            (``{"C": "svm__C"}``; ``None`` drops a name). Without an ``algorithm``
            parameter, names that all share one ``<algorithm>__`` prefix imply it.
        negate: the objective returned minus ``metric`` (``-rmse`` under ``maximize``).

    Returns:
        An :class:`ImportSummary` (``str(summary)``: "imported 34, skipped 6: ...").

    Example:
        >>> summary = import_optuna_study("meta.sqlite", "sqlite:///optuna.db", "svm-iris",
        ...                               "sklearn:iris")  # doctest: +SKIP
        >>> summary.imported  # doctest: +SKIP
        34
    """
    from automl_meta.data import Dataset, load_dataset
    from automl_meta.evaluation import Protocol
    from automl_meta.evaluation.metrics import PRIMARY_METRIC

    protocol_key = Protocol.parse(protocol).key
    study = load_study(storage, study_name)
    data = dataset if isinstance(dataset, Dataset) else load_dataset(dataset, target=target,
                                                                      task=task)
    metric = metric or PRIMARY_METRIC[data.task]
    direction, notes = _check_metric(study, metric, data.task, negate)
    store = db if isinstance(db, MetaDB) else MetaDB(db)
    try:
        return _record_trials(store, study, data, metric, direction, notes, protocol_key,
                              param_map, negate, storage)
    finally:
        if store is not db:
            store.close()


def _record_trials(store: MetaDB, study: Any, data: Any, metric: str, direction: str,
            notes: list[str], protocol_key: str, param_map: dict[str, str | None] | None,
            negate: bool, storage: Any) -> ImportSummary:
    from optuna.trial import TrialState

    from automl_meta.evaluation.metrics import PRIMARY_METRIC
    from automl_meta.metadb._record import record_dataset
    from automl_meta.space import config_hash

    trials = study.get_trials(deepcopy=False)
    skipped: Counter[str] = Counter()
    examples: dict[str, str] = {}
    cells: dict[str, dict[str, Any]] = {}
    for trial in trials:
        try:
            if trial.state != TrialState.COMPLETE:
                reason = STATE_REASONS.get(trial.state.name, f"{trial.state.name} trials")
                raise _Skip(reason, f"trial {trial.number}")
            config = _trial_config(trial.params, data.task, param_map, trial.number)
            value = float(trial.value) * (-1.0 if negate else 1.0)
            if not math.isfinite(value):
                raise _Skip(NOT_FINITE, f"trial {trial.number}: {trial.value}")
        except _Skip as skip:
            skipped[skip.reason] += 1
            examples.setdefault(skip.reason, skip.detail)
            continue
        cell = cells.setdefault(config_hash(config), {"config": config, "trials": []})
        cell["trials"].append((trial, value))

    summary = ImportSummary(study=study.study_name, dataset=data.name, dataset_id=None,
                            protocol=protocol_key, metric=metric, direction=direction,
                            trials=len(trials), skipped=dict(skipped), examples=examples,
                            notes=notes)
    summary.repeats = sum(len(c["trials"]) - 1 for c in cells.values())
    if not cells:  # nothing to learn from: leave the store as it was
        return summary
    summary.dataset_id = record_dataset(store, data)
    ordered = list(cells.values())
    config_ids = store.add_configs(data.task, [c["config"] for c in ordered])
    done = store.done_cells(summary.dataset_id, protocol_key)
    primary = metric == PRIMARY_METRIC[data.task]
    rows = []
    for config_id, cell in zip(config_ids, ordered, strict=True):
        values = [value for _, value in cell["trials"]]
        cell["value"] = sum(values) / len(values)
        if config_id in done:
            continue
        rows.append({"config_id": config_id, "protocol": protocol_key, "status": "ok",
                     "score": cell["value"] if primary else None,
                     "metrics": {metric: cell["value"]},
                     # the objective's wall time: an upper bound of the time spent fitting
                     "fit_seconds": _mean_seconds(t for t, _ in cell["trials"])})
    store.add_evaluations(summary.dataset_id, rows)
    summary.imported = len(rows)
    summary.already_present = len(ordered) - len(rows)
    summary.run_id = _record_run(store, summary, storage, ordered, config_ids)
    return summary


def _trial_config(params: dict[str, Any], task: str,
                  param_map: dict[str, str | None] | None = None,
                  number: int | None = None) -> dict[str, Any]:
    """The validated configuration behind one trial's parameters (parameters the trial did
    not set take the algorithm's defaults), or ``_Skip`` saying why there is none."""
    from automl_meta.space import ALGORITHM_PARAM, trial_params_to_config, validate_config

    where = f"trial {number}" if number is not None else "trial"
    mapped: dict[str, Any] = {}
    for name, value in params.items():
        target = (param_map or {}).get(name, name)
        if target is not None:
            mapped[target] = value
    if ALGORITHM_PARAM not in mapped:
        prefixes = {name.split("__", 1)[0] for name in mapped if "__" in name}
        if len(prefixes) != 1 or any("__" not in name for name in mapped):
            raise _Skip(NAMING, f"{where} has {_names(params)}")
        mapped[ALGORITHM_PARAM] = prefixes.pop()
    algorithm = mapped[ALGORITHM_PARAM]
    foreign = [name for name in mapped
               if name != ALGORITHM_PARAM and not name.startswith(f"{algorithm}__")]
    if not isinstance(algorithm, str) or foreign:
        raise _Skip(NAMING, f"{where} has {_names(params)}")
    try:
        return validate_config(trial_params_to_config(mapped), task)
    except ConfigurationError as exc:
        raise _Skip(INVALID, f"{where}: {exc}") from None


def _names(params: dict[str, Any]) -> str:
    names = sorted(params)
    return ", ".join(names[:6]) + (", ..." if len(names) > 6 else "") if names else "no params"


def _check_metric(study: Any, metric: str, task: str, negate: bool) -> tuple[str, list[str]]:
    """The study's direction, checked against ``metric``; plus notes for the summary."""
    from optuna.study import StudyDirection

    from automl_meta.evaluation.metrics import LOWER_IS_BETTER, PRIMARY_METRIC, default_metrics

    allowed = default_metrics(task)
    if metric not in allowed:
        raise ConfigurationError(
            f"metric={metric!r} is not a {task} metric automl-meta records."
            f"{did_you_mean(metric, allowed)} Expected one of {', '.join(allowed)}.",
            parameter="metric"
        )
    if len(study.directions) != 1:
        raise ConfigurationError(
            f"The study {study.study_name!r} has {len(study.directions)} objectives; only a "
            "single-objective study can be imported (one value per trial)."
        )
    direction = "minimize" if study.direction == StudyDirection.MINIMIZE else "maximize"
    expected = "minimize" if metric in LOWER_IS_BETTER else "maximize"
    if negate:
        expected = "maximize" if expected == "minimize" else "minimize"
    if direction != expected:
        kind = "a loss (lower is better)" if metric in LOWER_IS_BETTER else "higher-is-better"
        fitting = [m for m in allowed if (m in LOWER_IS_BETTER) == (direction == "minimize")]
        raise ConfigurationError(
            f"The study {study.study_name!r} {direction}s its objective, but {metric} is "
            f"{kind}, so its values cannot be {'minus ' if negate else ''}{metric}. Pass the "
            f"metric the objective returned (--metric {' or '.join(fitting)} for a study that "
            f"{direction}s), or "
            + ("leave out negate." if negate else f"--negate if it returned minus {metric}.")
        )
    notes = []
    if metric in LOWER_IS_BETTER:
        notes.append(f"{metric} is a loss (lower is better) and the study {direction}s "
                     f"{'minus ' if negate else ''}it: values recorded as {metric}.")
    if metric != PRIMARY_METRIC[task]:
        notes.append(f"Only the {metric} column is filled: the meta-learners rank "
                     f"configurations by {PRIMARY_METRIC[task]}, so they do not learn from "
                     "these evaluations.")
    return direction, notes


def load_study(storage: Any, study_name: str) -> Any:
    """Load ``study_name`` from ``storage`` (see :func:`open_storage`) without changing it."""
    import optuna

    store = open_storage(storage)
    try:
        return optuna.load_study(study_name=study_name, storage=store)
    except KeyError:
        names = [s.study_name for s in store.get_all_studies()]
        listed = ", ".join(repr(n) for n in names[:10]) or "none"
        raise ArtifactError(
            f"No study named {study_name!r} in the Optuna storage {_describe(storage)}."
            f"{did_you_mean(study_name, names)} Studies there: {listed}. Pass one of them "
            "with --study."
        ) from None


def open_storage(storage: Any) -> Any:
    """An Optuna storage for reading: an RDB URL, an SQLite or journal file, or a storage.

    A URL or path that does not exist is refused rather than created, and Optuna's tables
    are never created in a database that lacks them.
    """
    from optuna.storages import BaseStorage, JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend
    from sqlalchemy.engine import make_url

    if isinstance(storage, BaseStorage):
        return storage
    text = str(storage)
    if "://" in text:
        url = text
        if text.startswith("sqlite"):
            database = make_url(text).database
            if database and database != ":memory:":
                _check_optuna_sqlite(Path(database))
    else:
        path = Path(text).expanduser()
        if not path.is_file():
            raise _missing_storage(path)
        with open(path, "rb") as handle:
            is_sqlite = handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
        if not is_sqlite:
            try:
                journal = JournalStorage(JournalFileBackend(str(path)))
                journal.get_all_studies()
            except Exception as exc:  # a foreign file fails in json, os or optuna
                raise _unreadable(storage, exc, "an Optuna journal file") from exc
            return journal
        _check_optuna_sqlite(path)
        url = f"sqlite:///{path.resolve()}"
    try:
        rdb = RDBStorage(url, skip_table_creation=True)
        rdb.get_all_studies()
    except Exception as exc:  # sqlalchemy, optuna and driver errors alike
        raise _unreadable(storage, exc, "an Optuna RDB storage") from exc
    return rdb


def _check_optuna_sqlite(path: Path) -> None:
    """Refuse a missing file, or an SQLite file without Optuna's tables (read-only look)."""
    import sqlite3

    if not path.is_file():
        raise _missing_storage(path)
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as conn:
            tables = {row[0] for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        raise ArtifactError(f"Could not read {str(path)!r} as SQLite: {exc}. Expected an "
                            "Optuna SQLite storage; check the path.") from exc
    if "studies" not in tables:
        raise ArtifactError(
            f"{str(path)!r} is an SQLite database but not an Optuna storage (it has no "
            "'studies' table). Expected the database that optuna.create_study(storage=...) "
            "wrote; check the path (an automl-meta store goes in --db, not here)."
        )


def _missing_storage(path: Path) -> ArtifactError:
    return ArtifactError(
        f"No Optuna storage at {str(path)!r}. Expected an Optuna RDB URL "
        "(sqlite:///optuna.db, postgresql://...) or the path of an existing Optuna SQLite or "
        "journal file; check the path and the working directory."
    )


def _unreadable(storage: Any, exc: Exception, expected: str) -> ArtifactError:
    first = (str(exc).splitlines() or [""])[0]
    import optuna

    return ArtifactError(
        f"Could not read the Optuna storage {_describe(storage)}: {type(exc).__name__}: "
        f"{first.strip().rstrip('.')}. Expected {expected} that Optuna {optuna.__version__} "
        "reads; check the path or URL (a storage of an older Optuna may need `optuna "
        "storage upgrade`)."
    )


def _describe(storage: Any) -> str:
    text = str(storage)
    if "://" not in text:
        return repr(text)
    from sqlalchemy.engine import make_url

    try:
        return repr(make_url(text).render_as_string(hide_password=True))
    except Exception:  # not a URL SQLAlchemy parses: show no more than its scheme
        return repr(text.split("://")[0] + "://...")


def _mean_seconds(trials: Any) -> float:
    seconds = [t.duration.total_seconds() for t in trials if t.duration is not None]
    return sum(seconds) / len(seconds) if seconds else 0.0


def _utc(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _record_run(store: MetaDB, summary: ImportSummary, storage: Any,
                cells: list[dict[str, Any]], config_ids: list[int]) -> int | None:
    """One ``run`` row per imported study and dataset (kept once, like bundle import)."""
    from sqlalchemy import select

    trials = [t for cell in cells for t, _ in cell["trials"]]
    started = min((_utc(t.datetime_start) for t in trials if t.datetime_start), default=None)
    finished = max((_utc(t.datetime_complete) for t in trials if t.datetime_complete),
                   default=None)
    started = started or _utc(datetime.now(timezone.utc))
    with store.engine.connect() as conn:
        existing = conn.execute(select(s.run.c.id).where(
            s.run.c.dataset_id == summary.dataset_id, s.run.c.kind == RUN_KIND,
            s.run.c.started == started)).scalar()
    if existing is not None:
        return int(existing)
    from automl_meta.evaluation.metrics import LOWER_IS_BETTER

    pick = min if summary.metric in LOWER_IS_BETTER else max  # values are in metric terms
    best = pick(range(len(cells)), key=lambda i: cells[i]["value"])
    notes = {"study": summary.study, "storage": _describe(storage).strip("'"),
             "metric": summary.metric, "direction": summary.direction,
             "protocol": summary.protocol, "imported": summary.imported,
             "skipped": summary.skipped}
    return store.add_run(summary.dataset_id, RUN_KIND, started, finished, None,
                         config_ids[best], cells[best]["value"], len(trials), notes)
