"""Training the shipped meta-learners and choosing the ``auto`` strategy."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from automl_meta.metadb._learners import record_learner_checksums
from automl_meta.metalearners._base import LEARNERS, MetaLearner
from automl_meta.metalearners._knowledge import MetaKnowledge
from automl_meta.metalearners.lodo import lodo_regret, summarise

STRATEGY_FILE = "strategy.json"


def lodo_factories(fast: bool = True) -> dict[str, Callable[[], MetaLearner]]:
    """The registered learners judged leave-one-dataset-out (``lodo_judged``), each built
    by its class's ``lodo_learner(fast)`` (the ranker ranks the grid only there).

    Example:
        >>> list(lodo_factories())
        ['knn', 'portfolio', 'ranker']
    """
    return {name: functools.partial(cls.lodo_learner, fast)
            for name, cls in LEARNERS.items() if cls.lodo_judged}


def trained_learners() -> list[MetaLearner]:
    """New instances of the registered learners ``db train`` fits and saves (``trained``)."""
    return [cls() for cls in LEARNERS.values() if cls.trained]


def train_learners(knowledge: MetaKnowledge, out: str | Path, evaluate: bool = True,
                   progress: bool = False) -> dict[str, Any]:
    """Fit every learner on all of ``knowledge``, save them in ``out`` and pick ``auto``.

    With ``evaluate``, the leave-one-dataset-out regret of each learner decides the
    ``auto`` strategy (see :func:`choose_auto`) and is saved next to the learners as
    ``lodo.csv``; without it ``auto`` is ``knn``. When ``out`` is a bundle's
    ``learners/``, the checksums of its files are recorded in the bundle's manifest.
    """

    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    for learner in trained_learners():
        learner.fit(knowledge).save(directory)
    choice: dict[str, Any] = {"auto": "knn", "datasets": int(len(knowledge.datasets))}
    if evaluate:
        factories = lodo_factories()
        results = lodo_regret(knowledge, factories, progress=progress,
                              grouped=LEARNERS.groups(judged_only=True))
        results.to_csv(directory / "lodo.csv", index=False)
        summary = summarise(results)
        best = choose_auto(summary, list(factories))
        choice.update({"auto": best, "lodo_mean_regret": summary.round(4).to_dict()})
    (directory / STRATEGY_FILE).write_text(json.dumps(choice, indent=1) + "\n")
    record_learner_checksums(directory)  # in the bundle's manifest, when it is a bundle's
    return choice


def choose_auto(summary: Any, learners: list[str]) -> str:
    """The ``auto`` strategy from a leave-one-dataset-out summary (one row per method).

    The lowest regret@1 among the learners whose top 5 hedge well (regret@5 at most half
    of five random configurations'), else the lowest regret@1 of all: a first pick that
    is marginally better but whose next four are worse is not what a warm start wants.

    Example:
        >>> import pandas as pd
        >>> summary = pd.DataFrame({"regret@1": [0.20, 0.21, 0.47],
        ...                         "regret@5": [0.09, 0.07, 0.16]},
        ...                        index=["portfolio", "knn", "random"])
        >>> choose_auto(summary, ["portfolio", "knn"])
        'knn'
    """
    ranked = summary.loc[summary.index.isin(learners)].sort_values(["regret@1", "regret@5"])
    hedged = ranked[ranked["regret@5"] <= summary.loc["random", "regret@5"] / 2]
    return str((hedged if len(hedged) else ranked).index[0])
