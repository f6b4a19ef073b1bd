"""``fit`` records as it goes and resumes (issue #19): trials kept when stopped by an
exception or killed, stored results first in the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from automl_meta.metadb import MetaDB


def _configs(n: int) -> list[dict[str, Any]]:
    return [{"algorithm": "knn", "params": {"n_neighbors": i + 1, "weights": "uniform", "p": 2}}
            for i in range(n)]


def test_fit_stopped_by_an_exception_keeps_its_finished_trials(tmp_path: Path) -> None:
    from automl_meta import fit

    seen: list[int] = []

    def stop_after_two(progress: Any) -> None:
        seen.append(progress.trials)
        if progress.trials >= 2:
            raise KeyboardInterrupt  # as Ctrl-C, or SIGTERM turned into an exception

    store = tmp_path / "m.sqlite"
    with pytest.raises(KeyboardInterrupt):
        fit("sklearn:iris", budget="60s", db=store, callback=stop_after_two, ensemble=False)
    stats = MetaDB(store).stats()
    assert stats["evaluations"] >= max(seen) >= 2
    assert stats["datasets_with_metafeatures"] == 1 and stats["runs"] == 0


KILLED_FIT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from automl_meta import fit

    def report(progress):
        if progress.stage == "search":
            Path(sys.argv[2]).write_text(str(progress.trials))

    fit("sklearn:breast_cancer", budget="30s", db=sys.argv[1], callback=report)
""")


def test_fit_killed_mid_search_keeps_every_reported_trial(tmp_path: Path) -> None:
    store, count = tmp_path / "m.sqlite", tmp_path / "trials"
    process = subprocess.Popen([sys.executable, "-c", KILLED_FIT, str(store), str(count)],
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            if count.exists() and count.read_text() and int(count.read_text()) >= 3:
                break
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the fit and its workers, without warning
        process.wait()
    reported = int(count.read_text())
    assert reported >= 3
    assert MetaDB(store).stats()["evaluations"] >= reported


def test_resume_puts_stored_best_first_and_skips_known_configurations() -> None:
    from automl_meta.automl._recording import _resume_first
    from automl_meta.metalearners import Recommendation
    from automl_meta.space import config_hash

    configs = {config_hash(c): c for c in _configs(5)}
    hashes = list(configs)
    known = {h: 0.1 * i for i, h in enumerate(hashes)}
    known[hashes[4]] = float("nan")  # a failure is never "best"
    fresh = Recommendation("linear", {}, 0.9, "knn", "")
    stale = Recommendation("knn", configs[hashes[0]]["params"], 0.9, "knn", "")
    recs, rerun = _resume_first(known, configs, [stale, fresh], n_warm=10, sign=1.0)
    assert [r.config for r in recs] == [configs[hashes[3]], configs[hashes[2]],
                                        configs[hashes[1]], fresh.config]
    assert rerun == {hashes[3], hashes[2], hashes[1]}


@pytest.mark.slow
def test_a_second_fit_resumes_from_the_first(tmp_path: Path) -> None:
    from automl_meta import fit
    from automl_meta.space import config_hash

    store = tmp_path / "m.sqlite"
    first = fit("sklearn:iris", budget="6s", db=store, ensemble=False)
    stored = MetaDB(store).stats()["evaluations"]
    second = fit("sklearn:iris", budget="6s", db=store, ensemble=False)
    # what the first run scored; a trial its own deadline cut short was not scored, and
    # the second may run it again
    scored = first.leaderboard[first.leaderboard["status"] == "ok"]
    before = {config_hash({"algorithm": a, "params": p})
              for a, p in zip(scored["algorithm"], scored["params"], strict=True)}
    again = [config_hash({"algorithm": a, "params": p})
             for a, p in zip(second.leaderboard["algorithm"], second.leaderboard["params"],
                             strict=True)]
    assert len([h for h in again if h in before]) <= 3  # only the best are evaluated again
    assert second.best_score >= first.best_score - 1e-9
    assert MetaDB(store).stats()["evaluations"] > stored
