"""Benchmark: ``POST /v1/recommend`` throughput and latency of ``automl-meta serve``.

Run from the project root (needs the serve extra)::

    python benchmarks/service_load.py [--workers 2] [--clients 16] [--requests 4000]
        [--seconds 20] [--shipped meta_db] [--db URL] [--strategy auto] [-k 10]

It starts ``automl-meta serve --workers 2`` on 127.0.0.1 (a free port, loopback only) with
the shipped (or given) meta-db and an empty user store, waits for ``/health``, sends
``--warmup`` requests, then ``--clients`` threads, each with one keep-alive connection,
POST precomputed meta-features (those stored in the bundle, so no dataset is read) until
``--requests`` have been answered or ``--seconds`` have passed. Latency is measured per
request at the client; the server is stopped afterwards, whatever happens.

Bar: at least 200 requests/s and a p99 below 100 ms. Prints a markdown snippet for
``benchmarks/RESULTS.md``; exits 1 when a bar is missed (or a request failed). The
server's memory under unauthenticated large bodies is measured by
``benchmarks/service_hostile.py``.

Note that the load generator runs on the same machine and takes CPU from the server. The
in-process line splits the server's own work per request (one thread, no HTTP): the
meta-learner, the check whether the store changed (one query), and the server's lookup of
its recommender, which makes that check at most once a second.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

MIN_THROUGHPUT = 200.0
MAX_P99_MS = 100.0


def precomputed_metafeatures(shipped: Path, db: str | None) -> list[dict[str, Any]]:
    """Request bodies: the meta-features of every dataset the knowledge holds them for."""
    from automl_meta.metalearners import load_knowledge

    knowledge = load_knowledge(shipped, db if db else False)
    bodies = []
    for fingerprint, row in knowledge.metafeatures.iterrows():
        values = {k: (None if v != v else float(v)) for k, v in row.items()}
        if any(v is not None for v in values.values()):
            task = knowledge.datasets.loc[fingerprint, "task"]
            bodies.append({"metafeatures": values, "task": task})
    if not bodies:
        raise SystemExit(f"no meta-features in {shipped} (or the store); nothing to send")
    return bodies


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(args: argparse.Namespace, port: int, store: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AUTOML_META_SHIPPED": str(args.shipped)}
    command = [sys.executable, "-c", "from automl_meta.cli import main; main()", "serve",
               "--db", store, "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(args.workers), "--no-access-log"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)


def wait_healthy(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited: " + process.stderr.read().decode()[-2000:])
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not answer /health within {timeout:.0f} s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)  # uvicorn stops its workers on SIGINT
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def server_cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """CPU seconds (user + system) used so far by the server and its workers."""
    import psutil

    total = 0.0
    parent = psutil.Process(process.pid)
    for proc in [parent, *parent.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def run_load(port: int, bodies: list[bytes], clients: int, total: int, seconds: float
             ) -> tuple[list[float], int, float]:
    """Latencies (s) of successful requests, the number of failures, and the wall time."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    issued = iter(range(total))
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    headers = {"Content-Type": "application/json"}

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < deadline:
            with lock:
                number = next(issued, None)
            if number is None:
                break
            body = bodies[number % len(bodies)]
            started = time.perf_counter()
            try:
                connection.request("POST", "/v1/recommend", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            if ok:
                latencies[index].append(time.perf_counter() - started)
            else:
                failures[index] += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    wall = time.perf_counter() - started
    return [x for per in latencies for x in per], sum(failures), wall


def server_cost_ms(shipped: Path, bodies: list[dict[str, Any]], k: int, strategy: str,
                   repeats: int = 300) -> dict[str, float]:
    """Milliseconds per request in this process, one thread, no HTTP: the learner
    (``Recommender.recommend``), the store's change check (``MetaDB.change_token()``, what
    the library's ``get_recommender`` runs on every call) and the server's lookup of its
    recommender (which checks the store at most once a second)."""
    from automl_meta.advice._recommend import STRATEGIES, get_recommender
    from automl_meta.service.backend import Service

    scratch = Path(tempfile.mkdtemp())
    service = Service(f"sqlite:///{scratch / 'empty.sqlite'}", (), False, 1, scratch,
                      shipped, STRATEGIES, 1)
    queries = [({n: (float("nan") if v is None else v) for n, v in b["metafeatures"].items()},
                b["task"]) for b in bodies]
    recommender = get_recommender(service.store, shipped)
    recommender.recommend(*queries[0], k, strategy)

    def per_call(work: Any) -> float:
        started = time.perf_counter()
        for i in range(repeats):
            work(i)
        return (time.perf_counter() - started) / repeats * 1000

    return {
        "learner": per_call(lambda i: recommender.recommend(*queries[i % len(queries)], k,
                                                            strategy)),
        "store_check": per_call(lambda i: service.store.change_token()),
        "server_lookup": per_call(lambda i: service.recommender()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parents[1]
    parser.add_argument("--shipped", type=Path, default=root / "meta_db")
    parser.add_argument("--db", default=None, help="User store (default: a new empty one).")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--strategy", default="auto")
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="service-load-"))
    store = args.db or f"sqlite:///{scratch / 'user.sqlite'}"
    payloads = precomputed_metafeatures(args.shipped, args.db)
    bodies = [json.dumps({**p, "k": args.k, "strategy": args.strategy}).encode()
              for p in payloads]
    port = free_port()
    process = start_server(args, port, store)
    try:
        wait_healthy(port, process, timeout=120)
        run_load(port, bodies, min(args.clients, 4), args.warmup, 60)  # every worker warm
        cpu_before = server_cpu_seconds(process)
        latencies, failures, wall = run_load(port, bodies, args.clients, args.requests,
                                             args.seconds)
        cpu_ms = (server_cpu_seconds(process) - cpu_before) * 1000 / max(len(latencies), 1)
    finally:
        stop_server(process)
    cost = server_cost_ms(args.shipped, payloads, args.k, args.strategy)
    ms = np.asarray(latencies) * 1000
    throughput = len(ms) / wall
    p50, p90, p99 = (float(np.percentile(ms, q)) for q in (50, 90, 99)) if len(ms) else (0,) * 3
    ok = throughput >= MIN_THROUGHPUT and p99 < MAX_P99_MS and failures == 0 and len(ms)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{len(ms)} requests in {wall:.1f} s with {args.clients} clients, {failures} failed")
    print(f"throughput {throughput:.0f} req/s; latency p50 {p50:.1f} ms, p90 {p90:.1f} ms, "
          f"p99 {p99:.1f} ms, max {ms.max() if len(ms) else 0:.1f} ms")
    print(f"server CPU per request {cpu_ms:.2f} ms (all workers): on {os.cpu_count()} idle "
          f"CPUs at most ~{1000 * (os.cpu_count() or 1) / cpu_ms:.0f} req/s")
    print(f"in-process ms/request: learner {cost['learner']:.2f}; server's recommender "
          f"lookup {cost['server_lookup']:.2f} (a store change check: "
          f"{cost['store_check']:.2f})")
    print()
    machine = platform.processor() or platform.machine()
    print(f"### Service load ({time.strftime('%Y-%m-%d')})\n")
    print(f"`python benchmarks/service_load.py` — `automl-meta serve --workers {args.workers}`, "
          f"{args.clients} keep-alive clients on the same machine, POST /v1/recommend "
          f"(strategy `{args.strategy}`, k={args.k}) with the meta-features of "
          f"{len(payloads)} datasets of `{args.shipped.name}/`; {machine}, {os.cpu_count()} "
          f"CPUs, 1-min load average {load:.1f} at the end.\n")
    print("| requests | failed | req/s | p50 ms | p90 ms | p99 ms | server CPU ms/req | "
          "learner ms | lookup ms (store check) | bar |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    print(f"| {len(ms)} | {failures} | {throughput:.0f} | {p50:.1f} | {p90:.1f} | {p99:.1f} | "
          f"{cpu_ms:.2f} | "
          f"{cost['learner']:.2f} | {cost['server_lookup']:.2f} ({cost['store_check']:.2f}) | "
          f"{'met' if ok else 'missed'} (>= {MIN_THROUGHPUT:.0f} req/s, p99 < "
          f"{MAX_P99_MS:.0f} ms) |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
