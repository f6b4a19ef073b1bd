"""Issue #25's large set: ``fit`` against FLAML AutoML and both AutoGluon presets on every
PMLB file with more than 20,000 rows, with no row cap, at 60 s and 300 s.

    python benchmarks/large.py [--out benchmarks/large-results] [--budgets 60,300]
                               [--methods fit,flaml_automl,autogluon,autogluon_best]

The selection rule was written down before any result was looked at: every file of
``../shared/datasets/pmlb`` whose ``index.csv`` row says more than 20,000 rows (13 files:
537_houses, 218_house_8L, 574_house_16H, krkopt, 1193_BNG_lowbwt, 344_mv, shuttle,
connect-4, fars, sleep, 1201_BNG_breastTumor, 1203_BNG_pwLinear, kddcup). ``LARGE`` freezes
it, so a grown collection does not change the benchmark.

Each budget is one harness run (``OUT/<budget>s``, resumable: rerun the same command after
a kill), one dataset at a time (``--jobs 1``) so that the methods do not compete for the two
cores. Every method gets the same rows (all of them), the same 75/25 split and one CPU. The
AutoGluon peers need their own environment (``AUTOML_META_AUTOGLUON_PYTHON``, see the
README); without it they are reported skipped. Each row records the wall time against the
budget (the bar: within budget + 10%) and the peak memory of the method's process tree
(the bar: at most 4 GB). This prints, per budget, the mean rank of each method, ``fit``'s
wins/ties/losses against each peer, and the worst overrun and memory peak of each.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PMLB = ROOT.parent / "shared" / "datasets" / "pmlb"
MIN_ROWS = 20_000
LARGE = ("537_houses", "218_house_8L", "574_house_16H", "krkopt", "1193_BNG_lowbwt", "344_mv",
         "shuttle", "connect-4", "fars", "sleep", "1201_BNG_breastTumor", "1203_BNG_pwLinear",
         "kddcup")
METHODS = ("fit", "flaml_automl", "autogluon", "autogluon_best")
NO_ROW_CAP = 10**9


def chosen_by_rule() -> list[str]:
    """The files the rule picks today (checked against :data:`LARGE`)."""
    import pandas as pd

    index = pd.read_csv(PMLB / "index.csv")
    return sorted(index.loc[index["n_rows"] > MIN_ROWS, "name"].astype(str))


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean rank, fit's record against each peer, worst overrun and memory per method."""
    import pandas as pd

    frame = pd.DataFrame([r for r in rows if r.get("status") != "skipped"])
    if frame.empty:
        return {}
    frame["score"] = frame["score"].fillna(-1e9)  # a failure ranks last
    wide = frame.pivot_table(index="dataset", columns="method", values="score")
    ranks = wide.rank(axis=1, ascending=False).mean().round(2).to_dict()
    record = {}
    for peer in wide.columns.drop("fit", errors="ignore"):
        if "fit" in wide:
            diff = (wide["fit"] - wide[peer]).dropna()
            record[peer] = {"wins": int((diff > 1e-4).sum()), "ties": int((diff.abs() <= 1e-4)
                            .sum()), "losses": int((diff < -1e-4).sum())}
    worst = {}
    for method, group in frame.groupby("method"):
        overrun = pd.to_numeric(group.get("overrun"), errors="coerce")
        memory = pd.to_numeric(group.get("peak_memory_mb"), errors="coerce")
        worst[str(method)] = {"overrun": round(float(overrun.max()), 3),
                              "peak_memory_mb": float(memory.max()) if memory.notna().any()
                              else None}
    return {"mean_rank": ranks, "fit_vs": record, "worst": worst}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "large-results")
    parser.add_argument("--budgets", default="60,300")
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args()
    if not PMLB.is_dir():
        print(f"error: the PMLB datasets are not at {PMLB}", file=sys.stderr)
        return 2
    if chosen_by_rule() != sorted(LARGE):
        print(f"note: the rule now picks {chosen_by_rule()}; the frozen set is used",
              file=sys.stderr)
    from automl_meta.harness import run_benchmark
    from automl_meta.harness.results import latest, read_results

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    report = {}
    for budget in [float(b) for b in args.budgets.split(",")]:
        out = args.out / f"{budget:g}s"
        run_benchmark(PMLB, out, methods=methods, seconds=budget, max_rows=NO_ROW_CAP,
                      datasets=list(LARGE), jobs=1, command=" ".join(sys.argv))
        rows = list(latest(read_results(out / "results.jsonl")).values())
        report[f"{budget:g}s"] = summarise(rows)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
