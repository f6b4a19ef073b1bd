"""``report.md``: a short, human-readable account of one :func:`~automl_meta.fit` run."""

from __future__ import annotations

import json
from typing import Any

from automl_meta.automl._result import FitResult

LEADERBOARD_ROWS = 10


def render_report(result: FitResult) -> str:
    """Markdown: the dataset, task, metric, budget and time spent, the best configuration,
    the ensemble members (if any) and the top of the leaderboard.

    Example:
        >>> print(render_report(fit("sklearn:iris", budget="10s")))  # doctest: +SKIP
    """
    board = result.leaderboard
    failed = int((board["status"] != "ok").sum()) if "status" in board else 0
    n_categorical = len(result.categorical)
    features = (f"{len(result.features)} features ({len(result.features) - n_categorical} "
                f"numeric, {n_categorical} categorical)")
    recorded = result.recorded_to or "not recorded"
    if result.run_id is not None:
        recorded += f" (run {result.run_id})"
    lines = [
        f"# automl-meta fit: {_cell(result.dataset)}",
        "",
        "| | |",
        "| --- | --- |",
        f"| dataset | {_cell(result.dataset)}: {result.n_rows:,} rows, {features}; "
        f"target `{_cell(result.target)}` |",
        f"| task | {result.task} |",
        f"| metric | {result.metric} ({result.protocol} cross-validation on the search rows) |",
        f"| budget | {result.budget:.1f} s |",
        f"| time spent | {result.seconds:.1f} s |",
        f"| trials | {len(board)} ({failed} failed or stopped) |",
        f"| best {result.metric} | {result.best_score:.4f} |",
        f"| recorded to | {_cell(recorded)} |",
        "",
        "## Best configuration",
        "",
        f"`{result.best_config['algorithm']}`",
        "",
        "```json",
        json.dumps(result.best_config["params"], indent=1, sort_keys=True, default=str),
        "```",
        "",
    ]
    if len(result.ensemble) > 1:
        total = sum(weight for _, weight in result.ensemble)
        lines += ["## Ensemble", "",
                  f"The model averages {len(result.ensemble)} configurations refitted on all "
                  "rows (greedy ensemble selection on out-of-fold predictions).", "",
                  "| weight | algorithm | params |", "| ---: | --- | --- |"]
        lines += [f"| {weight / total:.3f} | {config['algorithm']} | {_params(config['params'])} |"
                  for config, weight in result.ensemble]
        lines.append("")
    lines += _leaderboard_lines(board, result.metric)
    return "\n".join(lines) + "\n"


def _leaderboard_lines(board: Any, metric: str) -> list[str]:
    shown = board.head(LEADERBOARD_ROWS)
    lines = [f"## Leaderboard (top {len(shown)} of {len(board)})", "",
             f"| # | algorithm | {metric} | status | seconds | params |",
             "| ---: | --- | ---: | --- | ---: | --- |"]
    for rank, row in enumerate(shown.itertuples(index=False), start=1):
        value = getattr(row, metric)
        score = "" if value != value else f"{value:.4f}"  # NaN for failed trials
        lines.append(f"| {rank} | {row.algorithm} | {score} | {row.status} | "
                     f"{row.wall_seconds:.1f} | {_params(row.params)} |")
    return lines


def _params(params: Any) -> str:
    return f"`{_cell(json.dumps(params, sort_keys=True, default=str))}`"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")
