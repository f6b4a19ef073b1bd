"""Meta-learners on hand-made meta-knowledge whose right answer is known."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from automl_meta.errors import ArtifactError, ConfigurationError
from automl_meta.metalearners import (
    LEARNERS,
    KNNLearner,
    MetaLearner,
    PortfolioLearner,
    RankerLearner,
    greedy_portfolio,
    load_learner,
)
from automl_meta.metalearners._knowledge import normalise
from tests.metalearners._helpers import _knowledge

SMALL_QUERY = {"nr_inst": 100.0, "noise": 0.0, "attr_to_inst": 0.015}
LARGE_QUERY = {"nr_inst": 100_000.0, "noise": 0.0, "attr_to_inst": 0.015}


def test_normalise_maps_best_to_one_and_failures_to_zero() -> None:
    raw = np.array([[0.5, 0.9, np.nan, np.nan], [0.7, 0.7, 0.7, np.nan]])
    evaluated = np.array([[True, True, True, False], [True, True, True, False]])
    out = normalise(raw, evaluated)
    assert out[0, 1] == 1.0 and out[0, 2] == 0.0 and np.isnan(out[0, 3])
    assert out[0, 0] < 1.0
    assert np.all(out[1, :3] == 1.0)  # all tied: each is the best known
    assert np.isnan(out[1, 3])


def test_greedy_portfolio_covers_complementary_configurations() -> None:
    scores = np.array([[1.0, 0.0, 0.6], [0.0, 1.0, 0.6], [1.0, 0.0, 0.6]])
    chosen, coverage = greedy_portfolio(scores, 2)
    assert chosen == [0, 1] and coverage[-1] == pytest.approx(1.0)


def test_knn_lends_the_neighbours_best_configuration() -> None:
    learner = KNNLearner(n_neighbors=3).fit(_knowledge())
    small = learner.recommend(SMALL_QUERY, "classification", k=2)
    large = learner.recommend(LARGE_QUERY, "classification", k=2)
    assert small[0].algorithm == "knn" and small[0].params["n_neighbors"] == 5
    assert large[0].algorithm == "random_forest"
    assert "small_" in small[0].why and "large_" in large[0].why
    assert [r.rank for r in small] == [1, 2]


def test_knn_weights_the_informative_metafeature_most() -> None:
    learner = KNNLearner().fit(_knowledge())
    weights = dict(zip(learner.tasks["classification"]["scaler"]["columns"],
                       learner.arrays["classification.weights"], strict=True))
    assert weights["nr_inst"] > weights["noise"]


def test_portfolio_is_zero_shot_and_covers_both_clusters() -> None:
    recs = PortfolioLearner(size=2).fit(_knowledge()).recommend({}, "classification", k=5)
    assert {r.algorithm for r in recs} == {"knn", "random_forest"}
    assert len(recs) == 2


def test_ranker_learns_which_configuration_suits_which_data() -> None:
    learner = RankerLearner(max_iter=50, extra_candidates=0).fit(_knowledge())
    assert learner.recommend(SMALL_QUERY, "classification", k=1)[0].algorithm == "knn"
    assert learner.recommend(LARGE_QUERY, "classification", k=1)[0].algorithm == "random_forest"


# settings that keep each registered learner's fit short; a learner not named here is
# built with its defaults
ROUND_TRIP_SETTINGS: dict[str, dict[str, Any]] = {
    "knn": {"n_neighbors": 3}, "portfolio": {"size": 4},
    "ranker": {"max_iter": 30, "extra_candidates": 7},
    "neural": {"hidden": 16, "depth": 1, "embedding": 4, "members": 2, "steps": 20,
               "batch_size": 4, "max_support": 6, "n_query": 6, "extra_candidates": 5,
               "device": "cpu", "progress": False},
}


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.slow) if LEARNERS[name].requires else name
    for name in LEARNERS])  # every registered learner; those needing torch & co. are slow
def test_save_and_load_round_trip_without_pickle(name: str, tmp_path: Path) -> None:
    for package in LEARNERS[name].requires:
        pytest.importorskip(package)
    learner: MetaLearner = LEARNERS[name](**ROUND_TRIP_SETTINGS.get(name, {}))
    learner.fit(_knowledge())
    path = learner.save(tmp_path)
    assert not list(tmp_path.glob("*.pkl"))
    loaded = load_learner(path)
    for query in (SMALL_QUERY, LARGE_QUERY):
        before = learner.recommend(query, "classification", k=3)
        after = loaded.recommend(query, "classification", k=3)
        assert [r.config for r in before] == [r.config for r in after]
        assert [r.predicted_score for r in before] == pytest.approx(
            [r.predicted_score for r in after], rel=1e-5)


def test_loading_refuses_pickles_and_garbage(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ArtifactError, match="pickle"):
        load_learner(tmp_path / "model.pkl")
    (tmp_path / "knn.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_learner(tmp_path / "knn.json")


def test_leave_out_removes_a_whole_family() -> None:
    knowledge = _knowledge()
    smaller = knowledge.without(families={"fam0", "fam1"})
    assert len(smaller.datasets) == len(knowledge.datasets) - 2
    assert "fp0" not in smaller.matrices["classification"].datasets


def test_bad_k_is_a_clear_error() -> None:
    learner = PortfolioLearner().fit(_knowledge())
    with pytest.raises(ConfigurationError, match="k=0"):
        learner.recommend({}, "classification", k=0)


def test_copies_under_other_names_share_a_family() -> None:
    from automl_meta.metalearners._knowledge import merge_duplicate_families

    datasets = pd.DataFrame({
        "name": ["pima", "diabetes", "heart-c", "heart-h", "cleve", "iris"],
        "family": ["pima", "diabetes", "heart", "heart", "cleve", "iris"],
        "task": ["classification"] * 6,
        "n_rows": [768, 768, 303, 294, 303, 150],
        "n_features": [8, 8, 13, 13, 13, 4],
    })
    merged = merge_duplicate_families(datasets).tolist()
    assert merged[0] == merged[1]  # same data under two names
    assert merged[2] == merged[3] == merged[4]  # cleve joins heart, heart-h comes along
    assert merged[5] == "iris" and len(set(merged)) == 3
