"""Training the shipped meta-learners and choosing the ``auto`` strategy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from automl_meta.metalearners._knowledge import MetaKnowledge
from automl_meta.metalearners.knn import KNNLearner
from automl_meta.metalearners.portfolio import PortfolioLearner
from automl_meta.metalearners.ranker import RankerLearner

STRATEGY_FILE = "strategy.json"
RANKER_GROUPS = 10  # the ranker is refitted per group of families, not per family


def lodo_factories(fast: bool = True) -> dict[str, Any]:
    """The learners judged leave-one-dataset-out (the ranker ranks the grid only there)."""
    return {
        "knn": lambda: KNNLearner(),
        "portfolio": lambda: PortfolioLearner(),
        "ranker": lambda: RankerLearner(max_iter=100 if fast else 300, extra_candidates=0),
    }


def train_learners(knowledge: MetaKnowledge, out: str | Path, evaluate: bool = True,
                   progress: bool = False) -> dict[str, Any]:
    """Fit every learner on all of ``knowledge``, save them in ``out`` and pick ``auto``.

    With ``evaluate``, the leave-one-dataset-out regret of each learner decides the
    ``auto`` strategy (lowest mean regret@1, ties broken by regret@5) and is saved next to
    the learners as ``lodo.csv``; without it ``auto`` is ``knn``.
    """
    from automl_meta.benchmark.lodo import lodo_regret, summarise

    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    from automl_meta.metalearners.neural import NeuralLearner

    for learner in (KNNLearner(), PortfolioLearner(), RankerLearner(), NeuralLearner()):
        learner.fit(knowledge).save(directory)
    choice: dict[str, Any] = {"auto": "knn", "datasets": int(len(knowledge.datasets))}
    if evaluate:
        results = lodo_regret(knowledge, lodo_factories(), progress=progress,
                              grouped={"ranker": RANKER_GROUPS})
        results.to_csv(directory / "lodo.csv", index=False)
        summary = summarise(results)
        learners = summary.loc[summary.index.isin(list(lodo_factories()))]
        best = learners.sort_values(["regret@1", "regret@5"]).index[0]
        choice.update({"auto": str(best), "lodo_mean_regret": summary.round(4).to_dict()})
    (directory / STRATEGY_FILE).write_text(json.dumps(choice, indent=1) + "\n")
    return choice
