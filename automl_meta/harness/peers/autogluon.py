"""AutoGluon as a benchmark peer, run in its own environment.

AutoGluon pins an older pandas and scikit-learn than ours, so it cannot be installed beside
``automl_meta``. Its peers (``autogluon``: default presets, ``autogluon_best``:
``presets="best_quality"``) run the standalone :mod:`autogluon_runner` script with the
interpreter named by ``AUTOML_META_AUTOGLUON_PYTHON`` (an environment that has
``autogluon.tabular``, ``pandas<2.4`` and ``pyarrow``), or with this interpreter when it can
import ``autogluon.tabular`` itself. Without either, both are reported ``skipped``.

The split goes over as Parquet files (train features and label, test features) and comes
back as Parquet test predictions and a JSON summary; the harness scores the predictions as
it scores every peer. AutoGluon gets the time budget as ``time_limit``, one CPU
(``num_cpus=1``, and one thread per native library) and no GPU. The runner leads its own
process group and dies with this process; at the hard limit (as ``flaml_automl``'s) the
whole group is killed and the run is a ``timeout``. The peak resident memory of its process
tree, sampled every :data:`SAMPLE_INTERVAL` seconds, is reported as ``peak_memory_mb``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from automl_meta._support import lifecycle as _lifecycle
from automl_meta.harness import one_shot
from automl_meta.harness._isolate import SAMPLE_INTERVAL, tree_rss
from automl_meta.harness.trials import Outcome, RunContext

PYTHON_ENV = "AUTOML_META_AUTOGLUON_PYTHON"
RUNNER = Path(__file__).with_name("autogluon_runner.py")
PREDICTION = "prediction"  # the predictions file's column (as the runner writes it)
LABEL = "__automl_meta_label__"
DEFAULT_PRESETS, BEST_PRESETS = "medium_quality", "best_quality"
CHECK_SECONDS = 180.0  # importing autogluon.tabular in a cold environment is slow
ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def autogluon_default(context: RunContext) -> list[Outcome]:
    """AutoGluon at its default presets under the time budget."""
    return [run_autogluon(context, DEFAULT_PRESETS)]


def autogluon_best(context: RunContext) -> list[Outcome]:
    """AutoGluon with ``presets="best_quality"`` under the time budget."""
    return [run_autogluon(context, BEST_PRESETS)]


def unavailable() -> str | None:
    """Why AutoGluon cannot run here, or ``None``."""
    configured = os.environ.get(PYTHON_ENV, "").strip()
    if configured:
        return _interpreter_problem(configured)
    if _importable_here():
        return None
    return (f"needs autogluon.tabular, which is not installed; it needs pandas<2.4, so "
            f"install it in an environment of its own (pip install 'autogluon.tabular' "
            f"pyarrow) and set {PYTHON_ENV} to that environment's python")


def interpreter() -> str:
    """The Python that runs AutoGluon: ``AUTOML_META_AUTOGLUON_PYTHON``, else this one."""
    return os.environ.get(PYTHON_ENV, "").strip() or sys.executable


def _importable_here() -> bool:
    try:
        return importlib.util.find_spec("autogluon.tabular") is not None
    except ModuleNotFoundError:  # no autogluon package at all
        return False


@functools.lru_cache(maxsize=8)
def _interpreter_problem(python: str) -> str | None:
    """Why ``python`` cannot run the runner (checked once per interpreter), or ``None``."""
    check = "import autogluon.tabular, pandas, pyarrow"
    try:
        done = subprocess.run([python, "-c", check], capture_output=True, text=True,
                              timeout=CHECK_SECONDS, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{PYTHON_ENV}={python} cannot be run: {type(exc).__name__}: {exc}"
    if done.returncode != 0:
        lines = (done.stderr or "").strip().splitlines()
        return (f"{PYTHON_ENV}={python} cannot import autogluon.tabular, pandas and "
                f"pyarrow: {lines[-1] if lines else f'exit code {done.returncode}'}")
    return None


def hard_limit(seconds: float) -> float:
    """When the runner is killed: the margin every time-budgeted method gets."""
    return one_shot.hard_limit(seconds)


def run_autogluon(context: RunContext, presets: str) -> Outcome:
    """One AutoGluon run with ``presets`` on the context's split, scored on its test part."""
    prepared, settings = context.prepared, context.settings
    with tempfile.TemporaryDirectory(prefix="automl-meta-autogluon-") as tmp:
        folder = Path(tmp)
        request = _write_request(context, folder, presets)
        run = _run_runner(interpreter(), folder / "request.json",
                          hard_limit(settings.seconds), folder)
        result = run["result"]
        if result.get("status") == "ok":
            result = _scored(result, request, context)
    outcome = one_shot.budget_outcome(context, result)
    outcome.extra.update(presets=presets, peak_memory_mb=run["peak_memory_mb"],
                         wall_seconds=round(run["wall_seconds"], 3))
    for key in ("val_score", "n_models", "autogluon_version"):
        if result.get(key) is not None:
            outcome.extra[key] = result[key]
    if prepared.task == "classification":
        outcome.extra["problem_type"] = request["problem_type"]
    return outcome


def _write_request(context: RunContext, folder: Path, presets: str) -> dict[str, Any]:
    prepared, settings = context.prepared, context.settings
    train_X, test_X = _plain_columns(prepared.train.X), _plain_columns(prepared.test.X)
    label = LABEL
    while label in train_X.columns:
        label = f"_{label}"
    train = train_X.assign(**{label: prepared.train.y.to_numpy()})
    train.to_parquet(folder / "train.parquet", index=False)
    test_X.to_parquet(folder / "test.parquet", index=False)
    classification = prepared.task == "classification"
    if classification:
        problem_type = "binary" if prepared.train.y.nunique() == 2 else "multiclass"
    else:
        problem_type = "regression"
    request = {
        "train": str(folder / "train.parquet"), "test": str(folder / "test.parquet"),
        "label": label, "problem_type": problem_type,
        "eval_metric": "balanced_accuracy" if classification else "r2",
        "time_limit": float(settings.seconds), "presets": presets, "num_cpus": 1,
        "path": str(folder / "models"), "predictions": str(folder / "predictions.parquet"),
        "result": str(folder / "result.json"),
    }
    (folder / "request.json").write_text(json.dumps(request))
    return request


def _plain_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with text column names, as Parquet needs."""
    out = frame.reset_index(drop=True)
    out.columns = [str(c) for c in out.columns]
    return out


def _scored(result: dict[str, Any], request: dict[str, Any],
            context: RunContext) -> dict[str, Any]:
    predictions = pd.read_parquet(request["predictions"])[PREDICTION].to_numpy()
    n_test = context.prepared.test.n_rows
    if len(predictions) != n_test:
        return {"status": "error", "seconds": result.get("fit_seconds", 0.0),
                "error": f"the runner predicted {len(predictions)} rows of {n_test}"}
    return {**result, "score": one_shot.score_test_predictions(predictions, context),
            "seconds": float(result["fit_seconds"]), "cv_score": result.get("val_score"),
            "config": {"algorithm": result.get("best_model"),
                       "params": {"presets": request["presets"]}}}


class _Launch:
    """A runner subprocess, started by :func:`lifecycle.start_process` (from a thread that
    lives as long as this process, so the runner's parent-death signal holds)."""

    def __init__(self, args: list[str], env: dict[str, str], folder: Path) -> None:
        self.args, self.env, self.folder = args, env, folder
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.folder / "stdout.txt", "wb") as out, \
                open(self.folder / "stderr.txt", "wb") as err:
            self.process = subprocess.Popen(
                self.args, env=self.env, cwd=self.folder, stdin=subprocess.DEVNULL,
                stdout=out, stderr=err, process_group=0)


def _run_runner(python: str, request_path: Path, time_limit: float,
                folder: Path) -> dict[str, Any]:
    """Run the runner on ``request_path``; its result, peak memory and wall seconds."""
    env = {**os.environ, **dict.fromkeys(ONE_THREAD, "1"), "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)  # our environment's packages must not shadow AutoGluon's
    launch = _Launch([python, str(RUNNER), str(request_path), str(os.getpid())], env, folder)
    started = time.perf_counter()
    _lifecycle.start_process(launch)
    process = launch.process
    assert process is not None
    tree: dict[int, Any] = {}
    peak = 0
    timed_out = False
    try:
        while True:
            peak = max(peak, tree_rss(process.pid, tree))
            try:
                process.wait(timeout=SAMPLE_INTERVAL)
                break
            except subprocess.TimeoutExpired:
                pass
            _lifecycle.check()  # a stop signal: stop waiting (the finally kills the tree)
            if time.perf_counter() - started > time_limit:
                timed_out = True
                break
    finally:
        _kill_tree(process, tree)
    wall = time.perf_counter() - started
    return {"result": _read_result(folder, process.returncode, timed_out, time_limit, wall),
            "peak_memory_mb": round(peak / 2**20, 1), "wall_seconds": wall}


def _kill_tree(process: subprocess.Popen[bytes], tree: dict[int, Any]) -> None:
    import psutil

    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    for member in tree.values():
        with contextlib.suppress(psutil.Error):
            member.kill()  # psutil checks the pid was not reused
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)


def _read_result(folder: Path, returncode: int | None, timed_out: bool, time_limit: float,
                 wall: float) -> dict[str, Any]:
    if timed_out:
        return {"status": "timeout", "seconds": wall,
                "error": f"stopped after the hard limit of {time_limit:.0f} s"}
    path = folder / "result.json"
    if path.exists():
        try:
            result = json.loads(path.read_text())
        except ValueError as exc:
            return {"status": "error", "seconds": wall,
                    "error": f"the runner's result is not JSON: {exc}"}
        if isinstance(result, dict) and result.get("status") in {"ok", "error"}:
            result.setdefault("seconds", wall)
            return result
    tail = _tail(folder / "stderr.txt")
    return {"status": "error", "seconds": wall,
            "error": f"the AutoGluon runner exited with code {returncode} and no result"
                     + (f": {tail}" if tail else "")}


def _tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace").strip()[-chars:]
    except OSError:
        return ""
