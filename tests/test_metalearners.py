"""Meta-learners on hand-made meta-knowledge whose right answer is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from automl_meta.errors import ArtifactError, ConfigurationError
from automl_meta.metalearners import (
    KNNLearner,
    MetaKnowledge,
    MetaLearner,
    PortfolioLearner,
    RankerLearner,
    greedy_portfolio,
    load_learner,
)
from automl_meta.metalearners._knowledge import normalise
from automl_meta.space import config_hash, default_config

CONFIGS = [default_config("knn"), default_config("random_forest"), default_config("linear"),
           {"algorithm": "knn", "params": {"n_neighbors": 1, "weights": "uniform", "p": 1}}]


def _knowledge(n_per_cluster: int = 8, seed: int = 0) -> MetaKnowledge:
    """Two clusters of datasets: on 'small' ones knn wins, on 'large' ones the forest wins."""
    rng = np.random.default_rng(seed)
    datasets, features, evaluations = [], [], []
    config_rows = [{"id": i, "task": "classification", "algorithm": c["algorithm"],
                    "params_json": json.dumps(c["params"]), "hash": config_hash(c)}
                   for i, c in enumerate(CONFIGS)]
    for i in range(2 * n_per_cluster):
        small = i < n_per_cluster
        datasets.append({"id": i, "name": f"{'small' if small else 'large'}_{i}",
                         "fingerprint": f"fp{i}", "task": "classification",
                         "family": f"fam{i}", "source": "", "n_rows": 100 + i, "n_features": 5,
                         "n_classes": 2, "created_at": ""})
        log_rows = (2.0 if small else 5.0) + rng.normal(0, 0.2)
        for name, value in {"nr_inst": 10 ** log_rows, "noise": rng.normal(),
                            "attr_to_inst": rng.uniform(0.01, 0.02)}.items():
            features.append({"dataset_id": i, "name": name, "value": value})
        scores = [0.9, 0.7, 0.6, 0.5] if small else [0.6, 0.95, 0.7, 0.4]
        for config_id, score in enumerate(scores):
            evaluations.append({"dataset_id": i, "config_id": config_id, "status": "ok",
                                "score": score + rng.normal(0, 0.01)})
    tables = {"dataset": pd.DataFrame(datasets), "metafeature": pd.DataFrame(features),
              "config": pd.DataFrame(config_rows), "evaluation": pd.DataFrame(evaluations)}
    return MetaKnowledge.from_tables([tables])


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


@pytest.mark.parametrize("learner", [KNNLearner(3), PortfolioLearner(4),
                                     RankerLearner(max_iter=30, extra_candidates=7)])
def test_save_and_load_round_trip_without_pickle(learner: MetaLearner, tmp_path: Path) -> None:
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
