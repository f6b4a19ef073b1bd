"""The grid behind the kNN learner's defaults: leave-one-dataset-out regret of each setting.

    python benchmarks/knn_grid.py [BUNDLE]

Settings: n_neighbors x bandwidth x shrinkage (see ``KNNLearner``); sorted by regret@5,
with half of random-5 (the issue's bar) beside it. Choosing on the same evaluation is
optimistic: read the spread of the neighbouring settings, not only the best row.
"""

from __future__ import annotations

import itertools
import sys
import warnings

from automl_meta.metalearners import KNNLearner, load_knowledge
from automl_meta.metalearners.lodo import lodo_regret, summarise


def main() -> None:
    warnings.simplefilter("ignore")
    knowledge = load_knowledge(sys.argv[1] if len(sys.argv) > 1 else "meta_db", False)
    learners = {}
    for n, bandwidth, shrinkage in itertools.product([10, 20, 30], [0.05, 0.2],
                                                     [0.0, 0.2, 0.35, 0.5]):
        learners[f"n{n}_bw{bandwidth}_sh{shrinkage}"] = (
            lambda n=n, b=bandwidth, s=shrinkage: KNNLearner(n, True, b, s))
    summary = summarise(lodo_regret(knowledge, learners, progress=True))
    summary["half_random@5"] = summary.loc["random", "regret@5"] / 2
    print(summary.sort_values("regret@5").round(3).to_string())


if __name__ == "__main__":
    main()
