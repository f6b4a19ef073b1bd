"""``run_benchmark``: every method on every dataset of a directory, under one protocol.

The run is resumable: ``results.jsonl`` in the output directory is appended line by line
as each method finishes, and a rerun with the same protocol settings runs only what is not
there yet. A method that provably repeats another's search on a dataset is not run again
(its rows are marked ``copy_of``; see :mod:`automl_meta.harness.methods`). Then
``summary.json``, ``report.md`` and the plots are written from all results.
``jobs > 1`` runs datasets in parallel worker processes (joblib's loky); the datasets are
loaded and the meta-learners fitted in the main process, so each fit serves the whole run.
"""

from __future__ import annotations

import json
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from automl_meta._support.lifecycle import loky_initializer
from automl_meta._support.progress import eta_progress
from automl_meta._version import __version__
from automl_meta.data import dataset_name, list_datasets
from automl_meta.data._load import index_task
from automl_meta.errors import ConfigurationError, did_you_mean
from automl_meta.harness.advice import Advice, MetaContext
from automl_meta.harness.methods import (
    COPY_OF,
    DEFAULT_METHODS,
    METHODS,
    budget_labels,
    check_methods,
)
from automl_meta.harness.prepare import PreparedDataset, prepare_dataset
from automl_meta.harness.report import write_report
from automl_meta.harness.results import (
    RESULTS_FILE,
    SKIPPED,
    append_rows,
    done_keys,
    latest,
    read_results,
    seal,
)
from automl_meta.harness.settings import DEFAULT_BUDGETS, BenchmarkSettings
from automl_meta.harness.summary import summarise
from automl_meta.harness.trials import Outcome, RunContext
from automl_meta.harness.versus import DEFAULT_PAIRS, versus_tpe

SETTINGS_FILE = "settings.json"
SUMMARY_FILE = "summary.json"


@dataclass
class Unit:
    """The methods still to run on one dataset, with the budgets each still lacks."""

    path: Path
    name: str
    budgets: dict[str, list[Any]] = field(default_factory=dict)


def run_benchmark(
    data_dir: str | Path | Sequence[str | Path],
    out: str | Path,
    methods: Sequence[str] | None = None,
    budgets: Sequence[int] = DEFAULT_BUDGETS,
    seconds: float = 30.0,
    max_rows: int = 5000,
    jobs: int = 1,
    db: str | None = None,
    seed: int = 0,
    trial_seconds: float | None = None,
    datasets: Sequence[str] | None = None,
    progress: bool = True,
    command: str | None = None,
    pairs: Sequence[tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """Benchmark ``methods`` on the datasets of ``data_dir``; returns the summary.

    Args:
        data_dir: a directory of datasets :func:`~automl_meta.load_dataset` reads (the task
            from an ``index.csv`` beside them, else inferred), or several such directories
            (their dataset names must differ).
        out: the output directory (``results.jsonl``, ``summary.json``, ``report.md``,
            PNG plots); an existing one is resumed.
        methods: method names (default: all but ``tpe_seconds``); see
            :data:`~automl_meta.harness.methods.METHODS`.
        budgets: trial budgets of the search methods.
        seconds: the time budget of ``fit``, ``flaml_automl`` and ``tpe_seconds``.
        max_rows: rows kept per dataset (seeded; stratified for classification).
        jobs: datasets run at once (worker processes).
        db: a meta-database store layered over the shipped bundle, only read.
        seed: seed of rows, split, folds and samplers.
        trial_seconds: time limit of one trial (default ``seconds``).
        datasets: only these dataset names of ``data_dir``.
        progress: show a progress bar with the time left.
        command: the command line, quoted in the report.
        pairs: the (ours' budget, cold TPE's budget) pairs of the head-to-head records
            besides the same budget (default
            :data:`~automl_meta.harness.versus.DEFAULT_PAIRS`: 5 vs 20, 10 vs 50, 50 vs 50).

    Example:
        >>> run_benchmark("../shared/datasets/pmlb", "out", methods=["hgb_default", "tpe"],
        ...               budgets=[5, 20], datasets=["iris"])  # doctest: +SKIP
    """
    if jobs < 1:
        raise ConfigurationError(f"jobs={jobs!r} must be a positive number of processes.",
                                 parameter="jobs")
    settings = BenchmarkSettings(methods=tuple(check_methods(methods or DEFAULT_METHODS)),
                                 budgets=tuple(budgets), seconds=seconds, max_rows=max_rows,
                                 seed=seed, trial_seconds=trial_seconds, db=db)
    paths = select_datasets(data_dir, datasets)
    out = Path(out).resolve()  # worker processes append to it too
    out.mkdir(parents=True, exist_ok=True)
    _check_resume(out, settings, command)
    results_path = out / RESULTS_FILE
    seal(results_path)
    units = plan(paths, settings, done_keys(results_path))
    if units:
        _execute(units, settings, results_path, jobs, progress)
    return write_outputs(out, command=command, pairs=pairs)


def select_datasets(data_dir: str | Path | Sequence[str | Path],
                    names: Sequence[str] | None = None) -> list[Path]:
    """The dataset files of ``data_dir``, one directory or several (only ``names``, when
    given: names as :func:`dataset_keys` gives them)."""
    dirs = [data_dir] if isinstance(data_dir, (str, Path)) else list(data_dir)
    if not dirs:
        raise ConfigurationError("No data directory given; expected at least one directory "
                                 "of datasets.")
    paths: list[Path] = []
    seen: set[Path] = set()
    for directory in dirs:
        resolved = Path(directory).resolve()
        if resolved in seen:
            continue  # the same directory named twice is read once
        seen.add(resolved)
        found = list_datasets(directory)
        if not found:
            raise ConfigurationError(f"{directory} holds no dataset file load_dataset reads "
                                     "(CSV, TSV, Parquet, ARFF, optionally .gz).")
        paths += found
    by_name = dict(zip(dataset_keys(paths), paths, strict=True))
    if names is None:
        return paths
    unknown = [n for n in names if n not in by_name]
    if unknown:
        where = ", ".join(str(d) for d in dirs)
        raise ConfigurationError(
            f"No dataset named {unknown[0]!r} in {where}."
            f"{did_you_mean(unknown[0], list(by_name))} Expected names of its files without "
            "their suffixes.")
    return [by_name[n] for n in dict.fromkeys(names)]


def dataset_keys(paths: Sequence[Path]) -> list[str]:
    """The name each dataset has in the results: its file name without suffixes, or, where
    directories hold datasets of the same name, ``<directory>/<name>``."""
    names = [dataset_name(p) for p in paths]
    counts = Counter(names)
    keys = [f"{p.parent.name}/{n}" if counts[n] > 1 else n for p, n in zip(paths, names,
                                                                              strict=True)]
    repeated = sorted(k for k, count in Counter(keys).items() if count > 1)
    if repeated:
        clash = [str(p) for p, k in zip(paths, keys, strict=True) if k == repeated[0]]
        raise ConfigurationError(
            f"Two dataset files are both named {repeated[0]!r}: {', '.join(clash)}. Expected "
            "one file per dataset name (and directory name); rename one, or benchmark them "
            "apart.")
    return keys


def plan(paths: Sequence[Path], settings: BenchmarkSettings,
         done: set[tuple[str, str, str]]) -> list[Unit]:
    """What is left to run: per dataset, the methods with budgets not in ``done``."""
    units = []
    for path, key in zip(paths, dataset_keys(paths), strict=True):
        unit = Unit(path, key)
        for name in settings.methods:
            labels = budget_labels(METHODS[name], settings.budgets, settings.seconds_label)
            missing = [b for b in labels if (unit.name, name, str(b)) not in done]
            if missing:
                unit.budgets[name] = missing
        if unit.budgets:
            units.append(unit)
    return units


def run_dataset(prepared: PreparedDataset, budgets: dict[str, list[Any]],
                settings: BenchmarkSettings, advice: Advice | None, results_path: Path,
                on_method: Callable[[str], None] | None = None) -> int:
    """Run the methods of one dataset, appending each one's rows as soon as it finishes;
    returns how many methods ran. A method that raises is reported failed, never fatal."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    context = RunContext(prepared, settings, advice)
    ran: dict[str, list[Outcome]] = {}
    # a method that may repeat another's search comes after it (see methods.py)
    order = sorted(budgets, key=lambda n: METHODS[n].same_as in budgets)
    for name in order:
        wanted = budgets[name]
        method = METHODS[name]
        if on_method is not None:
            on_method(f"{prepared.name}: {name}")
        started = time.perf_counter()
        reason = method.missing()
        target = method.repeats(ran) if reason is None else None
        if reason is not None:
            outcomes = [Outcome(b, SKIPPED, error=reason) for b in wanted]
        elif target is not None:
            outcomes = [replace(o, extra={**o.extra, COPY_OF: target}) for o in ran[target]]
        else:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    outcomes = method.run(context)
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}".strip()[:2000]
                outcomes = [Outcome(b, "error", seconds=time.perf_counter() - started,
                                    error=message) for b in wanted]
        ran[name] = outcomes
        keep = {str(b) for b in wanted}
        rows = [result_row(prepared, name, o, settings, advice) for o in outcomes
                if str(o.budget) in keep]
        append_rows(results_path, rows)
    return len(budgets)


def result_row(prepared: PreparedDataset, method: str, outcome: Outcome,
               settings: BenchmarkSettings, advice: Advice | None) -> dict[str, Any]:
    """One line of ``results.jsonl``."""
    row: dict[str, Any] = {
        "dataset": prepared.name, "task": prepared.task, "method": method,
        "kind": METHODS[method].kind, "budget": outcome.budget, "score": outcome.score,
        "seconds": round(outcome.seconds, 3), "status": outcome.status,
        "cv_score": outcome.cv_score, "trials": outcome.trials, "config": outcome.config,
        "error": outcome.error, "n_rows": prepared.data.n_rows,
        "n_rows_total": prepared.n_rows_total, "n_train": prepared.train.n_rows,
        "n_test": prepared.test.n_rows, "seed": settings.seed,
        "in_metadb": None if advice is None else advice.exclusion.in_metadb,
        "held_out_family": None if advice is None else advice.exclusion.family,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    row.update(outcome.extra)
    return row


def write_outputs(out: str | Path, command: str | None = None,
                  pairs: Sequence[tuple[int, int]] | None = None) -> dict[str, Any]:
    """``summary.json``, ``report.md`` and the plots from everything in ``results.jsonl``
    (``pairs``: as for :func:`run_benchmark`)."""
    out = Path(out)
    settings_file = out / SETTINGS_FILE
    if not settings_file.is_file():
        raise ConfigurationError(f"{out} holds no benchmark run ({SETTINGS_FILE} is missing); "
                                 "expected the --out directory of `automl-meta benchmark`.")
    saved = json.loads(settings_file.read_text())
    rows = list(latest(read_results(out / RESULTS_FILE)).values())
    summary = summarise(rows)
    summary["versus_tpe"] = versus_tpe(rows, DEFAULT_PAIRS if pairs is None else pairs)
    summary["settings"] = saved
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=1, default=str) + "\n")
    write_report(out, rows, summary, saved["protocol"], command or saved.get("command"))
    return summary


def _check_resume(out: Path, settings: BenchmarkSettings, command: str | None) -> None:
    path = out / SETTINGS_FILE
    protocol = settings.protocol()
    if path.is_file() and read_results(out / RESULTS_FILE):
        saved = json.loads(path.read_text()).get("protocol", {})
        differing = [f"{k}: {saved.get(k)!r} -> {v!r}" for k, v in protocol.items()
                     if saved.get(k) != v]
        if differing:
            raise ConfigurationError(
                f"{out} holds results of another protocol ({'; '.join(differing)}). "
                "Expected the same settings to resume; use another --out directory, or "
                "the settings of that run.")
    path.write_text(json.dumps({"protocol": protocol, "methods": list(settings.methods),
                                "budgets": list(settings.budgets), "version": __version__,
                                "command": command}, indent=1) + "\n")


def _execute(units: list[Unit], settings: BenchmarkSettings, results_path: Path, jobs: int,
             progress: bool) -> None:
    needs = {need for u in units for m in u.budgets for need in METHODS[m].needs
             if METHODS[m].missing() is None}
    context = MetaContext.load(settings.db) if needs else None
    total = sum(len(u.budgets) for u in units)
    with _Progress(progress) as bar:
        if context is not None:
            _fit_slow_learners(context, units, needs, bar)
        task = bar.add(f"benchmark ({len(units)} datasets)", total)
        work = _dataset_work(units, settings, context, results_path, bar, task)
        if jobs == 1:
            for prepared, budgets, advice in work:
                run_dataset(prepared, budgets, settings, advice, results_path,
                            on_method=lambda text: bar.describe(task, text))
                bar.advance(task, len(budgets))
            return
        from joblib import Parallel, delayed, parallel_config

        initializer, initargs = loky_initializer()  # the workers die with this process
        with parallel_config(backend="loky", initializer=initializer, initargs=initargs):
            runner = Parallel(n_jobs=jobs, return_as="generator_unordered")
            for finished in runner(delayed(run_dataset)(prepared, budgets, settings, advice,
                                                        results_path)
                                   for prepared, budgets, advice in work):
                bar.advance(task, finished)


def _fit_slow_learners(context: MetaContext, units: list[Unit], needs: set[str],
                       bar: _Progress) -> None:
    """Fit the slow learners (per group of families) before any method runs, so that no
    fit competes for the cores with a timed method."""
    strategies = context.slow_strategies(needs)
    if not strategies:
        return
    exclusions = [context.guess_exclusion(dataset_name(u.path), index_task(u.path))
                  for u in units
                  if any(METHODS[m].needs for m in u.budgets)]
    fits = context.missing_fits(exclusions, strategies)
    if not fits:
        return
    task = bar.add("fitting slow meta-learners", len(fits))
    for strategy, exclusion in fits:
        bar.describe(task, f"fitting {strategy} without {exclusion.family or 'nothing'}")
        context.learner(strategy, exclusion)
        bar.advance(task, 1)


def _dataset_work(units: list[Unit], settings: BenchmarkSettings, context: MetaContext | None,
                  results_path: Path, bar: _Progress,
                  task: Any) -> Iterator[tuple[PreparedDataset, dict[str, list[Any]],
                                               Advice | None]]:
    """Load each dataset and build its advice here; a dataset that cannot be loaded is
    reported failed for every method."""
    for unit in units:
        try:
            prepared = prepare_dataset(unit.path, settings.max_rows, settings.seed, unit.name)
        except Exception as exc:
            _report_unloadable(unit, exc, results_path)
            bar.advance(task, len(unit.budgets))
            continue
        needs = {n for m in unit.budgets for n in METHODS[m].needs
                 if METHODS[m].missing() is None}
        advice = None
        if context is not None and needs:
            # matched by the file's own name: a dataset keyed "<directory>/<name>" is still
            # the meta-database's <name>
            exclusion = context.exclusion(dataset_name(unit.path), prepared.fingerprint,
                                          prepared.task)
            try:
                advice = context.advice(exclusion, needs)
            except Exception as exc:  # the methods that need it fail with the reason
                reason = f"{type(exc).__name__}: {exc}"[:2000]
                advice = Advice(exclusion, unavailable=dict.fromkeys(needs, reason))
        yield prepared, unit.budgets, advice


def _report_unloadable(unit: Unit, exc: Exception, results_path: Path) -> None:
    message = f"the dataset could not be loaded: {type(exc).__name__}: {exc}"[:2000]
    rows = [{"dataset": unit.name, "task": index_task(unit.path) or "", "method": name,
             "kind": METHODS[name].kind, "budget": budget, "score": None, "seconds": 0.0,
             "status": "error", "error": message}
            for name, budgets in unit.budgets.items() for budget in budgets]
    append_rows(results_path, rows)


class _Progress:
    """A rich progress display with the time left, or nothing when ``enabled`` is false."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            # the streams stay as they are: evaluation workers fork while the bar runs
            self._progress = eta_progress(redirect_stdout=False, redirect_stderr=False)
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def add(self, description: str, total: int) -> Any:
        return self._progress.add_task(description, total=total) if self._progress else None

    def describe(self, task: Any, text: str) -> None:
        if self._progress is not None:
            self._progress.update(task, description=text[:60])

    def advance(self, task: Any, steps: int) -> None:
        if self._progress is not None:
            self._progress.advance(task, steps)


__all__ = ["SETTINGS_FILE", "SUMMARY_FILE", "Unit", "plan", "result_row",
           "run_benchmark", "run_dataset", "select_datasets", "write_outputs"]
