"""Run a whole method (``fit``, a FLAML search) in a child process with a hard time limit.

``evaluate`` already bounds each trial; this bounds a method that runs its own search, so
that a method which hangs is stopped and reported as a ``timeout`` instead of stopping the
benchmark. The child leads its own process group, so stopping it also stops every worker
it started, and it dies with its parent (see :mod:`automl_meta._support.lifecycle`). It is not a
daemon, because ``fit`` itself starts worker processes.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

from automl_meta._support import lifecycle as _lifecycle


def run_in_child(work: Callable[[], dict[str, Any]], time_limit: float) -> dict[str, Any]:
    """``work()``'s dict, computed in a forked child; ``status`` says how it went.

    Returns ``work()``'s result with ``status="ok"``, or ``{"status": "timeout" | "error",
    "error": ..., "seconds": ...}``. Where the platform cannot fork, ``work`` runs here,
    without the hard limit.
    """
    started = time.perf_counter()
    if "fork" not in mp.get_all_start_methods():
        return _run_here(work)
    context = mp.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, work, os.getpid()), daemon=False)
    try:
        _lifecycle.start_process(process)
    finally:
        sender.close()
    peak = 0
    try:
        while True:  # the peak memory of the method's process tree, sampled as it runs
            peak = max(peak, tree_rss(process.pid, {}))
            left = time_limit - (time.perf_counter() - started)
            if left <= 0:
                return {"status": "timeout", "seconds": time.perf_counter() - started,
                        "error": f"stopped after the hard limit of {time_limit:.0f} s",
                        "peak_memory_mb": round(peak / 2**20, 1)}
            if receiver.poll(min(SAMPLE_INTERVAL, left)):
                break
        try:
            result = receiver.recv()
        except EOFError:
            process.join(5)
            result = {"status": "error", "seconds": time.perf_counter() - started,
                      "error": f"the process died with exit code {process.exitcode}"}
        return {**result, "peak_memory_mb": round(peak / 2**20, 1)}
    finally:
        _stop(process)
        receiver.close()


SAMPLE_INTERVAL = 0.2  # seconds between two samples of a method's memory


def tree_rss(pid: int | None, tree: dict[int, Any]) -> int:
    """The resident bytes of ``pid`` and its descendants now, remembering each process
    seen in ``tree`` (to kill it later, even if it left the process group)."""
    import psutil

    if pid is None:
        return 0
    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for member in members:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
            tree.setdefault(member.pid, member)
    return total


def _child(conn: Any, work: Callable[[], dict[str, Any]], parent_pid: int) -> None:
    os.setpgrp()  # our own process group: stopping it stops the workers we start too
    _lifecycle.die_with_parent(parent_pid)
    # the parent may hold a progress display's lock on its streams: write to the real ones
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)  # every method gets one core, as every search trial does
    except ImportError:
        pass
    result = _run_here(work)
    try:
        conn.send(result)
    finally:
        conn.close()
        os._exit(0)  # no atexit handlers of the parent's libraries in a forked child


def _run_here(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = dict(work())
        result.setdefault("status", "ok")
        return result
    except (KeyboardInterrupt, _lifecycle.Interrupted):
        raise  # the command is stopping: not a failure of the method
    except BaseException as exc:  # the child reports every failure to the parent
        message = f"{type(exc).__name__}: {exc}".strip()[:2000]
        return {"status": "error", "seconds": time.perf_counter() - started,
                "error": f"{message}\n{traceback.format_exc(limit=-3)[-1500:]}"}


def _stop(process: Any) -> None:
    if process.pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    if process.is_alive():
        process.kill()
    process.join(5)
