"""Fit AutoGluon on one benchmark split, in AutoGluon's own environment.

A standalone script, run as a file by the interpreter that has ``autogluon.tabular``
(``python autogluon_runner.py REQUEST.json PARENT_PID``); it imports nothing of
``automl_meta``, whose environment AutoGluon cannot share (it pins an older pandas).

The request names ``train`` (features and the label column) and ``test`` (features) as
Parquet files, the ``label``, ``problem_type``, ``eval_metric``, ``time_limit``, ``presets``,
``num_cpus`` and the ``predictions`` and ``result`` files to write: the test predictions as
Parquet (one column, ``prediction``) and a JSON with ``status``, ``fit_seconds``,
``best_model``, ``val_score`` (or ``error``). Nothing is pickled across the boundary.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

PREDICTION = "prediction"
_PR_SET_PDEATHSIG = 1
_SIGKILL = 9


def bind_to_parent(parent_pid: int) -> None:
    """Die with ``parent_pid``: the kernel's parent-death signal where there is one, and a
    thread that kills this process group once the parent is gone (as the package's
    lifecycle helpers do; they cannot be imported from this environment)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, _SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass

    def gone() -> bool:
        return os.getppid() != parent_pid  # an orphan is re-parented

    def watch() -> None:
        while not gone():
            time.sleep(0.2)
        _exit_with_group()

    if gone():  # the parent died before the signal was set
        _exit_with_group()
    threading.Thread(target=watch, name="autogluon-runner-watchdog", daemon=True).start()


def _exit_with_group() -> None:
    try:
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), _SIGKILL)
    finally:
        os._exit(1)


def run(request: dict[str, Any]) -> dict[str, Any]:
    """Fit, predict the test rows and write the predictions; returns the result."""
    import pandas as pd
    from autogluon.tabular import TabularPredictor

    train = pd.read_parquet(request["train"])
    test = pd.read_parquet(request["test"])
    predictor = TabularPredictor(label=request["label"], problem_type=request["problem_type"],
                                 eval_metric=request["eval_metric"], path=request["path"],
                                 verbosity=0)
    started = time.perf_counter()
    predictor.fit(train, time_limit=request["time_limit"], presets=request["presets"],
                  num_cpus=request["num_cpus"], num_gpus=0)
    fit_seconds = time.perf_counter() - started
    predictions = predictor.predict(test)
    pd.DataFrame({PREDICTION: pd.Series(predictions).to_numpy()}).to_parquet(
        request["predictions"], index=False)
    best = str(predictor.model_best)
    board = predictor.leaderboard(silent=True)
    rows = board.loc[board["model"] == best, "score_val"]
    val_score = float(rows.iloc[0]) if len(rows) else None
    return {"status": "ok", "fit_seconds": fit_seconds, "best_model": best,
            "val_score": val_score, "n_models": int(len(board)),
            "autogluon_version": _version()}


def _version() -> str | None:
    try:
        from autogluon.tabular import __version__

        return str(__version__)
    except ImportError:
        return None


def main(argv: list[str]) -> int:
    """Run the request ``argv[1]`` under the parent ``argv[2]``; 0 when it succeeded."""
    request_path, parent_pid = Path(argv[1]), int(argv[2])
    bind_to_parent(parent_pid)
    request = json.loads(request_path.read_text())
    try:
        result = run(request)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}".strip()[:2000]
        result = {"status": "error",
                  "error": f"{message}\n{traceback.format_exc(limit=-3)[-1500:]}"}
    partial = Path(str(request["result"]) + ".partial")
    partial.write_text(json.dumps(result))
    partial.replace(request["result"])  # the parent never reads a half-written result
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
