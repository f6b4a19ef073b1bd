"""Earlier runs on the same data: the store's own best configurations for a dataset it has
seen, under its own name or another (a copy, a new version with a few more rows).

The meta-learners lend configurations from *other* datasets; when the store already ran
configurations on this very data, the best of those are the surest first picks, whatever
the learners predict. Datasets are matched by content fingerprint or, failing that, by
meta-features: the same number of features and classes, a similar number of rows, and
meta-features equal up to a small relative difference (the median over the meta-features
below ``MEDIAN_TOLERANCE`` and three quarters of them below ``QUARTILE_TOLERANCE``). On
the shipped meta-database that joins exactly the known copies (``pima`` / ``diabetes``,
``cleve`` / ``heart-c``, ``wdbc`` / ``breast-cancer-wisconsin``, ...) and keeps apart
datasets that share features but not the target (``allhyper`` / ``allrep``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from automl_meta.metalearners._base import Recommendation
from automl_meta.metalearners._knowledge import MetaKnowledge

MEDIAN_TOLERANCE = 0.01
QUARTILE_TOLERANCE = 0.05
MIN_ROW_RATIO = 0.8  # a new version may have a few more (or fewer) rows
MIN_COMMON_FEATURES = 10


@dataclass(frozen=True)
class SameData:
    """A stored dataset holding the same data as the query."""

    fingerprint: str
    name: str
    exact: bool  # the same content fingerprint, not only the same meta-features


@dataclass
class _TaskIndex:
    """What the recall compares a query with, per task, computed once per knowledge."""

    fingerprints: list[str]
    names: list[str]
    features: np.ndarray  # (datasets, meta-features), NaN where unknown
    n_features: np.ndarray  # stored shape columns, NaN where unknown
    n_classes: np.ndarray
    n_rows: np.ndarray


def _index(knowledge: MetaKnowledge, task: str) -> _TaskIndex:
    cache = knowledge.__dict__.setdefault("_recall_index", {})
    if task not in cache:
        datasets = knowledge.datasets[knowledge.datasets["task"] == task]

        def column(name: str) -> np.ndarray:
            return pd.to_numeric(datasets[name], errors="coerce").to_numpy(dtype=float) \
                if name in datasets else np.full(len(datasets), np.nan)

        cache[task] = _TaskIndex(
            list(datasets.index), [str(n) for n in datasets["name"]],
            knowledge.metafeatures.loc[datasets.index].to_numpy(dtype=float),
            column("n_features"), column("n_classes"), column("n_rows"))
    return cache[task]


@dataclass(frozen=True)
class _Runs:
    """One stored dataset's successful runs, best first."""

    configs: list[str]
    scores: np.ndarray
    origins: list[str]

    @property
    def floor(self) -> float:
        return float(np.quantile(self.scores, 0.1))


def _runs_by_dataset(knowledge: MetaKnowledge) -> dict[str, _Runs]:
    cache = knowledge.__dict__.get("_recall_runs")
    if cache is None:
        runs = knowledge.runs[knowledge.runs["config"].isin(knowledge.configs.index)]
        cache = {}
        for fingerprint, group in runs.groupby("fingerprint"):
            group = group.sort_values("score", ascending=False, kind="stable")
            cache[str(fingerprint)] = _Runs(list(group["config"]),
                                            group["score"].to_numpy(dtype=float),
                                            [str(o) for o in group["origin"]])
        knowledge.__dict__["_recall_runs"] = cache
    return cache


def same_data(knowledge: MetaKnowledge, metafeatures: Mapping[str, float] | pd.Series,
              task: str, fingerprint: str | None = None) -> list[SameData]:
    """The stored datasets of ``task`` that hold the query's data, exact matches first.

    Example:
        >>> found = same_data(knowledge, extract_metafeatures(data), data.task,  # doctest: +SKIP
        ...                   data.fingerprint)
        >>> [(s.name, s.exact) for s in found]  # doctest: +SKIP
        [('breast_cancer', True), ('wdbc', False)]
    """
    index = _index(knowledge, task)
    found: dict[str, SameData] = {}
    if fingerprint is not None and fingerprint in index.fingerprints:
        position = index.fingerprints.index(fingerprint)
        found[fingerprint] = SameData(fingerprint, index.names[position], True)
    query = pd.Series(metafeatures, dtype=float).reindex(knowledge.metafeatures.columns)
    wanted = query.to_numpy()
    if np.isfinite(wanted).sum() < MIN_COMMON_FEATURES or not index.fingerprints:
        return list(found.values())
    # the same shape first (cheap), the meta-features only for those that have it
    candidates = np.ones(len(index.fingerprints), dtype=bool)
    for feature, stored in (("nr_attr", index.n_features), ("nr_class", index.n_classes)):
        value = query.get(feature)
        if value is not None and np.isfinite(value):
            candidates &= np.isnan(stored) | (np.round(stored) == round(float(value)))
    n_rows = query.get("nr_inst")
    if n_rows is not None and np.isfinite(n_rows) and n_rows > 0:
        with np.errstate(all="ignore"):
            ratio = np.minimum(index.n_rows, n_rows) / np.maximum(index.n_rows, n_rows)
        candidates &= np.isnan(index.n_rows) | (ratio >= MIN_ROW_RATIO)
    rows = np.flatnonzero(candidates)
    if not len(rows):
        return list(found.values())
    stored = index.features[rows]
    both = np.isfinite(stored) & np.isfinite(wanted)[None, :]
    with np.errstate(all="ignore"):
        relative = np.abs(stored - wanted) / (np.abs(stored) + np.abs(wanted) + 1e-9)
    relative = np.where(both, relative, np.nan)
    enough = both.sum(axis=1) >= MIN_COMMON_FEATURES
    if enough.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(relative[enough], axis=1)
            quartile = np.nanquantile(relative[enough], 0.75, axis=1)
        close = (median <= MEDIAN_TOLERANCE) & (quartile <= QUARTILE_TOLERANCE)
        for position in rows[enough][close]:
            candidate = index.fingerprints[position]
            if candidate not in found:
                found[candidate] = SameData(candidate, index.names[position], False)
    return list(found.values())


def earlier_runs(knowledge: MetaKnowledge, metafeatures: Mapping[str, float] | pd.Series,
                 task: str, k: int, strategy: str,
                 fingerprint: str | None = None) -> list[Recommendation]:
    """The best configurations the store ran on this data (at most ``k``), best first.

    Each ``why`` names the dataset they ran on and their recorded score; ``predicted_score``
    is that score relative to the best and the weakest of those runs (1 = the best).
    """
    matches = same_data(knowledge, metafeatures, task, fingerprint)
    if not matches or k < 1:
        return []
    per_dataset = _runs_by_dataset(knowledge)
    # runs on the very data first (scores of another version are not on its scale), then
    # by score; one entry per configuration
    ordered = sorted((m for m in matches if m.fingerprint in per_dataset),
                     key=lambda m: not m.exact)
    candidates = sorted(((not m.exact, -score, i, m, key, origin)
                         for i, m in enumerate(ordered)
                         for key, score, origin in zip(per_dataset[m.fingerprint].configs,
                                                       per_dataset[m.fingerprint].scores,
                                                       per_dataset[m.fingerprint].origins,
                                                       strict=True)),
                        key=lambda c: c[:3])
    out: list[Recommendation] = []
    seen: set[str] = set()
    for _, negative, _, match, key, origin in candidates:
        if len(out) >= k:
            break
        if key in seen:
            continue
        seen.add(key)
        score, runs = -negative, per_dataset[match.fingerprint]
        best, floor = float(runs.scores[0]), runs.floor
        config = knowledge.config(key)
        whose = "your earlier runs" if origin == "user" else "the meta-database's runs"
        where = (f"{whose} on this data" if match.exact
                 else f"{whose} on the same data under another name or version")
        spread = best - floor
        predicted = 1.0 if spread <= 1e-12 else float(np.clip((score - floor) / spread,
                                                              0.0, 1.0))
        out.append(Recommendation(
            config["algorithm"], dict(config["params"]), predicted, strategy,
            f"{where} ({match.name}): scored {score:.3f}, "
            f"{'the best' if score >= best else 'among the best'} of "
            f"{len(runs.scores)} recorded evaluations there",
            details={"earlier_runs": {"dataset": match.name, "exact": match.exact,
                                      "score": float(score)}}))
    return out
