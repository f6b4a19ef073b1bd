"""From raw results to comparable numbers: normalised scores, ranks and wins.

An *entry* is a method at one budget (``tpe@20``, ``fit@30s``; a one-shot method is its
name alone). Raw scores are not comparable across datasets (a balanced accuracy of 0.7 is
good on one and poor on another), so each dataset is normalised on its own, across the
entries compared:

- ``ok`` results: ``(score - worst) / (best - worst)`` over the ``ok`` scores of that
  dataset, so the best entry gets 1 and the worst 0; when all ``ok`` scores are equal,
  each gets 1.
- failed results (status ``error``, ``timeout``, ``memout``: the method ran but gave no
  usable model): normalised 0, and ranked below every ``ok`` result (failed ones tie).
- ``skipped`` results (a peer that is not installed, a method unavailable here): left out
  of that dataset altogether, neither normalised nor ranked; an entry's means are over the
  datasets where it took part, and ``datasets`` says how many.
- a dataset where no entry succeeded says nothing about the methods: it is left out of
  every mean and listed under ``datasets_without_success``.

Ranks are 1 for the best entry of a dataset; tied scores (compared to 12 decimals) share
the mean of their ranks. ``wins[A][B]`` counts the datasets where A scored strictly better
than B (both taking part; a failure is worse than any score), ``ties[A][B]`` where they
scored the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from automl_meta.harness.results import SKIPPED, latest

NORMALISATION = __doc__.split("\n\n", 1)[1].strip() if __doc__ else ""
DECIMALS = 12


def entry_label(row: Mapping[str, Any]) -> str:
    """``method@budget``, or the method alone for a one-shot method."""
    if row.get("kind") == "once":
        return str(row["method"])
    return f"{row['method']}@{row['budget']}"


def score_table(rows: Iterable[Mapping[str, Any]],
                entries: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per result (the last of each key), with ``normalised`` and ``rank`` per
    dataset across the entries compared (all, or ``entries``); NaN where a result takes no
    part (skipped, or a dataset where nothing succeeded)."""
    frame = pd.DataFrame(list(latest(rows).values()))
    if frame.empty:
        return pd.DataFrame(columns=["dataset", "task", "method", "budget", "kind", "entry",
                                     "status", "score", "scored", "normalised", "rank",
                                     "effective"])
    for column, default in (("task", ""), ("kind", None), ("score", np.nan)):
        if column not in frame:
            frame[column] = default
    frame["entry"] = [entry_label(r) for r in frame.to_dict("records")]
    if entries is not None:
        frame = frame[frame["entry"].isin(list(entries))].copy()
    score = pd.to_numeric(frame["score"], errors="coerce")
    frame["score"] = score
    present = frame["status"] != SKIPPED
    succeeded = present & (frame["status"] == "ok") & np.isfinite(score)
    frame["effective"] = np.where(succeeded, score.round(DECIMALS), -np.inf)
    frame.loc[~present, "effective"] = np.nan
    frame["normalised"] = np.nan
    frame["rank"] = np.nan
    frame["scored"] = False
    for _, group in frame.groupby("dataset", sort=False):
        ok = succeeded.loc[group.index]
        if not ok.any():
            continue
        taking_part = group.index[present.loc[group.index].to_numpy()]
        values = group.loc[ok, "effective"]
        best, worst = values.max(), values.min()
        spread = best - worst
        normalised = (group["effective"] - worst) / spread if spread > 0 else 1.0
        normalised = pd.Series(normalised, index=group.index).where(ok, 0.0)
        frame.loc[taking_part, "normalised"] = normalised.loc[taking_part]
        frame.loc[taking_part, "rank"] = group.loc[taking_part, "effective"].rank(
            ascending=False, method="average")
        frame.loc[group.index, "scored"] = True
    return frame.reset_index(drop=True)


def summarise(rows: Iterable[Mapping[str, Any]],
              entries: Sequence[str] | None = None) -> dict[str, Any]:
    """Per entry: mean normalised score, mean rank, wins and ties against every other entry
    (see the module docstring for how failures and skips count). Ours against cold TPE case
    by case is :func:`automl_meta.harness.versus.versus_tpe`.

    Example:
        >>> rows = [{"dataset": "d", "method": "tpe", "budget": 5, "kind": "trials",
        ...          "status": "ok", "score": 0.8},
        ...         {"dataset": "d", "method": "random", "budget": 5, "kind": "trials",
        ...          "status": "ok", "score": 0.6}]
        >>> summarise(rows)["entries"]["tpe@5"]["mean_rank"]
        1.0
    """
    table = score_table(rows, entries)
    scored = table[table["scored"]]
    labels = sorted(table["entry"].unique()) if len(table) else []
    effective = scored.pivot_table(index="dataset", columns="entry", values="effective",
                                   aggfunc="first", dropna=False) if len(scored) else None
    summary: dict[str, Any] = {
        "how": NORMALISATION,
        "datasets": sorted(scored["dataset"].unique().tolist()),
        "datasets_without_success": sorted(
            set(table["dataset"]) - set(scored["dataset"])) if len(table) else [],
        "entries": {},
    }
    for label in labels:
        mine = table[table["entry"] == label]
        taking_part = scored[(scored["entry"] == label) & scored["rank"].notna()]
        first = mine.iloc[0]
        status = mine["status"]
        ok = taking_part["status"] == "ok"
        summary["entries"][label] = {
            "method": first["method"],
            "budget": _plain(first["budget"]),
            "kind": first.get("kind"),
            "datasets": int(len(taking_part)),
            "ok": int((status == "ok").sum()),
            "failed": int(((status != "ok") & (status != SKIPPED)).sum()),
            "skipped": int((status == SKIPPED).sum()),
            "mean_score": _mean(taking_part.loc[ok, "score"]),
            "mean_normalised": _mean(taking_part["normalised"]),
            "mean_rank": _mean(taking_part["rank"]),
            # rows repeating another method's search (copy_of), not run again
            "copies": int(mine["copy_of"].notna().sum()) if "copy_of" in mine else 0,
            "wins": {}, "ties": {},
        }
    for a in labels:
        for b in labels:
            if a == b or effective is None or a not in effective or b not in effective:
                continue
            both = effective[[a, b]].dropna()
            summary["entries"][a]["wins"][b] = int((both[a] > both[b]).sum())
            summary["entries"][a]["ties"][b] = int((both[a] == both[b]).sum())
    summary["order"] = sorted(labels, key=lambda e: (
        summary["entries"][e]["mean_rank"] is None, summary["entries"][e]["mean_rank"] or 0.0,
        e))
    return summary


def _mean(values: pd.Series) -> float | None:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.mean()) if len(values) else None


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
