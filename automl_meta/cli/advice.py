"""The ``recommend`` command."""

from __future__ import annotations

import json
import warnings

import typer
from rich.table import Table

from automl_meta.cli._common import (
    DATA_ARGUMENT_HELP,
    DB_OPTION,
    TARGET_OPTION,
    TASK_OPTION,
    console,
    print_warnings,
)


def recommend(
    data: str = typer.Argument(..., help=DATA_ARGUMENT_HELP),
    target: str | None = TARGET_OPTION,
    task: str | None = TASK_OPTION,
    k: int = typer.Option(5, "-k", "--k", help="How many configurations."),
    strategy: str = typer.Option("auto", "--strategy", help="{strategies}."),
    db: str | None = DB_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Recommend configurations for a dataset, with the reason for each."""
    from automl_meta.advice import recommend as run_recommend  # not for `--help`
    from automl_meta.data import load_dataset

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_dataset(data, target=target, task=task)
        recs = run_recommend(dataset, k=k, strategy=strategy, db=db)
    print_warnings(caught)
    if as_json:
        print(json.dumps([r.to_dict() for r in recs], indent=1, default=str))
        return
    table = Table(title=f"Recommendations for {dataset.name} ({dataset.task})")
    for column in ("#", "algorithm", "params", "predicted", "why"):
        table.add_column(column, overflow="fold")
    for rec in recs:
        table.add_row(str(rec.rank), rec.algorithm, json.dumps(rec.params, default=str),
                      f"{rec.predicted_score:.3f}", rec.why)
    console.print(table)
