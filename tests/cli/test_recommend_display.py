"""``automl-meta recommend``: one compact row per recommendation at 80 columns, the full
reasons with ``--why``, and the new fields in ``--json``; on the shipped meta-database."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from typer.testing import CliRunner

from automl_meta.cli import advice as advice_cli
from automl_meta.cli import app
from automl_meta.cli.advice import compact_rows, full_reasons, short_params
from automl_meta.config import shipped_meta_db_dir
from automl_meta.metalearners import Recommendation

WIDTH = 80
K = 5
DATA = "sklearn:diabetes"  # not in the shipped meta-db: every pick is a learner's

pytestmark = pytest.mark.skipif(not (shipped_meta_db_dir() / "manifest.json").is_file(),
                                reason="needs the shipped meta_db/ bundle")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The command's output at 80 columns: plain, ``--why`` and ``--json``."""
    root = tmp_path_factory.mktemp("recommend")
    out: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOML_META_DB", str(root / "user.sqlite"))  # empty: shipped only
        patch.setattr(advice_cli.console, "_width", WIDTH)
        for name, extra in (("plain", []), ("why", ["--why"]), ("json", ["--json"])):
            result = CliRunner().invoke(app, ["recommend", DATA, "-k", str(K), *extra])
            assert result.exit_code == 0, result.output
            out[name] = result.stdout
    out["recs"] = json.loads(out["json"])
    return out


def test_each_recommendation_takes_at_most_two_lines_at_80_columns(runs: dict) -> None:
    lines = runs["plain"].splitlines()
    assert all(len(line) <= WIDTH for line in lines), max(lines, key=len)
    recs = runs["recs"]
    assert len(recs) == K
    rows = [line for line in lines if re.match(r"^\s*\d+ \S", line)]
    assert [int(line.split()[0]) for line in rows] == list(range(1, K + 1))
    # a title, two header lines, two lines a recommendation, a blank and the notes
    assert len(lines) <= 2 * K + 8
    for row, rec in zip(rows, recs, strict=True):
        assert rec["algorithm"] in row
        assert f"{rec['predicted_score']:.3f}" in row
        assert f"≈ {rec['expected_metric']:.3f}" in row
    header = " ".join(lines[:3])
    assert "score vs" in header and "best known" in header and "expected" in header
    assert "not r2" in " ".join(lines)  # the normalised score is said not to be the metric


def test_the_reasons_say_which_neighbours_each_hedge_covers(runs: dict) -> None:
    recs, lines = runs["recs"], runs["plain"].splitlines()
    assert recs[0]["summary"] == "best predicted score"
    hedges = [r for r in recs[1:] if r["details"].get("covers")]
    assert hedges, "the picks after the first cover neighbours where #1 is weaker"
    neighbours = set(recs[0]["details"]["neighbours"])
    for rec in hedges:
        named = [c["dataset"] for c in rec["details"]["covers"] if c["neighbour"]]
        assert set(named) <= neighbours
        assert all(c["score"] > c["first"] for c in rec["details"]["covers"])
        if named:
            assert rec["summary"].startswith(f"covers {named[0]}")
            row = next(line for line in lines if line.split()[:1] == [str(rec["rank"])])
            assert "covers" in row


def test_why_prints_every_full_reason(runs: dict) -> None:
    text = " ".join(runs["why"].split())
    for rec in runs["recs"]:
        assert " ".join(rec["why"].split()) in text
        assert "Expected r2 ≈" in rec["why"]
        assert json.dumps(rec["params"]).split(",")[0] in text
    assert all(len(line) <= WIDTH or " " not in line.strip()
               for line in runs["why"].splitlines())


def test_json_carries_the_expected_metric_within_the_neighbours_scores(runs: dict) -> None:
    for rec in runs["recs"]:
        assert rec["metric"] == "r2" and rec["summary"]
        expected = rec["details"]["expected"]
        scores = [d["score"] for d in expected["datasets"]]
        assert scores and min(scores) <= rec["expected_metric"] <= max(scores)
        assert expected["value"] == rec["expected_metric"]


def test_compact_rows_fit_narrow_and_wide_terminals() -> None:
    rec = Recommendation("random_forest", {"n_estimators": 186, "max_features": 0.438021667,
                                           "bootstrap": True, "class_weight": "balanced",
                                           "min_samples_leaf": 4}, 0.7884, "knn",
                         "a long reason " * 20, rank=1, metric="balanced_accuracy",
                         expected_metric=0.8612, summary="covers " + "x" * 100)
    for width in (60, 80, 120):
        lines = compact_rows([rec], "Recommendations for some data (classification)", width)
        assert all(len(line) <= width for line in lines)
        assert "≈ 0.861" in lines[3] and "0.788" in lines[3] and "bal. acc." in lines[2]
        assert lines[4].strip().startswith("n_estimators=186 max_features=0.438")
    why = full_reasons([rec], "title", 80)
    assert " ".join(" ".join(why).split()).count("a long reason") == 20


def test_short_params_keeps_the_names_and_shortens_the_numbers() -> None:
    assert short_params({"C": 823.6965117128221, "gamma": 0.001968635308506492,
                         "fit_intercept": False, "solver": None}) == (
        "C=823.7 gamma=0.001969 fit_intercept=false solver=null")


def test_help_lists_every_strategy_including_neural() -> None:
    from automl_meta.metalearners import LEARNERS

    result = CliRunner().invoke(app, ["recommend", "--help"],
                                env={"COLUMNS": "240", "TERMINAL_WIDTH": "240"})
    assert result.exit_code == 0
    assert "neural" in LEARNERS.strategies
    assert ", ".join(LEARNERS.strategies) in result.output and "--why" in result.output

