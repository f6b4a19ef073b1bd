"""The CLI's start-up stays light, and its help lists what the registries hold."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from automl_meta.cli import app

WIDE = {"COLUMNS": "240", "TERMINAL_WIDTH": "240"}


def test_importing_the_cli_loads_no_numerical_library() -> None:
    code = ("import sys, automl_meta.cli; print(sorted(m for m in ('numpy', 'pandas', "
            "'sklearn', 'sqlalchemy', 'optuna', 'torch', 'fastapi') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_help_lists_every_registered_strategy_and_algorithm() -> None:
    from automl_meta.metalearners import LEARNERS
    from automl_meta.space import REGISTRY

    runner = CliRunner()
    recommend = runner.invoke(app, ["recommend", "--help"], env=WIDE)
    assert recommend.exit_code == 0, recommend.output
    assert ", ".join(LEARNERS.strategies) in recommend.output
    assert "neural" in recommend.output and "{strategies}" not in recommend.output
    evaluate = runner.invoke(app, ["evaluate", "--help"], env=WIDE)
    names = dict.fromkeys(name for _, name in REGISTRY)
    assert evaluate.exit_code == 0 and ", ".join(names) in evaluate.output
    listing = runner.invoke(app, ["db", "--help"], env=WIDE)  # the group's command list
    assert listing.exit_code == 0 and "{learners}" not in listing.output
    assert f"Fit the meta-learners ({', '.join(LEARNERS)})" in listing.output


def test_benchmark_help_lists_every_harness_method() -> None:
    from automl_meta.harness.methods import METHODS

    result = CliRunner().invoke(app, ["benchmark", "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    missing = [name for name in METHODS if name not in text]
    assert not missing, f"benchmark --help does not list {missing}"


def test_the_commands_are_where_they_were() -> None:
    result = CliRunner().invoke(app, ["--help"], env=WIDE)
    assert result.exit_code == 0
    for command in ("metafeatures", "evaluate", "recommend", "fit", "serve", "predict",
                    "benchmark", "db"):
        assert command in result.output
    db = CliRunner().invoke(app, ["db", "--help"], env=WIDE)
    for command in ("build", "train", "upgrade", "stats", "export", "import",
                    "import-optuna", "train-neural"):
        assert command in db.output
