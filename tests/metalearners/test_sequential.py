"""The sequential-proposal contract (issue #20): the neural learner implements
``SequentialLearner``; its split into modules changed none of its proposals; a second,
toy proposer passes the same checks; ``time_budget`` became ``budget``."""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from automl_meta.metalearners import LEARNERS, SequentialLearner, load_knowledge
from automl_meta.metalearners.neural import NeuralLearner
from tests.metalearners._sequential_checks import WalkLearner, check_sequential_contract

SHIPPED = Path(__file__).resolve().parents[2] / "meta_db"
WEIGHTS = SHIPPED / "learners" / "neural.safetensors"
RECORDED = Path(__file__).with_name("neural_proposals.json")
NUMBER = re.compile(r"-?\d+\.\d+")


def recorded() -> dict[str, Any]:
    return json.loads(RECORDED.read_text())


def arguments(data: dict[str, Any], case: dict[str, Any]) -> tuple[Any, ...]:
    """``propose``'s arguments for a recorded case (indices into the dataset's grid)."""
    dataset = data["datasets"][case["dataset"]]
    grid = dataset["grid"]
    metafeatures = {k: (math.nan if v is None else v)
                    for k, v in dataset["metafeatures"].items()}
    observed = [(grid[j], score) for j, score in case["observed"]]
    candidates = None if case["candidates"] is None else grid[slice(*case["candidates"])]
    return (metafeatures, dataset["task"], observed, case["k"], candidates,
            [grid[j] for j in case["exclude"]])


@pytest.fixture(scope="module")
def loaded() -> NeuralLearner:
    pytest.importorskip("torch")
    if not WEIGHTS.is_file():
        pytest.skip("needs the shipped meta_db/ with its neural learner")
    return NeuralLearner.load(SHIPPED / "learners" / "neural.json", device="cpu")


@pytest.fixture(scope="module")
def shipped(loaded: NeuralLearner) -> NeuralLearner:
    """The shipped learner, when its weights are those neural_proposals.json was recorded
    with (meta-db v3 retrained them; the split it guarded was checked on the old ones)."""
    if hashlib.sha256(WEIGHTS.read_bytes()).hexdigest() != recorded()["weights_sha256"]:
        pytest.skip("the shipped neural weights changed since neural_proposals.json was "
                    "recorded: record it again from the commit before the change")
    return loaded


def test_the_split_learner_proposes_what_the_single_class_did(shipped: NeuralLearner) -> None:
    # neural_proposals.json was recorded with the 466-line NeuralLearner, before the split
    data = recorded()
    assert len(data["cases"]) == 16
    for number, case in enumerate(data["cases"]):
        metafeatures, task, observed, k, candidates, exclude = arguments(data, case)
        got = [r.to_dict() for r in shipped.propose(metafeatures, task, observed, k=k,
                                                     candidates=candidates, exclude=exclude)]
        want = case["expected"]
        assert [(r["algorithm"], r["params"], r["rank"], r["strategy"]) for r in got] == \
            [(r["algorithm"], r["params"], r["rank"], r["strategy"]) for r in want], number
        for mine, theirs in zip(got, want, strict=True):
            assert mine["predicted_score"] == pytest.approx(theirs["predicted_score"],
                                                            rel=1e-5, abs=1e-7)
            for key in ("std", "expected_improvement"):
                assert mine["details"][key] == pytest.approx(theirs["details"][key],
                                                             rel=1e-5, abs=1e-7)
            assert mine["details"]["observed"] == theirs["details"]["observed"]
            assert NUMBER.sub("#", mine["why"]) == NUMBER.sub("#", theirs["why"])
    # the recorded cases cover both branches: zero-shot ranking and expected improvement
    eis = [r["details"]["expected_improvement"] for c in data["cases"] for r in c["expected"]]
    assert None in eis and any(ei is not None for ei in eis)


def test_neural_learner_honours_the_sequential_contract(loaded: NeuralLearner) -> None:
    data = recorded()
    metafeatures, task, *_ = arguments(data, data["cases"][0])
    assert LEARNERS["neural"] is NeuralLearner and issubclass(NeuralLearner, SequentialLearner)
    check_sequential_contract(loaded, metafeatures, task)
    assert loaded.candidate_pool(task) == loaded.tasks[task]["candidates"]


def test_only_the_sequential_learners_are_marked_sequential() -> None:
    sequential = {name for name, cls in LEARNERS.items() if cls.sequential}
    assert "neural" in sequential
    assert not sequential & {"knn", "portfolio", "ranker"}
    assert all(issubclass(LEARNERS[name], SequentialLearner) for name in sequential)


def test_a_toy_sequential_learner_passes_the_same_checks() -> None:
    knowledge = load_knowledge(SHIPPED, user_db=False) if SHIPPED.is_dir() else None
    if knowledge is None:
        pytest.skip("needs the shipped meta_db/")
    learner = WalkLearner().fit(knowledge)
    check_sequential_contract(learner, {}, "classification")
    # it reads the observations: a successful trial steers it to that trial's algorithm
    pool = learner.candidate_pool("classification")
    other = next(c for c in pool if c["algorithm"] != pool[0]["algorithm"])
    after = learner.propose({}, "classification", [(other, 0.9)], k=3)
    assert all(r.algorithm == other["algorithm"] for r in after)


def test_time_budget_is_budget_under_its_deprecated_name() -> None:
    with pytest.warns(DeprecationWarning, match="time_budget.*budget"):
        old = NeuralLearner(time_budget=30.0)
    assert old.budget == 30.0
    with pytest.warns(DeprecationWarning, match="time_budget"):
        assert old.time_budget == 30.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert NeuralLearner(budget=12.0).budget == 12.0
        assert NeuralLearner(budget=5.0, time_budget=None).budget == 5.0
    with pytest.raises(Exception, match="disagree"), pytest.warns(DeprecationWarning):
        NeuralLearner(budget=5.0, time_budget=6.0)


def test_a_state_saved_with_time_budget_still_loads(tmp_path: Path) -> None:
    pytest.importorskip("safetensors")
    learner = NeuralLearner(budget=7.0, memory_weight=0.0)
    learner.tasks = {"classification": {"candidates": []}}
    state, arrays = learner._state()
    assert state["params"]["budget"] == 7.0 and "time_budget" not in state["params"]
    state["params"]["time_budget"] = state["params"].pop("budget")  # as older releases saved
    (tmp_path / "neural.json").write_text(json.dumps(
        {"learner": "neural", "version": "0", "state": state, "arrays": []}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # loading an old file is not the user's deprecation
        loaded = NeuralLearner.load(tmp_path / "neural.json")
    assert loaded.budget == 7.0 and loaded.tasks == learner.tasks
