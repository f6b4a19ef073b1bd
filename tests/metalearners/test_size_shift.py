"""The kNN's size correction: rankings learned from a second fidelity (more rows)."""

from __future__ import annotations

import json
import tempfile

import numpy as np
import pandas as pd

from automl_meta.metalearners import KNNLearner, MetaKnowledge, load_learner
from automl_meta.metalearners._fidelity import SizeShifts, size_shifts
from automl_meta.space import config_hash
from tests.metalearners._helpers import CONFIGS

# on the 'large' datasets, at 1,000 rows the forest wins; at 10,000 rows linear overtakes it
BASE = {"small": [0.9, 0.7, 0.6, 0.5], "large": [0.6, 0.95, 0.7, 0.4]}
LARGER = [0.62, 0.96, 0.99, 0.42]


def _knowledge(n_per_cluster: int = 8, seed: int = 0, second_fidelity: bool = True
               ) -> MetaKnowledge:
    rng = np.random.default_rng(seed)
    datasets, features, evaluations = [], [], []
    configs = [{"id": i, "task": "classification", "algorithm": c["algorithm"],
                "params_json": json.dumps(c["params"]), "hash": config_hash(c)}
               for i, c in enumerate(CONFIGS)]
    for i in range(2 * n_per_cluster):
        kind = "small" if i < n_per_cluster else "large"
        datasets.append({"id": i, "name": f"{kind}_{i}", "fingerprint": f"fp{i}",
                         "task": "classification", "family": f"fam{i}", "source": "",
                         "n_rows": 100 + i, "n_features": 5, "n_classes": 2,
                         "created_at": ""})
        rows = 10 ** ((2.0 if kind == "small" else 4.7) + rng.normal(0, 0.1))
        for name, value in {"nr_inst": rows, "noise": rng.normal()}.items():
            features.append({"dataset_id": i, "name": name, "value": value})
        for config_id, score in enumerate(BASE[kind]):
            evaluations.append({"dataset_id": i, "config_id": config_id, "status": "ok",
                                "protocol": "cv3:s0", "score": score + rng.normal(0, 0.005)})
            if kind == "large" and second_fidelity:
                evaluations.append({"dataset_id": i, "config_id": config_id, "status": "ok",
                                    "protocol": "cv3:s0:r10000",
                                    "score": LARGER[config_id] + rng.normal(0, 0.005)})
    return MetaKnowledge.from_tables([{
        "dataset": pd.DataFrame(datasets), "metafeature": pd.DataFrame(features),
        "config": pd.DataFrame(configs), "evaluation": pd.DataFrame(evaluations)}])


def _first(learner: KNNLearner, rows: float) -> str:
    return learner.recommend({"nr_inst": rows, "noise": 0.0}, "classification", k=1)[0].algorithm


def test_shifts_are_learned_per_algorithm_from_the_datasets_with_both_fidelities() -> None:
    knowledge = _knowledge()
    shifts = size_shifts(knowledge, "classification")
    assert shifts is not None and shifts.rows == 10000
    assert len(shifts.datasets) == 8  # the large cluster only
    by_name = dict(zip(shifts.algorithms, np.nanmean(shifts.shifts, axis=0), strict=True))
    assert by_name["linear"] > 0.4 > abs(by_name["random_forest"])
    assert size_shifts(_knowledge(second_fidelity=False), "classification") is None


def test_a_large_query_follows_the_larger_fidelity_and_a_small_one_does_not() -> None:
    learner = KNNLearner(n_neighbors=5, size_weight=1.0).fit(_knowledge())
    query = {"nr_inst": 50_000, "noise": 0.0}
    small = {"nr_inst": 1000, "noise": 0.0}  # no more rows than the matrices' 1,000
    corrected = learner._neighbourhood(query, "classification").predicted
    small_corrected = learner._neighbourhood(small, "classification").predicted
    assert _first(learner, 50_000) == "linear"
    learner.size_weight = 0.0
    assert _first(learner, 50_000) == "random_forest"
    plain = learner._neighbourhood(query, "classification").predicted
    assert np.array_equal(learner._neighbourhood(small, "classification").predicted,
                          small_corrected)
    assert not np.allclose(plain, corrected)


def test_the_shift_survives_saving_and_is_dropped_with_its_datasets() -> None:
    knowledge = _knowledge()
    learner = KNNLearner(n_neighbors=5, size_weight=1.0).fit(knowledge)
    with tempfile.TemporaryDirectory() as directory:
        loaded = load_learner(learner.save(directory))
    assert _first(loaded, 50_000) == "linear"
    large = {f"fam{i}" for i in range(8, 16)}
    rest = knowledge.without(families=large - {"fam8"})
    without = KNNLearner(n_neighbors=5, size_weight=1.0).fit(rest)
    assert len(without.size_shifts("classification").datasets) == 1


def test_strength_grows_with_rows_up_to_the_second_fidelity() -> None:
    shifts = SizeShifts(10000, np.array([0]), ["knn"], np.array([[0.5]]))
    strengths = [shifts.strength(n) for n in (500, 1000, 3162, 10000, 10**6, float("nan"))]
    assert strengths[0] == strengths[1] == 0.0 == strengths[-1]
    assert 0.49 < strengths[2] < 0.51 and strengths[3] == strengths[4] == 1.0
