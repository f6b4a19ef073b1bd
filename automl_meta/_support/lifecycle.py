"""Processes that die with their caller, and signals that stop a command cleanly.

Every process automl-meta starts (evaluation workers, a benchmark's isolated methods, the
loky workers of ``benchmark --jobs`` and ``db build``) calls :func:`die_with_parent` first
thing, which binds it to its parent twice over:

- a parent-death signal (Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``): the kernel kills the
  child when its parent dies, however it died (``kill -9`` included), even while the child
  is deep in native code;
- a watchdog thread that polls the parent's pid (a dead parent's children are re-parented,
  so the pid changes) and then kills the child's own process group, or its descendants,
  and exits. It covers the platforms without ``prctl`` (macOS) and the grandchildren that
  no parent-death signal reaches (the signal is not inherited across ``fork``).

The kernel sends the parent-death signal when the *thread* that forked the child ends, not
the process: a warm worker forked from a short-lived thread would be killed under the next
caller that borrows it. :func:`start_process` therefore forks from the main thread or from
one long-lived daemon thread, which lives exactly as long as the process.

In the command line, :func:`handle_signals` turns SIGINT, SIGTERM and SIGHUP into
:class:`Interrupted` in the main thread after killing every child process at once (so a
thread waiting on a worker returns at once and ``finally`` blocks run); ``main()`` then
prints one line saying what was kept (see :func:`note_kept`) and exits ``128 + signal``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from queue import SimpleQueue
from typing import Any

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
WATCH_INTERVAL = 0.2  # seconds between the watchdog's looks at the parent's pid

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


class Interrupted(BaseException):  # noqa: N818 - it is not an error, as KeyboardInterrupt
    """A stop signal (SIGINT, SIGTERM, SIGHUP) reached the command line.

    A ``BaseException``, as ``KeyboardInterrupt`` is, so that ``except Exception`` blocks
    let it through while ``finally`` blocks run; and not a ``KeyboardInterrupt``, which
    click would turn into a silent exit.
    """

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(f"interrupted by {self.signal_name}")

    @property
    def signal_name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process stopped by a signal: 130, 143, 129."""
        return 128 + self.signum


# --------------------------------------------------------------------------- the child

_BOUND: dict[str, Any] = {"pid": None, "forks_bound": False}
_FORKING = threading.local()


def die_with_parent(parent_pid: int, pdeathsig: bool = True) -> None:
    """In a child process, right after it starts: exit when ``parent_pid`` is gone.

    ``pdeathsig`` asks for the kernel's parent-death signal too; pass ``False`` when the
    child may have been forked from a thread that can end before the parent does (see the
    module docstring). Calling this again in the same process only adds that signal.
    Processes this one forks later (``os.fork``, multiprocessing's fork) are bound to it
    in turn.
    """
    if threading.current_thread() is threading.main_thread():
        # a forked child inherits the command line's handlers: its parent decides for it
        for signum in STOP_SIGNALS:
            if signal.getsignal(signum) is _on_signal:
                signal.signal(signum, signal.SIG_DFL)
    _STATE["signum"] = None
    if pdeathsig:
        _set_parent_death_signal()
    if _parent_gone(parent_pid):  # the parent died before the signal was set
        _exit_with_descendants()
    bind_forks()
    if _BOUND["pid"] == os.getpid():
        return
    _BOUND["pid"] = os.getpid()
    threading.Thread(target=_watch, args=(parent_pid,), name="automl-meta-watchdog",
                     daemon=True).start()


def bind_forks() -> None:
    """Make every process this one forks from now on call :func:`die_with_parent`.

    Only forks that run Python's fork hooks are bound (``os.fork``, multiprocessing's
    fork); processes started with ``exec`` (``subprocess``, loky) bind themselves, or are
    reached through their process group.
    """
    if _BOUND["forks_bound"] or not hasattr(os, "register_at_fork"):
        return
    _BOUND["forks_bound"] = True
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def _before_fork() -> None:
    # the forking thread's own record: it is that thread that goes on in the child
    _FORKING.parent = os.getpid()
    _FORKING.from_long_lived_thread = threading.current_thread() is threading.main_thread() \
        or threading.current_thread() is _FORKER.thread


def _after_fork_in_child() -> None:
    parent = getattr(_FORKING, "parent", None)
    if parent is not None:
        die_with_parent(parent, pdeathsig=getattr(_FORKING, "from_long_lived_thread", False))


_PRCTL: list[Any] = []  # libc's prctl once looked up; forked children inherit it


def _prctl() -> Any:
    if not _PRCTL:
        prctl = None
        if sys.platform.startswith("linux"):
            import ctypes

            # the process's own symbols include libc's (ctypes.util.find_library would run
            # ldconfig in a subprocess)
            with contextlib.suppress(OSError, AttributeError):
                prctl = ctypes.CDLL(None, use_errno=True).prctl
        _PRCTL.append(prctl)
    return _PRCTL[0]


def _set_parent_death_signal() -> bool:
    prctl = _prctl()
    return prctl is not None and prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0


def _parent_gone(parent_pid: int) -> bool:
    if os.name == "posix":
        return os.getppid() != parent_pid  # an orphan is re-parented: its ppid changes
    import psutil  # Windows does not re-parent: look the parent up

    return not psutil.pid_exists(parent_pid)


def _watch(parent_pid: int) -> None:
    while not _parent_gone(parent_pid):
        time.sleep(WATCH_INTERVAL)
    _exit_with_descendants()


def _exit_with_descendants() -> None:
    """Kill this process's descendants and, when it leads one, its process group (what
    was re-parented out of the tree meanwhile), then exit without running the parent's
    cleanup handlers."""
    with contextlib.suppress(Exception):
        kill_descendants(timeout=0.5)
        if hasattr(os, "killpg") and os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(1)


# --------------------------------------------------------------------------- the parent


class _Forker:
    """One long-lived daemon thread that forks for the threads that may end sooner."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.queue: SimpleQueue[tuple[Callable[[], None], Future[None]]] = SimpleQueue()
        self.lock = threading.Lock()

    def call(self, start: Callable[[], None]) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="automl-meta-forker",
                                               daemon=True)
                self.thread.start()
        done: Future[None] = Future()
        self.queue.put((start, done))
        done.result()

    def _loop(self) -> None:
        while True:
            start, done = self.queue.get()
            try:
                start()
            except BaseException as exc:  # handed to the caller, who raises it
                done.set_exception(exc)
            else:
                done.set_result(None)

    def forget(self) -> None:
        """In a forked child: the thread was not copied; the next call starts one."""
        self.thread, self.queue, self.lock = None, SimpleQueue(), threading.Lock()


_FORKER = _Forker()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_FORKER.forget)


def start_process(process: Any) -> None:
    """``process.start()`` from a thread that lives as long as this process.

    A child that calls ``die_with_parent(parent_pid)`` then gets its parent-death signal
    only when this process dies, not when the calling thread ends.
    """
    _prctl()  # looked up here, once, rather than in every child
    if threading.current_thread() is threading.main_thread():
        process.start()
    else:
        _FORKER.call(process.start)


def loky_initializer() -> tuple[Callable[..., None], tuple[Any, ...]]:
    """``(initializer, initargs)`` for loky workers: each dies with this process, and
    ignores Ctrl-C (the whole terminal's process group gets it; this process decides)."""
    from_main = threading.current_thread() is threading.main_thread()
    return _init_loky_worker, (os.getpid(), from_main)


def _init_loky_worker(parent_pid: int, pdeathsig: bool) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid, pdeathsig=pdeathsig)


def kill_descendants(timeout: float = 2.0) -> int:
    """SIGKILL every descendant of this process until none is left (or ``timeout``
    seconds passed); returns how many were killed.

    Resource trackers are left alone: they exit by themselves once the others are gone,
    after removing what they track (shared memory, temporary folders). Zombies are left to
    whoever waits for them (reaping a multiprocessing child here would leave its
    ``Process`` object believing it alive).
    """
    import psutil

    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    me = psutil.Process()
    while True:
        alive = _descendants(me)
        if not alive or time.monotonic() > deadline:
            return len(killed)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
                killed.add(process.pid)
        time.sleep(0.02)  # a parent killed here may have been starting a child


def _descendants(me: Any) -> list[Any]:
    import psutil

    try:
        children = me.children(recursive=True)
    except psutil.Error:
        return []
    return [p for p in children if _running(p) and not _is_resource_tracker(p)]


def _running(process: Any) -> bool:
    import psutil

    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _is_resource_tracker(process: Any) -> bool:
    import psutil

    try:
        return any("resource_tracker" in part for part in process.cmdline())
    except psutil.Error:
        return False


# --------------------------------------------------------------------------- signals

_STATE: dict[str, Any] = {"signum": None, "kept": None, "shielded": 0, "pending": False}


def stopping() -> int | None:
    """The stop signal this command got, or ``None``: work that sees its worker die while
    this is set raises :class:`Interrupted` instead of reporting a failure."""
    return _STATE["signum"]


def check() -> None:
    """Raise :class:`Interrupted` when a stop signal arrived (for threads other than the
    main one, which the signal handler interrupts itself)."""
    if _STATE["signum"] is not None:
        raise Interrupted(_STATE["signum"])


def note_kept(message: str | Callable[[], str]) -> None:
    """Say what an interrupted command keeps, e.g. ``"25 finished trials were recorded to
    sqlite:///x.db"`` (or a callable that says it at the time of the interruption); the
    command line prints it on the one line it writes when stopped."""
    _STATE["kept"] = message


def kept() -> str | None:
    """What :func:`note_kept` last said, or ``None``."""
    message = _STATE["kept"]
    if callable(message):
        try:
            return str(message())
        except Exception:  # the line must be printed whatever the callable does
            return None
    return message


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """While inside: a stop signal kills every child process, then raises
    :class:`Interrupted` in the main thread (a second one exits at once). Signals the
    process was started ignoring stay ignored. Outside the main thread this does nothing
    (Python runs signal handlers in its main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    import psutil  # noqa: F401 - imported now, not in the signal handler

    _STATE.update(signum=None, kept=None, shielded=0, pending=False)
    bind_forks()
    # a signal the caller ignores stays ignored (``nohup``, a background job of a script)
    previous = {signum: signal.signal(signum, _on_signal) for signum in STOP_SIGNALS
                if signal.getsignal(signum) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Hold a stop signal's :class:`Interrupted` until the block ends, e.g. around the
    commit of finished work, so that a stop does not throw away what was being written.
    Child processes are still stopped at once; a second signal still exits at once.

    Example:
        >>> with shielded():
        ...     pass  # store.add_evaluations(...)

    Only the main thread needs it (signals interrupt no other thread); elsewhere it does
    nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _STATE["shielded"] += 1
    try:
        yield
    finally:
        _STATE["shielded"] -= 1
    if _STATE["shielded"] == 0 and _STATE["pending"]:
        _STATE["pending"] = False
        raise Interrupted(_STATE["signum"])


def _on_signal(signum: int, frame: Any) -> None:
    first = _STATE["signum"] is None
    _STATE["signum"] = signum
    kill_descendants()
    if not first:  # a second Ctrl-C: the user wants out now
        os._exit(128 + signum)
    if _STATE["shielded"]:
        _STATE["pending"] = True
        return
    raise Interrupted(signum)
