"""Every registered meta-learner meets the ``MetaLearner`` contract (in the spirit of
scikit-learn's ``parametrize_with_checks``): a new learner is tested by being registered.

Each learner is fitted once per module on the contract's small meta-knowledge of both tasks
(the slow shipped ones with the fast settings of ``checks.FAST_SETTINGS``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from automl_meta.metalearners import LEARNERS, MetaKnowledge, MetaLearner
from tests.contracts.checks import (
    check_learner_traits,
    check_recommend_accepts_strategy,
    check_recommendations,
    check_refit_reflects_new_knowledge,
    check_save_load,
    contract_knowledge,
    new_learner,
    skip_unless_requires,
)

NAMES = list(LEARNERS)


@pytest.fixture(scope="module")
def knowledge() -> MetaKnowledge:
    return contract_knowledge()


@pytest.fixture(scope="module")
def fitted(knowledge: MetaKnowledge) -> dict[str, MetaLearner]:
    """Learners fitted on first use, once per module."""
    return {}


def _fitted(name: str, fitted: dict[str, MetaLearner], knowledge: MetaKnowledge) -> MetaLearner:
    cls = LEARNERS[name]
    skip_unless_requires(cls.requires)
    if name not in fitted:
        fitted[name] = new_learner(cls).fit(knowledge)
    return fitted[name]


def test_the_shipped_learners_are_registered() -> None:
    assert NAMES[:4] == ["knn", "portfolio", "ranker", "neural"]


@pytest.mark.parametrize("name", NAMES)
def test_traits_are_what_the_registry_readers_derive(name: str) -> None:
    check_learner_traits(LEARNERS[name])


@pytest.mark.parametrize("name", NAMES)
def test_recommends_at_most_k_distinct_valid_configurations(
        name: str, fitted: dict[str, MetaLearner], knowledge: MetaKnowledge) -> None:
    check_recommendations(_fitted(name, fitted, knowledge), knowledge)


@pytest.mark.parametrize("name", NAMES)
def test_save_and_load_give_the_same_recommendations(
        name: str, fitted: dict[str, MetaLearner], knowledge: MetaKnowledge,
        tmp_path: Path) -> None:
    check_save_load(_fitted(name, fitted, knowledge), knowledge, tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_recommend_accepts_the_strategy(
        name: str, fitted: dict[str, MetaLearner], knowledge: MetaKnowledge) -> None:
    check_recommend_accepts_strategy(_fitted(name, fitted, knowledge), knowledge)


@pytest.mark.parametrize("name", [n for n in NAMES if LEARNERS[n].memory_based])
def test_a_memory_based_learner_reflects_new_knowledge_after_a_refit(name: str) -> None:
    check_refit_reflects_new_knowledge(LEARNERS[name])
