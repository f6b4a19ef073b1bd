"""Two meta-databases' ``auto`` learners, leave-one-family-out, on the datasets both hold.

    python benchmarks/metadb_versus.py --old OLD_BUNDLE [--new meta_db]

Issue #24's bar: the leave-one-family-out regret@1 and @5 of ``auto`` lower on the new
meta-db than on the old one, on the datasets both hold. Each meta-db's learners (the
judged ones: knn, portfolio, ranker) are fitted, for each held-out dataset, without the
dataset's family *as that meta-db knows it* (the new one makes a raw ARFF twin one family
with its PMLB dataset), and recommend from what that meta-db knows. Both are judged on
one scale, the new meta-db's scores of the dataset normalised over its configurations
(which include the old grid's, run under the same protocol), so a pick the old grid could
not make (a boosting configuration) counts for what it is worth. Each meta-db's ``auto``
is re-chosen from its own leave-one-family-out regrets (``choose_auto``), as ``db train``
chooses it.

Prints the mean regret@k of both ``auto`` learners (and of every judged learner), the
per-dataset wins / ties / losses at k = 1 and 5, and the mean paired difference with its
standard error over the families (datasets of one family are not independent).

Get the old bundle from git, e.g. ``git archive be30d39 meta_db | tar -x -C /tmp/old``.
"""

from __future__ import annotations

import argparse
import math
import warnings
from pathlib import Path

import pandas as pd

from automl_meta.errors import AutoMLMetaError
from automl_meta.metalearners import LEARNERS, load_knowledge
from automl_meta.metalearners._train import choose_auto, lodo_factories
from automl_meta.metalearners.lodo import LODO_KS, lodo_regret, summarise

ROOT = Path(__file__).resolve().parents[1]
TIE = 1e-9


def judged(old: Path, new: Path, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Leave-one-family-out results of both meta-dbs' learners, judged by the new one's
    scores, on the datasets both hold (one row per dataset and method)."""
    new_knowledge = load_knowledge(new, user_db=False)
    old_knowledge = load_knowledge(old, user_db=False)
    factories = lodo_factories()
    grouped = LEARNERS.groups(judged_only=True)
    results = {}
    for label, knowledge in (("old", old_knowledge), ("new", new_knowledge)):
        results[label] = lodo_regret(knowledge, factories, grouped=grouped,
                                     progress=progress, judge=new_knowledge)
    common = set(zip(results["old"]["dataset"], results["old"]["task"], strict=True))
    for label, frame in results.items():
        keys = list(zip(frame["dataset"], frame["task"], strict=True))
        results[label] = frame[[key in common for key in keys]].reset_index(drop=True)
    return results


def paired(old: pd.DataFrame, new: pd.DataFrame, k: int) -> dict[str, float]:
    """Per dataset, the old ``auto``'s regret@k minus the new one's (positive: new better)."""
    column = f"regret@{k}"
    joined = old.merge(new, on=["dataset", "task"], suffixes=("_old", "_new"))
    diff = joined[f"{column}_old"] - joined[f"{column}_new"]
    per_family = diff.groupby(joined["family_new"]).mean()
    sem = per_family.std(ddof=1) / math.sqrt(len(per_family)) if len(per_family) > 1 else 0.0
    return {"wins": int((diff > TIE).sum()), "ties": int((diff.abs() <= TIE).sum()),
            "losses": int((diff < -TIE).sum()), "mean": float(diff.mean()),
            "sem_families": float(sem), "families": int(len(per_family)),
            "datasets": int(len(diff))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", type=Path, required=True, help="the old meta-db bundle")
    parser.add_argument("--new", type=Path, default=ROOT / "meta_db")
    parser.add_argument("--csv", type=Path, default=None, help="write every row here")
    args = parser.parse_args()
    for bundle in (args.old, args.new):
        if not (bundle / "manifest.json").is_file():
            parser.exit(2, f"error: {bundle} is no meta-db bundle (no manifest.json)\n")
    warnings.simplefilter("ignore")
    try:
        results = judged(args.old, args.new)
    except AutoMLMetaError as exc:  # a tampered or foreign bundle
        parser.exit(2, f"error: {exc}\n")
    if args.csv:
        pd.concat([f.assign(meta_db=label) for label, f in results.items()]).to_csv(
            args.csv, index=False)
    summaries = {label: summarise(frame) for label, frame in results.items()}
    learners = list(lodo_factories())
    auto = {label: choose_auto(s, learners) for label, s in summaries.items()}
    n = len(results["new"][results["new"]["method"] == auto["new"]])
    print(f"{n} datasets both meta-dbs hold; judged by the new meta-db's scores\n")
    print("| meta-db | method | " + " | ".join(f"regret@{k}" for k in LODO_KS) + " |")
    print("|---|---|" + "---:|" * len(LODO_KS))
    for label, summary in summaries.items():
        for method in [*learners, "best_default", "random"]:
            if method in summary.index:
                name = f"**{method}** (auto)" if method == auto[label] else method
                row = summary.loc[method]
                print(f"| {label} | {name} | "
                      + " | ".join(f"{row[f'regret@{k}']:.4f}" for k in LODO_KS) + " |")
    print()
    picked = {label: frame[frame["method"] == auto[label]]
              for label, frame in results.items()}
    for k in (1, 5):
        p = paired(picked["old"], picked["new"], k)
        old_mean = summaries["old"].loc[auto["old"], f"regret@{k}"]
        new_mean = summaries["new"].loc[auto["new"], f"regret@{k}"]
        print(f"regret@{k}: old auto ({auto['old']}) {old_mean:.4f}, new auto ({auto['new']}) "
              f"{new_mean:.4f}; new better on {p['wins']}, equal {p['ties']}, worse "
              f"{p['losses']} of {p['datasets']} datasets; mean gain {p['mean']:+.4f} +- "
              f"{p['sem_families']:.4f} s.e.m. over {p['families']} families")
        print(f"bar regret@{k} lower on the new meta-db: "
              f"{'PASS' if new_mean < old_mean else 'FAIL'}")


if __name__ == "__main__":
    main()
