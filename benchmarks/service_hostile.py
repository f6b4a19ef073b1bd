"""Benchmark: the server's memory under concurrent unauthenticated large posts.

Run from the project root (needs the serve extra)::

    python benchmarks/service_hostile.py [--clients 8] [--mib 64] [--rounds 2]

It starts ``automl-meta serve --workers 1`` on 127.0.0.1 (a free port, loopback only) with a
write token and an empty store, waits for ``/health``, then, for each attack below,
``--clients`` threads at once each post ``--mib`` MiB without a token (the bytes come from
one 1 MiB buffer, so the load generator stays small) while the resident memory (RSS) of the
server process and its children is sampled every 20 ms:

- ``json``: ``POST /v1/evaluations`` declared ``application/json`` with its Content-Length;
- ``multipart``: the same JSON write declared ``multipart/form-data`` (the header once chose
  the larger upload limit);
- ``chunked``: ``POST /v1/evaluations`` with ``Transfer-Encoding: chunked`` (no length);
- ``upload``: ``POST /v1/metafeatures`` declared multipart. With ``--read-token`` the
  server has a read token, so this is refused before the body like the writes; without
  it reads are open and the body is streamed into the form parser (spooled to disk, not
  memory) up to the upload limit, then cut with 413.

Every attack is a bounded loop (``--rounds`` rounds of ``--clients`` posts). Bar: the peak
RSS during the unauthenticated attacks stays within 50 MB of the RSS before them. The
server is stopped afterwards, whatever happens. Prints the numbers and a markdown snippet
for ``benchmarks/RESULTS.md``; exits 1 when the bar is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from service_load import stop_server, wait_healthy  # the sibling script, on sys.path

MAX_DELTA_MB = 50.0
BLOCK = b"x" * (1 << 20)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, store: str, read_token: str | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AUTOML_META_TOKEN": secrets.token_urlsafe(32),
           "AUTOML_META_SHIPPED": tempfile.mkdtemp(prefix="no-bundle-")}
    env.pop("AUTOML_META_READ_TOKEN", None)
    if read_token:
        env["AUTOML_META_READ_TOKEN"] = read_token
    command = [sys.executable, "-c", "from automl_meta.cli import main; main()", "serve",
               "--db", store, "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--no-access-log"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)


def server_rss(pid: int) -> int:
    """Resident bytes of the server process and its children."""
    import psutil

    total = 0
    parent = psutil.Process(pid)
    for proc in [parent, *parent.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def post(port: int, path: str, content_type: str, size: int, chunked: bool) -> str:
    """Send ``size`` bytes to ``path`` without a token; the status line, or how it ended."""
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sent = 0
        try:
            while sent < size:
                block = BLOCK[:min(len(BLOCK), size - sent)]
                if chunked:
                    sock.sendall(f"{len(block):x}\r\n".encode() + block + b"\r\n")
                else:
                    sock.sendall(block)
                sent += len(block)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed the connection: the point
        try:
            answer = sock.recv(200).split(b"\r\n", 1)[0].decode(errors="replace")
        except OSError as exc:
            answer = f"closed ({exc.__class__.__name__})"
        return f"{answer or 'closed'} after {sent / 2**20:.0f} MiB sent"


def attack(port: int, pid: int, clients: int, rounds: int, size: int, path: str,
           content_type: str, chunked: bool) -> tuple[int, float, list[str]]:
    """Peak RSS while the posts run, the seconds they took, and what they got back."""
    answers: list[str] = []
    peak = server_rss(pid)
    running = threading.Event()
    running.set()

    def sample() -> None:
        nonlocal peak
        while running.is_set():
            peak = max(peak, server_rss(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    for _ in range(rounds):
        threads = [threading.Thread(target=lambda: answers.append(
            post(port, path, content_type, size, chunked)), daemon=True)
            for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    seconds = time.perf_counter() - started
    time.sleep(0.2)
    running.clear()
    sampler.join(timeout=5)
    return peak, seconds, answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--read-token", action="store_true",
                        help="Start the server with a read token (then uploads need it too).")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="service-hostile-"))
    store = f"sqlite:///{scratch / 'user.sqlite'}"
    size = args.mib * 2**20
    attacks = [("json", "/v1/evaluations", "application/json", False),
               ("multipart", "/v1/evaluations", "multipart/form-data; boundary=x", False),
               ("chunked", "/v1/evaluations", "application/json", True)]
    attacks.append(("upload", "/v1/metafeatures", "multipart/form-data; boundary=x", False))
    port = free_port()
    process = start_server(port, store, secrets.token_urlsafe(32) if args.read_token else None)
    rows = []
    try:
        wait_healthy(port, process, timeout=120)
        for _ in range(20):  # a few ordinary requests first, so imports are done
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/health")
            connection.getresponse().read()
        baseline = server_rss(process.pid)
        for name, path, content_type, chunked in attacks:
            peak, seconds, answers = attack(port, process.pid, args.clients, args.rounds,
                                            size, path, content_type, chunked)
            rows.append((name, path, baseline, peak, seconds, answers))
    finally:
        stop_server(process)
    ok = True
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    for name, path, baseline, peak, seconds, answers in rows:
        delta = (peak - baseline) / 1e6
        ok &= delta <= MAX_DELTA_MB
        print(f"{name:9s} {path}: RSS {baseline / 2**20:.0f} MiB before, peak "
              f"{peak / 2**20:.0f} MiB (+{delta:.1f} MB, x{peak / baseline:.2f}) in "
              f"{seconds:.1f} s; e.g. {answers[0] if answers else 'no answer'}")
    print()
    print(f"### Unauthenticated large bodies ({time.strftime('%Y-%m-%d')})\n")
    flag = " --read-token" if args.read_token else ""
    tokens = "a write and a read token" if args.read_token else "a write token (reads open)"
    print(f"`python benchmarks/service_hostile.py --clients {args.clients} --mib {args.mib} "
          f"--rounds {args.rounds}{flag}` — `automl-meta serve --workers 1` with {tokens}, "
          f"{args.clients} concurrent {args.mib} MiB posts without a token per round, "
          f"{args.rounds} rounds per attack; 1-min load average {load:.1f} at the end.\n")
    print("| attack | endpoint | RSS before MiB | peak MiB | delta MB | ratio | bar |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for name, path, baseline, peak, _seconds, _answers in rows:
        delta = (peak - baseline) / 1e6
        print(f"| {name} | {path} | {baseline / 2**20:.0f} | {peak / 2**20:.0f} | "
              f"{delta:.1f} | {peak / baseline:.2f} | "
              f"{'met' if delta <= MAX_DELTA_MB else 'missed'} (<= {MAX_DELTA_MB:.0f} MB) |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
