"""A budget that allows a cheap baseline always returns a model (issue #23): the search
starts with the cheapest sound configuration, and when even that fails the error says
what to do."""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from automl_meta import fit
from automl_meta.automl._search import baseline_config
from automl_meta.errors import AutoMLMetaError
from automl_meta.evaluation import Evaluation
from automl_meta.space import config_hash


@pytest.fixture(autouse=True)
def isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test records into its own store and learns from no shipped bundle."""
    monkeypatch.setenv("AUTOML_META_SHIPPED", str(tmp_path / "no-bundle"))
    monkeypatch.setenv("AUTOML_META_DB", str(tmp_path / "user.sqlite"))
    return tmp_path / "user.sqlite"


def test_the_baseline_is_the_default_linear_model_of_the_task() -> None:
    assert baseline_config("classification") == {
        "algorithm": "linear", "params": {"C": 1.0, "class_weight": None}}
    assert baseline_config("regression")["algorithm"] == "linear"


def test_a_two_second_budget_still_returns_a_usable_model() -> None:
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit("sklearn:breast_cancer", budget=2, record=False)
    assert time.perf_counter() - started <= 2 * 1.1 + 0.5
    first = result.leaderboard.sort_values("trial").iloc[0]
    assert first["algorithm"] == "linear" and first["status"] == "ok"
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    assert (result.predict(X) == y.to_numpy()).mean() > 0.9


def _busy_machine(monkeypatch: pytest.MonkeyPatch, baseline_ok: bool) -> list[str]:
    """Every trial runs out of time as on a loaded machine, except (if ``baseline_ok``) the
    baseline; returns the algorithms tried, in order."""
    import automl_meta.automl._search as search

    real = search.evaluation.evaluate
    tried: list[str] = []

    def evaluate(config: dict[str, Any], data: Any, *args: Any, **kwargs: Any) -> Any:
        tried.append(config["algorithm"])
        is_baseline = config_hash(config) == config_hash(baseline_config(data.task))
        if baseline_ok and is_baseline:
            return real(config, data, *args, **kwargs)
        time.sleep(min(kwargs["time_limit"], 0.3))
        return Evaluation(config, "cv3:s0", "timeout", task=data.task,
                          error="stopped after the time limit")

    monkeypatch.setattr(search.evaluation, "evaluate", evaluate)
    return tried


def test_on_a_busy_machine_the_baseline_is_the_model_returned(
        monkeypatch: pytest.MonkeyPatch) -> None:
    tried = _busy_machine(monkeypatch, baseline_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit("sklearn:iris", budget=3, record=False)
    assert tried[0] == "linear" and len(tried) >= 2
    assert result.best_config == baseline_config("classification")
    assert (result.leaderboard["status"] == "ok").sum() == 1
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    assert (result.predict(X) == y.to_numpy()).mean() > 0.9


def test_when_even_the_baseline_fails_the_error_says_what_to_do(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _busy_machine(monkeypatch, baseline_ok=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(AutoMLMetaError) as raised:
            fit("sklearn:iris", budget=3, record=False)
    message = str(raised.value)
    assert "No configuration finished within the budget of 3 s on iris" in message
    assert "even the first, cheapest configuration (linear with its defaults) ended " \
           "'timeout'" in message
    suggested = re.search(r"give a larger budget \(say (\d+) s\)", message)
    assert suggested is not None and int(suggested.group(1)) >= 6
