"""Memory-based meta-learning: lend the best configurations of the nearest past datasets.

Distance is a weighted Euclidean distance on robustly scaled meta-features. The weights are
learned: a meta-feature gets weight in proportion to how well differences in it predict
differences in how configurations rank (a Mantel-style correlation over dataset pairs), so
meta-features that do not matter for performance do not decide who is a neighbour.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from automl_meta.metalearners._base import MetaLearner, Recommendation, check_k
from automl_meta.metalearners._encoding import FeatureScaler
from automl_meta.metalearners._fidelity import SizeShifts, size_shifts
from automl_meta.metalearners._knowledge import MetaKnowledge, whole_rows
from automl_meta.space import config_hash


def learn_feature_weights(features: np.ndarray, normalised: np.ndarray,
                          max_pairs: int = 40_000, seed: int = 0) -> np.ndarray:
    """Weight of each feature column: max(0, corr(|feature difference|, performance gap))."""
    n = features.shape[0]
    if n < 4:
        return np.full(features.shape[1], 1.0 / max(features.shape[1], 1))
    left, right = np.triu_indices(n, k=1)
    if len(left) > max_pairs:
        pick = np.random.default_rng(seed).choice(len(left), max_pairs, replace=False)
        left, right = left[pick], right[pick]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pairs with no common config
        gaps = np.nanmean(np.abs(normalised[left] - normalised[right]), axis=1)
    valid = np.isfinite(gaps)
    left, right, gaps = left[valid], right[valid], gaps[valid]
    diffs = np.abs(features[left] - features[right])
    diffs_c = diffs - diffs.mean(axis=0)
    gaps_c = gaps - gaps.mean()
    denominator = np.sqrt((diffs_c ** 2).sum(axis=0) * (gaps_c ** 2).sum()) + 1e-12
    weights = np.clip((diffs_c * gaps_c[:, None]).sum(axis=0) / denominator, 0.0, None)
    if weights.sum() <= 0:
        weights = np.ones(features.shape[1])
    return weights / weights.sum()


def complementary_ranking(scores: np.ndarray, weights: np.ndarray, predicted: np.ndarray,
                          k: int) -> list[int]:
    """Best predicted configuration first, then each next one chosen to raise most the
    weighted mean over the neighbours of the best score so far (a greedy portfolio of the
    neighbourhood), so the top k hedge across what the neighbours disagree on."""
    allowed = np.isfinite(predicted)
    chosen: list[int] = []
    best_so_far = np.zeros(scores.shape[0])
    for _ in range(min(k, int(allowed.sum()))):
        gains = (np.maximum(scores, best_so_far[:, None]) * weights[:, None]).sum(axis=0)
        gains = np.where(allowed, gains, -np.inf)
        gains[chosen] = -np.inf
        if not chosen:
            gains = np.where(allowed, predicted, -np.inf)
        pick = int(np.argmax(gains))
        chosen.append(pick)
        best_so_far = np.maximum(best_so_far, scores[:, pick])
    return chosen


class Neighbourhood(NamedTuple):
    """The past datasets around a query, in distance order (``order`` indexes the task's
    datasets): the first ``count`` are its neighbours (``n_neighbors`` datasets' worth of
    evidence), ``whole`` marks those that ran the grid, ``weights`` are their shares of
    the prediction, ``normalised`` / ``filled`` their scores (without / with each
    configuration's prior where they did not run it), and ``predicted`` each
    configuration's predicted score (-inf: no neighbour ran it)."""

    order: np.ndarray
    distances: np.ndarray
    count: int
    whole: np.ndarray
    weights: np.ndarray
    normalised: np.ndarray
    filled: np.ndarray
    predicted: np.ndarray


class KNNLearner(MetaLearner):
    """Nearest past datasets by learned-weight distance on meta-features.

    ``diversify`` (default) orders the recommendations as a greedy portfolio over the
    neighbours: the first is the best on average, the next ones complement it.
    ``bandwidth`` (a share of the median distance) softens the inverse-distance weights;
    ``shrinkage`` mixes that much of an equal weight on every past dataset into them, so
    the later picks also hedge like a global portfolio. The defaults were chosen by
    leave-one-dataset-out regret on the shipped meta-database (``benchmarks/RESULTS.md``).

    Where the knowledge holds a second fidelity (more rows of the larger past datasets), a
    query with more rows than the matrices' 1,000 gets ``size_weight`` times its nearest
    ``size_neighbors`` larger datasets' per-algorithm shifts added to its predicted scores
    (see :mod:`automl_meta.metalearners._fidelity`). Off by default (0): on the v3 build's
    46 datasets with both fidelities, rankings hardly change with size and the correction
    made the first pick worse (``benchmarks/fidelity.py``, ``benchmarks/RESULTS.md``).

    Example:
        >>> learner = KNNLearner(n_neighbors=5).fit(knowledge)  # doctest: +SKIP
        >>> learner.recommend(metafeatures, "classification", k=3)[0].why  # doctest: +SKIP
    """

    name = "knn"
    memory_based = True

    def __init__(self, n_neighbors: int = 30, diversify: bool = True,
                 bandwidth: float = 0.05, shrinkage: float = 0.35, size_weight: float = 0.0,
                 size_neighbors: int = 10) -> None:
        self.n_neighbors = n_neighbors
        self.diversify = diversify
        self.bandwidth = bandwidth
        self.shrinkage = shrinkage
        self.size_weight = size_weight
        self.size_neighbors = size_neighbors
        self.tasks: dict[str, dict[str, Any]] = {}
        self.arrays: dict[str, np.ndarray] = {}
        self._hashes: dict[str, list[str]] = {}

    def fit(self, knowledge: MetaKnowledge) -> KNNLearner:
        self.tasks, self.arrays, self._hashes = {}, {}, {}
        self.forget_scalers()
        for task, matrix in knowledge.matrices.items():
            frame = knowledge.metafeatures.loc[matrix.datasets]
            # the scale of the meta-features, and which of them matter, are learned from the
            # datasets that ran the grid: a partial row's gaps to the others rest on a few
            # configurations, and it should not move everyone's distances
            whole = matrix.whole_rows()
            scaler = FeatureScaler().fit(frame[whole])
            features = scaler.transform(frame)
            weights = learn_feature_weights(features[whole], matrix.normalised[whole])
            self.tasks[task] = {
                "scaler": scaler.to_json(),
                "datasets": knowledge.datasets.loc[matrix.datasets, "name"].tolist(),
                "configs": [knowledge.config(c) for c in matrix.configs],
            }
            self.arrays[f"{task}.features"] = features.astype(np.float32)
            self.arrays[f"{task}.weights"] = weights.astype(np.float32)
            self.arrays[f"{task}.normalised"] = matrix.normalised.astype(np.float32)
            self.arrays[f"{task}.raw"] = matrix.raw.astype(np.float32)
            algorithms = [c["algorithm"] for c in self.tasks[task]["configs"]]
            # what a configuration does where it was not run: learned from the whole rows, so
            # partial ones (a user's search) change nothing for datasets they are not near
            prior = matrix.subset(whole).config_prior(algorithms)
            self.arrays[f"{task}.prior"] = prior.astype(np.float32)
            self.arrays[f"{task}.evidence"] = matrix.evidence.astype(np.float32)
            shifts = size_shifts(knowledge, task)
            if shifts is not None:
                info, arrays = shifts.to_state()
                self.tasks[task]["size_shift"] = info
                self.arrays.update({f"{task}.shift.{k}": v for k, v in arrays.items()})
        return self

    def size_shifts(self, task: str) -> SizeShifts | None:
        """The per-algorithm shifts with size of ``task``'s larger past datasets, if the
        knowledge it was fitted on had a second fidelity."""
        info = self.tasks.get(task, {}).get("size_shift")
        if info is None:
            return None
        return SizeShifts.from_state(info, {k: self.arrays[f"{task}.shift.{k}"]
                                            for k in ("datasets", "values")})

    def _size_correction(self, metafeatures: Mapping[str, float] | pd.Series, task: str,
                         order: np.ndarray, distances: np.ndarray,
                         scale: float) -> np.ndarray | None:
        """Per configuration, what the query's size adds to its predicted score (None when
        nothing: a small query, no second fidelity, ``size_weight=0``)."""
        shifts = self.size_shifts(task) if self.size_weight else None
        n_rows = float(metafeatures.get("nr_inst") or 0.0)
        if shifts is None or shifts.strength(n_rows) == 0.0:
            return None
        by_row = np.empty(len(order))
        by_row[order] = distances
        near = by_row[shifts.datasets]
        weights = np.zeros(len(near))
        closest = np.argsort(near, kind="stable")[: self.size_neighbors]
        weights[closest] = 1.0 / (near[closest] + scale)
        per_algorithm = dict(zip(shifts.algorithms, shifts.for_query(weights, n_rows),
                                 strict=True))
        algorithms = [c["algorithm"] for c in self.tasks[task]["configs"]]
        return self.size_weight * np.array([per_algorithm.get(a, 0.0) for a in algorithms])

    def nearest_datasets(self, metafeatures: Mapping[str, float] | pd.Series,
                         task: str) -> tuple[np.ndarray, np.ndarray]:
        """Indices of past datasets of ``task`` sorted by distance, and the distances."""
        query = self.task_scaler(task).transform_mapping(metafeatures)
        weights = self.arrays[f"{task}.weights"]
        diffs = self.arrays[f"{task}.features"] - query.astype(np.float32)
        distances = np.sqrt((weights * diffs ** 2).sum(axis=1))
        order = np.argsort(distances, kind="stable")
        return order, distances[order]

    def predicted_scores(self, metafeatures: Mapping[str, float] | pd.Series,
                         task: str) -> dict[str, float]:
        """Neighbour-weighted normalised score of every configuration the neighbours tried,
        by configuration hash (1 = as good as the best known configuration there)."""
        if task not in self.tasks:
            return {}
        if task not in self._hashes:
            self._hashes[task] = [config_hash(c) for c in self.tasks[task]["configs"]]
        predicted = self._neighbourhood(metafeatures, task).predicted
        return {key: float(score) for key, score in zip(self._hashes[task], predicted,
                                                        strict=True)
                if np.isfinite(score)}

    def _neighbourhood(self, metafeatures: Mapping[str, float] | pd.Series,
                       task: str) -> Neighbourhood:
        """The past datasets of ``task`` around these meta-features (see
        :class:`Neighbourhood`)."""
        order, distances = self.nearest_datasets(metafeatures, task)
        evidence = self.evidence(task)[order]
        count = self.neighbour_count(evidence)
        near = distances[:count]
        whole = whole_rows(evidence)
        scale = max(float(np.median(distances[whole])) * self.bandwidth, 1e-6)
        # inverse-distance weights on the neighbours, shrunk towards every past dataset
        # alike: the first picks follow the neighbours, the later ones also hedge like a
        # global portfolio when the neighbours are not a sure guide; a dataset that ran only
        # part of the grid (a user's search) counts in proportion
        weights = np.zeros(len(order))
        weights[: len(near)] = evidence[: len(near)] / (near + scale)
        weights = (1.0 - self.shrinkage) * weights / weights.sum() \
            + self.shrinkage * whole / whole.sum()
        normalised = self.arrays[f"{task}.normalised"][order]
        present = np.isfinite(normalised)
        # a configuration a neighbour never tried is assumed to do there as it does on
        # average, so a near-identical neighbour's best configuration outranks untried ones
        prior = self.arrays[f"{task}.prior"]
        filled = np.where(present, normalised, prior[None, :])
        correction = self._size_correction(metafeatures, task, order, distances, scale)
        if correction is not None:
            filled = filled + correction[None, :]
        predicted = filled.T @ weights
        predicted = np.where(present[:count].any(axis=0), predicted, -np.inf)
        return Neighbourhood(order, distances, count, whole, weights, normalised, filled,
                             predicted)

    def neighbour_count(self, evidence: np.ndarray) -> int:
        """How many of the nearest datasets (``evidence`` in distance order) make up
        ``n_neighbors`` datasets' worth of evidence."""
        enough = np.searchsorted(np.cumsum(evidence), self.n_neighbors - 1e-9)
        return int(min(len(evidence), enough + 1))

    def evidence(self, task: str) -> np.ndarray:
        """How much each past dataset of ``task`` counts (1 = it ran the whole grid)."""
        evidence = self.arrays.get(f"{task}.evidence")
        if evidence is None:  # saved before evidence was kept: every dataset counted fully
            evidence = np.ones(len(self.tasks[task]["datasets"]), dtype=np.float32)
        return evidence

    def recommend(self, metafeatures: Mapping[str, float] | pd.Series, task: str,
                  k: int = 10) -> list[Recommendation]:
        k = check_k(k)
        if task not in self.tasks:
            return []
        info = self.tasks[task]
        around = self._neighbourhood(metafeatures, task)
        order, predicted, normalised = around.order, around.predicted, around.normalised
        neighbours, near = order[:around.count], around.distances[:around.count]
        raw = self.arrays[f"{task}.raw"][order]
        # the picks after the first hedge across the datasets that ran the grid: a partial
        # row (a user's search) weighs too little to be hedged for, yet would tip near-ties
        whole = around.whole
        ranking = (complementary_ranking(around.filled[whole], around.weights[whole],
                                         predicted, k)
                   if self.diversify else np.argsort(-predicted, kind="stable")[:k])
        out = []
        tried_on = np.isfinite(normalised).sum(axis=0)
        for rank, column in enumerate(ranking, start=1):
            if not np.isfinite(predicted[column]):
                break
            config = info["configs"][column]
            # the evidence: the nearest neighbours that ran this configuration, by name
            ran = [i for i in range(len(neighbours)) if np.isfinite(normalised[i, column])]
            shown = [f"{info['datasets'][neighbours[i]]} (distance {near[i]:.2f}: "
                     f"{raw[i, column]:.3f}, {normalised[i, column]:.2f} of its best)"
                     for i in ran[:3]]
            why = (f"nearest past datasets that ran it: {'; '.join(shown)}; run on "
                   f"{int(tried_on[column])} past {task} datasets in all")
            out.append(Recommendation(
                config["algorithm"], dict(config["params"]), float(predicted[column]),
                self.name, why, rank=rank,
                # "covering": after the first, each pick is the one that most raises the
                # best score so far over the neighbours, not the next best predicted
                details={"ordering": "covering" if self.diversify else "score",
                         "neighbours": [info["datasets"][d] for d in neighbours],
                         "distances": [float(x) for x in near],
                         "evidence": {"datasets": int(tried_on[column]),
                                      "neighbours": [info["datasets"][neighbours[i]]
                                                     for i in ran]}}))
        return out

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"n_neighbors": self.n_neighbors, "diversify": self.diversify,
                "bandwidth": self.bandwidth, "shrinkage": self.shrinkage,
                "size_weight": self.size_weight, "size_neighbors": self.size_neighbors,
                "tasks": self.tasks}, self.arrays

    @classmethod
    def _from_state(cls, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> MetaLearner:
        learner = cls(state["n_neighbors"], state.get("diversify", True),
                      state.get("bandwidth", 0.05), state.get("shrinkage", 0.0),
                      state.get("size_weight", 0.0), state.get("size_neighbors", 10))
        learner.tasks = state["tasks"]
        learner.arrays = dict(arrays)
        return learner
