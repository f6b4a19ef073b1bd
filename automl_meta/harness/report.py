"""``report.md`` and the PNG plots of a benchmark run, from its results and summary.

Matplotlib (the ``bench`` extra) is imported only here, with the Agg backend; without it
the report is written without plots and says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from automl_meta.harness.methods import METHODS
from automl_meta.harness.versus import versus_tpe

CURVES_FILE = "score_vs_trials.png"
RANKS_FILE = "ranks.png"
MAX_FAILURES_LISTED = 40


def write_report(out: str | Path, rows: Sequence[Mapping[str, Any]],
                 summary: Mapping[str, Any], settings: Mapping[str, Any],
                 command: str | None = None, unit: str = "datasets") -> list[Path]:
    """Write ``report.md`` and the plots into ``out``; returns the files written (ours
    against cold TPE from ``summary["versus_tpe"]``, else from ``rows`` at the default pairs).

    ``unit`` names what a row's ``dataset`` is (``"dataset splits"`` when one report pools
    several seeds of each dataset)."""
    out = Path(out)
    if "versus_tpe" not in summary:
        summary = {**summary, "versus_tpe": versus_tpe(rows)}
    plots, plot_note = _plots(out, summary)
    lines = _header(rows, summary, settings, command, unit)
    lines += _leaderboard(summary)
    lines += _run_once(summary)
    lines += _by_trials(summary)
    lines += _head_to_head(summary)
    lines += _versus_tpe(summary)
    lines += _sample_efficiency(summary)
    lines += _time_budgets(rows)
    lines += _failures(rows)
    lines += ["## Plots", ""]
    if plots:
        lines += [f"![mean normalised test score vs trials]({CURVES_FILE})", "",
                  f"![mean rank of every entry]({RANKS_FILE})", ""]
    else:
        lines += [plot_note, ""]
    lines += ["## How the numbers are made", "", summary.get("how", ""), ""]
    report = out / "report.md"
    report.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return [report, *plots]


def _header(rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any],
            settings: Mapping[str, Any], command: str | None, unit: str) -> list[str]:
    tasks: dict[str, str] = {}
    for row in rows:
        if row.get("task"):
            tasks[str(row["dataset"])] = str(row["task"])
    counts = {t: sum(1 for v in tasks.values() if v == t) for t in sorted(set(tasks.values()))}
    scored = summary.get("datasets", [])
    lines = ["# Benchmark report", "",
             f"Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')}."]
    if command:
        lines += ["", "```", command, "```"]
    lines += ["", f"- {unit}: {len(tasks)} ("
              + ", ".join(f"{n} {t}" for t, n in counts.items()) + f"); {len(scored)} with at "
              "least one successful method enter the means",
              "- protocol: rows capped at {max_rows} (seeded, stratified for classification), "
              "a fixed 75/25 split (seed {seed}), balanced accuracy / R² on the test part; "
              "searches cross-validate ({folds} folds) on the training part only; one "
              "trial may take {trial_seconds:g} s; time-budgeted methods get {seconds:g} s"
              .format(**settings),
              "- datasets the meta-database holds are advised by meta-learners fitted without "
              "them and their family; new datasets by all of it",
              ""]
    missing = summary.get("datasets_without_success") or []
    if missing:
        lines += [f"No method succeeded on: {', '.join(missing)}.", ""]
    return lines


def _leaderboard(summary: Mapping[str, Any]) -> list[str]:
    entries = summary.get("entries", {})
    lines = ["## Leaderboard", "",
             "Every method at every budget, best mean rank first.", "",
             "| entry | datasets | ok | failed | skipped | mean score | mean normalised "
             "| mean rank |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label in summary.get("order", []):
        e = entries[label]
        lines.append(f"| {label} | {e['datasets']} | {e['ok']} | {e['failed']} | "
                     f"{e['skipped']} | {_f(e['mean_score'])} | {_f(e['mean_normalised'])} | "
                     f"{_f(e['mean_rank'], 2)} |")
    return [*lines, ""]


def _run_once(summary: Mapping[str, Any]) -> list[str]:
    """The methods whose rows repeat another's search instead of running it again."""
    repeated = (summary.get("versus_tpe") or {}).get("copies") or {}
    if not repeated:
        return []
    lines = ["## Searches run once", ""]
    for method, info in sorted(repeated.items()):
        where = ("every case" if info["cases"] == info["of_cases"]
                 else f"{info['cases']} of its {info['of_cases']} cases, run itself on the rest")
        lines.append(f"- {method}: same search as {info['of']}, not run twice (on {where}; "
                     f"its rows there are {info['of']}'s, marked copy_of in results.jsonl).")
    return [*lines, ""]


def _versus_tpe(summary: Mapping[str, Any]) -> list[str]:
    versus = summary.get("versus_tpe") or {}
    records = versus.get("head_to_head") or []
    if not records:
        return []
    baseline = versus.get("baseline", "tpe")
    lines = [f"## Ours against cold {baseline}, per budget", "",
             f"Cases where ours beat / tied / lost to cold {baseline} on the test score (a "
             "failure loses to any score, skips are left out), at the same budget and at the "
             "pairs asked for; 'wins when they differ' counts only the cases where the two "
             "differ (the issue's bar: at least 60%)." + _own_baselines(versus), "",
             "| ours | against | cases | wins | ties | losses | wins when they differ |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in records:
        share = "" if r["win_share"] is None else f"{r['win_share']:.0%} of {r['differing']}"
        lines.append(f"| {r['entry']} | {r['against']} | {r['cases']} | {r['wins']} | "
                     f"{r['ties']} | {r['losses']} | {share} |")
    return [*lines, ""]


def _sample_efficiency(summary: Mapping[str, Any]) -> list[str]:
    versus = summary.get("versus_tpe") or {}
    rows = versus.get("sample_efficiency") or []
    if not rows:
        return []
    baseline = versus.get("baseline", "tpe")
    lines = [f"## Trials cold {baseline} needs to match ours", "",
             f"Per case, the fewest trials n (among the run's budgets) after which cold "
             f"{baseline}'s incumbent scores at least as well on the test part as ours after "
             "b; the median n over the cases, n / b, and the cases it never matches within "
             "its largest budget (counted as > max)." + _own_baselines(versus), "",
             "| ours | b | cases | median n | n / b | never matched |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["median_beyond_largest"]:
            median, ratio = f"> {r['largest_budget']}", f"> {r['largest_budget'] / r['budget']:g}"
        else:
            median, ratio = _n(r["median_trials"]), _n(r["ratio"], 2)
        never = "" if r["never_share"] is None else f"{r['never_share']:.0%} ({r['never']})"
        lines.append(f"| {r['entry']} | {r['budget']} | {r['cases']} | {median} | {ratio} | "
                     f"{never} |")
    return [*lines, ""]


def _own_baselines(versus: Mapping[str, Any]) -> str:
    """The sentence naming the methods held against a cold search of their own."""
    own = versus.get("own_baselines") or {}
    if not own:
        return ""
    return " " + "; ".join(f"{method} is held against cold {against} instead (the same "
                           "search space without the warm start)"
                           for method, against in sorted(own.items())) + "."


def _n(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}".rstrip("0").rstrip(".")


def _by_trials(summary: Mapping[str, Any]) -> list[str]:
    curves = _curves(summary)
    if not curves:
        return []
    budgets = sorted({b for points in curves.values() for b, _ in points})
    lines = ["## Mean normalised test score by number of trials", "",
             "| method | " + " | ".join(str(b) for b in budgets) + " |",
             "|---|" + "---:|" * len(budgets)]
    for method, points in curves.items():
        by_budget = dict(points)
        lines.append(f"| {method} | " + " | ".join(_f(by_budget.get(b)) for b in budgets)
                     + " |")
    return [*lines, ""]


def _head_to_head(summary: Mapping[str, Any]) -> list[str]:
    """Wins of each method's largest budget (or only entry) against the others'."""
    entries = summary.get("entries", {})
    chosen: dict[str, str] = {}
    for label, e in entries.items():
        current = chosen.get(e["method"])
        if current is None or _budget_order(e) > _budget_order(entries[current]):
            chosen[e["method"]] = label
    labels = [label for label in summary.get("order", []) if label in chosen.values()]
    if len(labels) < 2:
        return []
    lines = ["## Head to head", "",
             "Cases (a dataset, or a dataset and split) where the row's entry beat the "
             "column's (each method at its largest budget; ties not counted).", "",
             "| wins of row over column | " + " | ".join(labels) + " |",
             "|---|" + "---:|" * len(labels)]
    for a in labels:
        cells = ["" if a == b else str(entries[a]["wins"].get(b, 0)) for b in labels]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _time_budgets(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    timed = [r for r in rows if r.get("kind") == "seconds" and r.get("status") != "skipped"]
    if not timed:
        return []
    lines = ["## Time budgets", "",
             "Wall time of the time-budgeted methods: for fit, flaml_automl and the "
             "AutoGluon peers the whole call, their final refit on the training part "
             "included; for tpe_seconds the "
             "search alone (its incumbent is refitted for the test after the budget). Test "
             "scoring is never counted.", "",
             "| method | runs | budget (s) | mean (s) | max (s) | worst overrun |",
             "|---|---:|---:|---:|---:|---:|"]
    for method in sorted({str(r["method"]) for r in timed}):
        mine = [r for r in timed if r["method"] == method]
        seconds = [float(r.get("seconds") or 0.0) for r in mine]
        budget = float(mine[0].get("budget_seconds") or 0.0)
        overrun = max(s / budget - 1.0 for s in seconds) if budget else math.nan
        lines.append(f"| {method} | {len(mine)} | {budget:g} | {sum(seconds) / len(seconds):.1f}"
                     f" | {max(seconds):.1f} | {overrun:+.1%} |")
    return [*lines, ""]


def _failures(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    failed = [r for r in rows if r.get("status") not in ("ok", None)]
    if not failed:
        return ["## Failures and skips", "", "None.", ""]
    lines = ["## Failures and skips", "", "| dataset | method | budget | status | reason |",
             "|---|---|---|---|---|"]
    for row in failed[:MAX_FAILURES_LISTED]:
        reason = str(row.get("error") or "").strip().splitlines()
        text = (reason[0] if reason else "")[:160].replace("|", "/")
        lines.append(f"| {row['dataset']} | {row['method']} | {row['budget']} | "
                     f"{row['status']} | {text} |")
    if len(failed) > MAX_FAILURES_LISTED:
        lines.append(f"\n... and {len(failed) - MAX_FAILURES_LISTED} more in results.jsonl.")
    return [*lines, ""]


def _curves(summary: Mapping[str, Any]) -> dict[str, list[tuple[int, float]]]:
    curves: dict[str, list[tuple[int, float]]] = {}
    for e in summary.get("entries", {}).values():
        if e.get("kind") == "trials" and e["mean_normalised"] is not None:
            curves.setdefault(e["method"], []).append((int(e["budget"]), e["mean_normalised"]))
    return {m: sorted(points) for m, points in sorted(curves.items())}


def _plots(out: Path, summary: Mapping[str, Any]) -> tuple[list[Path], str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], "No plots: matplotlib is not installed (pip install 'automl-meta[bench]')."
    entries = summary.get("entries", {})
    written = []
    colours = iter((plt.get_cmap("tab10").colors + plt.get_cmap("Dark2").colors) * 3)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    budgets: set[int] = set()
    for method, points in _curves(summary).items():
        ax.plot([b for b, _ in points], [v for _, v in points], marker="o", label=method,
                color=next(colours))
        budgets.update(b for b, _ in points)
    for label, e in entries.items():
        if e.get("kind") in ("once", "seconds") and e["mean_normalised"] is not None:
            ax.axhline(e["mean_normalised"], linestyle="--" if e["kind"] == "once" else ":",
                       linewidth=1.2, label=label, color=next(colours))
    ax.set_xscale("log")
    if budgets:
        from matplotlib.ticker import NullLocator, ScalarFormatter

        ax.set_xticks(sorted(budgets))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("trials (log scale); lines: one-shot (dashed) and time-budgeted (dotted)")
    ax.set_ylabel("mean normalised test score")
    ax.set_title("Score vs trials")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()
    fig.savefig(out / CURVES_FILE, dpi=120)
    plt.close(fig)
    written.append(out / CURVES_FILE)

    ranked = [label for label in summary.get("order", [])
              if entries[label]["mean_rank"] is not None]
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.28 * len(ranked) + 1)))
    ax.barh(range(len(ranked)), [entries[label]["mean_rank"] for label in ranked],
            color=["tab:orange" if _is_ours(entries[label]) else "tab:blue" for label in ranked])
    ax.set_yticks(range(len(ranked)), ranked, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("mean rank over datasets (lower is better; orange: automl-meta)")
    ax.set_title("Mean rank")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / RANKS_FILE, dpi=120)
    plt.close(fig)
    written.append(out / RANKS_FILE)
    return written, ""


def _is_ours(entry: Mapping[str, Any]) -> bool:
    method = METHODS.get(str(entry.get("method")))
    return bool(method and method.ours)


def _budget_order(entry: Mapping[str, Any]) -> float:
    budget = entry.get("budget")
    return float(budget) if isinstance(budget, (int, float)) else math.inf


def _f(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"

