"""``extract_metafeatures`` and ``list_measures``: the public entry points."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from automl_meta.data import load_dataset
from automl_meta.errors import AutoMLMetaWarning, ConfigurationError, did_you_mean
from automl_meta.metafeatures._context import Context, DependencyFailed
from automl_meta.metafeatures._registry import GROUPS, Measure, NotApplicable, measures_of
from automl_meta.metafeatures._result import MetaFeatures
from automl_meta.metafeatures._summary import SUMMARIES, summarise


def _resolve_groups(groups: str | Iterable[str]) -> tuple[str, ...]:
    chosen = [groups] if isinstance(groups, str) and groups != "all" else groups
    if chosen == "all":
        return GROUPS
    try:
        names = [str(group) for group in chosen]
    except TypeError:
        raise ConfigurationError(
            f"groups={groups!r} is not a group list. Expected 'all' or an iterable of "
            f"{', '.join(GROUPS)}.", parameter="groups"
        ) from None
    for name in names:
        if name not in GROUPS:
            raise ConfigurationError(
                f"Unknown meta-feature group {name!r}.{did_you_mean(name, GROUPS)} Expected "
                f"'all' or some of: {', '.join(GROUPS)}."
            )
    if not names:
        raise ConfigurationError(
            f"groups is empty. Expected 'all' or some of: {', '.join(GROUPS)}."
        )
    return tuple(group for group in GROUPS if group in names)


def _resolve_summary(summary: str | Iterable[str]) -> tuple[str, ...]:
    names = [summary] if isinstance(summary, str) else [str(s) for s in summary]
    for name in names:
        if name not in SUMMARIES:
            raise ConfigurationError(
                f"Unknown summary function {name!r}.{did_you_mean(name, list(SUMMARIES))} "
                f"Expected some of: {', '.join(SUMMARIES)}."
            )
    if not names:
        raise ConfigurationError(f"summary is empty. Expected some of: {', '.join(SUMMARIES)}.")
    return tuple(dict.fromkeys(names))


def list_measures(groups: str | Iterable[str] = "all") -> list[str]:
    """The base measure names of ``groups`` (before summarising), in group order.

    Example:
        >>> "class_ent" in list_measures(["info-theory"])
        True
    """
    return [item.name for item in measures_of(_resolve_groups(groups))]


def _names(item: Measure, summary: tuple[str, ...]) -> list[str]:
    return [f"{item.name}.{s}" for s in summary] if item.multi else [item.name]


def _values(item: Measure, raw: Any, summary: tuple[str, ...]) -> list[float]:
    if item.multi:
        return summarise(np.asarray(raw, dtype=float).ravel(), summary)
    return [float(np.asarray(raw, dtype=float))]


def extract_metafeatures(
    dataset: Any,
    groups: str | Iterable[str] = "all",
    summary: str | Iterable[str] = ("mean", "sd"),
    random_state: int = 0,
) -> MetaFeatures:
    """Characterise a dataset by its meta-features.

    Args:
        dataset: anything :func:`automl_meta.load_dataset` accepts (a Dataset, a
            DataFrame with a ``target`` column, an ``(X, y)`` pair, a path...).
        groups: ``"all"``, one group name, or an iterable of names among
            ``general``, ``statistical``, ``info-theory``, ``landmarking``,
            ``model-based``.
        summary: the summary functions applied to multi-valued measures, named
            ``"measure.function"`` as in pymfe: ``mean``, ``sd`` (ddof=1), ``var``,
            ``min``, ``max``, ``median``, ``range``, ``iq_range``, ``skewness``,
            ``kurtosis``, ``sum``, ``count``.
        random_state: seed of the row subsample, the trees and the random choices.

    Returns:
        A :class:`MetaFeatures` mapping. Its names depend only on ``groups`` and
        ``summary``; a measure that does not apply to the dataset is NaN, and one that
        fails is NaN with an :class:`~automl_meta.errors.AutoMLMetaWarning` naming it.

    Raises:
        ConfigurationError: for an unknown group or summary function.

    Example:
        >>> mf = extract_metafeatures("sklearn:iris", groups=["general", "info-theory"])
        >>> mf["nr_class"], round(mf["class_ent"], 3)
        (3.0, 1.585)
    """
    chosen = _resolve_groups(groups)
    functions = _resolve_summary(summary)
    if not isinstance(random_state, numbers.Integral) or isinstance(random_state, bool):
        raise ConfigurationError(
            f"random_state={random_state!r} is not an integer; pass an int seed."
        )
    data = load_dataset(dataset)
    context = Context(data, int(random_state))
    values: dict[str, float] = {}
    seconds: dict[str, float] = {}
    owners: dict[str, str] = {}
    failures: dict[str, tuple[str, list[str]]] = {}
    # one BLAS thread: the matrices are small (row caps), and several extractions often
    # run in parallel processes, where threads fighting for cores cost up to 10x
    with warnings.catch_warnings(), np.errstate(all="ignore"), threadpool_limits(1, "blas"):
        warnings.simplefilter("ignore")
        for item in measures_of(chosen):
            results, cost, failure = _compute(item, context, functions)
            if failure is not None:
                failures.setdefault(failure[0], (failure[1], []))[1].append(item.name)
            for name, value in zip(_names(item, functions), results, strict=True):
                values[name], seconds[name], owners[name] = value, cost, item.group
    for cause, (message, measures) in failures.items():
        plural = len(measures) > 1
        warnings.warn(
            f"Meta-feature{'s' if plural else ''} {', '.join(measures)} of {data.name!r} "
            f"could not be computed and {'are' if plural else 'is'} NaN ({cause} failed: "
            f"{message}).",
            AutoMLMetaWarning,
            stacklevel=2,
        )
    return MetaFeatures(values, seconds, owners)


def _compute(
    item: Measure, context: Context, functions: tuple[str, ...]
) -> tuple[list[float], float, tuple[str, str] | None]:
    """One measure's values and seconds, and (cause, message) when it failed."""
    missing = [np.nan] * (len(functions) if item.multi else 1)
    try:
        raw, cost = context.run(item)
        return _values(item, raw, functions), cost, None
    except NotApplicable:
        return missing, 0.0, None
    except DependencyFailed as exc:
        return missing, 0.0, (f"dependency {exc.name!r}", str(exc))
    except Exception as exc:  # one measure's failure must not end the extraction
        return missing, 0.0, (f"measure {item.name!r}", f"{type(exc).__name__}: {exc}")
