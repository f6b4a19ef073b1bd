"""What a recommendation is expected to score, and why it sits where it does in the list.

The meta-learners rank configurations by a normalised score (1 = as good as the best known
configuration on similar past datasets), which reads like a metric but is not one; and the
hedging strategies (``knn``, ``portfolio``) order their picks as a covering set: after the
first, each pick is the one that most raises the best score so far over the past datasets,
not the next best predicted. :func:`annotate` adds to every recommendation the raw metric
it is expected to reach and, to every pick after the first, the reason for its place (the
neighbours it covers where the picks above it are weaker).

Both are read from one neighbourhood, whatever strategy made the recommendations: the past
datasets nearest to the query by the ``knn`` learner's learned distance (the same
"nearest past datasets" its reasons name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from automl_meta.evaluation.metrics import PRIMARY_METRIC
from automl_meta.metalearners import KNNLearner, Recommendation
from automl_meta.space import config_hash

NEAREST = 10  # nearest past datasets that ran a configuration, behind its expected metric
# a neighbour is covered by a pick when the pick's normalised score there beats every pick
# above it by this much (a twentieth of the range between its weak and its best scores)
MIN_GAIN = 0.05
SHOWN = 3  # covered neighbours named in ``why``; ``summary`` names two


@dataclass(frozen=True)
class Neighbourhood:
    """The past datasets of one task in distance order from the query: the first ``count``
    are its neighbours; ``raw`` / ``normalised`` their scores by configuration column
    (NaN: not run; a failed run is NaN in ``raw`` and 0 in ``normalised``)."""

    names: list[str]
    distances: np.ndarray
    count: int
    raw: np.ndarray
    normalised: np.ndarray
    columns: Mapping[str, int]  # configuration hash -> column
    # added to the distances of inverse-distance weights, as the knn learner softens them
    softening: float = 1e-6

    @classmethod
    def from_knn(cls, learner: KNNLearner, metafeatures: Mapping[str, float] | pd.Series,
                 task: str) -> Neighbourhood | None:
        """The neighbourhood the fitted ``learner`` sees (``None``: it knows no ``task``)."""
        if task not in learner.tasks:
            return None
        info = learner.tasks[task]
        order, distances = learner.nearest_datasets(metafeatures, task)
        count = learner.neighbour_count(learner.evidence(task)[order])
        return cls([info["datasets"][i] for i in order], distances, count,
                   learner.arrays[f"{task}.raw"][order].astype(float),
                   learner.arrays[f"{task}.normalised"][order].astype(float),
                   _columns(learner, task),
                   max(float(np.median(distances)) * learner.bandwidth, 1e-6))

    def column(self, rec: Recommendation) -> int | None:
        return self.columns.get(config_hash(rec.config))

    def scale(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per dataset of ``rows``: the raw scores a normalised 0 and 1 stand for (its floor
        and its best), read back from its cells strictly between 0 and 1, where
        ``normalised`` is ``(raw - floor) / (best - floor)``; NaN where fewer than two."""
        raw, normalised = self.raw[rows], self.normalised[rows]
        inside = np.isfinite(raw) & (normalised > 0.0) & (normalised < 1.0)
        count = inside.sum(axis=1)
        with np.errstate(all="ignore"):
            x_mean = np.where(inside, normalised, 0.0).sum(axis=1) / count
            y_mean = np.where(inside, raw, 0.0).sum(axis=1) / count
            dx = np.where(inside, normalised - x_mean[:, None], 0.0)
            dy = np.where(inside, raw - y_mean[:, None], 0.0)
            spread = (dx * dy).sum(axis=1) / (dx ** 2).sum(axis=1)
        floor = y_mean - spread * x_mean
        usable = (count >= 2) & np.isfinite(spread) & (spread > 0)
        return np.where(usable, floor, np.nan), np.where(usable, floor + spread, np.nan)


def _columns(learner: KNNLearner, task: str) -> Mapping[str, int]:
    # hashing the grid takes longer than the rest of a recommendation: once per fitted grid
    cache = learner.__dict__.setdefault("_explain_columns", {})
    configs = learner.tasks[task]["configs"]
    if task not in cache or cache[task][0] is not configs:
        cache[task] = (configs, {config_hash(c): j for j, c in enumerate(configs)})
    return cache[task][1]


def annotate(recs: Sequence[Recommendation], around: Neighbourhood | None, task: str) -> None:
    """Fill ``metric``, ``expected_metric`` and ``summary`` of ``recs`` (ranked, best
    first), with ``details["expected"]`` / ``details["covers"]``, and append the same to
    each ``why``. Which configurations are recommended, and their order, do not change."""
    metric = PRIMARY_METRIC.get(task)
    for position, rec in enumerate(recs):
        rec.metric = metric
        expected, sentence = _expected(rec, around, metric)
        rec.expected_metric = expected
        summary, reason = _place(recs, position, around)
        rec.summary = summary
        rec.why = ". ".join(part for part in (rec.why.rstrip(". "), sentence, reason) if part)


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value at half the total weight (a robust centre: one R² of -1e6 among the
    neighbours does not drag it, as it would a mean).

    Example:
        >>> weighted_median(np.array([0.9, 0.5, 0.7]), np.array([1.0, 1.0, 3.0]))
        0.7
    """
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])


def _expected(rec: Recommendation, around: Neighbourhood | None,
              metric: str | None) -> tuple[float | None, str]:
    name = metric or "score"
    earlier = rec.details.get("earlier_runs")
    if earlier is not None:
        value = float(earlier["score"])
        exact = earlier.get("exact", True)
        rec.details["expected"] = {"metric": metric, "value": value,
                                   "from": "this data" if exact else "the same data",
                                   "datasets": [{"name": earlier["dataset"], "score": value}]}
        where = ("this data" if exact else
                 f"{earlier['dataset']}, the same data under another name or version")
        return value, f"Expected {name} ≈ {value:.3f}: its recorded score on {where}"
    column = around.column(rec) if around is not None else None
    if around is None:
        rec.details["expected"] = {"metric": metric, "value": None, "datasets": []}
        return None, f"No expected {name}: no past dataset of this task is known"
    if column is None:
        return _placed(rec, around, metric)
    ran = np.flatnonzero(np.isfinite(around.raw[:, column]))[:NEAREST]
    failed = np.flatnonzero(np.isnan(around.raw[:, column])
                            & (around.normalised[:, column] == 0.0))
    failed = failed[failed < (ran[-1] if len(ran) else len(around.names))]
    if not len(ran):
        rec.details["expected"] = {"metric": metric, "value": None, "datasets": [],
                                   "failed": [around.names[i] for i in failed]}
        return None, f"No expected {name}: it failed on every past dataset that ran it"
    scores, distances = around.raw[ran, column], around.distances[ran]
    value = weighted_median(scores, 1.0 / (distances + around.softening))
    rec.details["expected"] = {
        "metric": metric, "value": value, "from": "nearest past datasets that ran it",
        "low": float(scores.min()), "high": float(scores.max()),
        "datasets": [{"name": around.names[i], "distance": float(d), "score": float(s)}
                     for i, d, s in zip(ran, distances, scores, strict=True)],
        "failed": [around.names[i] for i in failed]}
    failures = f"; it failed on {len(failed)} of them" if len(failed) else ""
    within = "" if ran[-1] < around.count else f", some beyond the {around.count} nearest"
    return value, (f"Expected {name} ≈ {value:.3f}: the distance-weighted median of its "
                   f"scores on the {len(ran)} nearest past datasets that ran it{within} "
                   f"({scores.min():.3f} to {scores.max():.3f}{failures})")


def _placed(rec: Recommendation, around: Neighbourhood,
            metric: str | None) -> tuple[float | None, str]:
    """The expected metric of a configuration no past dataset ran (a new one a learner
    sampled): its predicted normalised score put on the scale of each of the nearest past
    datasets (what scoring that well there is, in the metric), their weighted median."""
    name = metric or "score"
    predicted = rec.predicted_score
    rows = np.arange(min(NEAREST, len(around.names)))
    if predicted is None or not np.isfinite(predicted) or not len(rows):
        rec.details["expected"] = {"metric": metric, "value": None, "datasets": []}
        return None, f"No expected {name}: no past dataset ran this configuration"
    floor, best = around.scale(rows)
    usable = np.isfinite(floor)
    rows, floor, best = rows[usable], floor[usable], best[usable]
    if not len(rows):
        rec.details["expected"] = {"metric": metric, "value": None, "datasets": []}
        return None, f"No expected {name}: no past dataset ran this configuration"
    share = float(np.clip(predicted, 0.0, 1.0))
    scores, distances = floor + share * (best - floor), around.distances[rows]
    value = weighted_median(scores, 1.0 / (distances + around.softening))
    rec.details["expected"] = {
        "metric": metric, "value": value,
        "from": "its predicted score on the scale of the nearest past datasets",
        "low": float(scores.min()), "high": float(scores.max()),
        "datasets": [{"name": around.names[i], "distance": float(d), "score": float(v)}
                     for i, d, v in zip(rows, distances, scores, strict=True)]}
    return value, (f"Expected {name} ≈ {value:.3f}: no past dataset ran this configuration; "
                   f"its score vs best known ({share:.3f}) put on the scale of each of the "
                   f"{len(rows)} nearest past datasets ({scores.min():.3f} to "
                   f"{scores.max():.3f}), their distance-weighted median")


def _place(recs: Sequence[Recommendation], position: int,
           around: Neighbourhood | None) -> tuple[str, str]:
    """The few-word ``summary`` of why ``recs[position]`` is there, and its sentence for
    ``why`` (empty when ``why`` already says it)."""
    rec = recs[position]
    earlier = rec.details.get("earlier_runs")
    if earlier is not None:
        where = ("this data" if earlier.get("exact", True)
                 else f"{earlier['dataset']} (copy)")
        return f"{'best run' if position == 0 else 'run'} on {where}", ""
    # the strategy's own first pick, whether or not earlier runs on this data come before it
    if all("earlier_runs" in r.details for r in recs[:position]):
        return "best predicted score", ""
    if rec.details.get("ordering") != "covering":
        return "next best predicted", ""
    covered = _covered(recs, position, around)
    rec.details["covers"] = covered or []
    if covered is None:
        return ("hedge: covers what the picks above miss",
                "Picked after #1 as a hedge: with the picks above it, it raises the best "
                "score over the past datasets most")
    near = [c for c in covered if c["neighbour"]]
    shown = near or covered
    if not shown:
        return ("hedge: small gains on many",
                f"Picked after #1 as a hedge: it gains a little over the picks above it on "
                f"many past datasets, on none by {MIN_GAIN:.2f} or more")
    names = [c["dataset"] for c in shown]
    more = f" +{len(names) - 2}" if len(names) > 2 else ""
    which = "neighbours" if near else "past datasets beyond the neighbours"
    listed = ", ".join(f"{c['dataset']} ({c['score']:.2f} vs {c['first']:.2f} for #1)"
                       for c in shown[:SHOWN])
    count = f"{len(near)} of the {around.count} nearest" if near else "none of the nearest"
    return (f"covers {', '.join(names[:2])}{more}",
            f"Picked after #1 as a hedge: it covers {which} where the picks above it are "
            f"weaker: {listed} (normalised scores; {count})")


def _covered(recs: Sequence[Recommendation], position: int,
             around: Neighbourhood | None) -> list[dict[str, Any]] | None:
    """Past datasets (nearest first) where ``recs[position]`` beats every pick above it by
    ``MIN_GAIN`` and #1 ran (``None`` when this or #1 is unknown to the neighbourhood)."""
    if around is None:
        return None
    column, first = around.column(recs[position]), around.column(recs[0])
    if column is None or first is None:
        return None
    above = [c for c in (around.column(r) for r in recs[:position]) if c is not None]
    scores = around.normalised[:, column]
    with np.errstate(all="ignore"):
        best_above = np.max(np.where(np.isfinite(around.normalised[:, above]),
                                     around.normalised[:, above], -np.inf), axis=1)
    beats = (np.isfinite(scores) & np.isfinite(around.normalised[:, first])
             & (scores >= best_above + MIN_GAIN))
    return [{"dataset": around.names[i], "score": float(scores[i]),
             "first": float(around.normalised[i, first]),
             "best_above": float(best_above[i]), "neighbour": bool(i < around.count)}
            for i in np.flatnonzero(beats)]
