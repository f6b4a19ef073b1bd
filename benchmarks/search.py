"""Issue #9's bars, measured with the benchmark harness on 20 shared datasets x 3 splits.

    python benchmarks/search.py [--out benchmark-search] [--jobs 1] [--seconds 30]
                                [--budgets 5,20] [--seeds 0,1,2] [--datasets 20]

Twenty PMLB datasets from ``../shared/datasets/pmlb``, ten classification and ten
regression, each from a different family, chosen with a fixed seed among those the shipped
meta-database has evaluated (``DATASETS``, frozen from :func:`choose_datasets`), so each is
evaluated with its whole family held out of the meta-learners (see
``automl_meta/harness/advice.py``). For each seed (``OUT/seed-K``: its own row sample,
75/25 split, folds and sampler seeds), on the same rows, split and seeds the harness runs
``tpe`` and ``warm_tpe`` (incumbents after 5 and 20 trials) and ``fit``, ``tpe_seconds``
and ``flaml_automl`` with 30 s each. Thirteen of the datasets have under 200 training rows,
so one split's test part is a few dozen rows and its luck decides many comparisons:
each (dataset, seed) is one case, normalised and ranked on its own, and the means are over
all cases (``OUT/report.md``). This prints:

- the mean normalised test score of ``warm_tpe`` after 5 trials and of ``tpe`` after 20
  (normalised per case across every entry of the run; bar: warm@5 >= tpe@20), with the
  standard error of their difference over the datasets;
- the mean ranks of ``fit``, ``tpe_seconds`` and ``flaml_automl`` at 30 s, ranked among
  those three (bar: ``fit`` has the best);
- the worst budget overrun of ``fit`` (bar: <= 10% on every run).

With ``--also lgbm_tpe lgbm_warm_tpe`` it also prints the LightGBM bar of issue #24 (the
warm-started LightGBM study after 5 trials against cold TPE on the same LightGBM space after
20, head to head). ``--old-space DIR`` reads ``fit``'s results of an earlier run with the
same seeds and datasets (e.g. ``automl-meta benchmark --methods fit`` from a checkout of
the old space and meta-db), enters them as ``fit_old_space`` and prints the gain of ``fit``
over them (issue #24's bar: ``fit`` at 30 s gains over the old space). ``--methods``
replaces the five methods (e.g. ``--methods fit`` for that earlier run).

The run is resumable (rerun the same command after a kill). ``--jobs 1`` (the default)
keeps the timed methods from competing with each other for the two cores.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PMLB = ROOT.parent / "shared" / "datasets" / "pmlb"
SELECTION_SEED = 9  # issue 9
CASE_SEPARATOR = " #"  # a pooled case is named "<dataset> #<seed>"
OLD_SPACE = "fit_old_space"  # fit's results from an earlier run (--old-space)
METHODS = ("tpe", "warm_tpe", "fit", "tpe_seconds", "flaml_automl")
# choose_datasets(20) against the shipped meta_db/ of 111 evaluated datasets, frozen so that
# a grown meta-database does not change the benchmark (classification and regression
# alternate, so --datasets 2 runs one of each)
DATASETS = (
    "hayes-roth", "678_visualizing_environmental", "labor", "229_pwLinear", "auto",
    "695_chatfield_4", "threeOf9", "529_pollen", "titanic", "192_vineyard", "krkopt",
    "659_sleuth_ex1714", "monk3", "615_fri_c4_250_10", "lupus", "1089_USCrime",
    "lymphography", "1096_FacultySalaries", "car", "519_vinnie",
)


def choose_datasets(count: int, seed: int = SELECTION_SEED) -> list[str]:
    """``count`` PMLB names the shipped meta-database has evaluated, half per task (in
    alternation), one per family (the meta-database's families, in which copies of a
    dataset under other names share one), drawn with ``seed``. :data:`DATASETS` froze its
    answer for 20."""
    from automl_meta.metalearners import load_knowledge

    knowledge = load_knowledge(user_db=False)
    evaluated = knowledge.datasets.loc[[fp for matrix in knowledge.matrices.values()
                                        for fp in matrix.datasets]]
    rng = np.random.default_rng(seed)
    picks: dict[str, list[str]] = {}
    used: set[str] = set()  # a family may span both tasks
    for task in ("classification", "regression"):
        pool = evaluated[evaluated["task"] == task]
        picks[task] = []
        for family in rng.permutation(sorted(set(pool["family"]) - used)):
            names = sorted(pool.loc[pool["family"] == family, "name"])
            picks[task].append(str(names[int(rng.integers(len(names)))]))
            used.add(str(family))
    pairs = zip(picks["classification"], picks["regression"], strict=False)
    return [name for pair in pairs for name in pair][:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmark-search", help="output directory")
    parser.add_argument("--jobs", type=int, default=1, help="datasets run at once")
    parser.add_argument("--seconds", type=float, default=30.0, help="time budget")
    parser.add_argument("--budgets", default="5,20", help="trial budgets: small,large")
    parser.add_argument("--seeds", default="0,1,2",
                        help="one split (rows, 75/25 split, folds, samplers) per seed")
    parser.add_argument("--datasets", type=int, default=len(DATASETS),
                        help="run the first N of the 20 datasets")
    parser.add_argument("--max-rows", type=int, default=5000)
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated methods run (default: the bars' five)")
    parser.add_argument("--old-space", type=Path, default=None, metavar="DIR",
                        help="an earlier run's output directory whose fit results enter as "
                        "fit_old_space (same seeds and datasets)")
    parser.add_argument("--also", nargs="*", default=[], metavar="METHOD",
                        help="more methods to run beside the bars' five (e.g. neural "
                        "meta_sampler); they enter the normalisation and the leaderboard")
    args = parser.parse_args()

    from automl_meta.errors import AutoMLMetaError
    from automl_meta.harness import run_benchmark

    budgets = sorted(int(b) for b in args.budgets.split(","))
    try:
        seeds = sorted({int(s) for s in args.seeds.split(",") if s.strip()})
    except ValueError:
        seeds = []
    if not seeds:
        parser.exit(2, f"error: --seeds {args.seeds!r} is not a comma-separated list of "
                    "integers, e.g. 0,1,2\n")
    names = list(DATASETS[:args.datasets])
    out = Path(args.out)
    command = "python benchmarks/search.py " + " ".join(sys.argv[1:])
    print(f"{len(names)} datasets x {len(seeds)} splits: {', '.join(names)}\n", flush=True)
    methods = [m for m in args.methods.split(",") if m.strip()]
    for seed in seeds:
        try:
            run_benchmark(PMLB, out / f"seed-{seed}", methods=[*methods, *args.also],
                          budgets=budgets, seconds=args.seconds, max_rows=args.max_rows,
                          jobs=args.jobs, seed=seed, datasets=names, command=command)
        except AutoMLMetaError as exc:  # a wrong --also name, a missing data directory
            parser.exit(2, f"error: {exc}\n")
    from automl_meta.harness.summary import summarise

    rows = pooled_rows(out, seeds, names)
    if args.old_space is not None:
        old = [{**row, "method": OLD_SPACE} for row in pooled_rows(args.old_space, seeds, names)
               if row["method"] == "fit"]
        if not old:
            parser.exit(2, f"error: no fit results for these seeds and datasets under "
                        f"{args.old_space}; run the old checkout's benchmark there first\n")
        rows += old
    summary = summarise(rows)
    _write_pooled_report(out, rows, summary, seeds, command)
    _print_bars(rows, summary, budgets[0], budgets[-1], f"{args.seconds:g}s", args.seconds,
                len(names), len(seeds))
    print(f"\nreport: {out / 'report.md'}")


def pooled_rows(out: Path, seeds: list[int], names: list[str]) -> list[dict[str, Any]]:
    """The results of every seed, each (dataset, seed) one case: normalised and ranked on
    its own, so a mean over the cases is the mean over datasets of their mean over splits.
    With one seed the names stay as they are."""
    from automl_meta.harness.results import RESULTS_FILE, latest, read_results

    rows, wanted = [], set(names)
    for seed in seeds:
        for row in latest(read_results(out / f"seed-{seed}" / RESULTS_FILE)).values():
            if row["dataset"] in wanted:
                if len(seeds) > 1:
                    row["dataset"] = f"{row['dataset']}{CASE_SEPARATOR}{seed}"
                rows.append(row)
    return rows


def _write_pooled_report(out: Path, rows: list[dict[str, Any]], summary: dict[str, Any],
                         seeds: list[int], command: str) -> None:
    from automl_meta.harness.report import write_report
    from automl_meta.harness.versus import versus_tpe

    summary["versus_tpe"] = versus_tpe(rows)  # the head-to-head records, in summary.json too
    settings = json.loads((out / f"seed-{seeds[0]}" / "settings.json").read_text())
    protocol = {**settings["protocol"], "seed": ", ".join(map(str, seeds))}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    unit = "dataset splits (dataset #seed)" if len(seeds) > 1 else "datasets"
    write_report(out, rows, summary, protocol, command, unit=unit)


def _print_bars(rows: list[dict[str, Any]], summary: dict[str, Any], small: int, large: int,
                seconds: str, budget: float, n_datasets: int, n_seeds: int) -> None:
    from automl_meta.harness.summary import score_table, summarise

    cases = f"{n_datasets} datasets x {n_seeds} splits"
    entries = summary["entries"]
    warm, cold = entries.get(f"warm_tpe@{small}"), entries.get(f"tpe@{large}")
    print(f"\n== warm start: warm_tpe@{small} vs tpe@{large} ({cases}) ==")
    if warm and cold and warm["mean_normalised"] is not None:
        gap = _paired_gap(score_table(rows), f"warm_tpe@{small}", f"tpe@{large}")
        print(f"mean normalised test score: warm_tpe@{small} {warm['mean_normalised']:.4f}, "
              f"tpe@{large} {cold['mean_normalised']:.4f} (difference {gap}); wins "
              f"{warm['wins'][f'tpe@{large}']}, ties {warm['ties'][f'tpe@{large}']}, losses "
              f"{cold['wins'][f'warm_tpe@{small}']}")
        passed = warm["mean_normalised"] >= cold["mean_normalised"]
        print(f"bar warm@{small} >= tpe@{large}: {'PASS' if passed else 'FAIL'}")

    _print_head_to_head(rows, summary, f"lgbm_warm_tpe@{small}", f"lgbm_tpe@{large}", cases,
                        "LightGBM warm start")
    _print_head_to_head(rows, summary, f"fit@{seconds}", f"{OLD_SPACE}@{seconds}", cases,
                        "fit over the old space")
    timed = [f"fit@{seconds}", f"tpe_seconds@{seconds}", f"flaml_automl@{seconds}"]
    three = summarise(rows, entries=timed)["entries"]
    print(f"\n== {seconds} budget: mean rank among fit, tpe_seconds, flaml_automl ==")
    for label in timed:
        e = three.get(label)
        if e is None:
            print(f"{label}: no results")
            continue
        print(f"{label}: mean rank {_f(e['mean_rank'], 2)}, mean normalised "
              f"{_f(e['mean_normalised'])}, cases {e['datasets']}, failed {e['failed']}, "
              f"skipped {e['skipped']}")
    ranks = {label: three[label]["mean_rank"] for label in timed
             if label in three and three[label]["mean_rank"] is not None}
    if f"fit@{seconds}" in ranks and len(ranks) == 3:
        best = min(ranks, key=ranks.get)
        passed = all(ranks[f"fit@{seconds}"] < r for k, r in ranks.items()
                     if k != f"fit@{seconds}")
        print(f"bar fit has the best mean rank: {'PASS' if passed else 'FAIL'} (best: {best})")

    fits = [r for r in rows if r["method"] == "fit" and r.get("status") != "skipped"]
    overruns = [(float(r["seconds"]) / budget - 1.0, r["dataset"]) for r in fits]
    print(f"\n== fit budget: {len(fits)} runs of {seconds} ==")
    if overruns:
        worst, where = max(overruns)
        failed = [r["dataset"] for r in fits if r["status"] != "ok"]
        print(f"worst overrun {worst:+.1%} ({where}); mean wall "
              f"{np.mean([float(r['seconds']) for r in fits]):.1f} s; failed: "
              f"{', '.join(failed) or 'none'}")
        print(f"bar overrun <= 10%: {'PASS' if worst <= 0.10 else 'FAIL'}")


def _print_head_to_head(rows: list[dict[str, Any]], summary: dict[str, Any], ours: str,
                        theirs: str, cases: str, title: str) -> None:
    """``ours`` against ``theirs``, when the run has both: mean normalised test scores (all
    entries normalised together), the paired gap and the wins / ties / losses; the bar is
    more wins than losses and a mean at least as high."""
    from automl_meta.harness.summary import score_table

    entries = summary["entries"]
    mine, other = entries.get(ours), entries.get(theirs)
    if not mine or not other or mine["mean_normalised"] is None:
        return
    wins, ties, losses = mine["wins"][theirs], mine["ties"][theirs], other["wins"][ours]
    print(f"\n== {title}: {ours} vs {theirs} ({cases}) ==")
    print(f"mean normalised test score: {ours} {mine['mean_normalised']:.4f}, {theirs} "
          f"{other['mean_normalised']:.4f} (difference "
          f"{_paired_gap(score_table(rows), ours, theirs)}); wins {wins}, ties {ties}, "
          f"losses {losses}")
    passed = wins > losses and mine["mean_normalised"] >= other["mean_normalised"]
    print(f"bar {ours} beats {theirs}: {'PASS' if passed else 'FAIL'}")


def dataset_of(case: str) -> str:
    """The dataset a pooled case (``"<dataset> #<seed>"``, see :func:`pooled_rows`) is a
    split of; a name that is no pooled case is its own dataset."""
    name, separator, seed = case.rpartition(CASE_SEPARATOR)
    return name if separator and seed.isdigit() else case


def _paired_gap(table: Any, first: str, second: str) -> str:
    """Mean over datasets of (first - second) normalised score, each dataset's splits
    averaged first, with its standard error over the datasets."""
    wide = table.pivot_table(index="dataset", columns="entry", values="normalised")
    if first not in wide or second not in wide:
        return "n/a"
    diff = (wide[first] - wide[second]).dropna()
    per_dataset = diff.groupby(diff.index.map(dataset_of)).mean()
    if len(per_dataset) < 2:
        return f"{per_dataset.mean():+.3f}"
    sem = per_dataset.std(ddof=1) / math.sqrt(len(per_dataset))
    return f"{per_dataset.mean():+.3f} +- {sem:.3f} s.e.m. over {len(per_dataset)} datasets"


def _f(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


if __name__ == "__main__":
    main()
