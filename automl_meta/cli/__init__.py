"""The ``automl-meta`` command line: thin — it parses, calls the library, prints with rich."""

from __future__ import annotations

import contextlib
import json
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from automl_meta._support import lifecycle as _lifecycle
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


# set by the app callback on every invocation; read by main() when an error escapes
_RUN_SETTINGS = {"debug": False}


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
    debug: bool = typer.Option(False, "--debug", envvar="AUTOML_META_DEBUG",
                               help="On an error, show the full traceback too."),
) -> None:
    """automl-meta: choose algorithms and hyperparameters from the memory of past datasets."""
    _RUN_SETTINGS["debug"] = debug


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

    _lifecycle.note_kept("evaluate records nothing, so nothing was lost")
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
    from automl_meta.advice._recommend import recommend as run_recommend
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
    out: Path | None = typer.Option(None, "--out", "-o", help="Directory for the model "
                                    "(model.skops), config.json, leaderboard.csv and "
                                    "report.md."),
    record: bool = typer.Option(True, "--record/--no-record", help="Record the run into the "
                                "user meta-database (or the --server)."),
    db: str | None = DB_OPTION,
    server: str | None = typer.Option(None, "--server", help="A team's automl-meta serve URL "
                                      "to recommend from and record to instead of the local "
                                      "store (token from $AUTOML_META_TOKEN)."),
    as_json: bool = typer.Option(False, "--json", help="Print only a JSON summary on stdout "
                                 "(progress and warnings go to stderr)."),
) -> None:
    """Search algorithms and hyperparameters under a budget, starting from past experience."""
    from automl_meta.automl import fit as run_fit
    from automl_meta.automl import parse_budget, save_result

    seconds = parse_budget(budget)  # a bad budget fails before the data is read
    _lifecycle.note_kept(f"the trials fit finished are recorded in {_store_label(db, server)}; "
                         "rerun to resume" if record else
                         "nothing was recorded (--no-record)")
    dataset = _load(data, target, task)
    with warnings.catch_warnings(record=True) as caught, _fit_progress(seconds) as show:
        warnings.simplefilter("always")
        result = run_fit(dataset, budget=seconds, metric=metric, n_jobs=jobs, record=record,
                         db=db, server=server, callback=show)
    _print_warnings(caught)
    written: list[Path] = []
    if out is not None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            written = save_result(result, out)
        _print_warnings(caught)
    if as_json:
        print(json.dumps(_fit_summary(result, out, written), indent=1, default=str))
        return
    table = Table(title=f"Leaderboard on {result.dataset} ({result.metric}, cross-validated)")
    for column in ("algorithm", result.metric, "status", "params"):
        table.add_column(column, overflow="fold")
    for row in result.leaderboard.head(10).itertuples(index=False):
        table.add_row(row.algorithm, f"{getattr(row, result.metric):.4f}", row.status,
                      json.dumps(row.params, default=str))
    console.print(table)
    kind = f"ensemble of {len(result.ensemble)}" if len(result.ensemble) > 1 else \
        result.best_config["algorithm"]
    console.print(f"best {result.metric} {result.best_score:.4f} ({kind}); "
                  f"{len(result.leaderboard)} trials in {result.seconds:.1f} s of "
                  f"{seconds:.0f} s")
    if written:
        console.print(f"saved to {out}: {', '.join(p.name for p in written)}")


FIT_STAGES = {"prepare": "meta-features and recommendations", "search": "searching",
              "refit": "refitting the best on all rows", "record": "recording the run",
              "done": "done"}


@contextlib.contextmanager
def _fit_progress(budget: float) -> Iterator[Callable[[Any], None]]:
    """A live display on stderr (trials, best score so far, time left) fed by fit's
    callback; the clock ticks between reports. Nothing is drawn when stderr is not a
    terminal."""
    import threading
    import time

    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

    progress = Progress(SpinnerColumn(), TextColumn("{task.description:<34}"), BarColumn(),
                        TextColumn("{task.fields[trials]:>4} trials"),
                        TextColumn("best {task.fields[best]}"),
                        TextColumn("{task.fields[left]:>5} left"),
                        console=err_console, transient=True)
    task_id = progress.add_task(FIT_STAGES["prepare"], total=budget, trials=0, best="-",
                                left=f"{budget:.0f}s")
    origin = [time.perf_counter()]  # when fit's clock started, as fit reports it
    stopped = threading.Event()

    def tick() -> None:
        while not stopped.wait(0.2):
            spent = time.perf_counter() - origin[0]
            progress.update(task_id, completed=min(spent, budget),
                            left=f"{max(0.0, budget - spent):.0f}s")

    def show(update: Any) -> None:
        origin[0] = time.perf_counter() - update.elapsed
        best = "-" if update.best_score is None else \
            f"{update.metric} {update.best_score:.4f} ({update.best_algorithm})"
        progress.update(task_id, completed=min(update.elapsed, budget),
                        description=FIT_STAGES.get(update.stage, update.stage),
                        trials=update.trials, best=best, left=f"{update.time_left:.0f}s")

    ticker = threading.Thread(target=tick, daemon=True)
    with progress:
        ticker.start()
        try:
            yield show
        finally:
            stopped.set()
            ticker.join()


def _fit_summary(result: Any, out: Path | None, written: list[Path]) -> dict[str, Any]:
    """The machine-readable account of a fit printed by ``fit --json``."""
    board = result.leaderboard
    return {
        "dataset": result.dataset, "task": result.task, "metric": result.metric,
        "best_score": result.best_score, "best_config": result.best_config,
        "ensemble": [{"config": c, "weight": w} for c, w in result.ensemble],
        "trials": len(board), "failed": int((board["status"] != "ok").sum()),
        "seconds": round(result.seconds, 3), "budget": result.budget,
        "out": None if out is None else str(out), "files": [p.name for p in written],
        "recorded_to": result.recorded_to, "run_id": result.run_id,
    }


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
    store = _open_db(db)
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
                                             help="Also require a token to read (implied "
                                             "by read tokens)."),
    read_token_file: Path | None = typer.Option(
        None, "--read-token-file", help="File of read-only bearer tokens, one per line "
        "(default: $AUTOML_META_READ_TOKEN, $AUTOML_META_READ_TOKEN_FILE). With one, every "
        "read (stats, recommend, metafeatures) needs a read or write token."),
    allowed_hosts: str | None = typer.Option(
        None, "--allowed-hosts", envvar="AUTOML_META_ALLOWED_HOSTS", help="Comma-separated "
        "Host names to answer (others get 400, against DNS rebinding); '*' for any. "
        "Default: localhost,127.0.0.1,::1 on a loopback --host, else any."),
    max_upload_mb: float = typer.Option(64.0, "--max-upload-mb", min=0.001,
                                        help="Largest dataset upload, in MiB."),
    max_record_mb: float = typer.Option(32.0, "--max-record-mb", min=0.001,
                                        help="Largest POST /v1/evaluations body, in MiB."),
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
    from automl_meta.service.app import ENV_PREFIX, default_allowed_hosts
    from automl_meta.service.auth import load_tokens

    tokens = load_tokens(None, token_file)  # a bad token file fails here, not in each worker
    read_tokens = load_tokens(None, read_token_file, read=True)
    if read_token_required and not tokens and not read_tokens:
        raise typer.BadParameter("--read-token-required needs a token (AUTOML_META_TOKEN, "
                                 "AUTOML_META_READ_TOKEN, --token-file or --read-token-file).")
    hosts = allowed_hosts if allowed_hosts is not None else default_allowed_hosts(host)
    store = _open_db(db)  # creates the schema once, before workers race to
    settings = {"DB": store.url, "TOKEN_FILE": str(token_file.resolve()) if token_file else "",
                "READ_TOKEN_FILE": str(read_token_file.resolve()) if read_token_file else "",
                "READ_TOKEN_REQUIRED": "1" if read_token_required else "",
                "ALLOWED_HOSTS": hosts,
                "MAX_UPLOAD_BYTES": str(int(max_upload_mb * 2**20)),
                "MAX_RECORD_BYTES": str(int(max_record_mb * 2**20)),
                "DATA_DIR": str(data_dir.resolve()) if data_dir else "",
                "STRATEGIES": strategies or ""}
    os.environ.update({ENV_PREFIX + name: value for name, value in settings.items()})
    if not tokens:
        err_console.print("[yellow]warning:[/] no token (AUTOML_META_TOKEN or --token-file): "
                          "this server accepts no writes.")
    if hosts.strip() == "*":
        err_console.print("[yellow]note:[/] any Host header is answered; name the server's "
                          "host names with --allowed-hosts (and set a read token when the "
                          "dataset names are private).")
    console.print(f"serving {store._safe_url()} on http://{host}:{port} "
                  f"({workers} worker{'s' if workers > 1 else ''})")
    store.close()
    _lifecycle.note_kept("the server stopped; it keeps no state of its own")
    os.environ[_SERVE_PARENT] = str(os.getpid())
    # the import-string factory lets uvicorn start each worker process with its own app
    uvicorn.run("automl_meta.cli:_serving_app", factory=True, host=host,
                port=port, workers=workers, access_log=access_log)


_SERVE_PARENT = "AUTOML_META_SERVE_PARENT_PID"


def _serving_app() -> Any:
    """The app of one ``serve`` worker: a worker process of ``--workers N`` dies with the
    command (uvicorn's supervisor) that started it, even when that is killed."""
    import os

    from automl_meta.service.app import create_app_from_env

    parent = os.environ.get(_SERVE_PARENT, "")
    if parent.isdigit() and int(parent) != os.getpid():
        _lifecycle.die_with_parent(int(parent))
    return create_app_from_env()


IMPORT_OPTUNA_HELP = (
    "Import an Optuna study's COMPLETE trials as evaluations of DATA (idempotent).\n\n"
    "Trials must name their parameters as automl_meta.space.suggest does ('algorithm' and "
    "'<algorithm>__<param>') or be mapped with --param-map; others are skipped and counted. "
    "The evaluations are stored under --protocol (default cv5), not under the study's name, "
    "so they compare with the rest of the meta-database and a second import adds nothing; "
    "the study is noted in a run of kind optuna_import. Failed, pruned and unfinished trials "
    "are skipped, not recorded as errors: their cause may not be the configuration."
)


@db_app.command("import-optuna", help=IMPORT_OPTUNA_HELP)
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
        mapping = _parse_json(param_map, "--param-map")
        bad = [k for k, v in mapping.items() if v is not None and not isinstance(v, str)]
        if bad:
            raise typer.BadParameter(f"--param-map values must be parameter names or null; "
                                     f"{bad[0]!r} maps to {mapping[bad[0]]!r}.")
    dataset = _load(data, target, task)
    summary = import_optuna_study(_open_db(db), storage, study, dataset, metric=metric,
                                  protocol=protocol, param_map=mapping, negate=negate)
    if as_json:
        print(json.dumps(summary.to_dict(), indent=1))
        return
    console.print(f"{summary.study} -> {summary.dataset} ({summary.metric}, "
                  f"{summary.protocol}): {summary}")
    for note in summary.notes:
        err_console.print(f"[yellow]note:[/] {note}")


@db_app.command("train-neural")
def db_train_neural(
    db: str | None = typer.Option(None, "--db", help="Meta-database URL or SQLite path to "
                                  "learn from (default: the shipped bundle)."),
    shipped: Path | None = typer.Option(None, "--shipped", help="Bundle to learn from "
                                        "(default: the shipped meta_db/ when --db is not "
                                        "given; with --db, layered under it)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present, else CPU), "
                               "cpu or cuda."),
    seed: int = typer.Option(0, "--seed", help="Seed of initialisation, episodes and the "
                             "candidate pool (reproducible on CPU)."),
    steps: int = typer.Option(2000, "--steps", min=1, help="Meta-training steps per task, "
                              "each a batch of episodes."),
    time_budget: float | None = typer.Option(None, "--time-budget", help="Cap in seconds on "
                                             "the whole meta-training."),
    memory_weight: float = typer.Option(0.7, "--memory-weight", min=0.0, max=1.0,
                                        help="Share of the kNN memory in the prior mean, for "
                                        "configurations past datasets ran (0: the network "
                                        "alone)."),
    out: Path | None = typer.Option(None, "--out", help="Where to write neural.json and "
                                    "neural.safetensors (default: <bundle>/learners)."),
) -> None:
    """Retrain only the neural meta-learner (the other learners are left as they are)."""
    from automl_meta.config import shipped_meta_db_dir
    from automl_meta.errors import MetaDBError
    from automl_meta.metalearners import load_knowledge
    from automl_meta.metalearners.neural import NeuralLearner
    from automl_meta.space.torch_mlp import resolve_device

    resolved = resolve_device(device)  # a missing GPU fails before minutes of loading
    bundle = shipped or shipped_meta_db_dir()
    store: Any = False if db is None else _open_db(db)
    knowledge = load_knowledge(bundle, store, include_shipped=db is None or shipped is not None)
    evaluated = sum(len(matrix.datasets) for matrix in knowledge.matrices.values())
    console.print(f"meta-training the neural learner on {resolved.type} "
                  f"({evaluated} evaluated datasets, {steps} steps per task)")
    learner = NeuralLearner(steps=steps, time_budget=time_budget, device=device,
                            memory_weight=memory_weight, random_state=seed,
                            progress=True).fit(knowledge)
    if not learner.tasks:
        raise MetaDBError("No task of this meta-database has an evaluated dataset with "
                          "meta-features, so there was nothing to learn from. Build or "
                          "import one first (`automl-meta db build` / `db import`).")
    path = learner.save(out or bundle / "learners")
    from automl_meta.metadb._learners import record_learner_checksums

    record_learner_checksums(path.parent)  # keep the bundle manifest's checksums current
    table = Table(title="neural meta-learner")
    for column in ("task", "datasets", "steps", "seconds", "final loss", "device"):
        table.add_column(column, justify="left" if column in ("task", "device") else "right")
    for task, info in learner.tasks.items():
        training = info["training"]
        loss = training["final_loss"]
        table.add_row(task, str(info["n_datasets"]), str(training["steps"]),
                      f"{training['seconds']:.1f}", "n/a" if loss is None else f"{loss:.4f}",
                      training["device"])
    console.print(table)
    console.print(f"saved to {path} and {path.with_suffix('.safetensors')}")


@app.command()
def predict(
    model_dir: Path = typer.Argument(..., metavar="DIR", help="A directory written by "
                                     "`automl-meta fit --out`."),
    data: str = typer.Argument(..., metavar="DATA", help="Rows to predict: a file path, "
                               "openml:ID or sklearn:NAME. The label column may be absent (it "
                               "is ignored when present); every row gets a prediction."),
    out: Path | None = typer.Option(None, "--out", "-o", help="CSV file for the predictions "
                                    "(default: stdout)."),
    proba: bool = typer.Option(False, "--proba", help="Class probabilities, one column per "
                               "class, instead of a prediction column."),
) -> None:
    """Predict with a saved model: a CSV with a prediction column (or class probabilities)."""
    from automl_meta.automl._saved_model import load_model
    from automl_meta.errors import ArtifactError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        saved = load_model(model_dir)
        frame = saved.prediction_frame(data, proba=proba)
    _print_warnings(caught)
    if out is None:
        sys.stdout.write(frame.to_csv(index=False))
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out, index=False)
    except OSError as exc:
        raise ArtifactError(f"Cannot write the predictions to {str(out)!r}: "
                            f"{exc.strerror or exc}. Expected a writable file path.") from exc
    console.print(f"wrote {len(frame)} predictions to {out}")


@app.command()
def benchmark(
    data_dir: list[Path] = typer.Argument(..., help="One or more directories of datasets "
                                          "(CSV/TSV/Parquet/ARFF; the task from an index.csv "
                                          "beside them, else inferred)."),
    methods: str | None = typer.Option(None, "--methods", help="Comma-separated methods "
                                       "(default: all but tpe_seconds): hgb_default, random, "
                                       "tpe, tpe_seconds, flaml_zeroshot, flaml_automl, "
                                       "recommend_top1, warm_tpe, meta_sampler, neural, fit."),
    budgets: str = typer.Option("1,5,10,20,50", "--budgets", help="Trial budgets of the "
                                "search methods (one result per budget from one run)."),
    seconds: float = typer.Option(30.0, "--seconds", help="Time budget of fit, flaml_automl "
                                  "and tpe_seconds."),
    max_rows: int = typer.Option(5000, "--max-rows", help="Rows kept per dataset (seeded, "
                                 "stratified for classification)."),
    out: Path = typer.Option(Path("benchmark-results"), "--out", "-o", help="Output "
                             "directory; an existing run there is resumed."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Datasets run at once."),
    db: str | None = typer.Option(None, "--db", help="A meta-database store to learn from "
                                  "besides the shipped bundle (only read; default: the "
                                  "shipped bundle alone)."),
    seed: int = typer.Option(0, "--seed", help="Seed of rows, split, folds and samplers."),
    trial_seconds: float | None = typer.Option(None, "--trial-seconds", help="Time limit of "
                                               "one trial (default: --seconds)."),
    datasets: str | None = typer.Option(None, "--datasets", help="Only these comma-separated "
                                        "dataset names of DATA_DIR."),
    report_only: bool = typer.Option(False, "--report-only", help="Only rewrite summary.json, "
                                     "report.md and the plots from the results in --out."),
) -> None:
    """Benchmark methods (ours and peers) on directories of datasets under one protocol."""
    from automl_meta.harness import run_benchmark, write_outputs

    if report_only:
        summary = write_outputs(out)
    else:
        try:
            budget_list = [int(b) for b in budgets.split(",") if b.strip()]
        except ValueError as exc:
            raise typer.BadParameter(f"--budgets must be whole numbers such as 1,5,20; got "
                                     f"{budgets!r}.") from exc
        _lifecycle.note_kept(f"every method that finished is in {out / 'results.jsonl'}; "
                             "rerun the same command to resume")
        summary = run_benchmark(
            data_dir, out, methods=methods.split(",") if methods else None,
            budgets=budget_list, seconds=seconds, max_rows=max_rows, jobs=jobs, db=db,
            seed=seed, trial_seconds=trial_seconds,
            datasets=[d.strip() for d in datasets.split(",") if d.strip()] if datasets
            else None, command="automl-meta " + " ".join(sys.argv[1:]))
    table = Table(title=f"Benchmark ({len(summary['datasets'])} datasets): best mean rank first")
    for column in ("entry", "datasets", "failed", "skipped", "mean normalised", "mean rank"):
        table.add_column(column, justify="left" if column == "entry" else "right")
    for label in summary["order"]:
        e = summary["entries"][label]
        table.add_row(label, str(e["datasets"]), str(e["failed"]), str(e["skipped"]),
                      "" if e["mean_normalised"] is None else f"{e['mean_normalised']:.3f}",
                      "" if e["mean_rank"] is None else f"{e['mean_rank']:.2f}")
    console.print(table)
    console.print(f"results, summary.json, report.md and plots in {out}")


def main() -> None:
    """Entry point: an error becomes a one-paragraph message on stderr and a non-zero exit
    (2 for automl-meta's own errors, 1 for anything unexpected); ``--debug`` (or
    ``AUTOML_META_DEBUG=1``) also shows the traceback."""
    _RUN_SETTINGS["debug"] = False
    try:
        with _lifecycle.handle_signals():
            app()
    except _lifecycle.Interrupted as exc:
        _report_interrupted(exc.signum)
    except AutoMLMetaError as exc:
        _report_interrupted(_lifecycle.stopping())  # an error caused by stopping
        _report_error(exc, expected=True)
        sys.exit(2)
    except Exception as exc:
        _report_interrupted(_lifecycle.stopping())
        _report_error(exc, expected=False)
        sys.exit(1)


def _report_interrupted(signum: int | None) -> None:
    """After a stop signal (``signum``; nothing when ``None``): stop every child process,
    say in one line what was kept, and exit with 128 + the signal's number."""
    if signum is None:
        return
    from rich.markup import escape

    _lifecycle.kill_descendants()
    stopped = _lifecycle.Interrupted(signum)
    kept = _lifecycle.kept() or "the command did not finish"
    err_console.print(f"Interrupted by {stopped.signal_name}: {escape(kept)}.", soft_wrap=True,
                      highlight=False)
    sys.exit(stopped.exit_code)


def _store_label(db: str | None, server: str | None) -> str:
    """Where ``fit`` records, for a message: the server, or the store's URL without its
    password."""
    if server is not None:
        return server
    from automl_meta.config import as_db_url, user_db_url

    url = as_db_url(db) if db else user_db_url()
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # only a label: never fail the message over it
        return url.split("@")[-1]


def _report_error(exc: BaseException, expected: bool) -> None:
    from rich.markup import escape

    if _RUN_SETTINGS["debug"]:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    message = " ".join(str(exc).split()) or type(exc).__name__
    if not expected:
        message = (f"unexpected {type(exc).__name__}: {message}. This is a bug in automl-meta "
                   "or a library it uses; run again with --debug for the traceback and "
                   "report it.")
    err_console.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
