"""A tiny real store for the knowledge-source tests: a few small synthetic classification
datasets, each with recorded scores of three configurations (no search needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from automl_meta.data import Dataset, load_dataset
from automl_meta.evaluation import Evaluation
from automl_meta.metadb import MetaDB
from automl_meta.metadb._record import record_evaluations
from automl_meta.space import BOOSTING, default_config

ALGORITHMS = ("linear", "knn", "random_forest")
LIGHTGBM = next(a for a in BOOSTING if a.name == "lightgbm" and a.task == "classification")
# three LightGBM configurations (one without bagging)
LGBM_CONFIGS = [{"algorithm": "lightgbm",
                 "params": {**LIGHTGBM.default, "num_leaves": leaves, "subsample": subsample,
                            "n_estimators": rounds}}
                for leaves, subsample, rounds in ((7, 0.8, 20), (63, 1.0, 30), (15, 0.6, 40))]
TOKEN = "sources-test-token-0123456789abcdef"


def tiny_dataset(seed: int, n_rows: int = 60) -> Dataset:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n_rows, 3 + seed % 3)),
                     columns=[f"f{i}" for i in range(3 + seed % 3)])
    y = pd.Series((X["f0"] + rng.normal(scale=0.5 + seed / 4, size=n_rows) > 0).astype(int),
                  name="target")
    return load_dataset((X, y), task="classification")


def evaluations(seed: int) -> list[Evaluation]:
    """Three configurations, ``random_forest`` best on even seeds and ``knn`` on odd ones."""
    best = "random_forest" if seed % 2 == 0 else "knn"
    return [Evaluation(default_config(name), "cv3:s0", "ok", task="classification",
                       metrics={"balanced_accuracy": 0.9 if name == best else 0.6})
            for name in ALGORITHMS]


def tiny_store(path: Path, n_datasets: int = 5) -> Path:
    """``path``, a SQLite store of ``n_datasets`` datasets with their meta-features."""
    db = MetaDB(path)
    for seed in range(n_datasets):
        record_evaluations(db, tiny_dataset(seed), evaluations(seed))
    db.close()
    return path


def lightgbm_store(path: Path) -> Path:
    """``path``, a store of four tiny datasets that ran the three :data:`LGBM_CONFIGS`
    and two scikit-learn defaults."""
    db = MetaDB(path)
    for seed in range(4):
        scored = [Evaluation(config, "cv3:s0", "ok", task="classification",
                             metrics={"balanced_accuracy": 0.6 + 0.1 * ((i + seed) % 3)})
                  for i, config in enumerate(LGBM_CONFIGS)]
        scored += [Evaluation(default_config(name), "cv3:s0", "ok", task="classification",
                              metrics={"balanced_accuracy": 0.55})
                   for name in ("linear", "knn")]
        record_evaluations(db, tiny_dataset(seed), scored)
    db.close()
    return path
