"""``report.md``: a short, human-readable account of one :func:`~automl_meta.fit` run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from automl_meta.evaluation.metrics import LOWER_IS_BETTER

if TYPE_CHECKING:
    from automl_meta.automl._result import FitResult

LEADERBOARD_ROWS = 10
CURVE_FILE = "score_over_time.png"
# the stages of FitResult.stage_seconds, in order, with what each covers
STAGE_NAMES = {"prepare": "data, meta-features and advice", "search": "search",
               "ensemble": "ensemble selection", "refit": "refit on all rows",
               "record": "recording"}


def render_report(result: FitResult, figure: str | None = None) -> str:
    """Markdown: the dataset, task, metric, budget and time spent (per stage, and when the
    search stopped to keep time for the refit), the best configuration, the ensemble
    members (if any) and the top of the leaderboard, near-identical trials folded into one
    row. ``figure`` is the file name of the best-score-over-time curve written beside it
    (:func:`write_score_curve`), shown under the summary.

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
        *_time_lines(result),
        *([f"![best {result.metric} over time]({figure})", ""] if figure else []),
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
    lines += _leaderboard_lines(result)
    return "\n".join(lines) + "\n"


def _time_lines(result: FitResult) -> list[str]:
    """Where the time went: the search's stop, then a table of the stages."""
    lines = []
    if result.search_note:
        lines += [result.search_note, ""]
    if result.stage_seconds:
        lines += ["| stage | seconds |", "| --- | ---: |"]
        lines += [f"| {STAGE_NAMES.get(stage, stage)} | {seconds:.1f} |"
                  for stage, seconds in result.stage_seconds.items()]
        lines.append("")
    return lines


def _leaderboard_lines(result: FitResult) -> list[str]:
    board, metric = result.leaderboard, result.metric
    shown = result.distinct_leaderboard(LEADERBOARD_ROWS)
    folded = int(shown["similar"].sum()) if "similar" in shown else 0
    lines = [f"## Leaderboard (top {len(shown)} of {len(board)})", ""]
    if folded:
        lines += [f"Near-identical trials (same algorithm and categorical parameters, numbers "
                  f"equal to 2 significant digits, scores within 1e-4) are shown once; "
                  f"`similar` counts the {folded} others folded in. `leaderboard.csv` has "
                  "every trial.", ""]
    lines += [f"| # | algorithm | {metric} | status | seconds | similar | params |",
              "| ---: | --- | ---: | --- | ---: | ---: | --- |"]
    for rank, row in enumerate(shown.itertuples(index=False), start=1):
        value = getattr(row, metric)
        score = "" if value != value else f"{value:.4f}"  # NaN for failed trials
        lines.append(f"| {rank} | {row.algorithm} | {score} | {row.status} | "
                     f"{row.wall_seconds:.1f} | {row.similar} | {_params(row.params)} |")
    return lines


def score_curve(result: FitResult) -> list[tuple[float, float]]:
    """(seconds since the fit started, best ``metric`` so far) at each trial that improved
    it, from the leaderboard's ``finished`` column (empty without it)."""
    board = result.leaderboard
    if board.empty or "finished" not in board:
        return []
    sign = -1.0 if result.metric in LOWER_IS_BETTER else 1.0
    points: list[tuple[float, float]] = []
    best = -np.inf
    for finished, value in sorted(zip(board["finished"], board[result.metric], strict=True)):
        if value == value and sign * value > best:
            best = sign * value
            points.append((float(finished), float(value)))
    return points


def write_score_curve(result: FitResult, directory: Path) -> Path | None:
    """Draw the best score over time into ``directory`` / :data:`CURVE_FILE`; ``None``
    (nothing written) without matplotlib or without a scored trial.

    Matplotlib's Agg canvas is used directly, so a notebook's pyplot backend is untouched.
    """
    points = score_curve(result)
    if not points:
        return None
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    end = max(result.seconds, points[-1][0])
    xs = [x for x, _ in points] + [end]
    ys = [y for _, y in points] + [points[-1][1]]
    fig = Figure(figsize=(6, 3.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.step(xs, ys, where="post", color="tab:blue")
    ax.plot(xs[:-1], ys[:-1], "o", color="tab:blue", markersize=4)
    if result.best_score == result.best_score and result.best_score != ys[-1]:
        ax.plot([result.seconds], [result.best_score], "*", color="tab:orange", markersize=9,
                label=f"final model ({_kind(result)})")
    if result.search_ended is not None:
        ax.axvline(result.search_ended, linestyle=":", color="grey", linewidth=1,
                   label="search stopped")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xlim(0, max(end, result.budget))
    ax.set_xlabel("seconds since fit started")
    ax.set_ylabel(f"best {result.metric} (cross-validated)")
    ax.set_title(f"Best {result.metric} over time: {result.dataset}", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(directory) / CURVE_FILE
    fig.savefig(path, dpi=110)
    return path



def _params(params: Any) -> str:
    return f"`{_cell(json.dumps(params, sort_keys=True, default=str))}`"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _kind(result: FitResult) -> str:
    if len(result.ensemble) > 1:
        return f"ensemble of {len(result.ensemble)}"
    return str(result.best_config.get("algorithm", ""))
