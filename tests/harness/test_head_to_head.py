"""Ours against cold TPE (head to head per budget, trials to match) and searches run once."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from automl_meta.harness import harness, methods, searches, summarise
from automl_meta.harness.report import write_report
from automl_meta.harness.results import RESULTS_FILE, read_results
from automl_meta.harness.settings import BenchmarkSettings
from automl_meta.harness.trials import Outcome
from automl_meta.harness.versus import _median, versus_tpe
from tests.conftest import SHARED_DATASETS, requires_shared

SETTINGS = {"max_rows": 5000, "seed": 0, "seconds": 30.0, "trial_seconds": 30.0, "folds": 3}


@pytest.fixture(autouse=True)
def user_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user store that must never be written."""
    store = tmp_path / "user-store" / "user.sqlite"
    monkeypatch.setenv("AUTOML_META_DB", str(store))
    return store


def _row(case: str, method: str, budget: int, score: float | None,
         status: str = "ok", **extra: Any) -> dict[str, Any]:
    return {"dataset": case, "task": "classification", "method": method, "budget": budget,
            "kind": "trials", "status": status, "score": score, **extra}


TPE_CURVES = {  # case: tpe after 1, 5, 20 trials (None: failed)
    "c1": (0.5, 0.8, 0.95), "c2": (0.7, 0.7, 0.7), "c3": (0.6, 0.7, 0.8),
    "c4": (0.5, 0.6, 0.6), "c5": (None, 0.85, 0.9), "c6": (0.5, 0.5, 0.5),
}
WARM_AT_5 = {"c1": 0.9, "c2": 0.7, "c3": 0.9, "c4": None, "c5": 0.8}  # c6: skipped


def _frame() -> list[dict[str, Any]]:
    rows = []
    for case, curve in TPE_CURVES.items():
        for budget, score in zip((1, 5, 20), curve, strict=True):
            rows.append(_row(case, "tpe", budget, score, "ok" if score is not None else "error"))
        if case in WARM_AT_5:
            score = WARM_AT_5[case]
            rows.append(_row(case, "warm_tpe", 5, score, "ok" if score is not None else "error"))
            rows.append(_row(case, "neural", 5, 0.99))  # better than TPE ever gets
            rows.append(_row(case, "meta_sampler", 5, score,
                             "ok" if score is not None else "error", copy_of="warm_tpe"))
        else:
            rows.append(_row(case, "warm_tpe", 5, None, "skipped"))
    return rows


def _record(versus: dict[str, Any], entry: str, against: str) -> dict[str, Any]:
    return next(r for r in versus["head_to_head"]
                if r["entry"] == entry and r["against"] == against)


def test_head_to_head_per_budget_and_at_the_pairs_with_ties_failures_and_skips() -> None:
    versus = versus_tpe(_frame())
    assert versus["budgets"] == [1, 5, 20]
    # c1 win, c2 tie, c3 win, c4 loss (a failure), c5 loss; c6 skipped: left out
    same = _record(versus, "warm_tpe@5", "tpe@5")
    assert (same["cases"], same["wins"], same["ties"], same["losses"]) == (5, 2, 1, 2)
    assert (same["differing"], same["win_share"], same["compared"]) == (4, 0.5, "same budget")
    # against tpe@20: c1 now a loss
    pair = _record(versus, "warm_tpe@5", "tpe@20")
    assert (pair["wins"], pair["ties"], pair["losses"], pair["differing"]) == (1, 1, 3, 4)
    assert pair["win_share"] == 0.25 and pair["compared"] == "pair"
    # the default pairs 10 vs 50 and 50 vs 50 are not in this run; other pairs can be asked
    assert {(r["budget"], r["baseline_budget"]) for r in versus["head_to_head"]
            if r["method"] == "warm_tpe"} == {(5, 5), (5, 20)}
    asked = versus_tpe(_frame(), pairs=[(5, 1)])
    early = _record(asked, "warm_tpe@5", "tpe@1")  # c5: tpe@1 failed, a win
    assert (early["wins"], early["ties"], early["losses"]) == (3, 1, 1)


def test_trials_cold_tpe_needs_to_match_ours_including_never() -> None:
    versus = versus_tpe(_frame())
    warm = next(r for r in versus["sample_efficiency"] if r["entry"] == "warm_tpe@5")
    # c1 needs 20, c2 1 (a tie matches), c3 never, c4 1 (ours failed), c5 5
    assert warm["trials_to_match"] == {"c1": 20, "c2": 1, "c3": None, "c4": 1, "c5": 5}
    assert (warm["cases"], warm["median_trials"], warm["ratio"]) == (5, 5.0, 1.0)
    assert (warm["never"], warm["never_share"], warm["largest_budget"]) == (1, 0.2, 20)
    assert warm["median_beyond_largest"] is False
    neural = next(r for r in versus["sample_efficiency"] if r["entry"] == "neural@5")
    assert neural["never_share"] == 1.0 and neural["median_beyond_largest"] is True
    assert neural["median_trials"] is None and neural["ratio"] is None
    assert _median([1, 5]) == 3.0 and math.isinf(_median([5, math.inf]) or 0.0)
    assert _median([]) is None


def test_copies_are_left_out_of_the_comparisons_and_reported(tmp_path: Path) -> None:
    rows = _frame()
    summary = summarise(rows)
    versus = versus_tpe(rows)
    assert {r["method"] for r in versus["head_to_head"]} == {"warm_tpe", "neural"}
    assert versus["copies"] == {"meta_sampler": {"of": "warm_tpe", "cases": 5, "of_cases": 5}}
    assert summary["entries"]["meta_sampler@5"]["copies"] == 5
    assert summary["entries"]["warm_tpe@5"]["copies"] == 0
    write_report(tmp_path, rows, summary, SETTINGS, "cmd")
    report = (tmp_path / "report.md").read_text()
    assert "- meta_sampler: same search as warm_tpe, not run twice (on every case" in report
    assert "## Ours against cold tpe, per budget" in report
    assert "| warm_tpe@5 | tpe@20 | 5 | 1 | 1 | 3 | 25% of 4 |" in report
    assert "## Trials cold tpe needs to match ours" in report
    assert "| warm_tpe@5 | 5 | 5 | 5 | 1 | 20% (1) |" in report
    assert "| neural@5 | 5 | 5 | > 20 | > 4 | 100% (5) |" in report


def _fake_prepared() -> Any:
    size = SimpleNamespace(n_rows=10)
    return SimpleNamespace(name="d", task="classification", data=size, n_rows_total=10,
                           train=size, test=size)


def test_a_method_that_repeats_another_search_is_not_run_twice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    same = {"value": True}

    def target(context: Any) -> list[Outcome]:
        calls.append("target")
        return [Outcome(b, "ok", score=0.5 + b / 100, extra={"same": same["value"]})
                for b in context.settings.budgets]

    def alias(context: Any) -> list[Outcome]:
        calls.append("alias")
        return [Outcome(b, "ok", score=0.1) for b in context.settings.budgets]

    monkeypatch.setitem(methods.METHODS, "target", methods.Method(
        "target", methods.TRIALS, target, "a search"))
    monkeypatch.setitem(methods.METHODS, "alias", methods.Method(
        "alias", methods.TRIALS, alias, "the same search", ours=True, same_as="target",
        same_if=lambda outcomes: all(o.extra.get("same") for o in outcomes)))
    settings = BenchmarkSettings(methods=("alias", "target"), budgets=(1, 2))
    path = tmp_path / RESULTS_FILE
    # asked for first, the alias still runs after the search it repeats
    harness.run_dataset(_fake_prepared(), {"alias": [1, 2], "target": [1, 2]}, settings, None,
                        path)
    assert calls == ["target"]
    rows = read_results(path)
    copied = [r for r in rows if r["method"] == "alias"]
    assert [(r["budget"], r["score"], r["copy_of"]) for r in copied] == [
        (1, 0.51, "target"), (2, 0.52, "target")]
    assert all(r.get("copy_of") is None for r in rows if r["method"] == "target")
    summary = summarise(rows)
    write_report(tmp_path, rows, summary, SETTINGS)
    assert "- alias: same search as target, not run twice" in (
        tmp_path / "report.md").read_text()

    calls.clear()
    same["value"] = False  # not proved the same: it runs itself
    harness.run_dataset(_fake_prepared(), {"alias": [1, 2], "target": [1, 2]}, settings, None,
                        tmp_path / "other.jsonl")
    assert calls == ["target", "alias"]
    assert all(r.get("copy_of") is None for r in read_results(tmp_path / "other.jsonl"))
    calls.clear()
    harness.run_dataset(_fake_prepared(), {"alias": [1]}, settings, None,
                        tmp_path / "alone.jsonl")  # the other not in this pass: it runs
    assert calls == ["alias"]


@requires_shared
def test_meta_sampler_is_warm_tpe_while_its_default_is_unchanged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user_store: Path) -> None:
    calls: list[str] = []
    real = methods.METHODS["meta_sampler"]

    def counted(context: Any) -> list[Outcome]:
        calls.append("meta_sampler")
        return real.run(context)

    monkeypatch.setitem(methods.METHODS, "meta_sampler", dataclasses.replace(real, run=counted))
    out = tmp_path / "run"
    summary = harness.run_benchmark(
        SHARED_DATASETS / "pmlb", out, methods=["meta_sampler", "warm_tpe"], budgets=[1, 2],
        seconds=5.0, trial_seconds=120.0, datasets=["analcatdata_aids"], progress=False)
    rows = {(r["method"], r["budget"]): r for r in read_results(out / RESULTS_FILE)}
    assert all(rows[("warm_tpe", b)]["warm_start_clean"] for b in (1, 2))
    report = (out / "report.md").read_text()
    if searches.source_fingerprint() == searches.CHECKED_SOURCE:
        assert calls == []
        for budget in (1, 2):
            copy, run = rows[("meta_sampler", budget)], rows[("warm_tpe", budget)]
            assert copy["copy_of"] == "warm_tpe" and copy["score"] == run["score"]
        assert "meta_sampler: same search as warm_tpe, not run twice" in report
        assert summary["versus_tpe"]["copies"]["meta_sampler"]["of"] == "warm_tpe"
    else:  # MetaSampler changed since the proof was checked: it runs itself
        assert calls == ["meta_sampler"]
        assert "same search as" not in report
    assert not user_store.exists()
