"""The command line: automl-meta fit --json, report.md, predict, errors, the progress
display."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from automl_meta import FitProgress, MetaDB, load_model
from automl_meta.cli import app
from tests.cli._helpers import run_main


@pytest.fixture(autouse=True)
def isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test records into its own store and learns from no shipped bundle."""
    monkeypatch.setenv("AUTOML_META_SHIPPED", str(tmp_path / "no-bundle"))
    monkeypatch.setenv("AUTOML_META_DB", str(tmp_path / "user.sqlite"))
    return tmp_path / "user.sqlite"


# -- the command line: fit --json, report.md, predict, errors ----------------------------
@pytest.fixture(scope="module")
def shapes_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """160 rows: a numeric and a text (categorical) feature, and a text label."""
    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "green", "blue"], size=160)
    size = rng.normal(size=160).round(3)
    label = np.where((colour == "red") | (size > 0.7), "yes", "no")
    path = tmp_path_factory.mktemp("data") / "shapes.csv"
    pd.DataFrame({"size": size, "colour": colour, "label": label}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def cli_fit(shapes_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ``automl-meta fit --json --out`` run, shared by the command-line tests."""
    root = tmp_path_factory.mktemp("cli-fit")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOML_META_SHIPPED", str(root / "no-bundle"))
        patch.setenv("AUTOML_META_DB", str(root / "user.sqlite"))
        run = CliRunner().invoke(app, ["fit", str(shapes_csv), "--target", "label",
                                       "--budget", "5s", "--out", str(root / "model"),
                                       "--json"])
    assert run.exit_code == 0, run.output
    return {"out": root / "model", "stdout": run.stdout, "stderr": run.stderr,
            "store": root / "user.sqlite"}


def test_cli_fit_json_prints_only_the_summary_and_writes_the_model(
        cli_fit: dict[str, Any]) -> None:
    out = cli_fit["out"]
    summary = json.loads(cli_fit["stdout"])  # fails if anything else reached stdout
    config = json.loads((out / "config.json").read_text())
    board = pd.read_csv(out / "leaderboard.csv")
    assert summary["dataset"] == "shapes" and summary["task"] == "classification"
    assert summary["metric"] == "balanced_accuracy"
    assert summary["best_config"] == config["best_config"]
    assert summary["trials"] == len(board) >= 1
    assert summary["failed"] == int((board["status"] != "ok").sum())
    assert summary["seconds"] > 0 and summary["budget"] == 5.0
    assert summary["out"] == str(out)
    assert set(summary["files"]) == {p.name for p in out.iterdir()}
    assert {"config.json", "leaderboard.csv", "report.md"} <= set(summary["files"])
    assert ("model.skops" in summary["files"]) == (not any(
        member["config"]["algorithm"] == "mlp" for member in config["ensemble"]))
    assert summary["run_id"] == 1 and summary["recorded_to"].endswith("user.sqlite")
    assert MetaDB(cli_fit["store"]).stats()["runs"] == 1
    assert config["features"] == ["size", "colour"] and config["categorical"] == ["colour"]
    assert config["target"] == "label" and sorted(config["classes"]) == ["no", "yes"]
    assert list(summary["stage_seconds"]) == ["prepare", "search", "ensemble", "refit",
                                              "record"]
    assert summary["stage_seconds"] == config["stage_seconds"]
    assert summary["search_note"].startswith("The search stopped")
    assert "score_over_time.png" in summary["files"]


def test_report_md_describes_the_run(cli_fit: dict[str, Any]) -> None:
    out = cli_fit["out"]
    report = (out / "report.md").read_text()
    config = json.loads((out / "config.json").read_text())
    board = pd.read_csv(out / "leaderboard.csv")
    assert report.startswith("# automl-meta fit: shapes\n")
    for line in ("| task | classification |", "| budget | 5.0 s |",
                 "| dataset | shapes: 160 rows, 2 features (1 numeric, 1 categorical); "
                 "target `label` |",
                 f"| trials | {len(board)} ", f"| best balanced_accuracy | "
                 f"{config['best_score']:.4f} |", "## Best configuration",
                 f"`{config['best_config']['algorithm']}`"):
        assert line in report
    # near-identical trials are folded into one row, so at most 10 distinct ones are shown
    shown = re.search(r"^## Leaderboard \(top (\d+) of (\d+)\)$", report, re.MULTILINE)
    assert shown is not None and int(shown.group(2)) == len(board)
    section = report.split("## Leaderboard", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if re.match(r"^\| \d+ \|", line)]
    assert 1 <= int(shown.group(1)) == len(rows) <= min(len(board), 10)
    first = next(line for line in report.splitlines() if line.startswith("| 1 |"))
    assert f"| {board['algorithm'].iloc[0]} | {board['balanced_accuracy'].iloc[0]:.4f} |" \
        in first
    assert ("## Ensemble" in report) == (len(config["ensemble"]) > 1)
    assert "| # | algorithm | balanced_accuracy | status | seconds | similar | params |" in report
    assert "![best balanced_accuracy over time](score_over_time.png)" in report
    assert "| search |" in report and "| refit on all rows |" in report


def test_predict_reads_rows_without_the_label_and_writes_csv(
        cli_fit: dict[str, Any], shapes_csv: Path, tmp_path: Path) -> None:
    out = cli_fit["out"]
    if not (out / "model.skops").is_file():
        pytest.skip("the search chose the PyTorch MLP, which skops cannot save")
    frame = pd.read_csv(shapes_csv)
    new_rows = tmp_path / "new.csv"  # no label, columns reordered, an extra column
    frame[["colour", "size"]].assign(note="x").to_csv(new_rows, index=False)
    expected = load_model(out).predict(frame)  # the label, present here, is ignored
    run = CliRunner().invoke(app, ["predict", str(out), str(new_rows), "--out",
                                   str(tmp_path / "preds.csv")])
    assert run.exit_code == 0, run.output
    preds = pd.read_csv(tmp_path / "preds.csv")
    assert list(preds.columns) == ["prediction"] and len(preds) == len(frame)
    assert preds["prediction"].tolist() == list(expected)
    assert (preds["prediction"] == frame["label"]).mean() > 0.8
    run = CliRunner().invoke(app, ["predict", str(out), str(new_rows), "--proba"])
    assert run.exit_code == 0, run.output
    proba = pd.read_csv(io.StringIO(run.stdout))  # stdout holds the CSV and nothing else
    assert sorted(proba.columns) == ["no", "yes"] and len(proba) == len(frame)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert (proba.idxmax(axis=1).to_numpy() == expected).mean() > 0.95


def test_errors_are_one_paragraph_with_the_traceback_only_under_debug(
        cli_fit: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = cli_fit["out"]
    lacking = tmp_path / "lacking.csv"
    pd.DataFrame({"size": [0.1, 0.2], "color": ["red", "blue"]}).to_csv(lacking, index=False)
    if (out / "model.skops").is_file():
        code, err = run_main(monkeypatch, capsys, ["predict", str(out), str(lacking)])
        assert code == 2
        assert "lacks 1 of the 2 feature columns" in err and "'colour'" in err
        assert "Did you mean: 'color'" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    code, err = run_main(monkeypatch, capsys, ["predict", str(tmp_path / "nowhere"),
                                               str(lacking)])
    assert code == 2 and "config.json is missing" in err and "Traceback" not in err
    code, err = run_main(monkeypatch, capsys, ["--debug", "predict", str(tmp_path / "nowhere"),
                                               str(lacking)])
    assert code == 2 and "Traceback" in err and "ArtifactError" in err
    assert err.strip().splitlines()[-1].startswith("error: No saved model at")

    def broken(directory: Any) -> Any:
        raise RuntimeError("boom [not markup]")

    monkeypatch.setattr("automl_meta.automl._saved_model.load_model", broken)
    code, err = run_main(monkeypatch, capsys, ["predict", str(out), str(lacking)])
    assert code == 1 and "unexpected RuntimeError: boom [not markup]" in err
    assert "--debug" in err and "Traceback" not in err


def test_fit_progress_display_shows_trials_best_score_and_time_left(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from automl_meta.cli import _common
    from automl_meta.cli.automl import _fit_progress

    screen = io.StringIO()
    monkeypatch.setattr(_common, "err_console", Console(file=screen, force_terminal=True,
                                                        width=140))
    with _fit_progress(20.0) as show:
        show(FitProgress("search", trials=7, failed=1, best_score=0.9123,
                         best_algorithm="hist_gb", metric="balanced_accuracy", elapsed=8.2,
                         budget=20.0))
    drawn = screen.getvalue()
    assert "searching" in drawn and "7 trials" in drawn
    assert "best balanced_accuracy 0.9123 (hist_gb)" in drawn and "12s left" in drawn
