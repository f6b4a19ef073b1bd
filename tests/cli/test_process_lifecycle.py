"""No process outlives its caller: kill ``automl-meta`` mid-trial, find no child left.

The commands run as real CLI subprocesses. Every trial hangs: a ``sitecustomize`` module on
the subprocesses' ``PYTHONPATH`` (test-only; nothing in the package reads it) replaces the
evaluation's work with an endless sleep, in every Python process the command starts, loky's
fresh interpreters included. Each process the command starts carries a marker in its
environment, so that the orphans of a killed parent are found wherever they were
re-parented. The mechanisms themselves are tested in ``tests/_support/test_lifecycle.py``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals and fork: POSIX only")

CLI = str(Path(sys.executable).with_name("automl-meta"))
MARK = "AUTOML_META_TEST_LIFECYCLE_MARK"
GONE_WITHIN = 5.0  # seconds the tests allow for every process to be gone

HANG_TRIALS = '''
"""Test-only: every evaluation of automl-meta hangs, in every process."""
import importlib.abc
import importlib.machinery
import sys
import time


def _hang(*args, **kwargs):
    while True:
        time.sleep(0.05)


class _HangTrials(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "automl_meta.evaluation._engine":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            module._score = module._fit_full = _hang

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _HangTrials())
'''


@dataclass
class Command:
    process: subprocess.Popen[str]
    mark: str

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            return []


@pytest.fixture
def run_cli(tmp_path: Path) -> Iterator[Callable[..., Command]]:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HANG_TRIALS)
    started: list[Command] = []

    def start(*args: str, hang: bool = True) -> Command:
        mark = uuid.uuid4().hex
        env = {**os.environ, MARK: mark, "AUTOML_META_DB": f"sqlite:///{tmp_path}/store.db",
               "COLUMNS": "300", "NO_COLOR": "1", "PYTHONWARNINGS": "ignore"}
        if hang:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(hook), os.environ.get("PYTHONPATH")) if p)
        process = subprocess.Popen([CLI, *args], env=env, cwd=tmp_path, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        command = Command(process, mark)
        started.append(command)
        return command

    yield start
    for command in started:  # whatever a failed test left behind
        for leftover in [*_marked(command.mark)]:
            leftover.kill()
        command.process.kill()
        command.process.communicate()


def _marked(mark: str) -> list[psutil.Process]:
    """Every live process (not a zombie) that carries ``mark`` in its environment."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARK) == mark and \
                    process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            continue
    return found


def _wait_for(command: Command, depth: int, timeout: float = 60.0) -> list[psutil.Process]:
    """Wait until ``command`` has a descendant ``depth`` levels below it (1: a child) that
    has run for a moment; returns the descendants."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert command.process.poll() is None, command.process.communicate()
        levels = {command.process.pid: 0}
        for process in sorted(command.descendants(), key=lambda p: p.pid):
            try:
                levels[process.pid] = levels.get(process.ppid(), -99) + 1
            except psutil.Error:
                continue
        deep = [pid for pid, level in levels.items() if level >= depth]
        if deep:
            time.sleep(0.3)  # inside the trial, not starting up
            return command.descendants()
        time.sleep(0.05)
    pytest.fail(f"no process {depth} level(s) below the command within {timeout} s")


def _assert_all_gone(command: Command, within: float = GONE_WITHIN) -> float:
    """Every process of ``command`` is gone within ``within`` seconds; returns how long."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        left = _marked(command.mark)
        if not left:
            return time.monotonic() - started
        time.sleep(0.05)
    descriptions = [f"{p.pid} {' '.join(p.cmdline())[:100]}" for p in left]
    pytest.fail(f"still running {within} s after the command was killed: {descriptions}")


def _assert_stopped_cleanly(command: Command, signum: int) -> str:
    """``command`` exits 128 + ``signum`` within a few seconds with one "Interrupted" line
    on stderr and no traceback; returns that line."""
    try:
        _, stderr = command.process.communicate(timeout=GONE_WITHIN)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the command did not exit within {GONE_WITHIN} s of the signal")
    assert command.process.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("Interrupted")]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"Interrupted by {signal.Signals(signum).name}: "), stderr
    return lines[0]


# --------------------------------------------------------------------------- fit


def test_sigkill_of_fit_leaves_no_worker(run_cli: Callable[..., Command]) -> None:
    command = run_cli("fit", "sklearn:iris", "--budget", "120s", "--jobs", "2")
    workers = _wait_for(command, depth=1)
    assert workers
    command.process.kill()
    _assert_all_gone(command)


def test_sigterm_of_fit_stops_workers_and_says_what_was_kept(run_cli: Callable[..., Command],
                                                             tmp_path: Path) -> None:
    command = run_cli("fit", "sklearn:iris", "--budget", "120s")
    _wait_for(command, depth=1)
    command.process.send_signal(signal.SIGTERM)
    line = _assert_stopped_cleanly(command, signal.SIGTERM)
    assert re.search(rf"\d+ finished trials were recorded to sqlite:///{tmp_path}/store\.db",
                     line), line
    assert "rerun" in line
    _assert_all_gone(command, within=0.5)  # it exited after its children


@pytest.mark.slow
def test_sigint_of_fit_exits_130(run_cli: Callable[..., Command]) -> None:
    command = run_cli("fit", "sklearn:iris", "--budget", "120s", "--no-record")
    _wait_for(command, depth=1)
    command.process.send_signal(signal.SIGINT)
    line = _assert_stopped_cleanly(command, signal.SIGINT)
    assert "nothing was recorded (--no-record)" in line
    _assert_all_gone(command, within=0.5)


# --------------------------------------------------------------------------- evaluate


def test_sigterm_of_evaluate_stops_its_worker(run_cli: Callable[..., Command]) -> None:
    command = run_cli("evaluate", "sklearn:iris", "--algorithm", "knn")
    _wait_for(command, depth=1)
    command.process.send_signal(signal.SIGTERM)
    line = _assert_stopped_cleanly(command, signal.SIGTERM)
    assert "evaluate records nothing" in line
    _assert_all_gone(command, within=0.5)


@pytest.mark.slow
def test_sigkill_of_evaluate_leaves_no_worker(run_cli: Callable[..., Command]) -> None:
    command = run_cli("evaluate", "sklearn:iris", "--algorithm", "knn")
    _wait_for(command, depth=1)
    command.process.kill()
    _assert_all_gone(command)


# --------------------------------------------------------------------------- benchmark


@pytest.fixture
def bench_data(tmp_path: Path) -> Path:
    from sklearn.datasets import load_iris, load_wine

    data = tmp_path / "data"
    data.mkdir()
    for name, loader in (("iris", load_iris), ("wine", load_wine)):
        frame = loader(as_frame=True).frame.rename(columns={"target": "class"})
        frame.to_csv(data / f"{name}.csv", index=False)
    return data


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigkill_of_benchmark_leaves_nothing(run_cli: Callable[..., Command], bench_data: Path,
                                             jobs: str) -> None:
    # jobs=1: benchmark -> isolated fit -> trial worker; jobs=2: loky workers above them
    command = run_cli("benchmark", str(bench_data), "--methods", "fit", "--seconds", "60",
                      "--jobs", jobs, "--out", "out")
    _wait_for(command, depth=2 if jobs == "1" else 3)
    command.process.kill()
    _assert_all_gone(command)


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigterm_of_benchmark_stops_everything(run_cli: Callable[..., Command], bench_data: Path,
                                               jobs: str) -> None:
    command = run_cli("benchmark", str(bench_data), "--methods", "fit", "--seconds", "60",
                      "--jobs", jobs, "--out", "out")
    _wait_for(command, depth=2 if jobs == "1" else 3)
    command.process.send_signal(signal.SIGTERM)
    line = _assert_stopped_cleanly(command, signal.SIGTERM)
    assert "results.jsonl" in line
    _assert_all_gone(command)


# --------------------------------------------------------------------------- db build


@pytest.mark.slow
@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_db_build_with_loky_workers_stops_with_its_caller(run_cli: Callable[..., Command],
                                                          kill: int) -> None:
    command = run_cli("db", "build", "sklearn:iris", "--configs", "1", "--jobs", "2",
                      "--no-metafeatures")
    _wait_for(command, depth=2)  # loky worker -> trial worker
    command.process.send_signal(kill)
    if kill == signal.SIGTERM:
        assert "committed to" in _assert_stopped_cleanly(command, kill)
    _assert_all_gone(command)


# --------------------------------------------------------------------------- serve


def _serve(run_cli: Callable[..., Command], workers: str) -> Command:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    command = run_cli("serve", "--port", port, "--workers", workers, "--no-access-log",
                      hang=False)
    # with --workers 2: two worker processes and multiprocessing's resource tracker
    children = 0 if workers == "1" else int(workers) + 1
    deadline = time.monotonic() + 60
    while not _accepts(int(port)) or len(command.descendants()) < children:
        assert command.process.poll() is None, command.process.communicate()
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)
    return command


@pytest.mark.slow
def test_sigkill_of_serve_leaves_no_worker(run_cli: Callable[..., Command]) -> None:
    command = _serve(run_cli, "2")
    time.sleep(0.5)  # both workers have built their app (and bound themselves)
    command.process.kill()
    _assert_all_gone(command)


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_stops_serve(run_cli: Callable[..., Command], workers: str) -> None:
    command = _serve(run_cli, workers)
    command.process.send_signal(signal.SIGTERM)
    # one worker: uvicorn hands the signal back; two: its supervisor stops the workers and
    # tells which signal stopped it: either way, exit 128 + SIGTERM and one line
    assert "server stopped" in _assert_stopped_cleanly(command, signal.SIGTERM)
    _assert_all_gone(command, within=0.5)


def _accepts(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
