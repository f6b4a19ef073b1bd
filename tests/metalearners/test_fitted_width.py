"""A learner encodes configurations over the algorithms it was fitted on, so registering
more algorithms later (an extension's ``register()``) leaves the shipped ranker and neural
learner working, and they never recommend an algorithm they were not fitted on."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from automl_meta.config import shipped_meta_db_dir
from automl_meta.metalearners import load_knowledge, load_learner
from automl_meta.space import algorithms, get_algorithm, register, unregister

LEARNERS_DIR = shipped_meta_db_dir() / "learners"
EXTRA = "knn_copy"


@pytest.fixture
def one_more_algorithm() -> Iterator[None]:
    for task in ("classification", "regression"):
        register(dataclasses.replace(get_algorithm("knn", task), name=EXTRA))
    yield
    unregister(EXTRA)


@pytest.mark.parametrize("strategy", ["ranker", "neural"])
def test_shipped_learners_recommend_after_more_algorithms_are_registered(
        strategy: str, one_more_algorithm: None) -> None:
    if strategy == "neural":
        pytest.importorskip("torch")
    path = LEARNERS_DIR / f"{strategy}.json"
    if not path.is_file():
        pytest.skip(f"no shipped {strategy} learner")
    assert EXTRA in algorithms("classification")
    learner = load_learner(path)
    knowledge = load_knowledge(user_db=False)
    for fingerprint in knowledge.datasets.index[:: max(1, len(knowledge.datasets) // 6)]:
        features = knowledge.metafeatures.loc[fingerprint]
        task = knowledge.datasets.loc[fingerprint, "task"]
        recs = learner.recommend(features, task, k=3)
        assert len(recs) == 3
        assert all(r.algorithm in algorithms(task) and r.algorithm != EXTRA for r in recs)
