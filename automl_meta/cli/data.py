"""Commands on one dataset: ``metafeatures`` and ``evaluate``."""

from __future__ import annotations

import json
import warnings
from typing import Any

import typer
from rich.table import Table

from automl_meta._support import lifecycle as _lifecycle
from automl_meta.cli._common import (
    DATA_ARGUMENT_HELP,
    TARGET_OPTION,
    TASK_OPTION,
    console,
    load,
    parse_json,
    print_warnings,
)


def metafeatures(
    data: str = typer.Argument(..., help=DATA_ARGUMENT_HELP),
    target: str | None = TARGET_OPTION,
    task: str | None = TASK_OPTION,
    groups: str = typer.Option("all", "--groups", help="Comma-separated groups: general, "
                               "statistical, info-theory, landmarking, model-based, or all."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Compute a dataset's meta-features (with the seconds each took)."""
    from automl_meta.data import load_dataset  # pandas, sklearn: not for `--help`
    from automl_meta.metafeatures import extract_metafeatures

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_dataset(data, target=target, task=task)
        chosen: Any = "all" if groups == "all" else [g.strip() for g in groups.split(",")]
        features = extract_metafeatures(dataset, groups=chosen)
    print_warnings(caught)
    if as_json:
        values = {k: (None if v != v else v) for k, v in features.to_dict().items()}
        print(json.dumps({"dataset": dataset.name, "metafeatures": values}, indent=1))
        return
    table = Table(title=f"Meta-features of {dataset.name}")
    for column in ("name", "group", "value", "seconds"):
        table.add_column(column, justify="right" if column in ("value", "seconds") else "left")
    for name, value in sorted(features.items()):
        table.add_row(name, features.groups.get(name, ""), f"{value:.6g}",
                      f"{features.seconds.get(name, 0.0):.4f}")
    console.print(table)


def evaluate(
    data: str = typer.Argument(..., help=DATA_ARGUMENT_HELP),
    algorithm: str = typer.Option("hist_gb", "--algorithm", "-a", help="Algorithm name: "
                                  "{algorithms}."),
    params: str = typer.Option("{}", "--params", help="JSON of hyperparameters (others "
                               "take the algorithm's default)."),
    target: str | None = TARGET_OPTION,
    task: str | None = TASK_OPTION,
    protocol: str = typer.Option("cv5", "--protocol", help="cvK or holdoutF, e.g. cv5."),
    time_limit: float = typer.Option(300.0, "--time-limit", help="Seconds before the "
                                     "evaluation is stopped."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Score one configuration on a dataset with cross-validation, safely."""
    from automl_meta.evaluation import evaluate as run_evaluation  # sklearn: not for `--help`
    from automl_meta.space import BOOSTING, default_config, register_boosting

    _lifecycle.note_kept("evaluate records nothing, so nothing was lost")
    if any(boosting.name == algorithm for boosting in BOOSTING):
        register_boosting([algorithm])  # the library asks Python callers to do this first
    dataset = load(data, target, task)
    config = default_config(algorithm, dataset.task)
    config["params"].update(parse_json(params, "--params"))
    result = run_evaluation(config, dataset, protocol=protocol, time_limit=time_limit)
    if as_json:
        print(json.dumps(result.to_dict(), indent=1, default=str))
        return
    console.print(f"[bold]{dataset.name}[/] {algorithm} {protocol}: status {result.status}")
    for name, value in result.metrics.items():
        console.print(f"  {name:>18} {value:.4f}")
    if result.error:
        console.print(f"[red]{result.error}[/]")
