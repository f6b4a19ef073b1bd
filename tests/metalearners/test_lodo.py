"""Leave-one-family-out regret, judged by the meta-db itself or by another one."""

from __future__ import annotations

import numpy as np

from automl_meta.metalearners import KNNLearner
from automl_meta.metalearners.lodo import lodo_regret
from tests.metalearners._helpers import LARGE_SCORES, SMALL_SCORES, _knowledge

KNN = {"knn": KNNLearner}


def _regret(results, method: str, k: int = 1) -> float:
    return float(results.loc[results["method"] == method, f"regret@{k}"].mean())


def test_knn_finds_each_clusters_winner_and_random_does_worse() -> None:
    results = lodo_regret(_knowledge(), KNN)
    assert len(results[results["method"] == "knn"]) == 16
    assert _regret(results, "knn") < 0.05 < _regret(results, "random")
    # the defaults of the algorithms this meta-db ran, none of those it never ran
    defaults = {m for m in results["method"] if m.startswith("default:")}
    assert defaults == {"default:knn", "default:random_forest", "default:linear"}


def test_a_judge_scores_the_picks_by_its_own_scores() -> None:
    knowledge = _knowledge()
    # the judge knows the same datasets, with the winners swapped between the clusters
    judge = _knowledge(scores_by_cluster=(LARGE_SCORES, SMALL_SCORES))
    results = lodo_regret(knowledge, KNN, judge=judge)
    assert _regret(results, "knn") > 0.5  # the learner's picks lose on the judge's scale
    itself = lodo_regret(knowledge, KNN, judge=knowledge)
    plain = lodo_regret(knowledge, KNN)
    assert np.allclose(itself["regret@1"], plain["regret@1"])


def test_datasets_the_judge_does_not_hold_are_left_out() -> None:
    knowledge = _knowledge()
    judge = knowledge.without(families={"fam0", "fam9"})
    results = lodo_regret(knowledge, KNN, judge=judge)
    assert set(results["dataset"]) == set(knowledge.datasets["name"]) - {"small_0", "large_9"}
