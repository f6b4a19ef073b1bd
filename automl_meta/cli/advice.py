"""The ``recommend`` command."""

from __future__ import annotations

import json
import math
import textwrap
import warnings
from collections.abc import Sequence
from typing import Any

import typer

from automl_meta.cli._common import (
    DATA_ARGUMENT_HELP,
    DB_OPTION,
    TARGET_OPTION,
    TASK_OPTION,
    console,
    print_warnings,
)

# a metric's name in a column header two lines of ten characters high
SHORT_METRIC = {"balanced_accuracy": "bal. acc.", "r2": "R²"}
RANK, ALGORITHM, SCORE, EXPECTED = 3, 14, 12, 11  # column widths, the reason takes the rest
INDENT = " " * RANK


def recommend(
    data: str = typer.Argument(..., help=DATA_ARGUMENT_HELP),
    target: str | None = TARGET_OPTION,
    task: str | None = TASK_OPTION,
    k: int = typer.Option(5, "-k", "--k", help="How many configurations."),
    strategy: str = typer.Option(
        "auto", "--strategy",
        help="The meta-learner: {strategies} (auto: the one the leave-one-dataset-out "
             "evaluation found best)."),
    db: str | None = DB_OPTION,
    why: bool = typer.Option(False, "--why", help="Print every recommendation's full reason "
                             "and parameters rather than one row each."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Recommend configurations for a dataset, with the reason for each.

    One row per configuration: its score vs the best known configuration on similar past
    datasets (1.0 = as good; not the metric), the metric it is expected to reach (from
    what it scored on the nearest past datasets), and why it is in the list. Picks after
    the first hedge: each covers past datasets where the picks above it are weaker.
    """
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
    title = f"Recommendations for {dataset.name} ({dataset.task})"
    lines = (full_reasons(recs, title, console.width) if why
             else compact_rows(recs, title, console.width))
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def short_params(params: dict[str, Any]) -> str:
    """``name=value`` pairs, numbers to four significant digits.

    Example:
        >>> short_params({"C": 823.6965117128221, "class_weight": "balanced", "fit": True})
        'C=823.7 class_weight=balanced fit=true'
    """
    def text(value: Any) -> str:
        if isinstance(value, bool) or value is None:
            return json.dumps(value)
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    return " ".join(f"{name}={text(value)}" for name, value in params.items())


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _number(value: float | None, prefix: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{prefix}{value:.3f}"


def _metric(recs: Sequence[Any]) -> str:
    return next((r.metric for r in recs if getattr(r, "metric", None)), "") or "metric"


def compact_rows(recs: Sequence[Any], title: str, width: int = 80) -> list[str]:
    """The table ``recommend`` prints: a header, two lines per recommendation (rank,
    algorithm, score vs best known, expected metric and a few-word reason; then its
    parameters, cut to ``width``) and what the columns mean."""
    width = max(width, 60)
    metric = _metric(recs)
    reason = width - RANK - ALGORITHM - SCORE - EXPECTED

    def row(*cells: str) -> str:
        rank, algorithm, score, expected, why = cells
        return (f"{rank:>{RANK - 1}} {algorithm:<{ALGORITHM}}{score:>{SCORE - 2}}  "
                f"{expected:>{EXPECTED - 2}}  {_cut(why, reason)}").rstrip()

    lines = [title, row("#", "algorithm", "score vs", "expected", "reason (--why: full)"),
             row("", "", "best known", SHORT_METRIC.get(metric, metric)[: EXPECTED - 2], "")]
    for rec in recs:
        lines.append(row(str(rec.rank), _cut(rec.algorithm, ALGORITHM - 1),
                         _number(rec.predicted_score), _number(rec.expected_metric, "≈ "),
                         rec.summary or _cut(rec.why, reason)))
        lines.append(_cut(INDENT + short_params(rec.params), width))
    notes = [f"score vs best known: 1.0 = as good as the best configuration known on similar "
             f"past datasets (a normalised score, not {metric})"]
    if any("earlier_runs" in rec.details for rec in recs):
        notes.append("For a run on this data, 1.0 = the best run recorded on it")
    notes.append(f"Expected: the {metric} it scored on the nearest past datasets that ran it")
    if any(rec.details.get("ordering") == "covering" for rec in recs):
        notes.append(f"After its first pick, {recs[-1].strategy} hedges: each next pick "
                     "covers past datasets where the picks above it are weaker")
    return [*lines, "", *textwrap.wrap(". ".join(notes) + ".", width,
                                       break_on_hyphens=False)]


def full_reasons(recs: Sequence[Any], title: str, width: int = 80) -> list[str]:
    """What ``recommend --why`` prints: per recommendation its scores, its full parameters
    and its full reason, wrapped to ``width``."""
    width = max(width, 40)
    metric = _metric(recs)
    lines = [title]
    for rec in recs:
        head = (f"#{rec.rank} {rec.algorithm}: score vs best known "
                f"{_number(rec.predicted_score)}, expected {metric} "
                f"{_number(rec.expected_metric, '≈ ')}"
                + (f" ({rec.summary})" if rec.summary else ""))
        lines += ["", *textwrap.wrap(head, width, subsequent_indent=INDENT,
                                     break_on_hyphens=False)]
        lines += textwrap.wrap(json.dumps(rec.params, default=str), width,
                               initial_indent=INDENT + "params: ", subsequent_indent=INDENT)
        lines += textwrap.wrap(rec.why, width, initial_indent=INDENT + "why: ",
                               subsequent_indent=INDENT, break_on_hyphens=False,
                               break_long_words=False)
    return lines
