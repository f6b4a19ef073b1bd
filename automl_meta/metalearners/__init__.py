"""Meta-learners: turn the meta-database into recommendations for a new dataset."""

from __future__ import annotations

from pathlib import Path

from automl_meta.metalearners._base import (
    LEARNERS,
    LearnerRegistry,
    MetaLearner,
    Recommendation,
    register_learner,
    unregister_learner,
)
from automl_meta.metalearners._knowledge import MetaKnowledge, TaskMatrix, load_knowledge
from automl_meta.metalearners._sequential import SequentialLearner
from automl_meta.metalearners.knn import KNNLearner
from automl_meta.metalearners.neural import NeuralLearner  # torch-free until used
from automl_meta.metalearners.portfolio import PortfolioLearner, greedy_portfolio
from automl_meta.metalearners.ranker import RankerLearner

# The shipped strategies, in the order help texts list them and `db train` fits them. A new
# learner is its module plus one line here (or register_learner(...) in a plugin's module).
register_learner(KNNLearner)
register_learner(PortfolioLearner)
register_learner(RankerLearner)
register_learner(NeuralLearner)


def load_learner(path: str | Path) -> MetaLearner:
    """Load a saved learner (``knn.json``, ``portfolio.json``, ``ranker.json``, ...),
    with the files its class saves beside the JSON (:meth:`MetaLearner.load_files`).

    Example:
        >>> learner = load_learner("meta_db/learners/portfolio.json")  # doctest: +SKIP
        >>> learner.recommend({}, "classification", k=3)  # doctest: +SKIP
    """
    learner = MetaLearner.load(path)
    learner.load_files(Path(path).parent)
    return learner


__all__ = [
    "LEARNERS",
    "KNNLearner",
    "LearnerRegistry",
    "MetaKnowledge",
    "MetaLearner",
    "NeuralLearner",
    "PortfolioLearner",
    "RankerLearner",
    "Recommendation",
    "SequentialLearner",
    "TaskMatrix",
    "greedy_portfolio",
    "load_knowledge",
    "load_learner",
    "register_learner",
    "unregister_learner",
]
