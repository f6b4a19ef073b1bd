"""The bar of issue #20: a new meta-learner or algorithm is one module plus one registration.

``toy_learner.py`` and ``toy_algorithm.py`` are those modules; the fixtures below are the
registrations (and undo them, so no other test sees the toys). Once registered, each is a
strategy / an algorithm everywhere, and passes the same contract checks as the shipped ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from automl_meta import evaluate
from automl_meta.errors import ArtifactError, ConfigurationError
from automl_meta.metalearners import LEARNERS, register_learner, unregister_learner
from automl_meta.space import REGISTRY, algorithms, register, sample_configs, unregister
from tests.contracts.checks import (
    check_algorithm_declaration,
    check_fit_predict,
    check_learner_traits,
    check_recommend_accepts_strategy,
    check_recommendations,
    check_refit_reflects_new_knowledge,
    check_sampled_configs_build,
    check_save_and_safe_load,
    check_save_load,
    contract_knowledge,
    fitted_model,
    new_learner,
    tiny_dataset,
)
from tests.contracts.toy_algorithm import TOY_CLASSIFIER, TOY_REGRESSOR
from tests.contracts.toy_learner import BestMeanLearner

TOY = BestMeanLearner.name


@pytest.fixture
def toy_learner() -> Iterator[type[BestMeanLearner]]:
    register_learner(BestMeanLearner)  # the one registration
    yield BestMeanLearner
    unregister_learner(TOY)


@pytest.fixture
def toy_algorithm() -> Iterator[None]:
    register(TOY_CLASSIFIER)  # the one registration (per task)
    register(TOY_REGRESSOR)
    yield
    unregister(TOY_CLASSIFIER.name)


def _is_a_strategy(name: str) -> bool:
    from automl_meta.advice._recommend import STRATEGIES
    from automl_meta.metalearners._train import lodo_factories
    from automl_meta.service.schemas import RecommendRequest, strategy_names

    places = {name in STRATEGIES, name in strategy_names(), name in lodo_factories(),
              name in RecommendRequest.model_json_schema()["properties"]["strategy"]["enum"]}
    assert len(places) == 1, "some lists name the learner and others do not"
    return places.pop()


def test_the_toy_learner_is_no_strategy_until_registered() -> None:
    from automl_meta.service.schemas import RecommendRequest

    assert TOY not in LEARNERS and not _is_a_strategy(TOY)
    with pytest.raises(ValidationError, match="unknown strategy"):
        RecommendRequest(metafeatures={}, task="classification", strategy=TOY)


def test_one_registration_makes_the_toy_learner_a_strategy_everywhere(
        toy_learner: type[BestMeanLearner]) -> None:
    from automl_meta.metalearners._train import trained_learners

    assert _is_a_strategy(TOY)
    assert any(type(learner) is toy_learner for learner in trained_learners())
    check_learner_traits(toy_learner)


def test_unregistering_removes_it_from_every_list() -> None:
    register_learner(BestMeanLearner)
    unregister_learner(TOY)
    assert TOY not in LEARNERS and not _is_a_strategy(TOY)
    with pytest.raises(ConfigurationError, match="No learner is registered"):
        unregister_learner(TOY)


def test_the_toy_learner_passes_the_learner_contract(toy_learner: type[BestMeanLearner],
                                                      tmp_path: Path) -> None:
    knowledge = contract_knowledge()
    learner = new_learner(toy_learner).fit(knowledge)
    check_recommendations(learner, knowledge)
    check_save_load(learner, knowledge, tmp_path)
    check_recommend_accepts_strategy(learner, knowledge)
    check_refit_reflects_new_knowledge(toy_learner)


def test_a_name_taken_or_an_incomplete_learner_is_refused() -> None:
    from automl_meta.metalearners import KNNLearner, MetaLearner

    class Impostor(BestMeanLearner):
        name = "knn"

    class Unfinished(MetaLearner):
        name = "unfinished"

    with pytest.raises(ConfigurationError, match="taken by .*KNNLearner"):
        register_learner(Impostor)
    with pytest.raises(ConfigurationError, match="does not implement"):
        register_learner(Unfinished)
    assert LEARNERS["knn"] is KNNLearner and "unfinished" not in LEARNERS


def test_the_cli_lists_and_accepts_the_toy_strategy(toy_learner: type[BestMeanLearner],
                                                     tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from automl_meta.cli import app

    runner = CliRunner()
    shown = runner.invoke(app, ["recommend", "--help"], terminal_width=200)
    assert shown.exit_code == 0 and TOY in shown.output
    result = runner.invoke(app, ["recommend", "sklearn:iris", "--strategy", TOY, "-k", "3",
                                 "--json", "--db", str(tmp_path / "user.sqlite")])
    assert result.exit_code == 0, result.output
    recs = json.loads(result.output[result.output.index("["):])
    assert len(recs) == 3 and {r["strategy"] for r in recs} == {TOY}


def test_the_toy_algorithm_is_sampled_evaluated_saved_and_loaded(toy_algorithm: None,
                                                                 tmp_path: Path) -> None:
    for algorithm in (TOY_CLASSIFIER, TOY_REGRESSOR):
        dataset = tiny_dataset(algorithm.task)
        assert algorithm.name in algorithms(algorithm.task)
        check_algorithm_declaration(algorithm)
        check_sampled_configs_build(algorithm, dataset)
        config = next(c for c in sample_configs(algorithm.task, 2, seed=3)
                      if c["algorithm"] == algorithm.name)
        result = evaluate(config, dataset)
        assert result.status == "ok", result.error
        model = fitted_model(algorithm, dataset)
        check_fit_predict(model, dataset)
        check_save_and_safe_load(algorithm, model, dataset, tmp_path)


def test_a_model_of_an_unregistered_algorithm_is_refused(tmp_path: Path) -> None:
    import skops.io as sio

    from automl_meta._support.safe_skops import SAVED_MODEL, load_skops

    dataset = tiny_dataset("classification")
    register(TOY_CLASSIFIER)
    try:
        model = fitted_model(TOY_CLASSIFIER, dataset)
    finally:
        unregister(TOY_CLASSIFIER.name)
    assert not any((task, TOY_CLASSIFIER.name) in REGISTRY for task in ("classification",
                                                                        "regression"))
    assert "sklearn.dummy.DummyClassifier" not in SAVED_MODEL.classes
    path = tmp_path / "model.skops"
    sio.dump(model, str(path))
    with pytest.raises(ArtifactError, match="DummyClassifier"):
        load_skops(path, SAVED_MODEL, "")
