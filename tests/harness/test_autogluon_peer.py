"""The AutoGluon peers: skipped without AutoGluon, the runner's file contract, scoring as
every peer is scored, and a runner that hangs killed at the hard limit with its children."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pytest
from sklearn.metrics import balanced_accuracy_score, r2_score

from automl_meta.harness.methods import DEFAULT_METHODS, METHODS
from automl_meta.harness.peers import autogluon as peer
from automl_meta.harness.prepare import prepare_dataset
from automl_meta.harness.settings import BenchmarkSettings
from automl_meta.harness.trials import RunContext

# an interpreter with the runner's file contract: it reads the request, records what it
# saw and writes the predictions it is given (or hangs, with a child of its own)
FAKE = '''#!{python}
import json, os, subprocess, sys, time
import pandas as pd
if sys.argv[1] == "-c":
    sys.exit(0)
runner, request_path, parent = sys.argv[1:4]
request = json.loads(open(request_path).read())
log = os.environ["FAKE_AG_LOG"]
mode = os.environ["FAKE_AG_MODE"]
train, test = pd.read_parquet(request["train"]), pd.read_parquet(request["test"])
seen = {{"request": request, "runner": runner, "parent": int(parent), "pid": os.getpid(),
        "pgid": os.getpgrp(), "threads": os.environ.get("OMP_NUM_THREADS"),
        "train_shape": list(train.shape), "test_shape": list(test.shape),
        "train_label": train[request["label"]].tolist()}}
if mode == "hang":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    seen["child"] = child.pid
open(log, "w").write(json.dumps(seen))
if mode == "hang":
    time.sleep(600)
if mode == "error":
    open(request["result"], "w").write(json.dumps({{"status": "error", "error": "boom"}}))
    sys.exit(1)
predictions = json.loads(open(os.environ["FAKE_AG_PREDICTIONS"]).read())
pd.DataFrame({{"prediction": predictions}}).to_parquet(request["predictions"], index=False)
open(request["result"], "w").write(json.dumps({{
    "status": "ok", "fit_seconds": 0.5, "best_model": "WeightedEnsemble_L2",
    "val_score": 0.75}}))
'''


@pytest.fixture
def fake_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    script = tmp_path / "fake-python"
    script.write_text(FAKE.format(python=sys.executable))
    script.chmod(0o755)
    log, predictions = tmp_path / "seen.json", tmp_path / "predictions.json"
    monkeypatch.setenv(peer.PYTHON_ENV, str(script))
    monkeypatch.setenv("FAKE_AG_LOG", str(log))
    monkeypatch.setenv("FAKE_AG_PREDICTIONS", str(predictions))
    monkeypatch.setenv("FAKE_AG_MODE", "predict")
    return {"script": script, "log": log, "predictions": predictions}


def _context(tmp_path: Path, task: str, seconds: float = 2.0) -> RunContext:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
    frame["target"] = (np.where(frame["a"] > 0, "yes", "no") if task == "classification"
                       else frame["a"] * 2.0 + rng.normal(size=120))
    path = tmp_path / f"toy_{task}.csv"
    frame.to_csv(path, index=False)
    prepared = prepare_dataset(path, max_rows=5000, seed=0)
    assert prepared.task == task
    settings = BenchmarkSettings(methods=("autogluon", "autogluon_best"), seconds=seconds)
    return RunContext(prepared, settings)


def test_without_autogluon_both_peers_are_skipped_with_the_reason(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(peer.PYTHON_ENV, raising=False)
    monkeypatch.setattr(peer, "_importable_here", lambda: False)
    for name in ("autogluon", "autogluon_best"):
        reason = METHODS[name].missing()
        assert reason is not None and "autogluon.tabular" in reason
        assert peer.PYTHON_ENV in reason
    assert "autogluon" not in DEFAULT_METHODS and "autogluon_best" not in DEFAULT_METHODS


def test_an_interpreter_without_autogluon_is_reported_not_faked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(peer.PYTHON_ENV, str(tmp_path / "no-such-python"))
    assert "cannot be run" in (METHODS["autogluon"].missing() or "")
    monkeypatch.setenv(peer.PYTHON_ENV, sys.executable)  # ours has no autogluon
    reason = METHODS["autogluon"].missing() or ""
    assert "cannot import autogluon.tabular" in reason and "ModuleNotFoundError" in reason


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_harness_scores_exactly_the_runners_predictions(
        tmp_path: Path, fake_python: dict[str, Path], task: str) -> None:
    context = _context(tmp_path, task)
    prepared = context.prepared
    truth = prepared.test.y.to_numpy()
    if task == "classification":
        known = list(truth[:-5]) + ["yes"] * 5  # some right, some wrong
        expected = balanced_accuracy_score(truth, known)
    else:
        known = [float(v) + 0.5 for v in truth]
        expected = r2_score(truth, known)
    fake_python["predictions"].write_text(json.dumps(known))
    assert METHODS["autogluon_best"].missing() is None
    [outcome] = METHODS["autogluon_best"].run(context)
    assert outcome.status == "ok", outcome.error
    assert outcome.score == pytest.approx(expected)
    assert outcome.budget == "2s" and outcome.seconds == pytest.approx(0.5)
    assert outcome.cv_score == 0.75
    assert outcome.config == {"algorithm": "WeightedEnsemble_L2",
                              "params": {"presets": "best_quality"}}
    assert outcome.extra["peak_memory_mb"] > 0 and outcome.extra["presets"] == "best_quality"

    seen = json.loads(fake_python["log"].read_text())
    request = seen["request"]
    assert Path(seen["runner"]) == peer.RUNNER and seen["parent"] == os.getpid()
    assert seen["pgid"] == seen["pid"]  # the runner leads its own process group
    assert seen["threads"] == "1"
    assert request["time_limit"] == 2.0 and request["num_cpus"] == 1
    assert request["presets"] == "best_quality"
    assert request["eval_metric"] == ("balanced_accuracy" if task == "classification"
                                      else "r2")
    assert request["problem_type"] == ("binary" if task == "classification" else "regression")
    assert seen["train_shape"] == [prepared.train.n_rows, prepared.train.n_features + 1]
    assert seen["test_shape"] == [prepared.test.n_rows, prepared.test.n_features]
    labels = prepared.train.y.tolist()
    assert seen["train_label"] == (pytest.approx(labels) if task == "regression" else labels)
    assert not Path(request["train"]).parent.exists()  # the exchange folder is removed


def test_a_runner_error_is_reported_as_an_error(
        tmp_path: Path, fake_python: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_AG_MODE", "error")
    [outcome] = METHODS["autogluon"].run(_context(tmp_path, "classification"))
    assert outcome.status == "error" and outcome.score is None
    assert outcome.error == "boom"


def _gone(pid: int, wait: float = 5.0) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_a_hanging_runner_is_killed_at_the_hard_limit_with_its_children(
        tmp_path: Path, fake_python: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_AG_MODE", "hang")
    monkeypatch.setattr(peer, "hard_limit", lambda seconds: 4.0)
    started = time.perf_counter()
    [outcome] = METHODS["autogluon"].run(_context(tmp_path, "classification"))
    assert time.perf_counter() - started < 15.0
    assert outcome.status == "timeout" and outcome.score is None
    assert "hard limit of 4 s" in (outcome.error or "")
    seen: dict[str, Any] = json.loads(fake_python["log"].read_text())
    assert _gone(seen["pid"]) and _gone(seen["child"])


@pytest.mark.slow
def test_real_autogluon_runs_on_one_cpu_within_its_budget(tmp_path: Path) -> None:
    if not os.environ.get(peer.PYTHON_ENV):
        pytest.skip(f"{peer.PYTHON_ENV} is not set")
    if METHODS["autogluon"].missing() is not None:
        pytest.skip(METHODS["autogluon"].missing())
    context = _context(tmp_path, "classification", seconds=10.0)
    [outcome] = METHODS["autogluon"].run(context)
    assert outcome.status == "ok", outcome.error
    assert outcome.score is not None and 0.5 < outcome.score <= 1.0
    assert outcome.seconds < 10.0 * 1.5 + 5.0
    assert outcome.extra["peak_memory_mb"] > 50
