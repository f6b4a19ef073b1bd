"""Leave-one-dataset-out judgement of the meta-learners on a meta-database.

    python benchmarks/metalearners.py [--bundle meta_db] [--ranker] [--plot out.png]

For every dataset, each learner is fitted without the dataset's family and its top-k
recommendations are scored by the dataset's stored CV scores (normalised regret: 0 = the
best known configuration). Baselines: random configurations (exact expectation), the best
single default (chosen on the training datasets) and each algorithm's default.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from automl_meta.metalearners import KNNLearner, PortfolioLearner, RankerLearner, load_knowledge
from automl_meta.metalearners._train import choose_auto
from automl_meta.metalearners.lodo import LODO_KS, lodo_regret, summarise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundle", default=str(Path(__file__).resolve().parents[1] / "meta_db"))
    parser.add_argument("--ranker", action="store_true", help="also judge the ranker "
                        "(refitted per group of families: slow)")
    parser.add_argument("--plot", default=None, help="write a regret-vs-k plot (PNG)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    knowledge = load_knowledge(args.bundle, False)
    sizes = {task: len(m.datasets) for task, m in knowledge.matrices.items()}
    learners = {"knn": KNNLearner, "portfolio": PortfolioLearner}
    grouped = {}
    if args.ranker:
        learners["ranker"] = lambda: RankerLearner(max_iter=100, extra_candidates=0)
        grouped["ranker"] = 10
    results = lodo_regret(knowledge, learners, grouped=grouped, progress=True)
    summary = summarise(results)
    print(f"datasets per task: {sizes}\n")
    print("| method | " + " | ".join(f"regret@{k}" for k in LODO_KS) + " |")
    print("|---|" + "---:|" * len(LODO_KS))
    for method, row in summary.iterrows():
        print(f"| {method} | " + " | ".join(f"{row[f'regret@{k}']:.3f}" for k in LODO_KS)
              + " |")
    chosen = choose_auto(summary, list(learners))
    best = summary.loc[chosen]
    random = summary.loc["random"]
    print(f"\nauto = {chosen} (automl_meta.metalearners._train.choose_auto); its top-1 "
          f"regret is {1 - best['regret@1'] / random['regret@1']:.0%} "
          f"lower than random; top-5 {best['regret@5']:.3f} vs half of random-5 "
          f"{random['regret@5'] / 2:.3f}; best default top-1 "
          f"{summary.loc['best_default', 'regret@1']:.3f}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for method in [*learners, "random", "best_default"]:
            ax.plot(LODO_KS, [summary.loc[method, f"regret@{k}"] for k in LODO_KS],
                    marker="o", label=method)
        ax.set_xlabel("k (configurations tried)")
        ax.set_ylabel("mean normalised regret")
        ax.set_title("Leave-one-dataset-out on the shipped meta-db")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"plot written to {args.plot}")


if __name__ == "__main__":
    main()
