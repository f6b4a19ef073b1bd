"""Ours against cold TPE, case by case: the head-to-head record per budget, and how many
trials cold TPE needs to match each of ours (the sample-efficiency ratio).

A *case* is a row's ``dataset`` (one dataset, or one ``dataset #seed`` split when a report
pools several seeds), and two entries are compared on the score the leaderboard compares,
the test score of :func:`~automl_meta.harness.summary.score_table`'s ``effective``: rounded
to 12 decimals, a failure worse than any score (two failures tie), a skipped entry leaving
the case out, and a case where no entry succeeded saying nothing.

- ``head_to_head``: per trial budget ``b`` of the run, each of ours (a ``trials`` method
  marked ``ours``) at ``b`` against ``tpe`` at ``b``, and at the ``pairs`` (ours at ``a``
  against ``tpe`` at ``c``): wins, ties and losses over the cases both took part in, and
  ``win_share``, the wins over the cases where the two differ (wins + losses).
- ``sample_efficiency``: for each of ours at ``b`` and each case, the fewest trials ``n``
  among the run's budgets such that ``tpe`` at ``n`` scores at least as well; the median
  ``n`` over the cases (a case ``tpe`` never matches within its largest budget counts as
  more than any, and a median among those is reported as ``> max``), the ratio
  ``median n / b``, and the share of cases never matched.

One of ours whose method names a ``baseline`` of its own (``lgbm_warm_tpe``: ``lgbm_tpe``,
see :mod:`automl_meta.harness.methods`) is held against that search instead, at the same
budgets and pairs, when the run has it (``own_baselines`` lists them); otherwise it is left
out of both.

A method whose every row repeats another's search (``copy_of``, see
:mod:`automl_meta.harness.methods`) is left out of both, listed under ``copies``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from automl_meta.harness.methods import COPY_OF, METHODS, TRIALS
from automl_meta.harness.results import SKIPPED, latest
from automl_meta.harness.summary import score_table

BASELINE = "tpe"
# the bars: ours after 5 trials vs cold TPE after 20, 10 vs 50, 50 vs 50
DEFAULT_PAIRS: tuple[tuple[int, int], ...] = ((5, 20), (10, 50), (50, 50))


def copies(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per method with rows marked ``copy_of``: the method copied and on how many of the
    cases it took part in its rows are copies."""
    found: dict[str, dict[str, Any]] = {}
    cases: dict[str, set[str]] = {}
    copied: dict[str, set[str]] = {}
    for row in latest(rows).values():
        method = str(row["method"])
        cases.setdefault(method, set()).add(str(row["dataset"]))
        if row.get(COPY_OF):
            found.setdefault(method, {"of": str(row[COPY_OF])})
            copied.setdefault(method, set()).add(str(row["dataset"]))
    for method, info in found.items():
        info["cases"] = len(copied[method])
        info["of_cases"] = len(cases[method])
    return found


def versus_tpe(rows: Iterable[Mapping[str, Any]],
               pairs: Sequence[tuple[int, int]] = DEFAULT_PAIRS,
               baseline: str = BASELINE) -> dict[str, Any]:
    """The head-to-head records and the sample efficiency of ours against ``baseline``
    (see the module docstring); empty lists when the run has no ``baseline`` search."""
    rows = list(latest(rows).values())
    repeated = copies(rows)
    only_copies = {m for m, info in repeated.items() if info["cases"] == info["of_cases"]}
    ours = sorted({str(r["method"]) for r in rows
                   if r.get("kind") == TRIALS and r["method"] != baseline
                   and r["method"] not in only_copies and _is_ours(str(r["method"]))})
    wide = _effective(rows)
    budgets = _budgets(rows, baseline)
    result: dict[str, Any] = {"baseline": baseline, "budgets": budgets,
                              "pairs": [list(p) for p in pairs], "head_to_head": [],
                              "sample_efficiency": [], "copies": repeated}
    own = {m: METHODS[m].baseline for m in ours if METHODS[m].baseline not in (None, baseline)}
    if own:  # ours held against a cold search of their own (lgbm_warm_tpe: lgbm_tpe)
        result["own_baselines"] = own
    for method in ours:
        against = own.get(method, baseline)
        theirs = budgets if against == baseline else _budgets(rows, against)
        if not theirs:
            continue
        mine = sorted({int(r["budget"]) for r in rows if r["method"] == method})
        compared = [(b, b, "same budget") for b in mine if b in theirs]
        compared += [(a, c, "pair") for a, c in pairs if a in mine and c in theirs]
        for a, c, why in compared:
            record = head_to_head(wide, f"{method}@{a}", f"{against}@{c}")
            if record is not None:
                result["head_to_head"].append({"method": method, "budget": a,
                                               "baseline_budget": c, "compared": why,
                                               **record})
        for b in mine:
            efficiency = trials_to_match(wide, f"{method}@{b}",
                                         {n: f"{against}@{n}" for n in theirs})
            if efficiency is not None:
                ratio = efficiency["median_trials"]
                efficiency["ratio"] = None if ratio is None else ratio / b
                result["sample_efficiency"].append({"method": method, "budget": b,
                                                    **efficiency})
    return result


def _budgets(rows: list[dict[str, Any]], method: str) -> list[int]:
    """The trial budgets ``method`` ran (not skipped) in ``rows``."""
    return sorted({int(r["budget"]) for r in rows if r["method"] == method
                   and r.get("kind") == TRIALS and r.get("status") != SKIPPED})


def head_to_head(wide: pd.DataFrame, ours: str, theirs: str) -> dict[str, Any] | None:
    """Wins, ties and losses of column ``ours`` against ``theirs`` over the cases (rows of
    ``wide``) where both have a value; ``None`` when a column is absent."""
    if ours not in wide or theirs not in wide:
        return None
    both = wide[[ours, theirs]].dropna()
    wins = int((both[ours] > both[theirs]).sum())
    ties = int((both[ours] == both[theirs]).sum())
    losses = int((both[ours] < both[theirs]).sum())
    differing = wins + losses
    return {"entry": ours, "against": theirs, "cases": int(len(both)), "wins": wins,
            "ties": ties, "losses": losses, "differing": differing,
            "win_share": wins / differing if differing else None}


def trials_to_match(wide: pd.DataFrame, ours: str,
                    curve: Mapping[int, str]) -> dict[str, Any] | None:
    """Per case, the fewest trials ``n`` of ``curve`` (budget -> column) whose value is at
    least ``ours``' (``None``: never within the largest budget), and their median, the
    share never matched; over the cases where ``ours`` and some budget of ``curve`` have a
    value. ``None`` when ``ours`` is absent."""
    columns = {n: c for n, c in sorted(curve.items()) if c in wide}
    if ours not in wide or not columns:
        return None
    per_case: dict[str, int | None] = {}
    for case, values in wide.iterrows():
        mine = values[ours]
        theirs = {n: values[c] for n, c in columns.items() if not pd.isna(values[c])}
        if pd.isna(mine) or not theirs:
            continue
        per_case[str(case)] = next((n for n, v in theirs.items() if v >= mine), None)
    largest = max(columns)
    needed = sorted(math.inf if n is None else n for n in per_case.values())
    median = _median(needed)
    never = sum(n is None for n in per_case.values())
    return {"entry": ours, "cases": len(per_case), "largest_budget": largest,
            "median_trials": None if median is None or math.isinf(median) else median,
            "median_beyond_largest": median is not None and math.isinf(median),
            "never": never, "never_share": never / len(per_case) if per_case else None,
            "trials_to_match": per_case}


def _effective(rows: list[dict[str, Any]]) -> pd.DataFrame:
    table = score_table(rows)
    scored = table[table["scored"]] if len(table) else table
    if not len(scored):
        return pd.DataFrame()
    return scored.pivot_table(index="dataset", columns="entry", values="effective",
                              aggfunc="first", dropna=False)


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    middle = len(values) // 2
    if len(values) % 2:
        return float(values[middle])
    low, high = values[middle - 1], values[middle]
    return math.inf if math.isinf(high) else (low + high) / 2


def _is_ours(method: str) -> bool:
    known = METHODS.get(method)
    return bool(known and known.ours)
