"""A whole method in a child process: its result, its hard limit and its peak memory."""

from __future__ import annotations

from typing import Any

from automl_meta.harness._isolate import run_in_child


def _holds_memory(megabytes: int) -> dict[str, Any]:
    import time

    import numpy as np

    block = np.ones(megabytes * 2**20 // 8)  # touched, so resident
    time.sleep(1.0)  # long enough to be sampled several times
    return {"score": float(block[0]), "seconds": 1.0}


def test_a_child_reports_its_result_and_the_peak_memory_of_its_tree() -> None:
    small = run_in_child(lambda: _holds_memory(1), time_limit=60)
    large = run_in_child(lambda: _holds_memory(300), time_limit=60)
    assert small["status"] == large["status"] == "ok" and large["score"] == 1.0
    assert large["peak_memory_mb"] - small["peak_memory_mb"] > 250


def test_a_child_over_its_hard_limit_is_a_timeout_with_its_peak_so_far() -> None:
    import time

    def hang() -> dict[str, Any]:
        time.sleep(60)
        return {}

    started = time.perf_counter()
    result = run_in_child(hang, time_limit=1.5)
    assert result["status"] == "timeout" and time.perf_counter() - started < 10
    assert result["peak_memory_mb"] > 0
