"""Faults: kill -9 of a service worker mid-write loses no acknowledged write."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")
pytest.importorskip("multipart")

from automl_meta.metadb import MetaDB  # noqa: E402
from tests.service._api import PMLB, TOKEN, auth, postgres_copy, record_payload  # noqa: E402

pytestmark = [
    pytest.mark.skipif(not PMLB.is_dir(), reason=f"needs the shared PMLB datasets at {PMLB}"),
    pytest.mark.filterwarnings("ignore::automl_meta.errors.AutoMLMetaWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


# -- faults: kill -9 of a worker mid-write -------------------------------------------------
def _serve(url: str, port: int, workers: int, tmp_path: Path) -> Any:
    import subprocess
    import sys

    env = {**os.environ, "AUTOML_META_SHIPPED": str(tmp_path / "no-bundle"),
           "AUTOML_META_TOKEN": TOKEN}
    command = [sys.executable, "-c", "from automl_meta.cli import main; main()", "serve",
               "--db", url, "--port", str(port), "--workers", str(workers),
               "--no-access-log"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    import httpx

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, "automl-meta serve exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    _stop(process)
    raise AssertionError("automl-meta serve did not become healthy")


def _stop(process: Any) -> None:
    import signal
    import subprocess

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _workers(process: Any) -> list[int]:
    import psutil

    pids = []
    for child in psutil.Process(process.pid).children(recursive=True):
        try:  # a killed worker stays a zombie until uvicorn reaps and replaces it
            if child.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(
                    child.cmdline()):
                pids.append(child.pid)
        except psutil.Error:
            pass
    return pids


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_kill_9_of_a_worker_loses_no_acknowledged_write(tmp_path: Path, built: Path,
                                                        backend: str) -> None:
    """Every POST /v1/evaluations answered 2xx is in the store after the server restarts,
    though workers are killed with SIGKILL while eight clients write."""
    import signal

    import httpx

    url = postgres_copy(built, tmp_path) if backend == "postgres" else \
        f"sqlite:///{tmp_path / 'team.sqlite'}"
    (tmp_path / "no-bundle").mkdir()
    port = _free_port()
    server = _serve(url, port, workers=2, tmp_path=tmp_path)
    base = record_payload(n=1)
    base.pop("metafeatures")
    base.pop("extractor_version")
    acknowledged: set[str] = set()
    failed = [0]  # requests cut by a kill: never acknowledged, may or may not be stored
    lock = threading.Lock()
    stop = threading.Event()

    def writer(index: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=auth(),
                          timeout=20) as http:
            for n in range(100_000):
                if stop.is_set():
                    return
                protocol = f"cv2:s{index * 100_000 + n}"
                payload = {**base, "evaluations": [{**base["evaluations"][0],
                                                    "protocol": protocol}]}
                try:
                    response = http.post("/v1/evaluations", json=payload)
                except httpx.TransportError:
                    with lock:
                        failed[0] += 1
                    continue
                if response.status_code == 200:
                    with lock:
                        acknowledged.add(protocol)

    def wait_for_acks(count: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while len(acknowledged) < count and time.monotonic() < deadline:
            time.sleep(0.1)

    writers = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(8)]
    killed: list[int] = []
    try:
        for thread in writers:
            thread.start()
        for _ in range(3):
            wait_for_acks(len(acknowledged) + 20)  # writes are flowing
            pids = _workers(server)
            assert pids, "no live worker process: uvicorn did not replace the killed ones"
            victim = pids[len(killed) % len(pids)]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
        before = len(acknowledged)
        wait_for_acks(before + 20)  # and flow again after the kills
        served_after_kills = len(acknowledged) - before
    finally:
        stop.set()
        for thread in writers:
            thread.join(timeout=30)
        _stop(server)
    assert len(killed) == 3 and served_after_kills >= 20, (killed, served_after_kills)
    server = _serve(url, _free_port(), workers=1, tmp_path=tmp_path)  # the restart
    try:
        stored = set(MetaDB(url).table("evaluation")["protocol"])
    finally:
        _stop(server)
    lost = acknowledged - stored
    assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {sorted(lost)[:5]}"
