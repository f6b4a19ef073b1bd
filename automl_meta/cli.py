"""The ``automl-meta`` command line: thin — it parses, calls the library, prints with rich."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from automl_meta._version import __version__
from automl_meta.errors import AutoMLMetaError, AutoMLMetaWarning

app = typer.Typer(
    name="automl-meta",
    help="Hyperparameter meta-learning for tabular data: recommend, warm-start, fit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Build, inspect, export and import meta-databases.",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()
err_console = Console(stderr=True)

DB_OPTION = typer.Option(None, "--db", help="Meta-database URL or SQLite path "
                         "(default: $AUTOML_META_DB or the user store).")
TARGET_OPTION = typer.Option(None, "--target", "-t", help="Label column (default: "
                             "target/class/label, or an ARFF file's last attribute).")
TASK_OPTION = typer.Option(None, "--task", help="classification or regression "
                           "(default: inferred, or from an index.csv beside the file).")


def _version(value: bool) -> None:
    if value:
        console.print(f"automl-meta {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    """automl-meta: choose algorithms and hyperparameters from the memory of past datasets."""


def _load(data: str, target: str | None, task: str | None) -> Any:
    """Load a dataset, printing our warnings (dropped rows, inferred task) to stderr."""
    from automl_meta.data import load_dataset

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_dataset(data, target=target, task=task)
    _print_warnings(caught)
    return dataset


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    for item in caught:
        if issubclass(item.category, AutoMLMetaWarning):
            err_console.print(f"[yellow]warning:[/] {item.message}")


@app.command()
def metafeatures(
    data: str = typer.Argument(..., help="Dataset: a file path, openml:ID or sklearn:NAME."),
    target: str | None = TARGET_OPTION,
    task: str | None = TASK_OPTION,
    groups: str = typer.Option("all", "--groups", help="Comma-separated groups: general, "
                               "statistical, info-theory, landmarking, model-based, or all."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Compute a dataset's meta-features (with the seconds each took)."""
    from automl_meta.data import load_dataset
    from automl_meta.metafeatures import extract_metafeatures

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_dataset(data, target=target, task=task)
        chosen: Any = "all" if groups == "all" else [g.strip() for g in groups.split(",")]
        features = extract_metafeatures(dataset, groups=chosen)
    _print_warnings(caught)
    if as_json:
        values = {k: (None if v != v else v) for k, v in features.to_dict().items()}
        print(json.dumps({"dataset": dataset.name, "metafeatures": values}, indent=1))
        return
    table = Table(title=f"Meta-features of {dataset.name}")
    for column in ("name", "group", "value", "seconds"):
        table.add_column(column, justify="right" if column in ("value", "seconds") else "left")
    for name, value in sorted(features.items()):
        table.add_row(name, features.groups.get(name, ""), f"{value:.6g}",
                      f"{features.seconds.get(name, 0.0):.4f}")
    console.print(table)


@app.command()
def evaluate(
    data: str = typer.Argument(..., help="Dataset: a file path, openml:ID or sklearn:NAME."),
    algorithm: str = typer.Option("hist_gb", "--algorithm", "-a", help="Algorithm name."),
    params: str = typer.Option("{}", "--params", help="JSON of hyperparameters (others "
                               "take the algorithm's default)."),
    target: str | None = TARGET_OPTION,
    task: str | None = TASK_OPTION,
    protocol: str = typer.Option("cv5", "--protocol", help="cvK or holdoutF, e.g. cv5."),
    time_limit: float = typer.Option(300.0, "--time-limit", help="Seconds before the "
                                     "evaluation is stopped."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Score one configuration on a dataset with cross-validation, safely."""
    from automl_meta.evaluation import evaluate as run_evaluation
    from automl_meta.space import default_config

    dataset = _load(data, target, task)
    config = default_config(algorithm, dataset.task)
    config["params"].update(_parse_json(params, "--params"))
    result = run_evaluation(config, dataset, protocol=protocol, time_limit=time_limit)
    if as_json:
        print(json.dumps(result.to_dict(), indent=1, default=str))
        return
    console.print(f"[bold]{dataset.name}[/] {algorithm} {protocol}: status {result.status}")
    for name, value in result.metrics.items():
        console.print(f"  {name:>18} {value:.4f}")
    if result.error:
        console.print(f"[red]{result.error}[/]")


@app.command()
def recommend(
    data: str = typer.Argument(..., help="Dataset: a file path, openml:ID or sklearn:NAME."),
    target: str | None = TARGET_OPTION,
    task: str | None = TASK_OPTION,
    k: int = typer.Option(5, "-k", "--k", help="How many configurations."),
    strategy: str = typer.Option("auto", "--strategy", help="auto, knn, portfolio or ranker."),
    db: str | None = DB_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Recommend configurations for a dataset, with the reason for each."""
    from automl_meta._recommend import recommend as run_recommend
    from automl_meta.data import load_dataset

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_dataset(data, target=target, task=task)
        recs = run_recommend(dataset, k=k, strategy=strategy, db=db)
    _print_warnings(caught)
    if as_json:
        print(json.dumps([r.to_dict() for r in recs], indent=1, default=str))
        return
    table = Table(title=f"Recommendations for {dataset.name} ({dataset.task})")
    for column in ("#", "algorithm", "params", "predicted", "why"):
        table.add_column(column, overflow="fold")
    for rec in recs:
        table.add_row(str(rec.rank), rec.algorithm, json.dumps(rec.params, default=str),
                      f"{rec.predicted_score:.3f}", rec.why)
    console.print(table)


@app.command()
def fit(
    data: str = typer.Argument(..., help="Dataset: a file path, openml:ID or sklearn:NAME."),
    target: str | None = TARGET_OPTION,
    task: str | None = TASK_OPTION,
    budget: str = typer.Option("60s", "--budget", "-b", help="Wall-time budget: 30s, 5m, 1h."),
    metric: str | None = typer.Option(None, "--metric", help="Search objective (default "
                                      "balanced_accuracy or r2)."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Trials evaluated at once."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Directory for the model, "
                                    "its configuration and the leaderboard."),
    record: bool = typer.Option(True, "--record/--no-record", help="Record the run into the "
                                "user meta-database."),
    db: str | None = DB_OPTION,
) -> None:
    """Search algorithms and hyperparameters under a budget, starting from past experience."""
    from automl_meta.automl import fit as run_fit
    from automl_meta.automl import save_result
    from automl_meta.data import load_dataset

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_dataset(data, target=target, task=task)
        with console.status(f"searching for {budget} on {dataset.name}..."):
            result = run_fit(dataset, budget=budget, metric=metric, n_jobs=jobs,
                             record=record, db=db)
    _print_warnings(caught)
    table = Table(title=f"Leaderboard on {dataset.name} ({result.metric}, cross-validated)")
    for column in ("algorithm", result.metric, "status", "params"):
        table.add_column(column, overflow="fold")
    for row in result.leaderboard.head(10).itertuples(index=False):
        table.add_row(row.algorithm, f"{getattr(row, result.metric):.4f}", row.status,
                      json.dumps(row.params, default=str))
    console.print(table)
    kind = f"ensemble of {len(result.ensemble)}" if len(result.ensemble) > 1 else \
        result.best_config["algorithm"]
    console.print(f"best {result.metric} {result.best_score:.4f} ({kind}); "
                  f"{len(result.leaderboard)} trials in {result.seconds:.1f} s")
    if out is not None:
        written = save_result(result, out)
        console.print(f"saved to {out}: {', '.join(p.name for p in written)}")


def _parse_json(text: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{option} must be a JSON object: {exc}") from exc
    if not isinstance(value, dict):
        raise typer.BadParameter(f"{option} must be a JSON object, got {text!r}.")
    return value


def _open_db(db: str | None) -> Any:
    from automl_meta.config import user_db_url
    from automl_meta.metadb import MetaDB

    return MetaDB(db or user_db_url())


@db_app.command("build")
def db_build(
    data: list[Path] = typer.Argument(..., help="Dataset files or directories of them."),
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
) -> None:
    """Evaluate a fixed configuration grid on every dataset (resumable, crash-safe)."""
    from automl_meta.data import list_datasets
    from automl_meta.metadb import BuildSettings, build

    paths: list[Path] = []
    for item in data:
        paths.extend(list_datasets(item) if item.is_dir() else [item])
    store = _open_db(db)
    settings = BuildSettings(configs_per_algorithm=configs, seed=seed, protocol=protocol,
                             max_rows=max_rows, time_limit=time_limit,
                             metafeatures=metafeatures)
    console.print(f"building into {store.url} from {len(paths)} dataset file(s)")
    totals = build(store, paths, settings, jobs=jobs, backend=backend)
    for path, reason in totals.pop("skipped"):
        err_console.print(f"[yellow]skipped[/] {path}: {reason}")
    console.print(f"done: {totals['ok']} ok, {totals['failed']} failed evaluations "
                  f"({totals['missing_before']} were missing)")


@db_app.command("train")
def db_train(
    db: str | None = DB_OPTION,
    shipped: Path | None = typer.Option(None, "--shipped", help="Bundle to learn from "
                                        "(default: the shipped meta_db/)."),
    out: Path | None = typer.Option(None, "--out", help="Where to save the learners "
                                    "(default: <bundle>/learners)."),
    evaluate: bool = typer.Option(True, "--evaluate/--no-evaluate", help="Judge each "
                                  "learner leave-one-dataset-out and pick the auto strategy."),
    user_store: bool = typer.Option(False, "--user-store/--no-user-store", help="Also learn "
                                    "from the user store."),
) -> None:
    """Fit the meta-learners (knn, portfolio, ranker) and choose the auto strategy."""
    from automl_meta.config import shipped_meta_db_dir
    from automl_meta.metalearners import load_knowledge
    from automl_meta.metalearners._train import train_learners

    bundle = shipped or shipped_meta_db_dir()
    store: Any = False
    if db is not None or user_store:
        store = _open_db(db)
    knowledge = load_knowledge(bundle, store, include_shipped=(bundle / "manifest.json")
                               .is_file())
    choice = train_learners(knowledge, out or bundle / "learners", evaluate=evaluate,
                            progress=True)
    console.print(f"trained on {choice['datasets']} datasets; auto strategy: {choice['auto']}")


@db_app.command("upgrade")
def db_upgrade(db: str | None = DB_OPTION) -> None:
    """Migrate a meta-database to this version's schema (export a backup first)."""
    from automl_meta.config import user_db_url
    from automl_meta.metadb._migrations import upgrade

    before, after = upgrade(db or user_db_url())
    if before == after:
        console.print(f"already at schema version {after}")
    else:
        console.print(f"upgraded from schema version {before} to {after}")


@db_app.command("stats")
def db_stats(
    db: str | None = DB_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    shipped: bool = typer.Option(False, "--shipped", help="Report the shipped meta_db/ "
                                 "bundle instead of a store."),
) -> None:
    """Coverage of a meta-database: datasets, configurations, evaluations, failures, size."""
    stats = _bundle_stats() if shipped else _open_db(db).stats()
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
    console.print(table)


def _bundle_stats() -> dict[str, Any]:
    from automl_meta.config import shipped_meta_db_dir
    from automl_meta.metadb import MetaDB
    from automl_meta.metadb._bundle import import_bundle

    bundle = shipped_meta_db_dir()
    store = MetaDB("sqlite:///:memory:")
    import_bundle(store, bundle)
    stats = store.stats()
    stats["bytes"] = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    return stats


@db_app.command("export")
def db_export(
    directory: Path = typer.Argument(..., help="Output directory of the Parquet bundle."),
    db: str | None = DB_OPTION,
    command: str = typer.Option("", "--command", help="The command that built the data, "
                                "recorded in the manifest."),
) -> None:
    """Export a meta-database as a Parquet bundle with a manifest."""
    from automl_meta.metadb._bundle import export_bundle

    manifest = export_bundle(_open_db(db), directory, command=command)
    console.print(f"exported {manifest['counts']} to {directory}")


@db_app.command("import")
def db_import(
    directory: Path = typer.Argument(..., help="A bundle directory (from db export)."),
    db: str | None = DB_OPTION,
) -> None:
    """Merge a Parquet bundle into a meta-database (idempotent)."""
    from automl_meta.metadb._bundle import import_bundle

    result = import_bundle(_open_db(db), directory)
    console.print(f"imported {result}")


@app.command()
def serve(
    db: str | None = DB_OPTION,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 "
                             "for every interface: put TLS in front of it)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
    token_file: Path | None = typer.Option(None, "--token-file", help="File of bearer "
                                           "tokens, one per line (default: "
                                           "$AUTOML_META_TOKEN). Without a token, no writes."),
    read_token_required: bool = typer.Option(False, "--read-token-required/--open-reads",
                                             help="Also require the token to read."),
    max_upload_mb: float = typer.Option(64.0, "--max-upload-mb", min=0.001,
                                        help="Largest dataset upload, in MiB."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Where uploads are "
                                         "written while read (default: a private temp dir)."),
    strategies: str | None = typer.Option(None, "--strategies", help="Comma-separated "
                                          "strategies clients may ask for (default: all)."),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log",
                                    help="Log every request."),
) -> None:
    """Serve the meta-database over HTTP for a team (needs the serve extra)."""
    import os

    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise AutoMLMetaError(f"automl-meta serve needs the serve extra ({exc.name} is "
                              "missing): pip install 'automl-meta[serve]'.") from exc
    from automl_meta.service.app import ENV_PREFIX
    from automl_meta.service.auth import load_tokens

    tokens = load_tokens(None, token_file)  # a bad token file fails here, not in each worker
    if read_token_required and not tokens:
        raise typer.BadParameter("--read-token-required needs a token (AUTOML_META_TOKEN or "
                                 "--token-file).")
    store = _open_db(db)  # creates the schema once, before workers race to
    settings = {"DB": store.url, "TOKEN_FILE": str(token_file.resolve()) if token_file else "",
                "READ_TOKEN_REQUIRED": "1" if read_token_required else "",
                "MAX_UPLOAD_BYTES": str(int(max_upload_mb * 2**20)),
                "DATA_DIR": str(data_dir.resolve()) if data_dir else "",
                "STRATEGIES": strategies or ""}
    os.environ.update({ENV_PREFIX + name: value for name, value in settings.items()})
    if not tokens:
        err_console.print("[yellow]warning:[/] no token (AUTOML_META_TOKEN or --token-file): "
                          "this server accepts no writes.")
    console.print(f"serving {store._safe_url()} on http://{host}:{port} "
                  f"({workers} worker{'s' if workers > 1 else ''})")
    store.close()
    # the import-string factory lets uvicorn start each worker process with its own app
    uvicorn.run("automl_meta.service.app:create_app_from_env", factory=True, host=host,
                port=port, workers=workers, access_log=access_log)


def main() -> None:
    """Entry point: run the app and turn our errors into a clear message and exit code 2."""
    try:
        app()
    except AutoMLMetaError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        sys.exit(2)
