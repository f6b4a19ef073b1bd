"""Do rankings change with size, and does the kNN's size correction follow them?

    python benchmarks/fidelity.py [--store build/v3.sqlite | --bundle meta_db]
                                  [--weights 0 0.5 1 2]

On every past dataset that ran the second fidelity (up to 10,000 rows; protocol
``cv3:s0:r10000``), held out with its family: the kNN learner fitted on the others ranks the
configurations the dataset ran at 10,000 rows, and its first pick (and best of three) is
scored by the 10,000-row scores there (regret: 0 = the best of them, 1 = the worst). Each
``--weights`` value is a ``KNNLearner(size_weight=...)``; 0 is the learner without the
correction. Two references: the dataset's own 1,000-row scores as the ranking (how much
rankings change with size), and those plus the shifts learned from the others.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from automl_meta.metalearners import KNNLearner, load_knowledge
from automl_meta.metalearners._fidelity import base_spread, size_shifts

ROOT = Path(__file__).resolve().parents[1]


def regret(scores: np.ndarray, ranking: np.ndarray, k: int) -> float:
    """1 - (best of the first k of ``ranking`` - worst) / (best - worst) of ``scores``."""
    spread = scores.max() - scores.min()
    if spread <= 1e-12:
        return 0.0
    return float((scores.max() - scores[ranking[:k]].max()) / spread)


def judge(knowledge, task: str, weights: list[float]) -> pd.DataFrame:
    matrix = knowledge.matrices[task]
    shifts = size_shifts(knowledge, task)
    if shifts is None:
        return pd.DataFrame()
    larger = knowledge.larger_runs[knowledge.larger_runs["rows"] == shifts.rows]
    column_of = {key: j for j, key in enumerate(matrix.configs)}
    algorithm_of = knowledge.configs["algorithm"]
    rows = []
    for index in shifts.datasets:
        fingerprint = matrix.datasets[index]
        family = knowledge.datasets.loc[fingerprint, "family"]
        runs = larger[larger["fingerprint"] == fingerprint]
        columns = np.array([column_of[c] for c in runs["config"]])
        truth = runs["score"].to_numpy(dtype=float)
        base = matrix.raw[index, columns]
        keep = np.isfinite(base)
        columns, truth, base = columns[keep], truth[keep], base[keep]
        learner = KNNLearner().fit(knowledge.without(families={family}))
        query = knowledge.metafeatures.loc[fingerprint]
        row = {"task": task, "dataset": knowledge.datasets.loc[fingerprint, "name"],
               "n_rows": float(query.get("nr_inst", np.nan)), "configs": len(columns)}
        for weight in weights:
            learner.size_weight = weight
            predicted = learner._neighbourhood(query, task).predicted[columns]
            order = np.argsort(-np.nan_to_num(predicted, nan=-np.inf), kind="stable")
            row[f"knn w={weight:g} @1"] = regret(truth, order, 1)
            row[f"knn w={weight:g} @3"] = regret(truth, order, 3)
        own = np.argsort(-base, kind="stable")
        row["own 1,000-row @1"] = regret(truth, own, 1)
        others = learner.size_shifts(task)
        if others is not None:
            spread = base_spread(matrix.raw[index], matrix.anchors) or 0.0
            per_algorithm = dict(zip(others.algorithms, others.for_query(
                np.ones(len(others.datasets)), row["n_rows"]), strict=True))
            moved = base + spread * np.array([per_algorithm.get(algorithm_of.loc[
                matrix.configs[j]], 0.0) for j in columns])
            row["own + others' shift @1"] = regret(truth, np.argsort(-moved, kind="stable"),
                                                   1)
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--store", help="a meta-db store (the v3 build's SQLite file)")
    where.add_argument("--bundle", default=str(ROOT / "meta_db"))
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
    parser.add_argument("--out", help="write the per-dataset regrets to this CSV")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.store:
        if "://" not in args.store and not Path(args.store).is_file():
            raise SystemExit(f"error: no meta-db store at {args.store}; give the v3 build's "
                             "SQLite file (python scripts/build_meta_db_v3.py --store ...)")
        knowledge = load_knowledge(user_db=args.store, include_shipped=False)
    else:
        knowledge = load_knowledge(args.bundle, include_shipped=True)
    frames = [judge(knowledge, task, args.weights) for task in sorted(knowledge.matrices)]
    frames = [f for f in frames if len(f)]
    if not frames:
        print("no dataset of this knowledge ran a second fidelity")
        return
    table = pd.concat(frames, ignore_index=True)
    if args.out:
        table.to_csv(args.out, index=False)
    metrics = [c for c in table.columns if c.endswith(("@1", "@3"))]
    print(f"{len(table)} datasets with both fidelities "
          f"({', '.join(f'{t} {n}' for t, n in table['task'].value_counts().items())}); "
          f"configurations judged per dataset: median {table['configs'].median():.0f}\n")
    print("| ranking | mean regret | s.e.m. |\n|---|---:|---:|")
    for metric in metrics:
        values = table[metric].dropna()
        spread = values.std(ddof=1) / np.sqrt(len(values))
        print(f"| {metric} | {values.mean():.3f} | {spread:.3f} |")
    baseline = f"knn w={args.weights[0]:g} @1"
    for weight in args.weights[1:]:
        other = table[f"knn w={weight:g} @1"]
        wins = int((other < table[baseline] - 1e-9).sum())
        losses = int((other > table[baseline] + 1e-9).sum())
        print(f"\nknn w={weight:g} against {baseline}: {wins} better, "
              f"{len(table) - wins - losses} equal, {losses} worse (first pick)")


if __name__ == "__main__":
    main()
