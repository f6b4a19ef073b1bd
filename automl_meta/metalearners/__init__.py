"""Meta-learners: turn the meta-database into recommendations for a new dataset."""

from __future__ import annotations

from pathlib import Path

from automl_meta.metalearners._base import MetaLearner, Recommendation
from automl_meta.metalearners._knowledge import MetaKnowledge, TaskMatrix, load_knowledge
from automl_meta.metalearners.knn import KNNLearner
from automl_meta.metalearners.neural import NeuralLearner  # torch-free until used
from automl_meta.metalearners.portfolio import PortfolioLearner, greedy_portfolio
from automl_meta.metalearners.ranker import RankerLearner

LEARNERS = {"knn": KNNLearner, "portfolio": PortfolioLearner, "ranker": RankerLearner,
            "neural": NeuralLearner}


def load_learner(path: str | Path) -> MetaLearner:
    """Load a saved learner (``knn.json``, ``portfolio.json``, ``ranker.json``, ...).

    Example:
        >>> learner = load_learner("meta_db/learners/portfolio.json")  # doctest: +SKIP
        >>> learner.recommend({}, "classification", k=3)  # doctest: +SKIP
    """
    learner = MetaLearner.load(path)
    if isinstance(learner, RankerLearner):
        RankerLearner.load_models(learner, Path(path).parent)
    return learner


__all__ = [
    "LEARNERS",
    "KNNLearner",
    "MetaKnowledge",
    "MetaLearner",
    "NeuralLearner",
    "PortfolioLearner",
    "RankerLearner",
    "Recommendation",
    "TaskMatrix",
    "greedy_portfolio",
    "load_knowledge",
    "load_learner",
]
