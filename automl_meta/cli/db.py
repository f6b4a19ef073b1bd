"""The ``db`` command group: build, inspect, export and import meta-databases, and train
the meta-learners (those two commands are in :mod:`automl_meta.cli.db_learners`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from automl_meta._support import lifecycle as _lifecycle
from automl_meta.cli._common import (
    DB_OPTION,
    TARGET_OPTION,
    TASK_OPTION,
    RegistryHelpCommand,
    console,
    err_console,
    load,
    open_db,
    parse_json,
)
from automl_meta.cli.db_learners import db_train, db_train_neural
from automl_meta.config import shipped_meta_db_dir, user_db_url
from automl_meta.errors import AutoMLMetaError


def db_build(
    data: list[str] = typer.Argument(..., help="Dataset files, directories of them, "
                                     "openml:ID or sklearn:NAME."),
    db: str | None = DB_OPTION,
    configs: int = typer.Option(22, "--configs", help="Random configurations per algorithm "
                                "(each algorithm's default is added)."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Parallel workers."),
    backend: str = typer.Option("loky", "--backend", help="loky, dask or ray."),
    time_limit: float = typer.Option(60.0, "--time-limit", help="Seconds per evaluation."),
    max_rows: int = typer.Option(1000, "--max-rows", help="Rows per dataset used for "
                                 "evaluations (stratified subsample)."),
    protocol: str = typer.Option("cv3", "--protocol", help="Evaluation protocol, e.g. cv3."),
    seed: int = typer.Option(0, "--seed", help="Seed of the configuration grid and the splits."),
    metafeatures: bool = typer.Option(True, "--metafeatures/--no-metafeatures",
                                      help="Also compute each dataset's meta-features."),
    algorithms: str | None = typer.Option(
        None, "--algorithms", help="Comma-separated algorithms of the grid, e.g. "
        "lightgbm,xgboost,catboost (default: every algorithm of the space); the grid is "
        "named after them, so each subset resumes on its own."),
) -> None:
    """Evaluate a fixed configuration grid on every dataset (resumable, crash-safe)."""
    from automl_meta.data import list_datasets
    from automl_meta.metadb import BuildSettings, build

    paths: list[Path | str] = []
    for item in data:
        paths.extend(list_datasets(item) if Path(item).is_dir() else [item])
    store = open_db(db)
    settings = BuildSettings(configs_per_algorithm=configs, seed=seed, protocol=protocol,
                             max_rows=max_rows, time_limit=time_limit,
                             metafeatures=metafeatures,
                             algorithms=tuple(a.strip() for a in algorithms.split(",")
                                              if a.strip()) or None if algorithms else None)
    console.print(f"building into {store.url} from {len(paths)} dataset file(s)")
    _lifecycle.note_kept(f"every finished evaluation is committed to {store._safe_url()}; "
                         "rerun the same command to resume")
    totals = build(store, paths, settings, jobs=jobs, backend=backend)
    for path, reason in totals.pop("skipped"):
        err_console.print(f"[yellow]skipped[/] {path}: {reason}")
    console.print(f"done: {totals['ok']} ok, {totals['failed']} failed evaluations "
                  f"({totals['missing_before']} were missing)")


def db_upgrade(db: str | None = DB_OPTION) -> None:
    """Migrate a meta-database to this version's schema (export a backup first)."""
    from automl_meta.metadb._migrations import upgrade  # sqlalchemy: not for `--help`

    before, after = upgrade(db or user_db_url())
    if before == after:
        console.print(f"already at schema version {after}")
    else:
        console.print(f"upgraded from schema version {before} to {after}")


def db_stats(
    db: str | None = DB_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    shipped: bool = typer.Option(False, "--shipped", help="Report the shipped meta_db/ "
                                 "bundle instead of a store."),
) -> None:
    """Coverage of a meta-database: datasets, configurations, evaluations, failures, size,
    and how much of what advice learns from is your runs against the shipped grid."""
    store = None if shipped else open_db(db, command="db stats")
    stats = _bundle_stats() if store is None else store.stats()
    if store is not None:
        stats["knowledge"] = _knowledge_origins(store)
    if as_json:
        print(json.dumps(stats, indent=1))
        return
    table = Table(title="meta-database")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key in ("datasets", "datasets_evaluated", "datasets_with_metafeatures", "configs",
                "evaluations",
                "failures", "runs", "bytes", "schema_version"):
        table.add_row(key, f"{stats[key]:,}")
    for algorithm, count in sorted(stats["configs_per_algorithm"].items()):
        table.add_row(f"configs: {algorithm}", f"{count:,}")
    for task, count in sorted(stats["algorithms_per_task"].items()):
        table.add_row(f"algorithms evaluated: {task}", f"{count:,}")
    for protocol, count in sorted(stats["evaluations_by_protocol"].items()):
        table.add_row(f"evaluations: {protocol}", f"{count:,}")
    console.print(table)
    if stats.get("knowledge"):
        console.print(_origins_table(stats["knowledge"]))


def _knowledge_origins(store: Any) -> dict[str, Any]:
    """Per task: the shipped meta-db's and the store's datasets and successful runs, and how
    many of the store's datasets lend to other datasets' advice."""
    from automl_meta.metalearners import load_knowledge  # numpy, pandas: not for `--help`

    try:
        return load_knowledge(user_db=store).origins()
    except AutoMLMetaError:  # no shipped bundle and an empty store: nothing to tell
        return {}


def _origins_table(origins: dict[str, Any]) -> Table:
    table = Table(title="what advice learns from (successful runs)")
    for column in ("task", "from", "datasets", "evaluations", "lend to others"):
        table.add_column(column, justify="left" if column in ("task", "from") else "right")
    for task, by_origin in sorted(origins.items()):
        for origin in ("shipped", "user"):
            entry = by_origin.get(origin)
            if entry is not None:
                table.add_row(task, "your store" if origin == "user" else "shipped meta-db",
                              f"{entry['datasets']:,}", f"{entry['evaluations']:,}",
                              f"{entry['lending']:,}")
    return table


def _bundle_stats() -> dict[str, Any]:
    from automl_meta.metadb import MetaDB  # sqlalchemy: not for `--help`
    from automl_meta.metadb._bundle import import_bundle

    bundle = shipped_meta_db_dir()
    store = MetaDB("sqlite:///:memory:")
    import_bundle(store, bundle)
    stats = store.stats()
    stats["bytes"] = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    return stats


def db_export(
    directory: Path = typer.Argument(..., help="Output directory of the Parquet bundle."),
    db: str | None = DB_OPTION,
    command: str = typer.Option("", "--command", help="The command that built the data, "
                                "recorded in the manifest."),
) -> None:
    """Export a meta-database as a Parquet bundle with a manifest."""
    from automl_meta.metadb._bundle import export_bundle

    manifest = export_bundle(open_db(db, command="db export"), directory, command=command)
    console.print(f"exported {manifest['counts']} to {directory}")


def db_import(
    directory: Path = typer.Argument(..., help="A bundle directory (from db export)."),
    db: str | None = DB_OPTION,
) -> None:
    """Merge a Parquet bundle into a meta-database (idempotent)."""
    from automl_meta.metadb._bundle import import_bundle

    result = import_bundle(open_db(db), directory)
    console.print(f"imported {result}")



IMPORT_OPTUNA_HELP = (
    "Import an Optuna study's COMPLETE trials as evaluations of DATA (idempotent).\n\n"
    "Trials must name their parameters as automl_meta.space.suggest does ('algorithm' and "
    "'<algorithm>__<param>') or be mapped with --param-map; others are skipped and counted. "
    "The evaluations are stored under --protocol (default cv5), not under the study's name, "
    "so they compare with the rest of the meta-database and a second import adds nothing; "
    "the study is noted in a run of kind optuna_import. Failed, pruned and unfinished trials "
    "are skipped, not recorded as errors: their cause may not be the configuration."
)


def db_import_optuna(
    storage: str = typer.Argument(..., help="Optuna storage: an RDB URL (sqlite:///optuna.db, "
                                  "postgresql://...) or an Optuna SQLite or journal file."),
    study: str = typer.Option(..., "--study", help="Name of the study to import."),
    data: str = typer.Option(..., "--data", help="The dataset the study ran on: a file path, "
                             "openml:ID or sklearn:NAME."),
    target: str | None = TARGET_OPTION,
    task: str | None = TASK_OPTION,
    db: str | None = DB_OPTION,
    protocol: str = typer.Option("cv5", "--protocol", help="How the objective scored a trial "
                                 "(cvK or holdoutF). Evaluations are stored under it, so "
                                 "importing a study twice adds nothing."),
    metric: str | None = typer.Option(None, "--metric", help="What the objective returned "
                                      "(default balanced_accuracy or r2; a loss such as "
                                      "log_loss, rmse or mae for a study that minimizes)."),
    negate: bool = typer.Option(False, "--negate", help="The objective returned minus the "
                                "metric (e.g. -rmse under direction maximize)."),
    param_map: str | None = typer.Option(None, "--param-map", help="JSON mapping the "
                                         "study's parameter names to automl-meta's, e.g. "
                                         "'{\"C\": \"svm__C\"}' (null drops a name)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import an Optuna study into the meta-database (see ``IMPORT_OPTUNA_HELP`` and
    :func:`automl_meta.metadb.import_optuna_study`)."""
    from automl_meta.metadb import import_optuna_study

    mapping: dict[str, Any] | None = None
    if param_map is not None:
        mapping = parse_json(param_map, "--param-map")
        bad = [k for k, v in mapping.items() if v is not None and not isinstance(v, str)]
        if bad:
            raise typer.BadParameter(f"--param-map values must be parameter names or null; "
                                     f"{bad[0]!r} maps to {mapping[bad[0]]!r}.")
    dataset = load(data, target, task)
    summary = import_optuna_study(open_db(db), storage, study, dataset, metric=metric,
                                  protocol=protocol, param_map=mapping, negate=negate)
    if as_json:
        print(json.dumps(summary.to_dict(), indent=1))
        return
    console.print(f"{summary.study} -> {summary.dataset} ({summary.metric}, "
                  f"{summary.protocol}): {summary}")
    for note in summary.notes:
        err_console.print(f"[yellow]note:[/] {note}")


db_app = typer.Typer(help="Build, inspect, export and import meta-databases.",
                     no_args_is_help=True)
for _name, _command, _settings in (
        ("build", db_build, {}), ("train", db_train, {"cls": RegistryHelpCommand}),
        ("upgrade", db_upgrade, {}), ("stats", db_stats, {}), ("export", db_export, {}),
        ("import", db_import, {}), ("import-optuna", db_import_optuna,
                                    {"help": IMPORT_OPTUNA_HELP}),
        ("train-neural", db_train_neural, {})):
    db_app.command(_name, **_settings)(_command)
