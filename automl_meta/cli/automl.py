"""The AutoML commands: ``fit`` and ``predict``."""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from automl_meta._support import lifecycle as _lifecycle
from automl_meta._support.safe_skops import import_skops_io
from automl_meta.automl._saved_config import read_config
from automl_meta.cli import _common
from automl_meta.cli._common import (
    DATA_ARGUMENT_HELP,
    DB_OPTION,
    TARGET_OPTION,
    TASK_OPTION,
    console,
    load,
    print_warnings,
)
from automl_meta.cli.advice import short_params
from automl_meta.config import as_db_url, user_db_url
from automl_meta.errors import ArtifactError, ConfigurationError


def fit(
    data: str = typer.Argument(..., help=DATA_ARGUMENT_HELP),
    target: str | None = TARGET_OPTION,
    task: str | None = TASK_OPTION,
    budget: str = typer.Option("60s", "--budget", "-b", help="Wall-time budget: 30s, 5m, 1h."),
    metric: str | None = typer.Option(None, "--metric", help="Search objective (default "
                                      "balanced_accuracy or r2)."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Trials evaluated at once."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Directory for the model "
                                    "(model.skops), config.json, leaderboard.csv (every "
                                    "trial), report.md and its score_over_time.png."),
    record: bool = typer.Option(True, "--record/--no-record", help="Record the run into the "
                                "user meta-database (or the --server)."),
    db: str | None = DB_OPTION,
    server: str | None = typer.Option(None, "--server", help="A team's automl-meta serve URL "
                                      "to recommend from and record to instead of the local "
                                      "store (token from $AUTOML_META_TOKEN)."),
    as_json: bool = typer.Option(False, "--json", help="Print only a JSON summary on stdout "
                                 "(progress and warnings go to stderr)."),
) -> None:
    """Search algorithms and hyperparameters under a budget, starting from past experience.

    Progress goes to stderr: a live display in a terminal, plain lines otherwise (a log, CI).
    The summary says where the time went; near-identical trials share one leaderboard row.
    """
    from automl_meta.automl import fit as run_fit  # sklearn, optuna: not for `--help`
    from automl_meta.automl import parse_budget

    seconds = parse_budget(budget)  # a bad budget fails before the data is read
    if db is not None and server is not None:
        raise ConfigurationError("Pass --db or --server, not both: with --server the run is "
                                 "recommended from and recorded to the server's store.")
    _lifecycle.note_kept(f"the trials fit finished are recorded in {_store_label(db, server)}; "
                         "rerun to resume" if record else
                         "nothing was recorded (--no-record)")
    dataset = load(data, target, task)
    with warnings.catch_warnings(record=True) as caught, _fit_progress(seconds) as show:
        warnings.simplefilter("always")
        result = run_fit(dataset, budget=seconds, metric=metric, n_jobs=jobs, record=record,
                         db=server or db, callback=show)
    print_warnings(caught)
    written: list[Path] = []
    if out is not None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            written = result.save(out)
        print_warnings(caught)
    if as_json:
        print(json.dumps(_fit_summary(result, out, written), indent=1, default=str))
        return
    shown = result.distinct_leaderboard(10)
    table = Table(title=f"Leaderboard on {result.dataset} ({result.metric}, cross-validated)")
    folded = bool(shown["similar"].any())
    rows = [[row.algorithm, f"{getattr(row, result.metric):.4f}", row.status,
             *([str(row.similar) if row.similar else ""] if folded else [])]
            for row in shown.itertuples(index=False)]
    headers = ["algorithm", result.metric, "status", *(["similar"] if folded else [])]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    # one line per trial, cut to the terminal: the full parameters are in leaderboard.csv
    room = max(console.width - sum(widths) - 3 * len(widths) - 4, 20)
    for header, width in zip(headers, widths, strict=True):
        table.add_column(header, no_wrap=True, min_width=width)
    table.add_column("params", no_wrap=True, max_width=room)
    for cells, row in zip(rows, shown.itertuples(index=False), strict=True):
        text = short_params(row.params)
        table.add_row(*cells, text if len(text) <= room else text[:room - 1] + "…")
    console.print(table)
    if folded:
        console.print(f"similar: near-identical trials folded into the row above them "
                      f"({int(shown['similar'].sum())} trials); all {len(result.leaderboard)} "
                      "are in leaderboard.csv (--out).")
    kind = f"ensemble of {len(result.ensemble)}" if len(result.ensemble) > 1 else \
        result.best_config["algorithm"]
    console.print(f"best {result.metric} {result.best_score:.4f} ({kind}); "
                  f"{len(result.leaderboard)} trials in {result.seconds:.1f} s of "
                  f"{seconds:.0f} s")
    if result.search_note:
        console.print(result.search_note)
    if result.stage_seconds:
        console.print("time: " + ", ".join(f"{FIT_STAGE_TIMES.get(stage, stage)} {spent:.1f} s"
                                           for stage, spent in result.stage_seconds.items()))
    if written:
        console.print(f"saved to {out}: {', '.join(p.name for p in written)}")


FIT_STAGES = {"prepare": "meta-features and recommendations", "search": "searching",
              "refit": "refitting the best on all rows", "record": "recording the run",
              "done": "done"}
FIT_STAGE_TIMES = {"prepare": "meta-features and advice", "search": "search",
                   "ensemble": "ensemble", "refit": "refit", "record": "recording"}
PLAIN_EVERY_SHARE, PLAIN_EVERY_SECONDS = 0.1, 10.0  # plain lines: the rarer of the two


class _PlainFitLines:
    """fit's progress as plain lines for a stderr that is not a terminal (CI, a notebook, a
    log file): one per stage, one per new best score, and one every 10% of the budget or
    10 s, whichever is rarer."""

    def __init__(self, budget: float, write: Callable[[str], None]) -> None:
        self.budget = budget
        self.write = write
        self.every = max(PLAIN_EVERY_SHARE * budget, PLAIN_EVERY_SECONDS)
        self.stage: str | None = None
        self.best: float | None = None
        self.last = float("-inf")

    def __call__(self, update: Any) -> None:
        new_stage = update.stage != self.stage
        new_best = update.best_score is not None and update.best_score != self.best
        if not (new_stage or new_best or update.elapsed - self.last >= self.every):
            return
        self.stage, self.best, self.last = update.stage, update.best_score, update.elapsed
        parts = [f"fit {update.elapsed:5.1f}/{self.budget:.0f} s"]
        if new_stage or update.stage != "search":
            parts.append(FIT_STAGES.get(update.stage, update.stage))
        if update.stage != "prepare":
            parts.append(f"trials {update.trials}")
        if update.best_score is not None:
            parts.append(f"best {update.metric} {update.best_score:.4f} "
                         f"({update.best_algorithm})")
        self.write("  ".join(parts))


@contextlib.contextmanager
def _fit_progress(budget: float) -> Iterator[Callable[[Any], None]]:
    """A live display on stderr (trials, best score so far, time left) fed by fit's
    callback; the clock ticks between reports. When stderr is not a terminal, plain lines
    instead (:class:`_PlainFitLines`)."""
    import threading
    import time

    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

    if not _common.err_console.is_terminal:
        yield _PlainFitLines(budget, lambda line: _common.err_console.print(
            line, markup=False, highlight=False, soft_wrap=True))
        return

    progress = Progress(SpinnerColumn(), TextColumn("{task.description:<34}"), BarColumn(),
                        TextColumn("{task.fields[trials]:>4} trials"),
                        TextColumn("best {task.fields[best]}"),
                        TextColumn("{task.fields[left]:>5} left"),
                        console=_common.err_console, transient=True)
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
        "stage_seconds": {k: round(v, 3) for k, v in result.stage_seconds.items()},
        "search_ended": None if result.search_ended is None else round(result.search_ended, 3),
        "refit_reserve": round(result.refit_reserve, 3), "search_note": result.search_note,
    }


def _store_label(db: str | None, server: str | None) -> str:
    """Where ``fit`` records, for a message: the server, or the store's URL without its
    password."""
    if server is not None:
        return server

    url = as_db_url(db) if db else user_db_url()
    try:
        from sqlalchemy.engine import make_url  # optional heavy: only to hide a password

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # only a label: never fail the message over it
        return url.split("@")[-1]


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
    read_config(model_dir.expanduser())  # no saved model there: say so before the slow imports
    # skops before pandas and the rest: its import scans the modules loaded so far once per
    # scipy ufunc, so importing it first saves about a tenth of a predict
    import_skops_io()
    from automl_meta.automl._saved_model import load_model  # skops, sklearn: not for `--help`

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        saved = load_model(model_dir)
        frame = saved.prediction_frame(data, proba=proba)
    print_warnings(caught)
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
