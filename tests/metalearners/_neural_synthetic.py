"""Hand-made meta-knowledge whose right answer is known, shared by the neural tests.

Every dataset has one meta-feature ``u`` in [0, 1]; on it, a linear model's score peaks
where log C (scaled to [0, 1]) equals ``u`` and k-nearest-neighbours is mediocre. So a
learner that uses the meta-feature and the observed trials should go for the linear
configurations near the peak. Also the Optuna helpers (an objective over that table, a
neural MetaSampler) shared by the learner and the MetaSampler tests.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import optuna
import pandas as pd

from automl_meta.metalearners import MetaKnowledge
from automl_meta.metalearners.neural import NeuralLearner
from automl_meta.space import config_hash, suggest

TASK = "classification"
C_GRID = np.logspace(-4, 4, 24)
CONFIGS = ([{"algorithm": "linear", "params": {"C": float(c), "class_weight": None}}
            for c in C_GRID]
           + [{"algorithm": "knn", "params": {"n_neighbors": int(k), "weights": "uniform",
                                              "p": 2}} for k in (1, 3, 5, 9, 15, 25, 40, 50)])
SMALL = {"hidden": 32, "embedding": 8, "steps": 800, "learning_rate": 1e-2, "batch_size": 8,
         "max_support": 12, "n_query": 12, "extra_candidates": 0, "progress": False}


def true_scores(u: float) -> np.ndarray:
    """Score of every configuration of CONFIGS on a dataset with meta-feature ``u``."""
    position = (np.log10(C_GRID) + 4) / 8
    linear = 0.5 + 0.4 * np.exp(-((position - u) ** 2) / 0.08)
    knn = np.linspace(0.62, 0.55, 8)
    return np.concatenate([linear, knn])


def synthetic_tables(n_datasets: int = 14, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The tables of a meta-db on CONFIGS (ids as in a bundle)."""
    rng = np.random.default_rng(seed)
    config_rows = [{"id": i, "task": TASK, "algorithm": c["algorithm"],
                    "params_json": json.dumps(c["params"]), "hash": config_hash(c)}
                   for i, c in enumerate(CONFIGS)]
    datasets, features, evaluations = [], [], []
    for i, u in enumerate(np.linspace(0.1, 0.9, n_datasets)):
        datasets.append({"id": i, "name": f"d{i}", "fingerprint": f"fp{i}", "task": TASK,
                         "family": f"fam{i}", "source": "", "n_rows": 100, "n_features": 5,
                         "n_classes": 2, "created_at": ""})
        features += [{"dataset_id": i, "name": "u", "value": float(u)},
                     {"dataset_id": i, "name": "noise", "value": float(rng.normal())}]
        scores = true_scores(u) + rng.normal(0, 0.005, len(CONFIGS))
        evaluated = rng.random(len(CONFIGS)) < 0.9  # some cells never evaluated
        evaluations += [{"dataset_id": i, "config_id": j, "status": "ok", "score": float(s)}
                        for j, (s, e) in enumerate(zip(scores, evaluated, strict=True)) if e]
    return {"dataset": pd.DataFrame(datasets), "metafeature": pd.DataFrame(features),
            "config": pd.DataFrame(config_rows), "evaluation": pd.DataFrame(evaluations)}


def synthetic_knowledge(n_datasets: int = 14, seed: int = 0) -> MetaKnowledge:
    return MetaKnowledge.from_tables([synthetic_tables(n_datasets, seed)])


def query(u: float) -> dict[str, float]:
    return {"u": u, "noise": 0.0}


def lookup_objective(u: float, sign: float = 1.0, names: tuple[str, ...] = ("linear", "knn"),
                     reject: Any = None) -> Any:
    """An objective over the space whose score is CONFIGS' table on a dataset with
    meta-feature ``u`` (the fallback's configurations off the table: the linear formula, or
    knn's worst); ``reject(config)`` may raise to fail or prune the trial."""
    table = {config_hash(c): float(s) for c, s in zip(CONFIGS, true_scores(u), strict=True)}

    def objective(trial: optuna.Trial) -> float:
        config = suggest(trial, TASK, list(names))
        if reject is not None:
            reject(config)
        score = table.get(config_hash(config))
        if score is None and config["algorithm"] == "linear":
            position = (math.log10(config["params"]["C"]) + 4) / 8
            score = 0.5 + 0.4 * math.exp(-((position - u) ** 2) / 0.08)
        return sign * (0.55 if score is None else score)

    return objective


def neural_sampler(learner: NeuralLearner, u: float, n_startup: int, **kwargs: Any) -> Any:
    from automl_meta import MetaSampler

    return MetaSampler(query(u), task=TASK, n_startup=n_startup, strategy="neural",
                       learner=learner, **kwargs)


def configs_of(study: optuna.Study) -> list[dict[str, Any]]:
    from automl_meta.space import trial_params_to_config

    return [trial_params_to_config(t.params) for t in study.trials]
