"""Warm worker processes that run :func:`automl_meta.evaluate`'s work under its limits.

A worker is a forked child that holds one dataset (inherited at the fork, never pickled)
and runs one piece of work at a time: the parent kills it when the wall-time limit passes,
and an address-space limit (``RLIMIT_AS``) is set before each piece of work and lifted
after it. A worker whose work ended ``ok`` goes back to a small idle pool and serves the
next call on the same dataset object; one that timed out, ran out of memory, failed or died
is killed, and the next call forks a fresh one. A worker dies with the process that forked
it, even while busy (see :mod:`automl_meta._support.lifecycle`), and leads its own process group,
so that stopping it also stops what its work started. Forking once per call cost 60-80 ms on the
project's machine (the fork, then copy-on-write page faults in both processes, reaping),
more than a small fit; a warm worker costs a pickled pipeline and a pipe round trip.

Treat a :class:`~automl_meta.data.Dataset` as immutable once evaluated: a warm worker keeps
the copy it was forked with (replacing ``dataset.X`` or ``dataset.y`` is noticed, editing
them in place is not).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import multiprocessing as mp
import os
import pickle
import random
import signal
import sys
import threading
import time
import traceback
import warnings
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from automl_meta._support import lifecycle as _lifecycle

MIN_IDLE_WORKERS = 2
MAX_TASKS_PER_WORKER = 200  # a fresh fork now and then bounds what a long-lived worker leaks

_UNLOADABLE = "_unloadable"  # the worker could not unpickle the work (a class it lacks)
_IMPORTED = "_imported_modules"

Work = Callable[[Any], dict[str, Any]]


@dataclass(eq=False)
class _Worker:
    process: Any
    conn: Any
    dataset: weakref.ref
    data_ids: tuple[int, int]
    tasks: int = 0
    retired: bool = False

    def serves(self, dataset: Any) -> bool:
        return self.dataset() is dataset and self.data_ids == _data_ids(dataset)


def _data_ids(dataset: Any) -> tuple[int, int]:
    return id(dataset.X), id(dataset.y)


class _Pool:
    """Idle workers, at most ``max(MIN_IDLE_WORKERS, most calls ever at once)`` of them."""

    def __init__(self) -> None:
        self.idle: list[_Worker] = []
        self.lock = threading.Lock()
        self.busy = 0
        self.peak = 0

    def enter(self) -> None:
        with self.lock:
            self.busy += 1
            self.peak = max(self.peak, self.busy)

    def take(self, dataset: Any) -> _Worker | None:
        with self.lock:
            found = next((w for w in reversed(self.idle) if w.serves(dataset)), None)
            stale = [w for w in self.idle if w.dataset() is None]
            self.idle = [w for w in self.idle if w is not found and w not in stale]
        for worker in stale:
            _retire(worker)
        return found

    def put_back(self, worker: _Worker) -> None:
        with self.lock:
            self.idle.append(worker)

    def leave(self, worker: _Worker | None, reusable: bool) -> None:
        surplus: list[_Worker] = []
        with self.lock:
            self.busy -= 1
            if worker is not None and reusable and not worker.retired:
                self.idle.append(worker)
                keep = max(MIN_IDLE_WORKERS, self.peak)
                surplus, self.idle = self.idle[:-keep], self.idle[-keep:]
            elif worker is not None:
                surplus = [worker]
        for old in surplus:
            _retire(old)

    def drain(self) -> list[_Worker]:
        with self.lock:
            idle, self.idle = self.idle, []
        return idle


_POOL = _Pool()
# every live worker, idle or busy (guarded by _POOL.lock)
_WORKERS: weakref.WeakSet[_Worker] = weakref.WeakSet()


def _forget_inherited_workers() -> None:
    """In a forked child: the parent's workers are not this process's to reuse, kill or
    wait for (``fit`` run in a child of a process that evaluated before, say)."""
    global _POOL, _WORKERS
    inherited = list(_WORKERS)
    _POOL, _WORKERS = _Pool(), weakref.WeakSet()
    for worker in inherited:
        worker.retired = True
        with contextlib.suppress(OSError):
            worker.conn.close()  # only this process's copy of the pipe


os.register_at_fork(after_in_child=_forget_inherited_workers)


def run(work: Work, dataset: Any, time_limit: float | None, memory_limit: int | None,
        imports: tuple[str, ...] = (), prepare: Callable[[], None] | None = None
        ) -> dict[str, Any]:
    """``work(dataset)`` in a worker process, within ``time_limit`` seconds of wall time and
    ``memory_limit`` MB of address space beyond the worker's own.

    ``imports`` are imported in the worker before the work (so that thread limits cover the
    native libraries they load); ``prepare`` runs in the caller before a worker is forked.
    Returns the work's result dict, or ``{"status": "timeout" | "memout" | "error",
    "error": message}``.

    Example:
        >>> from automl_meta import load_dataset
        >>> run(lambda ds: {"status": "ok", "rows": ds.n_rows}, load_dataset("sklearn:iris"),
        ...     time_limit=10, memory_limit=None)
        {'status': 'ok', 'rows': 150}
    """
    _lifecycle.check()  # a stopped command starts no more work
    task = (work, memory_limit, tuple(imports))
    _POOL.enter()
    worker: _Worker | None = None
    result: dict[str, Any] = {"status": "error"}
    try:
        worker, result = _dispatch(task, dataset, time_limit, prepare)
        return result
    finally:
        reusable = result.get("status") == "ok" and worker is not None \
            and worker.tasks < MAX_TASKS_PER_WORKER
        _POOL.leave(worker, reusable)


def _dispatch(task: tuple[Work, int | None, tuple[str, ...]], dataset: Any,
              time_limit: float | None,
              prepare: Callable[[], None] | None) -> tuple[_Worker, dict[str, Any]]:
    """Run ``task`` in a warm worker, else in a fresh one; the time limit counts from the
    moment a worker has the task (what the caller does to fork one is not the work's)."""
    worker = _POOL.take(dataset)
    payload = _dumps(task) if worker is not None else None
    if worker is not None and payload is None:
        # the work does not pickle (a lambda, a local class): a fresh fork inherits it
        _POOL.put_back(worker)
        worker = None
    try:
        if worker is not None:
            try:
                worker.conn.send_bytes(payload)
            except OSError:  # the idle worker died (e.g. the kernel's OOM killer)
                result = {"status": _UNLOADABLE}
            else:
                result = _await(worker, _deadline(time_limit), time_limit)
            if result.get("status") != _UNLOADABLE:
                return worker, result
            _retire(worker)
        if prepare is not None:
            prepare()
        worker = _start(dataset, task)
        return worker, _await(worker, _deadline(time_limit), time_limit)
    except BaseException:  # interrupted while the worker runs: it must not outlive this
        if worker is not None:
            _retire(worker)
        raise


def _deadline(time_limit: float | None) -> float | None:
    return None if time_limit is None else time.monotonic() + time_limit


def _dumps(task: Any) -> bytes | None:
    try:
        return pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return None


def _await(worker: _Worker, deadline: float | None,
           time_limit: float | None) -> dict[str, Any]:
    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
    if not worker.conn.poll(remaining):
        _retire(worker)
        return {"status": "timeout", "error": f"stopped after the time limit of {time_limit} s"}
    try:
        payload = worker.conn.recv_bytes()
    except (EOFError, OSError):
        if _lifecycle.stopping() is not None:
            # killed by the stopping command, not by its work: no result to report
            _retire(worker)
            _lifecycle.check()
        worker.process.join(5)
        code = worker.process.exitcode
        _retire(worker)
        return {"status": "memout" if code == -signal.SIGKILL else "error",
                "error": f"worker died with exit code {code}"}
    try:
        result = pickle.loads(payload)
    except Exception as exc:
        _retire(worker)
        return {"status": "error", "error": f"the worker's result could not be read: {exc}"}
    worker.tasks += 1
    _PENDING_IMPORTS.update(dict.fromkeys(result.pop(_IMPORTED, ())))
    return result


def _retire(worker: _Worker) -> None:
    if worker.retired:
        return
    worker.retired = True
    # the worker leads its own process group: what its work started goes with it (the
    # group outlives its leader only until those are gone, so its id is not reused yet)
    if worker.process.pid is not None and hasattr(os, "killpg"):
        with contextlib.suppress(OSError):
            os.killpg(worker.process.pid, signal.SIGKILL)
    if worker.process.is_alive():
        worker.process.kill()
    worker.process.join(5)
    worker.conn.close()
    with _POOL.lock:
        _WORKERS.discard(worker)


def shutdown() -> None:
    """Stop the idle workers now (they also stop when this process exits).

    Example:
        >>> shutdown()
    """
    for worker in _POOL.drain():
        _retire(worker)


def idle_pids(dataset: Any = None) -> list[int]:
    """Process ids of the idle workers (of those holding ``dataset`` when given); every
    other live worker is running an evaluation."""
    with _POOL.lock:
        return [w.process.pid for w in _POOL.idle if dataset is None or w.serves(dataset)]


# --------------------------------------------------------------------------- the parent


def _start(dataset: Any, first: tuple[Work, int | None, tuple[str, ...]]) -> _Worker:
    """Fork a worker that holds ``dataset`` and runs ``first`` straight away."""
    _import_pending()
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    context = mp.get_context(method)
    # a forked worker inherits the parent's scan of the native libraries; a spawned one
    # imports everything afresh and scans for itself
    controller = _threadpool_controller() if method == "fork" else None
    conn, child_conn = context.Pipe(duplex=True)
    # a forked worker closes its copies of the parent's ends (its own and its siblings'), so
    # that it sees the end of its pipe, and exits, when the parent dies
    with _POOL.lock:
        parent_ends = [conn, *(w.conn for w in _WORKERS)] if method == "fork" else []
    process = context.Process(target=_serve,
                              args=(child_conn, dataset, first, controller, parent_ends,
                                    os.getpid()),
                              daemon=True, name="automl-meta-worker")
    # objects of the parent go to the permanent generation while forking, so the worker's
    # garbage collector never writes to (and so copies) the parent's memory pages
    frozen = method == "fork" and gc.isenabled() and gc.get_freeze_count() == 0
    if frozen:
        gc.freeze()
    try:
        _lifecycle.start_process(process)  # from a thread that lives as long as this process
    finally:
        if frozen:
            gc.unfreeze()
        child_conn.close()
    if _lifecycle.stopping() is not None:  # the stop signal's sweep may have missed it
        process.kill()
        process.join(5)
        conn.close()
        _lifecycle.check()
    worker = _Worker(process, conn, weakref.ref(dataset), _data_ids(dataset))
    with _POOL.lock:
        _WORKERS.add(worker)
    return worker


_CONTROLLER: tuple[int, Any] | None = None


def _threadpool_controller() -> Any:
    """The threadpoolctl view of the loaded native libraries, cached in this process.

    Scanning the libraries is the slow part of ``threadpool_limits``; a forked worker inherits
    the loaded libraries of its parent, so the parent's scan is valid in the worker. The scan
    is repeated whenever a module has been imported since (a new import may load a library).
    """
    global _CONTROLLER
    from threadpoolctl import ThreadpoolController

    if _CONTROLLER is None or _CONTROLLER[0] != len(sys.modules):
        _CONTROLLER = (len(sys.modules), ThreadpoolController())
    return _CONTROLLER[1]


_PENDING_IMPORTS: dict[str, None] = {}
_FAILED_IMPORTS: set[str] = set()


def _import_pending() -> None:
    """Import, before forking, what earlier workers imported lazily while working.

    scikit-learn's dataframe adapters, the parts of torch its optimisers load on their first
    step, ...: a fresh worker would otherwise import them again, which can cost more than a
    small fit. Only submodules of packages this process has imported are: a package that
    only a worker needed (torch, for one MLP) is the business of the work that needs it.
    """
    names = list(_PENDING_IMPORTS)  # one step under the GIL: other threads may add names
    _PENDING_IMPORTS.clear()
    for name in names:
        if name in sys.modules or name in _FAILED_IMPORTS \
                or name.partition(".")[0] not in sys.modules \
                or name.startswith(("__main__", "__mp_main__")):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module(name)
        except Exception:  # a module a worker had need not be importable by name here
            _FAILED_IMPORTS.add(name)


# --------------------------------------------------------------------------- the worker


def _serve(conn: Any, dataset: Any, first: tuple[Work, int | None, tuple[str, ...]],
           controller: Any, parent_ends: list[Any], parent_pid: int) -> None:
    """The worker's loop: run ``first``, then whatever the parent sends, until it hangs up."""
    if hasattr(os, "setpgid"):
        os.setpgid(0, 0)  # a group of its own, so that retiring it stops what it started
    # killed with the parent even while busy (between tasks, the end of the pipe tells it)
    _lifecycle.die_with_parent(parent_pid)
    for end in parent_ends:
        with contextlib.suppress(OSError):
            end.close()
    # Ctrl-C reaches the whole process group: the parent decides what stops a worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    state = _WorkerState(controller)
    task: tuple[Work, int | None, tuple[str, ...]] | None = first
    while True:
        if task is not None:
            _reply(conn, state.perform(task, dataset))
        try:
            payload = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            task = pickle.loads(payload)
        except BaseException as exc:  # e.g. a class defined after this worker was forked
            task = None
            _reply(conn, {"status": _UNLOADABLE, "error": f"{type(exc).__name__}: {exc}"})


def _reply(conn: Any, result: dict[str, Any]) -> None:
    try:
        payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        payload = pickle.dumps({"status": "error",
                                "error": f"the result could not be sent back: {exc}"})
    conn.send_bytes(payload)


class _WorkerState:
    """What a worker resets before each piece of work, so that every one starts alike."""

    def __init__(self, controller: Any) -> None:
        self.reported = set(sys.modules)
        self.controller = controller
        self.limited_at = -1
        # the global random states of the fork: work that draws from them (against the
        # advice of a fixed seed) gets the same draws in a warm worker as in a fresh one
        self.rng_state = (np.random.get_state(), random.getstate())
        os.environ["OMP_NUM_THREADS"] = "1"

    def perform(self, task: tuple[Work, int | None, tuple[str, ...]],
                dataset: Any) -> dict[str, Any]:
        work, memory_limit, imports = task
        try:
            self._prepare(imports)
            with _address_space_limit(memory_limit):
                result = work(dataset)
        except MemoryError:
            result = {"status": "memout", "error": f"MemoryError: exceeded {memory_limit} MB"}
        except BaseException as exc:  # the worker reports every failure to the caller
            status = "memout" if _looks_like_memout(exc) else "error"
            message = f"{type(exc).__name__}: {exc}".strip()[:2000]
            tail = traceback.format_exc(limit=-3)[-1500:]
            result = {"status": status, "error": f"{message}\n{tail}"}
        with contextlib.suppress(MemoryError):
            # what the work imported lazily, so the parent can import it before its next fork
            new = [name for name in list(sys.modules) if name not in self.reported]
            self.reported.update(new)
            result[_IMPORTED] = new
        return result

    def _prepare(self, imports: tuple[str, ...]) -> None:
        for name in imports:
            with contextlib.suppress(Exception):
                importlib.import_module(name)
        if len(sys.modules) != self.limited_at:
            # one BLAS / OpenMP / torch thread; rescanned when imports may have loaded a
            # native library since the last time
            controller = self.controller if self.limited_at < 0 else None
            if controller is None:
                from threadpoolctl import ThreadpoolController

                controller = ThreadpoolController()
            controller.limit(limits=1)
            if "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(1)
            self.limited_at = len(sys.modules)
        np.random.set_state(self.rng_state[0])
        random.setstate(self.rng_state[1])


@contextlib.contextmanager
def _address_space_limit(megabytes: int | None) -> Iterator[None]:
    """``RLIMIT_AS`` at what this process maps now plus ``megabytes``, lifted afterwards.

    Only the soft limit moves (a lowered hard limit could not be raised again for the next
    piece of work).
    """
    if megabytes is None:
        yield
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _address_space() + int(megabytes) * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _address_space() -> int:
    """Bytes of virtual memory mapped by this process (psutil's ``vms``)."""
    try:  # what psutil reads on Linux, without building a psutil.Process
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import psutil

        return int(psutil.Process().memory_info().vms)


def _looks_like_memout(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "out of memory" in text or "cannot allocate memory" in text or \
        "unable to allocate" in text
