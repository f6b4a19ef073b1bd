"""Model-based meta-learning: predict a configuration's normalised score from the dataset's
meta-features and the configuration's encoding, then rank a candidate pool.

The model is a histogram gradient-boosting regressor trained on every (past dataset,
configuration) cell; it is saved with skops (a safe, non-pickle format) and loaded only
after every node of the file is checked against the exact classes it is saved with.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl_meta._support.safe_skops import RANKER, import_skops_io, load_skops
from automl_meta.errors import ArtifactError
from automl_meta.metalearners._base import MetaLearner, Recommendation, check_k
from automl_meta.metalearners._encoding import FeatureScaler, encode_configs, fitted_algorithms
from automl_meta.metalearners._knowledge import MetaKnowledge
from automl_meta.space import algorithms, config_hash, sample_configs

FEW_DATASETS = 10  # a configuration run on fewer past datasets is said to be shrunk

EXTRA_CANDIDATES = 300
_THREADPOOLS: list[Any] = []


def _openmp_single_thread() -> Any:
    from threadpoolctl import ThreadpoolController

    if not _THREADPOOLS:  # inspecting the loaded libraries is slow: do it once
        _THREADPOOLS.append(ThreadpoolController())
    return _THREADPOOLS[0].limit(limits=1, user_api="openmp")


class RankerLearner(MetaLearner):
    """Learned ranker over (meta-features, configuration) -> normalised score.

    Example:
        >>> learner = RankerLearner(max_iter=100).fit(knowledge)  # doctest: +SKIP
        >>> learner.recommend(metafeatures, "regression", k=3)[0].why  # doctest: +SKIP
    """

    name = "ranker"
    lodo_groups = 10  # a boosted model per fit: refitted per group of families, not per family

    def __init__(self, max_iter: int = 200, extra_candidates: int = EXTRA_CANDIDATES,
                 random_state: int = 0) -> None:
        self.max_iter = max_iter
        self.extra_candidates = extra_candidates
        self.random_state = random_state
        self.tasks: dict[str, dict[str, Any]] = {}
        self.models: dict[str, Any] = {}
        self._encoded_candidates: dict[str, np.ndarray] = {}

    def fit(self, knowledge: MetaKnowledge) -> RankerLearner:
        from sklearn.ensemble import HistGradientBoostingRegressor

        self.tasks, self.models, self._encoded_candidates = {}, {}, {}
        self.forget_scalers()
        for task, full_matrix in knowledge.matrices.items():
            # trained on the datasets that ran (most of) the grid: a partial row would count
            # for little, yet reshape the trees it takes part in
            matrix = full_matrix.subset(full_matrix.whole_rows())
            frame = knowledge.metafeatures.loc[matrix.datasets]
            scaler = FeatureScaler().fit(frame)
            features = scaler.transform(frame)
            configs = [knowledge.config(c) for c in matrix.configs]
            names = algorithms(task)
            encoded = encode_configs(configs, task, names)
            rows, cols = np.nonzero(np.isfinite(matrix.normalised))
            X = np.hstack([features[rows], encoded[cols]])
            y = matrix.normalised[rows, cols]
            model = HistGradientBoostingRegressor(
                max_iter=self.max_iter, learning_rate=0.1, max_leaf_nodes=31,
                min_samples_leaf=int(np.clip(len(y) // 200, 3, 20)),
                random_state=self.random_state)
            # a dataset that ran only part of the grid counts in proportion
            self.models[task] = model.fit(X, y, sample_weight=matrix.evidence[rows])
            known = {config_hash(c) for c in configs}
            per_algorithm = -(-self.extra_candidates // len(algorithms(task)))
            extra = [c for c in sample_configs(task, per_algorithm,
                                               seed=self.random_state + 7919,
                                               include_defaults=False)
                     if config_hash(c) not in known] if per_algorithm > 0 else []
            mean_scores = matrix.config_prior([c["algorithm"] for c in configs])
            self.tasks[task] = {
                "scaler": scaler.to_json(),
                "candidates": configs + extra,
                "history": [float(x) if np.isfinite(x) else None for x in mean_scores]
                + [None] * len(extra),
                "tried": [int(n) for n in np.isfinite(matrix.normalised).sum(axis=0)]
                + [0] * len(extra),
                "n_datasets": len(matrix.datasets),
                "algorithms": names,
            }
        return self

    @classmethod
    def lodo_learner(cls, fast: bool = True) -> RankerLearner:
        """Judged leave-one-dataset-out on the meta-db's grid only (no sampled extras)."""
        return cls(max_iter=100 if fast else 300, extra_candidates=0)

    def predict(self, metafeatures: Mapping[str, float] | pd.Series, task: str,
                configs: list[dict[str, Any]]) -> np.ndarray:
        """Predicted normalised score of each configuration on this dataset."""
        query = self.task_scaler(task).transform_mapping(metafeatures)
        encoded = encode_configs(configs, task, fitted_algorithms(self.tasks[task], task))
        return self._predict(query, encoded, task)

    def _predict(self, query: np.ndarray, encoded: np.ndarray, task: str) -> np.ndarray:
        X = np.hstack([np.repeat(query, len(encoded), axis=0), encoded])
        # a few hundred rows: OpenMP threads only add wake-up latency, and spin against
        # whatever else runs on the machine
        with _openmp_single_thread():
            return self.models[task].predict(X)

    def recommend(self, metafeatures: Mapping[str, float] | pd.Series, task: str,
                  k: int = 10) -> list[Recommendation]:
        k = check_k(k)
        if task not in self.tasks:
            return []
        info = self.tasks[task]
        if task not in self._encoded_candidates:  # the pool is fixed: encode it once
            self._encoded_candidates[task] = encode_configs(
                info["candidates"], task, fitted_algorithms(info, task))
        query = self.task_scaler(task).transform_mapping(metafeatures)
        predicted = self._predict(query, self._encoded_candidates[task], task)
        out = []
        for rank, index in enumerate(np.argsort(-predicted, kind="stable")[:k], start=1):
            config = info["candidates"][index]
            history = info["history"][index]
            tried = info.get("tried", [info["n_datasets"]] * len(info["candidates"]))[index]
            few = " (few: shrunk towards its algorithm's average)" if tried < FEW_DATASETS else ""
            past = (f"; it scored {history:.3f} on average over the {tried} past {task} "
                    f"datasets that ran it{few}" if history is not None and tried
                    else "; a new configuration sampled from the space")
            out.append(Recommendation(
                config["algorithm"], dict(config["params"]), float(predicted[index]),
                self.name,
                f"learned ranker predicts {predicted[index]:.3f} of the best known score for "
                f"a dataset with these meta-features{past}", rank=rank,
                details={"ordering": "score", "evidence": {"datasets": int(tried)}}))
        return out

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"max_iter": self.max_iter, "extra_candidates": self.extra_candidates,
                "random_state": self.random_state, "tasks": self.tasks}, {}

    def save(self, directory: str | Path) -> Path:
        sio = import_skops_io()
        path = super().save(directory)
        for task, model in self.models.items():
            sio.dump(model, str(Path(directory) / f"{self.name}.{task}.skops"))
        return path

    @classmethod
    def _from_state(cls, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> MetaLearner:
        learner = cls(state["max_iter"], state["extra_candidates"], state["random_state"])
        learner.tasks = state["tasks"]
        return learner

    def load_files(self, directory: Path) -> None:
        """Load the skops models beside the JSON: each file's checksum is verified against
        its bundle's manifest (when it has one) and every node of it against the exact
        classes the ranker is saved with (:data:`automl_meta._support.safe_skops.RANKER`)."""
        from automl_meta.metadb._learners import verify_learner_file

        for task in self.tasks:
            path = Path(directory) / f"{self.name}.{task}.skops"
            if not path.is_file():
                raise ArtifactError(f"The ranker model {path} is missing; retrain the ranker "
                                    "with `automl-meta db train`.")
            verify_learner_file(path)
            self.models[task] = load_skops(
                path, RANKER, "Restore the learner files (the shipped ones with `git checkout "
                "meta_db/`) or retrain them with `automl-meta db train`.")

    @staticmethod
    def load_models(learner: RankerLearner, directory: Path) -> None:
        """Same as ``learner.load_files(directory)`` (kept for callers of the old name)."""
        learner.load_files(directory)
