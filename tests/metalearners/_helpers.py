"""Hand-made meta-knowledge whose right answer is known, shared by the meta-learner tests."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from automl_meta.metalearners import MetaKnowledge
from automl_meta.space import config_hash, default_config

CONFIGS = [default_config("knn"), default_config("random_forest"), default_config("linear"),
           {"algorithm": "knn", "params": {"n_neighbors": 1, "weights": "uniform", "p": 1}}]


SMALL_SCORES, LARGE_SCORES = (0.9, 0.7, 0.6, 0.5), (0.6, 0.95, 0.7, 0.4)


def _knowledge(n_per_cluster: int = 8, seed: int = 0,
               scores_by_cluster: tuple[tuple[float, ...], tuple[float, ...]] = (
                   SMALL_SCORES, LARGE_SCORES)) -> MetaKnowledge:
    """Two clusters of datasets: on 'small' ones knn wins, on 'large' ones the forest wins
    (or the scores of ``CONFIGS`` given for each cluster)."""
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
        scores = scores_by_cluster[0] if small else scores_by_cluster[1]
        for config_id, score in enumerate(scores):
            evaluations.append({"dataset_id": i, "config_id": config_id, "status": "ok",
                                "score": score + rng.normal(0, 0.01)})
    tables = {"dataset": pd.DataFrame(datasets), "metafeature": pd.DataFrame(features),
              "config": pd.DataFrame(config_rows), "evaluation": pd.DataFrame(evaluations)}
    return MetaKnowledge.from_tables([tables])
