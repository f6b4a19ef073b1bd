"""``automl-meta fit`` with its output redirected (CI, a notebook, a log file) prints plain
progress lines at a modest rate, and says where the time went (issue #23)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from automl_meta import FitProgress

CLI = str(Path(sys.executable).with_name("automl-meta"))
LINE = re.compile(r"^fit +\d+\.\d/5 s  (?:.+  )?trials \d+  best balanced_accuracy "
                  r"0\.\d{4} \((?:\w+|ensemble of \d+)\)$")


def test_fit_with_output_redirected_prints_progress_lines(tmp_path: Path) -> None:
    env = {**os.environ, "AUTOML_META_SHIPPED": str(tmp_path / "no-bundle"),
           "AUTOML_META_DB": str(tmp_path / "user.sqlite"), "PYTHONWARNINGS": "ignore"}
    log = tmp_path / "fit.log"
    with log.open("w") as stdout:
        done = subprocess.run([CLI, "fit", "sklearn:iris", "--budget", "5s", "--db",
                               str(tmp_path / "store.sqlite")], stdout=stdout,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
                              timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("fit ")]
    assert lines[0].startswith("fit ") and "meta-features and recommendations" in lines[0]
    scored = [line for line in lines if LINE.match(line)]
    assert scored, done.stderr
    assert any("refitting the best on all rows" in line for line in lines)
    assert re.match(r"^fit +\d+\.\d/5 s  done  trials \d+  best", lines[-1])
    assert len(lines) <= 30  # a modest rate, not one line per quarter second
    summary = log.read_text()  # the summary on stdout: the budget's use, stage by stage
    assert re.search(r"The search stopped (?:early, )?at \d+\.\d s of the 5 s budget, "
                     r"keeping \d+\.\d s for the refit on all 150 rows\.",
                     " ".join(summary.split()))
    assert re.search(r"time: meta-features and advice \d+\.\d s, search \d+\.\d s, ensemble "
                     r"\d+\.\d s, refit \d+\.\d s, recording \d+\.\d s", " ".join(summary.split()))
    assert (tmp_path / "store.sqlite").exists() and not (tmp_path / "user.sqlite").exists()
    board = [line for line in summary.splitlines() if line.startswith("│")]
    assert board and all(len(line) <= 80 for line in summary.splitlines())
    # one line per trial: every row names its algorithm (a wrapped row would leave it blank)
    assert all(line.split("│")[1].strip() for line in board)


def test_plain_progress_lines_come_per_stage_per_new_best_and_every_tenth_of_the_budget(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from automl_meta.cli import _common
    from automl_meta.cli.automl import _fit_progress

    screen = io.StringIO()
    monkeypatch.setattr(_common, "err_console", Console(file=screen, force_terminal=False,
                                                        width=60))

    def update(stage: str, elapsed: float, trials: int, best: float | None) -> FitProgress:
        return FitProgress(stage, trials=trials, failed=0, best_score=best,
                           best_algorithm=None if best is None else "hist_gb",
                           metric="balanced_accuracy", elapsed=elapsed, budget=200.0)

    with _fit_progress(200.0) as show:
        show(update("prepare", 0.0, 0, None))
        for step in range(1, 400):  # every quarter second over 100 s of search
            elapsed = step * 0.25
            show(update("search", elapsed, step // 10, 0.8 if elapsed < 50 else 0.9))
        show(update("refit", 100.0, 39, 0.9))
        show(update("done", 120.0, 39, 0.91))
    lines = screen.getvalue().splitlines()
    assert lines[0] == "fit   0.0/200 s  meta-features and recommendations"
    assert lines[1] == "fit   0.2/200 s  searching  trials 0  best balanced_accuracy 0.8000 " \
        "(hist_gb)"
    assert "fit  50.0/200 s  trials 20  best balanced_accuracy 0.9000 (hist_gb)" in lines
    # 100 s of search at the rarer of 10% of 200 s and 10 s: every 20 s, plus the new best
    search = [line for line in lines if "/200 s  trials" in line]
    assert len(search) == 5
    assert lines[-2].startswith("fit 100.0/200 s  refitting the best on all rows  trials 39")
    assert lines[-1] == "fit 120.0/200 s  done  trials 39  best balanced_accuracy 0.9100 " \
        "(hist_gb)"
