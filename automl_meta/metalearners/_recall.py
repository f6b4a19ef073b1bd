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
SHAPE_FEATURES = {"nr_attr": "n_features", "nr_class": "n_classes"}


@dataclass(frozen=True)
class SameData:
    """A stored dataset holding the same data as the query."""

    fingerprint: str
    name: str
    exact: bool  # the same content fingerprint, not only the same meta-features


def same_data(knowledge: MetaKnowledge, metafeatures: Mapping[str, float] | pd.Series,
              task: str, fingerprint: str | None = None) -> list[SameData]:
    """The stored datasets of ``task`` that hold the query's data, exact matches first.

    Example:
        >>> found = same_data(knowledge, extract_metafeatures(data), data.task,  # doctest: +SKIP
        ...                   data.fingerprint)
        >>> [(s.name, s.exact) for s in found]  # doctest: +SKIP
        [('breast_cancer', True), ('wdbc', False)]
    """
    datasets = knowledge.datasets
    of_task = datasets.index[datasets["task"] == task]
    found: dict[str, SameData] = {}
    if fingerprint is not None and fingerprint in of_task:
        found[fingerprint] = SameData(fingerprint, str(datasets.loc[fingerprint, "name"]), True)
    query = pd.Series(metafeatures, dtype=float).reindex(knowledge.metafeatures.columns)
    if query.notna().sum() < MIN_COMMON_FEATURES or not len(of_task):
        return list(found.values())
    stored = knowledge.metafeatures.loc[of_task].to_numpy(dtype=float)
    wanted = query.to_numpy()
    both = np.isfinite(stored) & np.isfinite(wanted)[None, :]
    with np.errstate(all="ignore"):
        relative = np.abs(stored - wanted) / (np.abs(stored) + np.abs(wanted) + 1e-9)
    relative = np.where(both, relative, np.nan)
    enough = both.sum(axis=1) >= MIN_COMMON_FEATURES
    close = np.zeros(len(of_task), dtype=bool)
    if enough.any():
        median = np.nanmedian(relative[enough], axis=1)
        quartile = np.nanquantile(relative[enough], 0.75, axis=1)
        close[enough] = (median <= MEDIAN_TOLERANCE) & (quartile <= QUARTILE_TOLERANCE)
    for index in np.flatnonzero(close):
        candidate = of_task[index]
        if candidate not in found and _same_shape(datasets.loc[candidate], query):
            found[candidate] = SameData(candidate, str(datasets.loc[candidate, "name"]), False)
    return list(found.values())


def _same_shape(row: pd.Series, query: pd.Series) -> bool:
    for feature, column in SHAPE_FEATURES.items():
        value = query.get(feature)
        if value is not None and np.isfinite(value) and column in row and pd.notna(row[column]) \
                and int(round(value)) != int(row[column]):
            return False
    n_rows = query.get("nr_inst")
    if n_rows is not None and np.isfinite(n_rows) and pd.notna(row.get("n_rows")) and n_rows > 0:
        ratio = min(n_rows, row["n_rows"]) / max(n_rows, row["n_rows"])
        return bool(ratio >= MIN_ROW_RATIO)
    return True


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
    by_fingerprint = {m.fingerprint: m for m in matches}
    runs = knowledge.runs[knowledge.runs["fingerprint"].isin(list(by_fingerprint))]
    runs = runs[runs["config"].isin(knowledge.configs.index)]
    if runs.empty:
        return []
    # runs on the very data first (scores of another version are not on its scale), then
    # by score; one entry per configuration
    runs = runs.assign(exact=runs["fingerprint"].map(lambda f: by_fingerprint[f].exact))
    runs = runs.sort_values(["exact", "score"], ascending=False, kind="stable")
    counts = runs.groupby("fingerprint").size()
    out: list[Recommendation] = []
    for row in runs.drop_duplicates("config").head(k).itertuples():
        match = by_fingerprint[row.fingerprint]
        config = knowledge.config(row.config)
        whose = "your earlier runs" if row.origin == "user" else "the meta-database's runs"
        where = (f"{whose} on this data" if match.exact
                 else f"{whose} on the same data under another name or version")
        same = runs[runs["fingerprint"] == row.fingerprint]["score"]
        best, floor = float(same.max()), float(same.quantile(0.1))
        spread = best - floor
        predicted = 1.0 if spread <= 1e-12 else float(np.clip((row.score - floor) / spread,
                                                              0.0, 1.0))
        out.append(Recommendation(
            config["algorithm"], dict(config["params"]), predicted, strategy,
            f"{where} ({match.name}): scored {row.score:.3f}, "
            f"{'the best' if row.score >= best else 'among the best'} of "
            f"{int(counts[row.fingerprint])} recorded evaluations there",
            details={"earlier_runs": {"dataset": match.name, "exact": match.exact,
                                      "score": float(row.score)}}))
    return out
