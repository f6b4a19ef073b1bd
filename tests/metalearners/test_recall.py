"""Earlier runs on the same data: found by fingerprint or as a near-duplicate by
meta-features, best first, with a ``why`` that names where they ran (issue #21)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl_meta.config import shipped_meta_db_dir
from automl_meta.metalearners import MetaKnowledge, load_knowledge
from automl_meta.metalearners._recall import earlier_runs, same_data

pytestmark = pytest.mark.skipif(not (shipped_meta_db_dir() / "manifest.json").is_file(),
                                reason="needs the shipped meta_db/")


@pytest.fixture(scope="module")
def knowledge() -> MetaKnowledge:
    return load_knowledge(user_db=False)


def _features(knowledge: MetaKnowledge, name: str) -> tuple[str, pd.Series]:
    row = knowledge.datasets[knowledge.datasets["name"] == name]
    return row.index[0], knowledge.metafeatures.loc[row.index[0]]


def test_known_copies_are_the_same_data_and_look_alikes_are_not(
        knowledge: MetaKnowledge) -> None:
    _, pima = _features(knowledge, "pima")
    assert {m.name for m in same_data(knowledge, pima, "classification")} >= {"pima",
                                                                              "diabetes"}
    _, allhyper = _features(knowledge, "allhyper")  # same features as allrep, other target
    assert "allrep" not in {m.name for m in same_data(knowledge, allhyper, "classification")}
    assert not same_data(knowledge, pima, "regression")  # another task is other data


def test_a_new_version_with_fewer_rows_is_recognised(knowledge: MetaKnowledge) -> None:
    fingerprint, wdbc = _features(knowledge, "wdbc")
    fewer = wdbc.copy()
    fewer["nr_inst"] = wdbc["nr_inst"] * 0.88
    found = same_data(knowledge, fewer, "classification")
    assert "wdbc" in {m.name for m in found} and not any(m.exact for m in found)
    shrunk = wdbc.copy()
    shrunk["nr_inst"] = wdbc["nr_inst"] * 0.5  # half the rows: another dataset
    assert "wdbc" not in {m.name for m in same_data(knowledge, shrunk, "classification")}


def test_earlier_runs_are_its_best_first_and_say_whose(knowledge: MetaKnowledge) -> None:
    fingerprint, features = _features(knowledge, "wine-recognition")
    recs = earlier_runs(knowledge, features, "classification", 3, "knn", fingerprint)
    assert len(recs) == 3
    runs = knowledge.runs[knowledge.runs["fingerprint"] == fingerprint]
    assert recs[0].details["earlier_runs"]["score"] == pytest.approx(runs["score"].max())
    scores = [r.details["earlier_runs"]["score"] for r in recs]
    assert scores == sorted(scores, reverse=True)
    assert "the meta-database's runs on this data (wine-recognition)" in recs[0].why
    assert recs[0].predicted_score == 1.0 and np.isfinite(recs[-1].predicted_score)
    assert earlier_runs(knowledge, {"nr_inst": 3.0}, "classification", 3, "knn") == []


def test_the_benchmark_can_turn_the_recall_off(knowledge: MetaKnowledge) -> None:
    from automl_meta.advice import Recommender

    fingerprint, features = _features(knowledge, "wdbc")
    held_out = knowledge.without(fingerprints={fingerprint})  # its copy stays
    recalled = Recommender(held_out).recommend(features, "classification", k=3)
    assert "under another name or version" in recalled[0].why
    plain = Recommender(held_out, recall=False).recommend(features, "classification", k=3)
    assert all("earlier" not in r.why and "runs on" not in r.why for r in plain)
