"""Recommendations of one algorithm under its library's own parameter names.

``warm_start(study, data, algorithm="lightgbm")`` and ``MetaSampler(data,
algorithm="lightgbm")`` serve a user's own objective (``lightgbm.LGBMClassifier(**params)``)
rather than :func:`automl_meta.space.suggest`'s ``<algorithm>__<param>`` names. Most of the
space's parameters already are the constructor keywords of the estimator the algorithm's
factory builds, and pass through unchanged (with the space's types: an integer parameter
is an ``int``). Two are encodings and are translated here:

- ``svm``: ``gamma_mode`` and ``gamma`` are one SVC/SVR keyword, ``gamma``: ``"scale"`` or
  the float (an objective that searches ``gamma`` must accept both, e.g. a categorical
  mode and a float, or it falls back on ``"scale"`` trials: enqueued values outside the
  objective's distribution are Optuna's error, MetaSampler's fallback);
- ``lightgbm``: LightGBM bags only with ``subsample_freq > 0``; the factory sets
  ``subsample_freq=1`` whenever ``subsample < 1``, so the translation adds it too.

What the factories fix rather than search (``n_jobs=1``, ``random_state``, LogisticRegression's
``max_iter=300``, HistGradientBoosting's ``early_stopping=False``, the boosters' categorical
handling, the SVM's 5,000-row cap and the k-NN's neighbour cap) is not enqueued: the
objective owns those. An algorithm registered without a translation here passes its
parameters through unchanged.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from optuna.distributions import FloatDistribution, IntDistribution

from automl_meta.advice._sources import opened_source
from automl_meta.data import load_dataset
from automl_meta.errors import AutoMLMetaWarning, ConfigurationError, did_you_mean
from automl_meta.metafeatures import extract_metafeatures
from automl_meta.metalearners import Recommendation
from automl_meta.space import BOOSTING, REGISTRY, Algorithm, register_boosting

#: How many recommendations are asked for, to keep those of one algorithm.
CANDIDATES = 10_000
NATIVE_ATTR = "automl_meta_native"


def _svm(params: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in params.items() if k not in ("gamma_mode", "gamma")}
    value = params.get("gamma_mode") == "value" and params.get("gamma") is not None
    out["gamma"] = float(params["gamma"]) if value else "scale"
    return out


def _lightgbm(params: dict[str, Any]) -> dict[str, Any]:
    out = dict(params)
    if out.get("subsample", 1.0) < 1.0:
        out["subsample_freq"] = 1
    return out


#: Per algorithm, how its configuration's parameters become the estimator's keywords
#: (one entry for each algorithm whose parameters are not already those keywords).
TRANSLATIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "svm": _svm, "lightgbm": _lightgbm}


def native_algorithm(name: Any, task: str) -> Algorithm:
    """The :class:`~automl_meta.space.Algorithm` ``name`` of ``task``, registering a boosting
    one (LightGBM, XGBoost, CatBoost) on demand as the meta-db builder does.

    Raises:
        ConfigurationError: for a name that is neither registered nor a boosting algorithm.
    """
    if (task, name) not in REGISTRY and any(a.name == name for a in BOOSTING):
        register_boosting([name])
    if (task, name) in REGISTRY:
        return REGISTRY[(task, name)]
    known = sorted({n for t, n in REGISTRY if t == task} | {a.name for a in BOOSTING})
    raise ConfigurationError(
        f"algorithm={name!r} is not an algorithm of the {task} space.{did_you_mean(name, known)}"
        f" Expected one of {', '.join(known)}.")


def native_params(config: Mapping[str, Any], algorithm: Algorithm) -> dict[str, Any]:
    """The keywords of ``config`` as its algorithm's estimator takes them.

    Example:
        >>> from automl_meta.space import get_algorithm
        >>> svm = get_algorithm("svm", "classification")
        >>> native_params({"algorithm": "svm", "params": {"C": 2, "gamma_mode": "scale",
        ...                "class_weight": None}}, svm)
        {'C': 2.0, 'class_weight': None, 'gamma': 'scale'}
    """
    params = dict(config.get("params") or {})
    kinds = {p.name: p.distribution for p in algorithm.params}
    for name, value in params.items():
        kind = kinds.get(name)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(kind, IntDistribution) and isinstance(value, (int, float)):
            params[name] = int(round(value))
        elif isinstance(kind, FloatDistribution) and isinstance(value, (int, float)):
            params[name] = float(value)
    translate = TRANSLATIONS.get(algorithm.name)
    return translate(params) if translate else params


def native_recommendations(dataset: Any, algorithm: str, n: int, strategy: str, db: Any,
                           task: str | None, metafeatures: Any) -> tuple[
                               list[Recommendation], Algorithm]:
    """Up to ``n`` recommendations of ``algorithm`` alone, best first, each with its
    estimator keywords in ``details["native_params"]``; its default configuration (and an
    :class:`~automl_meta.errors.AutoMLMetaWarning`) when the knowledge holds none of it."""
    fingerprint = None
    if metafeatures is None:
        if dataset is None:
            raise ConfigurationError("warm_start and MetaSampler need a dataset or "
                                     "precomputed metafeatures (with task=).")
        loaded = load_dataset(dataset, task=task)
        metafeatures, task, fingerprint = (extract_metafeatures(loaded), loaded.task,
                                           loaded.fingerprint)
    elif task is None:
        if dataset is None:
            raise ConfigurationError("With precomputed metafeatures, pass task='classification'"
                                     " or task='regression'.")
        task = load_dataset(dataset).task
    chosen = native_algorithm(algorithm, task)
    with opened_source(db) as source:
        recs = source.recommend(metafeatures, task, k=CANDIDATES, strategy=strategy,
                                fingerprint=fingerprint)
    out: list[Recommendation] = []
    seen: list[dict[str, Any]] = []
    for rec in recs:
        if rec.algorithm != chosen.name:
            continue
        native = native_params(rec.config, chosen)
        if native in seen:
            continue
        seen.append(native)
        out.append(dataclasses.replace(
            rec, rank=len(out) + 1,
            details={**rec.details, "native_params": native, "overall_rank": rec.rank}))
        if len(out) >= n:
            break
    if out:
        return out, chosen
    warnings.warn(
        f"The knowledge holds no evaluated {chosen.name} configuration for {task} (strategy "
        f"{strategy!r}), so the warm start is {chosen.name}'s default configuration alone. "
        f"Build or import a meta-db that ran it (`automl-meta db build --algorithms "
        f"{chosen.name} DATASETS...` writes to the user store, which db=None reads; or pass "
        "another store as db=).", AutoMLMetaWarning, stacklevel=4)
    default = {"algorithm": chosen.name, "params": dict(chosen.default)}
    native = native_params(default, chosen)
    return [Recommendation(chosen.name, dict(chosen.default), float("nan"), "default",
                           f"{chosen.name}'s default: no evaluated {chosen.name} "
                           "configuration is known", rank=1,
                           details={"native_params": native})], chosen
