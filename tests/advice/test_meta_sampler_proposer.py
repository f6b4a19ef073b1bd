"""``MetaSampler`` with any sequential learner (issue #20): a toy proposer, registered once,
proposes every startup trial of an Optuna study, with no change to the sampler."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

from automl_meta import MetaSampler
from automl_meta.advice import Recommender
from automl_meta.errors import AutoMLMetaWarning, ConfigurationError
from automl_meta.metalearners import (
    LEARNERS,
    load_knowledge,
    register_learner,
    unregister_learner,
)
from automl_meta.metalearners.neural import NeuralLearner
from automl_meta.space import config_hash, suggest, trial_params_to_config
from tests.metalearners._sequential_checks import WalkLearner

optuna.logging.set_verbosity(optuna.logging.WARNING)

TASK = "classification"
LINEAR = [{"algorithm": "linear", "params": {"C": float(c), "class_weight": None}}
          for c in np.logspace(-3, 3, 7)]
KNN = [{"algorithm": "knn", "params": {"n_neighbors": k, "weights": "uniform", "p": 2}}
       for k in (1, 5, 15, 40)]
POOL = [*(c for pair in zip(LINEAR, KNN, strict=False) for c in pair), *LINEAR[len(KNN):]]
SHIPPED = Path(__file__).resolve().parents[2] / "meta_db"


@pytest.fixture
def walk() -> Iterator[type[WalkLearner]]:
    """The toy registered as the strategy ``toy_walk`` for one test: one registration."""
    register_learner(WalkLearner)
    try:
        yield WalkLearner
    finally:
        unregister_learner(WalkLearner.name)


def objective(trial: optuna.Trial) -> float:
    """Higher for larger C and for knn's neighbours nearer 15."""
    config = suggest(trial, TASK, ["linear", "knn"])
    params = config["params"]
    if config["algorithm"] == "linear":
        return 0.5 + 0.05 * math.log10(params["C"])
    return 0.6 - abs(params["n_neighbors"] - 15) / 100


def configs_of(study: optuna.Study) -> list[dict[str, Any]]:
    return [trial_params_to_config(t.params) for t in study.trials]


@pytest.fixture(scope="module")
def recommender() -> Recommender:
    if not (SHIPPED / "config.parquet").is_file():
        pytest.skip("needs the shipped meta_db/")
    return Recommender(load_knowledge(SHIPPED, user_db=False))


def test_a_registered_toy_learner_proposes_every_startup_trial(
        walk: type[WalkLearner]) -> None:
    assert LEARNERS["toy_walk"] is walk and walk.sequential
    toy = walk({TASK: POOL})
    sampler = MetaSampler({"u": 0.5}, task=TASK, n_startup=6, strategy="toy_walk",
                          learner=toy, seed=0)
    assert sampler.guide is not None and sampler.guide.learner is toy
    assert sampler.guide.strategy == "toy_walk" and sampler.recommendations == []
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=8)
    assert toy.calls == [0, 1, 2, 3, 4, 5]  # asked once per startup trial, then TPE's turn
    configs = configs_of(study)
    for n in range(6):
        observed = [(configs[j], study.trials[j].value) for j in range(n)]
        want = toy.propose({"u": 0.5}, TASK, observed, k=1, exclude=configs[:n])
        assert configs[n] == want[0].config, n
    assert len({config_hash(c) for c in configs[:6]}) == 6
    assert {config_hash(c) for c in configs[:6]} <= {config_hash(c) for c in POOL}
    # the toy read the study: its prior alternates the algorithms, but after the first
    # (linear) trial it kept to the best trial's algorithm
    assert [r.algorithm for r in toy.recommend({}, TASK, k=4)] == ["linear", "knn"] * 2
    assert [c["algorithm"] for c in configs[:6]] == ["linear"] * 6
    assert len(sampler._proposed) == 6


def test_the_saved_learner_is_found_under_its_strategy_name(
        walk: type[WalkLearner], recommender: Recommender, tmp_path: Path) -> None:
    trained = walk().fit(recommender.knowledge)
    assert trained.save(tmp_path).name == "toy_walk.json"
    db = Recommender(recommender.knowledge, learners_dir=tmp_path)
    sampler = MetaSampler({"u": 0.5}, task=TASK, n_startup=2, strategy="toy_walk", db=db)
    assert isinstance(sampler.guide.learner, WalkLearner)
    assert sampler.guide.learner is not trained
    assert sampler.guide.pool == trained.candidate_pool(TASK)


def test_without_a_saved_learner_it_warns_by_strategy_and_recommends(
        walk: type[WalkLearner], recommender: Recommender, tmp_path: Path) -> None:
    db = Recommender(recommender.knowledge, learners_dir=tmp_path)
    with pytest.warns(AutoMLMetaWarning, match=r"strategy='toy_walk'.*'toy_walk' meta-learner "
                      r"has no trained weights \(toy_walk.json\).*fit a WalkLearner"):
        sampler = MetaSampler({"u": 0.5}, task=TASK, n_startup=3, strategy="toy_walk", db=db)
    assert sampler.guide is None and len(sampler.recommendations) == 3
    assert all(r.strategy != "toy_walk" for r in sampler.recommendations)


def test_a_missing_requirement_is_named(recommender: Recommender) -> None:
    class NeedyLearner(WalkLearner):
        name = "toy_needy"
        requires = ("no_such_package_h3",)

    register_learner(NeedyLearner)
    try:
        with pytest.warns(AutoMLMetaWarning, match="'toy_needy'.*needs no_such_package_h3"):
            sampler = MetaSampler({"u": 0.5}, task=TASK, n_startup=2, strategy="toy_needy",
                                  learner=NeedyLearner({TASK: POOL}), db=recommender)
    finally:
        unregister_learner("toy_needy")
    assert sampler.guide is None and len(sampler.recommendations) == 2


def test_errors_and_warnings_name_the_strategy(walk: type[WalkLearner]) -> None:
    with pytest.raises(ConfigurationError, match="NeuralLearner.*strategy='toy_walk'.*Walk"):
        MetaSampler({"u": 0.5}, task=TASK, n_startup=2, strategy="toy_walk",
                    learner=NeuralLearner())
    with pytest.raises(ConfigurationError, match="strategy='toy_walk'.*param_map"):
        MetaSampler({"u": 0.5}, task=TASK, n_startup=2, strategy="toy_walk",
                    learner=walk({TASK: POOL}), param_map=lambda config: {})
    sampler = MetaSampler({"u": 0.5}, task=TASK, n_startup=2, strategy="toy_walk",
                          learner=walk({TASK: POOL}))
    study = optuna.create_study(directions=["maximize", "maximize"], sampler=sampler)
    with pytest.warns(AutoMLMetaWarning, match=r"MetaSampler\(strategy='toy_walk'\) guides "
                      "single-objective"):
        study.optimize(lambda trial: (objective(trial), 0.0), n_trials=1)


def test_after_unregistering_the_strategy_is_gone(walk: type[WalkLearner],
                                                  recommender: Recommender) -> None:
    unregister_learner("toy_walk")
    try:
        assert "toy_walk" not in LEARNERS
        with pytest.raises(ConfigurationError, match="toy_walk"):
            MetaSampler({"u": 0.5}, task=TASK, n_startup=2, strategy="toy_walk",
                        learner=walk({TASK: POOL}), db=recommender)
    finally:
        register_learner(walk)  # the fixture unregisters it
