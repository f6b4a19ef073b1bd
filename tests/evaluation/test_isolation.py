"""Isolation: a hanging fit, a memory hog, an exception and a crash each end as a
result, and the worker that ran them is gone."""

from __future__ import annotations

import resource
import time
from typing import Any

import numpy as np
import pytest

from automl_meta.evaluation import evaluate
from automl_meta.space import default_config
from tests.evaluation._helpers import _Crasher, _Hog, _is_gone, _Raiser, _Sleeper, _warm_worker


def test_a_hanging_fit_is_stopped_at_the_time_limit(wine: Any, inject: Any) -> None:
    config = inject("sleeper", _Sleeper)
    warm = _warm_worker(wine)  # the sleeper runs in this reused worker
    start = time.perf_counter()
    result = evaluate(config, wine, protocol="cv3", time_limit=1.5)
    elapsed = time.perf_counter() - start
    assert result.status == "timeout"
    assert "1.5" in result.error
    assert elapsed < 1.5 + 2.0
    assert 1.5 <= result.wall_seconds < 1.5 + 2.0
    assert result.metrics == {} and np.isnan(result.score)
    assert _is_gone(warm)
    # the caller is fine and keeps evaluating
    assert evaluate(default_config("knn"), wine, protocol="cv3").ok


def test_allocating_past_the_memory_limit_is_a_memout(wine: Any, inject: Any) -> None:
    config = inject("hog", _Hog)
    before = resource.getrlimit(resource.RLIMIT_AS)
    warm = _warm_worker(wine)
    result = evaluate(config, wine, protocol="cv3", memory_limit=128, time_limit=60)
    assert result.status == "memout", (result.status, result.error)
    assert "128" in result.error
    assert result.metrics == {}
    # the limit applied to the worker only
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert _is_gone(warm)
    assert np.ones(64 * 1024 * 1024).sum() == 64 * 1024 * 1024  # 512 MB is fine here
    assert evaluate(default_config("knn"), wine, protocol="cv3").ok


def test_without_a_memory_limit_the_same_fit_succeeds(wine: Any, inject: Any) -> None:
    # proof that the memout above comes from the limit, not from the machine
    config = inject("hog", _Hog)
    result = evaluate(config, wine, protocol="holdout0.25", memory_limit=None,
                      metrics=("accuracy",))
    assert result.ok, result.error


def test_an_exception_is_an_error_with_its_message(wine: Any, inject: Any) -> None:
    config = inject("raiser", _Raiser)
    warm = _warm_worker(wine)
    result = evaluate(config, wine, protocol="cv3")
    assert result.status == "error"
    assert result.error.startswith("ValueError: deliberate failure 4217 while fitting")
    assert result.metrics == {}
    assert _is_gone(warm)  # a worker that failed is never reused
    with pytest.raises(ValueError, match="deliberate failure 4217"):
        evaluate(config, wine, protocol="cv3", isolate=False)


def test_a_dying_worker_is_an_error(wine: Any, inject: Any) -> None:
    config = inject("crasher", _Crasher)
    warm = _warm_worker(wine)
    result = evaluate(config, wine, protocol="cv3")
    assert result.status == "error"
    assert "exit code 3" in result.error
    assert _is_gone(warm)
    assert evaluate(default_config("knn"), wine, protocol="cv3").ok
