"""A learner encodes configurations over the algorithms it was fitted on, so registering
more algorithms later (``register_boosting()``, or ``warm_start(algorithm="lightgbm")``
on demand) leaves the shipped ranker and neural learner working."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from automl_meta.config import shipped_meta_db_dir
from automl_meta.metalearners import load_knowledge, load_learner
from automl_meta.space import BOOSTING, algorithms, register_boosting, unregister

LEARNERS_DIR = shipped_meta_db_dir() / "learners"


@pytest.fixture
def boosting_registered() -> Iterator[None]:
    before = set(algorithms("classification"))
    register_boosting()
    yield
    for algorithm in BOOSTING:
        if algorithm.name not in before:
            unregister(algorithm.name, algorithm.task)


@pytest.mark.parametrize("strategy", ["ranker", "neural"])
def test_shipped_learners_recommend_after_more_algorithms_are_registered(
        strategy: str, boosting_registered: None) -> None:
    if strategy == "neural":
        pytest.importorskip("torch")
    path = LEARNERS_DIR / f"{strategy}.json"
    if not path.is_file():
        pytest.skip(f"no shipped {strategy} learner")
    assert "lightgbm" in algorithms("classification")
    learner = load_learner(path)
    knowledge = load_knowledge(user_db=False)
    features = knowledge.metafeatures.iloc[0]
    task = knowledge.datasets.iloc[0]["task"]
    recs = learner.recommend(features, task, k=3)
    assert len(recs) == 3
    assert all(r.algorithm not in {a.name for a in BOOSTING} for r in recs)
