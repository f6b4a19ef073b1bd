"""A toy sequential learner and the checks every sequential learner must pass (shared by
``tests/metalearners/test_sequential.py`` and ``tests/advice/test_meta_sampler_proposer.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from automl_meta.metalearners import MetaKnowledge, Recommendation, SequentialLearner
from automl_meta.metalearners._base import check_k
from automl_meta.space import config_hash


class WalkLearner(SequentialLearner):
    """A toy proposer: ranks its pool by the mean normalised score past datasets gave each
    configuration; once a trial succeeded, it prefers the best trial's algorithm. It counts
    its ``propose`` calls (the number of observations each time) in ``calls``."""

    name = "toy_walk"
    train_hint = "fit a WalkLearner and save it"

    def __init__(self, pool: Mapping[str, Sequence[dict[str, Any]]] | None = None) -> None:
        self.tasks: dict[str, dict[str, Any]] = {
            task: {"candidates": [dict(c) for c in configs],
                   "prior": [1.0 - i / max(len(configs), 1) for i in range(len(configs))]}
            for task, configs in (pool or {}).items()}
        self.calls: list[int] = []

    def fit(self, knowledge: MetaKnowledge) -> WalkLearner:
        self.tasks = {}
        for task, matrix in knowledge.matrices.items():
            if matrix.datasets:
                means = np.nan_to_num(np.nanmean(matrix.normalised, axis=0), nan=0.0)
                self.tasks[task] = {"candidates": [knowledge.config(c) for c in matrix.configs],
                                    "prior": [float(m) for m in means]}
        return self

    def knows_task(self, task: str) -> bool:
        return task in self.tasks

    def candidate_pool(self, task: str) -> list[dict[str, Any]]:
        return list(self.tasks[task]["candidates"])

    def propose(self, metafeatures: Mapping[str, float] | pd.Series, task: str,
                observed: Sequence[tuple[dict[str, Any], float | None]] = (), k: int = 1,
                candidates: Sequence[dict[str, Any]] | None = None,
                exclude: Iterable[dict[str, Any]] = ()) -> list[Recommendation]:
        k = check_k(k)
        if task not in self.tasks:
            return []
        self.calls.append(len(observed))
        info = self.tasks[task]
        prior = {config_hash(c): p for c, p in zip(info["candidates"], info["prior"],
                                                   strict=True)}
        banned = {config_hash(c) for c, _ in observed} | {config_hash(c) for c in exclude}
        free: dict[str, dict[str, Any]] = {}
        for config in (info["candidates"] if candidates is None else candidates):
            key = config_hash(config)
            if key not in banned:
                free.setdefault(key, config)
        scored = [(c, s) for c, s in observed if s is not None and math.isfinite(s)]
        best = max(scored, key=lambda pair: pair[1])[0]["algorithm"] if scored else None
        order = sorted(enumerate(free.items()), key=lambda item: (
            best is not None and item[1][1]["algorithm"] != best,
            -prior.get(item[1][0], 0.0), item[0]))
        return [Recommendation(config["algorithm"], dict(config["params"]),
                               prior.get(key, 0.0), self.name,
                               f"toy: {len(observed)} trials observed", rank=rank)
                for rank, (_, (key, config)) in enumerate(order[:k], start=1)]

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"tasks": self.tasks}, {}

    @classmethod
    def _from_state(cls, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> WalkLearner:
        learner = cls()
        learner.tasks = state["tasks"]
        return learner


def check_sequential_contract(learner: SequentialLearner, metafeatures: Mapping[str, float],
                              task: str) -> None:
    """What ``MetaSampler`` relies on from any sequential learner fitted on ``task``."""
    assert isinstance(learner, SequentialLearner) and type(learner).sequential is True
    assert learner.knows_task(task) and not learner.knows_task("no_such_task")
    assert learner.propose(metafeatures, "no_such_task", (), k=1) == []
    pool = learner.candidate_pool(task)
    assert len(pool) >= 8
    in_pool = {config_hash(c) for c in pool}

    first = learner.propose(metafeatures, task, (), k=3)
    assert 1 <= len(first) <= 3 and [r.rank for r in first] == list(range(1, len(first) + 1))
    assert len({config_hash(r.config) for r in first}) == len(first)
    assert {config_hash(r.config) for r in first} <= in_pool
    assert all(r.strategy == learner.name for r in first)
    assert [r.config for r in learner.recommend(metafeatures, task, k=3)] == \
        [r.config for r in first]

    observed = [(first[0].config, 0.8), (pool[-1], None)]  # one failed trial
    exclude = [first[-1].config, *pool[:2]]
    banned = {config_hash(c) for c, _ in observed} | {config_hash(c) for c in exclude}
    after = learner.propose(metafeatures, task, observed, k=4, exclude=exclude)
    assert 1 <= len(after) <= 4
    assert not {config_hash(r.config) for r in after} & banned
    assert len({config_hash(r.config) for r in after}) == len(after)
    again = learner.propose(metafeatures, task, observed, k=4, exclude=exclude)
    assert [r.config for r in again] == [r.config for r in after]  # deterministic

    candidates = pool[:8]
    allowed = {config_hash(c) for c in candidates} - banned
    within = learner.propose(metafeatures, task, observed, k=20, candidates=candidates,
                             exclude=exclude)
    assert 1 <= len(within) <= len(allowed)
    assert {config_hash(r.config) for r in within} <= allowed
    everything = [*candidates, *(c for c, _ in observed), *exclude]
    assert learner.propose(metafeatures, task, observed, k=2, candidates=candidates,
                           exclude=everything) == []
