"""The mechanisms of ``automl_meta._support.lifecycle``: a child dies with its parent
(the parent-death signal and the watchdog), stop signals kill the children then interrupt
the main thread, shielded blocks hold the interruption, ignored signals stay ignored.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from automl_meta._support import lifecycle as _lifecycle

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals and fork: POSIX only")

CHILD_SCRIPT = textwrap.dedent('''
    import multiprocessing as mp, os, re, sys, threading, time
    from automl_meta._support import lifecycle as _lifecycle

    MODE = sys.argv[1]

    def stuck():
        # a regular expression that backtracks for hours and holds the GIL all along:
        # no Python thread of this process runs meanwhile, so only the kernel can stop it
        re.match(r"(a+)+$", "a" * 64 + "b")

    def sleep():
        while True:
            time.sleep(0.05)

    def child(parent, mode):
        if mode == "watchdog":
            _lifecycle.die_with_parent(parent, pdeathsig=False)
            sleep()
        elif mode == "grandchild":
            _lifecycle.die_with_parent(parent)
            grandchild = os.fork()  # a fork the work makes: bound through the fork hook
            if grandchild == 0:
                sleep()
            print(grandchild, flush=True)
            sleep()
        elif mode == "unbound":  # what every worker was before
            sleep()
        else:
            _lifecycle.die_with_parent(parent)
            stuck()

    if __name__ == "__main__":
        process = mp.get_context("fork").Process(target=child, args=(os.getpid(), MODE),
                                                 daemon=True)
        if MODE.startswith("thread"):  # forked for a thread that ends before the worker
            def begin():
                if MODE == "thread":
                    _lifecycle.start_process(process)
                else:
                    process.start()
                time.sleep(0.5)  # the child has set its parent-death signal by then

            thread = threading.Thread(target=begin)
            thread.start()
            thread.join()
        else:
            process.start()
        print(process.pid, flush=True)
        sleep()
''')


def _start_parent(tmp_path: Path, mode: str) -> subprocess.Popen[str]:
    script = tmp_path / "parent.py"
    script.write_text(CHILD_SCRIPT)
    return subprocess.Popen([sys.executable, str(script), mode], text=True,
                            stdout=subprocess.PIPE)


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def _kill_parent(parent: subprocess.Popen[str]) -> None:
    parent.kill()
    parent.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux only")
def test_parent_death_signal_kills_a_child_stuck_in_native_code(tmp_path: Path) -> None:
    parent = _start_parent(tmp_path, "pdeathsig")
    child = int(parent.stdout.readline())
    time.sleep(0.3)  # deep in the regular expression by now
    _kill_parent(parent)
    assert _gone(child, within=1.0)


def test_watchdog_alone_stops_the_child_of_a_dead_parent(tmp_path: Path) -> None:
    parent = _start_parent(tmp_path, "watchdog")
    child = int(parent.stdout.readline())
    _kill_parent(parent)
    assert _gone(child, within=1.0 + 2 * _lifecycle.WATCH_INTERVAL)


def test_an_unbound_child_would_have_survived(tmp_path: Path) -> None:
    """The control: without :func:`die_with_parent`, the orphan keeps running."""
    parent = _start_parent(tmp_path, "unbound")
    child = int(parent.stdout.readline())
    _kill_parent(parent)
    try:
        assert not _gone(child, within=1.0)
    finally:
        psutil.Process(child).kill()


def test_what_a_bound_child_forks_dies_with_it(tmp_path: Path) -> None:
    parent = _start_parent(tmp_path, "grandchild")
    child = int(parent.stdout.readline())
    grandchild = int(parent.stdout.readline())
    _kill_parent(parent)
    assert _gone(child, within=1.0)
    assert _gone(grandchild, within=1.0 + 2 * _lifecycle.WATCH_INTERVAL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux only")
def test_a_worker_forked_for_a_short_lived_thread_outlives_the_thread(
        tmp_path: Path) -> None:
    """The kernel's parent-death signal follows the forking *thread*: forked through
    :func:`start_process`, a worker outlives the thread of its first caller (forked by that
    thread itself, it would not: the control) and still dies with the process."""
    control = _start_parent(tmp_path, "thread-direct")
    killed = int(control.stdout.readline())
    parent = _start_parent(tmp_path, "thread")
    child = int(parent.stdout.readline())
    try:
        assert _gone(killed, within=1.0)
        assert not _gone(child, within=0.5)
    finally:
        _kill_parent(control)
        _kill_parent(parent)
    assert _gone(child, within=1.0)


def test_interrupted_carries_the_shell_exit_code() -> None:
    assert _lifecycle.Interrupted(signal.SIGTERM).exit_code == 143
    assert _lifecycle.Interrupted(signal.SIGINT).exit_code == 130
    assert _lifecycle.Interrupted(signal.SIGTERM).signal_name == "SIGTERM"
    assert not isinstance(_lifecycle.Interrupted(signal.SIGINT), Exception)


SIGNAL_SCRIPT = textwrap.dedent('''
    import os, signal, subprocess, sys, threading, time
    from automl_meta._support import lifecycle as _lifecycle

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with _lifecycle.handle_signals():
            threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
            time.sleep(30)
    except _lifecycle.Interrupted as exc:
        restored = signal.getsignal(signal.SIGTERM) is not _lifecycle._on_signal
        print(exc.signum, _lifecycle.stopping(), sleeper.poll(), restored)
        try:
            _lifecycle.check()
        except _lifecycle.Interrupted:
            print("check raised")
''')


def test_a_stop_signal_kills_the_children_then_interrupts_the_main_thread(
        tmp_path: Path) -> None:
    done = _run_script(tmp_path / "signalled.py", SIGNAL_SCRIPT)
    assert done.stdout.split() == [str(int(signal.SIGTERM)), str(int(signal.SIGTERM)),
                                   str(-signal.SIGKILL), "True", "check", "raised"], done


def _run_script(path: Path, source: str) -> subprocess.CompletedProcess[str]:
    """Write ``source`` to ``path`` and run it with this Python (output captured)."""
    path.write_text(source)
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=30)


SHIELD_SCRIPT = textwrap.dedent('''
    import os, signal, time
    from automl_meta._support import lifecycle as _lifecycle

    with _lifecycle.handle_signals():
        try:
            with _lifecycle.shielded():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.2)
                print("the shielded block finished", flush=True)
            print("not reached", flush=True)
        except _lifecycle.Interrupted as exc:
            print("interrupted after it", exc.signum, flush=True)
''')


def test_shielded_holds_the_interruption_until_the_block_ends(tmp_path: Path) -> None:
    done = _run_script(tmp_path / "shielded.py", SHIELD_SCRIPT)
    assert done.stdout.splitlines() == ["the shielded block finished",
                                        f"interrupted after it {int(signal.SIGTERM)}"], done


IGNORED_SCRIPT = textwrap.dedent('''
    import os, signal, time
    from automl_meta._support import lifecycle as _lifecycle

    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup leaves it
    try:
        with _lifecycle.handle_signals():
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.2)
            print("still running after SIGHUP", flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    except _lifecycle.Interrupted as exc:
        print("interrupted by", exc.signal_name, flush=True)
''')


def test_a_signal_ignored_by_the_caller_stays_ignored(tmp_path: Path) -> None:
    done = _run_script(tmp_path / "nohup.py", IGNORED_SCRIPT)
    assert done.stdout.splitlines() == ["still running after SIGHUP",
                                        "interrupted by SIGTERM"], done
