"""The benchmark harness: normalisation and ranking, held-out advice, resuming, the CLI."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from automl_meta.cli import app
from automl_meta.errors import ConfigurationError
from automl_meta.harness import harness, methods, summarise
from automl_meta.harness.advice import Exclusion, MetaContext
from automl_meta.harness.results import RESULTS_FILE, read_results
from automl_meta.harness.summary import score_table
from tests.conftest import SHARED_DATASETS, requires_shared

PMLB = SHARED_DATASETS / "pmlb"


@pytest.fixture(autouse=True)
def user_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user store that must never be written: the benchmark learns from the bundle."""
    store = tmp_path / "user-store" / "user.sqlite"
    monkeypatch.setenv("AUTOML_META_DB", str(store))
    return store


def _row(dataset: str, method: str, budget: Any, kind: str, status: str,
         score: float | None = None) -> dict[str, Any]:
    return {"dataset": dataset, "task": "classification", "method": method, "budget": budget,
            "kind": kind, "status": status, "score": score}


# tpe@5 = A, random@5 = B, hgb_default = C (one-shot), fit@30s = D, flaml_automl@30s = E
HAND_MADE = [
    _row("d1", "tpe", 5, "trials", "ok", 0.1),  # superseded by the later line of the key
    _row("d1", "tpe", 5, "trials", "ok", 0.9),
    _row("d1", "random", 5, "trials", "ok", 0.7),
    _row("d1", "hgb_default", 1, "once", "ok", 0.9),
    _row("d1", "fit", "30s", "seconds", "timeout"),
    _row("d1", "flaml_automl", "30s", "seconds", "skipped"),
    _row("d2", "tpe", 5, "trials", "error"),
    _row("d2", "random", 5, "trials", "error"),
    _row("d2", "hgb_default", 1, "once", "ok", 0.5),
    _row("d2", "fit", "30s", "seconds", "ok", 0.8),
    _row("d3", "tpe", 5, "trials", "error"),  # nothing succeeded: says nothing
    _row("d3", "fit", "30s", "seconds", "memout"),
    *[_row("d4", m, b, k, "ok", 0.6) for m, b, k in (
        ("tpe", 5, "trials"), ("random", 5, "trials"), ("hgb_default", 1, "once"),
        ("fit", "30s", "seconds"))],
]


def test_normalised_scores_and_ranks_per_dataset_with_ties_failures_and_skips() -> None:
    table = score_table(HAND_MADE).set_index(["dataset", "entry"])
    expected = {  # (normalised, rank); None = takes no part
        ("d1", "tpe@5"): (1.0, 1.5), ("d1", "hgb_default"): (1.0, 1.5),
        ("d1", "random@5"): (0.0, 3.0), ("d1", "fit@30s"): (0.0, 4.0),
        ("d1", "flaml_automl@30s"): (None, None),
        ("d2", "fit@30s"): (1.0, 1.0), ("d2", "hgb_default"): (0.0, 2.0),
        ("d2", "tpe@5"): (0.0, 3.5), ("d2", "random@5"): (0.0, 3.5),
        ("d3", "tpe@5"): (None, None), ("d3", "fit@30s"): (None, None),
        **{("d4", e): (1.0, 2.5) for e in ("tpe@5", "random@5", "hgb_default", "fit@30s")},
    }
    assert len(table) == len(expected)  # the superseded line is gone
    for key, (normalised, rank) in expected.items():
        row = table.loc[key]
        if normalised is None:
            assert row["normalised"] != row["normalised"] and row["rank"] != row["rank"], key
        else:
            assert row["normalised"] == pytest.approx(normalised), key
            assert row["rank"] == pytest.approx(rank), key
    assert table.loc[("d1", "tpe@5"), "score"] == 0.9


def test_summary_means_wins_and_ties_over_the_datasets_each_entry_took_part_in() -> None:
    summary = summarise(HAND_MADE)
    entries = summary["entries"]
    assert summary["datasets"] == ["d1", "d2", "d4"]
    assert summary["datasets_without_success"] == ["d3"]
    tpe, rnd, hgb, fit, flaml = (entries[e] for e in (
        "tpe@5", "random@5", "hgb_default", "fit@30s", "flaml_automl@30s"))
    assert tpe["mean_normalised"] == pytest.approx(2 / 3)
    assert tpe["mean_rank"] == pytest.approx((1.5 + 3.5 + 2.5) / 3)
    assert rnd["mean_normalised"] == pytest.approx(1 / 3)
    assert rnd["mean_rank"] == pytest.approx(3.0)
    assert hgb["mean_rank"] == pytest.approx(2.0)
    assert fit["mean_rank"] == pytest.approx(2.5)
    assert fit["mean_score"] == pytest.approx(0.7)  # the ok scores only: 0.8 and 0.6
    assert (tpe["ok"], tpe["failed"], tpe["skipped"], tpe["datasets"]) == (2, 2, 0, 3)
    assert (flaml["skipped"], flaml["datasets"], flaml["mean_rank"]) == (1, 0, None)
    # tpe beat random on d1; both failed on d2 (a tie); equal on d4
    assert (tpe["wins"]["random@5"], tpe["ties"]["random@5"], rnd["wins"]["tpe@5"]) == (1, 2, 0)
    assert (tpe["wins"]["fit@30s"], fit["wins"]["tpe@5"], tpe["ties"]["fit@30s"]) == (1, 1, 1)
    assert tpe["wins"]["flaml_automl@30s"] == 0 and tpe["ties"]["flaml_automl@30s"] == 0
    # best mean rank first; equal ranks by name; an entry without a rank last
    assert summary["order"] == ["hgb_default", "fit@30s", "tpe@5", "random@5",
                                "flaml_automl@30s"]


def test_a_summary_of_some_entries_normalises_and_ranks_among_those_only() -> None:
    summary = summarise(HAND_MADE, entries=["tpe@5", "random@5"])
    assert set(summary["entries"]) == {"tpe@5", "random@5"}
    assert summary["datasets"] == ["d1", "d4"]  # on d2 and d3 neither succeeded
    assert summary["entries"]["tpe@5"]["mean_rank"] == pytest.approx((1.0 + 1.5) / 2)
    assert summary["entries"]["random@5"]["mean_normalised"] == pytest.approx(0.5)


def test_a_report_names_what_its_cases_are(tmp_path: Path) -> None:
    from automl_meta.harness.report import write_report

    settings = {"max_rows": 5000, "seed": "0, 1", "seconds": 30.0, "trial_seconds": 30.0,
                "folds": 3}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    write_report(tmp_path / "a", HAND_MADE, summarise(HAND_MADE), settings, "cmd")
    write_report(tmp_path / "b", HAND_MADE, summarise(HAND_MADE), settings, "cmd",
                 unit="dataset splits")
    plain, pooled = ((tmp_path / d / "report.md").read_text() for d in ("a", "b"))
    assert "- datasets: 4 (4 classification); 3 with at least one" in plain
    assert "- dataset splits: 4 (4 classification); 3 with at least one" in pooled
    assert "75/25 split (seed 0, 1)" in pooled


def test_unknown_methods_and_bad_budgets_are_refused_with_the_choices() -> None:
    with pytest.raises(ConfigurationError, match="warm_tpe"):
        harness.run_benchmark(".", "out", methods=["warm_tps"])
    for seed in (-1, 2 ** 32, 1.5, True):
        with pytest.raises(ConfigurationError, match="seed=.* must be a whole number"):
            harness.run_benchmark(".", "out", methods=["tpe"], seed=seed)
    with pytest.raises(ConfigurationError, match="positive whole numbers"):
        harness.run_benchmark(".", "out", methods=["tpe"], budgets=[0, 5])


def test_several_data_directories_are_one_collection_with_distinct_names(
        tmp_path: Path) -> None:
    """A name two directories share is told apart by the directory."""
    first, second = tmp_path / "first", tmp_path / "second"
    for directory, names in ((first, ["a", "b"]), (second, ["c"])):
        directory.mkdir()
        for name in names:
            (directory / f"{name}.csv").write_text("x,target\n1,0\n2,1\n")
    paths = harness.select_datasets([first, second])
    assert [p.name for p in paths] == ["a.csv", "b.csv", "c.csv"]
    assert [p.parent for p in harness.select_datasets([first, second], ["c", "a"])] == [
        second, first]
    (second / "b.csv").write_text("x,target\n1,0\n2,1\n")
    paths = harness.select_datasets([first, second])
    assert harness.dataset_keys(paths) == ["a", "first/b", "second/b", "c"]
    assert harness.select_datasets([first, second], ["second/b"]) == [second / "b.csv"]
    (second / "b.tsv").write_text("x\ttarget\n1\t0\n2\t1\n")
    with pytest.raises(ConfigurationError, match="both named 'second/b'.*b.csv.*b.tsv"):
        harness.select_datasets([first, second])
    (second / "b.tsv").unlink()
    assert harness.select_datasets([first, second, first]) == paths  # a repeat is read once
    with pytest.raises(ConfigurationError, match="No data directory"):
        harness.select_datasets([])


def test_a_peer_whose_package_is_missing_says_so() -> None:
    peer = methods.Method("peer", methods.ONCE, methods.one_shot.hgb_default, "a peer",
                          requires=("automl_meta_no_such_peer",))
    assert "automl_meta_no_such_peer" in (peer.missing() or "")
    assert methods.METHODS["hgb_default"].missing() is None


@requires_shared
def test_advice_holds_out_the_family_of_a_dataset_the_metadb_holds() -> None:
    context = MetaContext.load()
    datasets = context.knowledge.datasets
    aids = datasets[datasets["name"] == "analcatdata_aids"]
    exclusion = context.exclusion("renamed", str(aids.index[0]), "classification")
    assert exclusion == Exclusion(True, "analcatdata")  # found by content, not by name
    held_out = context.knowledge_for(exclusion)
    assert "analcatdata" not in set(held_out.datasets["family"])
    assert len(held_out.datasets) < len(datasets)
    grouped = context.knowledge_for(exclusion, "neural")
    assert exclusion.key("neural", context.families).startswith("group:")
    assert "analcatdata" not in set(grouped.datasets["family"])
    assert len(grouped.datasets) < len(held_out.datasets)  # the whole group is out
    sibling = context.exclusion("analcatdata_fraud", "no-such-fingerprint", "classification")
    assert context.learner("knn", exclusion) is context.learner("knn", sibling)  # cached
    new = context.exclusion("brand_new", "no-such-fingerprint", "classification")
    assert new == Exclusion(False, None)
    assert context.knowledge_for(new) is context.knowledge
    advice = context.advice(exclusion, {"recommender"})
    assert "analcatdata" not in set(advice.recommender.knowledge.datasets["family"])
    features = context.knowledge.metafeatures.loc[aids.index[0]]
    recs = advice.recommender.recommend(features, "classification", k=3)
    assert len(recs) == 3 and all(r.config["algorithm"] for r in recs)


@requires_shared
def test_a_rerun_skips_what_is_done_and_resumes_after_a_torn_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user_store: Path) -> None:
    out = tmp_path / "run"
    settings = {"methods": ["hgb_default", "random"], "seconds": 5.0, "datasets": ["parity5"],
                "progress": False}
    harness.run_benchmark(PMLB, out, budgets=[1, 2], **settings)
    first = read_results(out / RESULTS_FILE)
    assert sorted((r["method"], r["budget"]) for r in first) == [
        ("hgb_default", 1), ("random", 1), ("random", 2)]
    assert all(r["status"] == "ok" and 0.0 <= r["score"] <= 1.0 for r in first)

    def must_not_run(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("a rerun ran a method whose results are already there")

    with monkeypatch.context() as patch:
        patch.setattr(harness, "run_dataset", must_not_run)
        harness.run_benchmark(PMLB, out, budgets=[1, 2], **settings)
    assert read_results(out / RESULTS_FILE) == first

    with (out / RESULTS_FILE).open("a") as handle:
        handle.write('{"dataset": "parity5", "meth')  # a kill in the middle of a line
    summary = harness.run_benchmark(PMLB, out, budgets=[1, 2, 3], **settings)
    rows = read_results(out / RESULTS_FILE)
    assert rows[:3] == first
    assert [(r["method"], r["budget"]) for r in rows[3:]] == [("random", 3)]
    assert summary["entries"]["random@3"]["datasets"] == 1
    for name in ("summary.json", "report.md", "settings.json"):
        assert (out / name).is_file()
    with pytest.raises(ConfigurationError, match="max_rows"):
        harness.run_benchmark(PMLB, out, budgets=[1, 2], max_rows=100, **settings)
    assert not user_store.exists()


@requires_shared
def test_a_missing_peer_is_reported_skipped_and_retried_on_the_next_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absent = methods.Method("flaml_zeroshot", methods.ONCE, methods.one_shot.flaml_zeroshot,
                            "FLAML zero-shot", requires=("automl_meta_no_such_peer",))
    monkeypatch.setitem(methods.METHODS, "flaml_zeroshot", absent)  # harness's too
    out = tmp_path / "run"
    for _ in range(2):
        harness.run_benchmark(PMLB, out, methods=["flaml_zeroshot"], datasets=["parity5"],
                              progress=False)
    rows = read_results(out / RESULTS_FILE)
    assert [r["status"] for r in rows] == ["skipped", "skipped"]  # tried again, not faked
    assert rows[0]["score"] is None and "automl_meta_no_such_peer" in rows[0]["error"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["entries"]["flaml_zeroshot"]["skipped"] == 1
    assert summary["entries"]["flaml_zeroshot"]["mean_rank"] is None


@requires_shared
def test_cli_benchmark_end_to_end_on_two_tiny_datasets(tmp_path: Path,
                                                       user_store: Path) -> None:
    out = tmp_path / "bench"
    run = CliRunner().invoke(app, [
        "benchmark", str(PMLB), "--datasets", "analcatdata_aids,192_vineyard",
        "--methods", "hgb_default,random,tpe,recommend_top1,warm_tpe,meta_sampler",
        "--budgets", "1,2", "--seconds", "5", "--trial-seconds", "120", "--out", str(out)])
    assert run.exit_code == 0, run.output
    rows = read_results(out / RESULTS_FILE)
    assert len(rows) == 2 * (1 + 2 + 2 + 1 + 2 + 2)
    assert {r["dataset"] for r in rows} == {"analcatdata_aids", "192_vineyard"}
    assert {r["task"] for r in rows} == {"classification", "regression"}
    for row in rows:
        assert row["status"] in ("ok", "error", "timeout", "memout"), row
        if row["status"] == "ok":
            assert isinstance(row["score"], float) and row["seconds"] > 0
    ours = [r for r in rows if r["method"] in ("recommend_top1", "warm_tpe", "meta_sampler")]
    assert all(r["in_metadb"] and r["held_out_family"] for r in ours)
    for dataset in ("analcatdata_aids", "192_vineyard"):
        first = {r["method"]: r["config"] for r in ours
                 if r["dataset"] == dataset and r["budget"] == 1}
        # warm_start and MetaSampler start from the same held-out recommendation
        assert first["warm_tpe"] == first["recommend_top1"] == first["meta_sampler"]
    summary = json.loads((out / "summary.json").read_text())
    assert {"tpe@2", "hgb_default", "warm_tpe@1"} <= set(summary["entries"])
    assert summary["entries"]["tpe@2"]["datasets"] == 2
    report = (out / "report.md").read_text()
    assert "## Leaderboard" in report and "warm_tpe@2" in report
    if importlib.util.find_spec("matplotlib") is not None:
        for name in ("score_vs_trials.png", "ranks.png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "hgb_default" in run.output
    assert not user_store.exists()


@requires_shared
@pytest.mark.slow
def test_timed_methods_and_peers_keep_their_budgets_and_record_nothing(
        tmp_path: Path, user_store: Path) -> None:
    pytest.importorskip("flaml")
    out = tmp_path / "bench"
    summary = harness.run_benchmark(
        PMLB, out, methods=["fit", "tpe_seconds", "flaml_automl", "flaml_zeroshot"],
        seconds=5.0, datasets=["analcatdata_aids"], progress=False)
    rows = {r["method"]: r for r in read_results(out / RESULTS_FILE)}
    assert {m: r["status"] for m, r in rows.items()} == dict.fromkeys(rows, "ok")
    for method in ("fit", "tpe_seconds", "flaml_automl"):
        assert rows[method]["budget"] == "5s"
        assert rows[method]["seconds"] < 5.0 * 1.5 + 1.0, rows[method]
    assert rows["fit"]["trials"] >= 1 and rows["fit"]["config"]["algorithm"]
    assert summary["entries"]["fit@5s"]["datasets"] == 1
    assert not user_store.exists()  # fit ran with record=False
