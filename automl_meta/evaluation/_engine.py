"""``evaluate``: score one configuration on one dataset, safely.

The work runs in a worker process (see :mod:`automl_meta.evaluation._workers`): a fit that hangs is
killed at ``time_limit`` and one that allocates past ``memory_limit`` fails inside the
worker, so the caller always gets an :class:`Evaluation` back (status ``ok``, ``timeout``,
``memout`` or ``error``). Workers are forked once per dataset and reused while their
evaluations succeed; one that fails in any way is killed and replaced.
"""

from __future__ import annotations

import functools
import importlib
import re
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from automl_meta.data import Dataset, load_dataset
from automl_meta.errors import ConfigurationError
from automl_meta.evaluation import _workers
from automl_meta.evaluation.metrics import (
    PRIMARY_METRIC,
    class_scores,
    default_metrics,
    score_predictions,
)
from automl_meta.space import build, get_algorithm, validate_config

STATUSES = ("ok", "timeout", "memout", "error")


@dataclass(frozen=True)
class Protocol:
    """How a configuration is scored: ``cv`` (stratified for classification) or ``holdout``.

    ``Protocol.parse("cv5")``, ``"cv3:s1"`` (seed 1) or ``"holdout0.25"`` build one from its
    short key, which is also how protocols are stored in the meta-database.
    """

    kind: str = "cv"
    n_splits: int = 5
    test_size: float = 0.25
    random_state: int = 0

    @property
    def key(self) -> str:
        body = f"cv{self.n_splits}" if self.kind == "cv" else f"holdout{self.test_size:g}"
        return f"{body}:s{self.random_state}"

    @classmethod
    def parse(cls, spec: str | Protocol) -> Protocol:
        if isinstance(spec, Protocol):
            return spec
        match = re.fullmatch(r"(cv(\d+)|holdout(0?\.\d+))(?::s(\d+))?", str(spec).strip())
        if not match or (match.group(2) and int(match.group(2)) < 2):
            raise ConfigurationError(
                f"protocol={spec!r} is not a protocol we know; expected 'cvK' (K >= 2, e.g. "
                "'cv5'), 'holdoutF' (e.g. 'holdout0.25'), optionally with ':sSEED'.",
                parameter="protocol",
            )
        seed = int(match.group(4) or 0)
        if match.group(2):
            return cls("cv", n_splits=int(match.group(2)), random_state=seed)
        test_size = float(match.group(3))
        if test_size <= 0.0:
            raise ConfigurationError(
                f"protocol={spec!r} holds out no rows; expected a test fraction between 0 and "
                "1, e.g. 'holdout0.25'.", parameter="protocol",
            )
        return cls("holdout", test_size=test_size, random_state=seed)

    def splits(self, dataset: Dataset) -> list[tuple[np.ndarray, np.ndarray]]:
        from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

        n = dataset.n_rows
        classification = dataset.task == "classification"
        if self.kind == "holdout":
            stratified = classification and dataset.y.value_counts().min() >= 2
            stratify = dataset.y if stratified else None
            train, test = train_test_split(np.arange(n), test_size=self.test_size,
                                           random_state=self.random_state, stratify=stratify)
            return [(np.sort(train), np.sort(test))]
        if classification and dataset.y.value_counts().min() >= 2:
            folds = StratifiedKFold(self.n_splits, shuffle=True, random_state=self.random_state)
        else:
            folds = KFold(self.n_splits, shuffle=True, random_state=self.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return list(folds.split(np.zeros(n), dataset.y))


@dataclass
class Evaluation:
    """The outcome of scoring one configuration on one dataset.

    ``metrics`` maps metric names to the mean over folds; ``score`` is the primary metric
    (balanced accuracy or R²); ``status`` is ``ok``, ``timeout``, ``memout`` or ``error``,
    with ``error`` holding the message when it is not ``ok``.

    Example:
        >>> from automl_meta.space import default_config
        >>> ev = Evaluation(default_config("knn"), "cv3", "ok", task="classification",
        ...                 metrics={"balanced_accuracy": 0.95, "accuracy": 0.96})
        >>> ev.ok, ev.score
        (True, 0.95)
    """

    config: dict[str, Any]
    protocol: str
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    wall_seconds: float = 0.0
    error: str | None = None
    task: str = ""
    predictions: np.ndarray | None = field(default=None, repr=False)

    @property
    def score(self) -> float:
        return self.metrics.get(PRIMARY_METRIC.get(self.task, ""), float("nan"))

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("predictions", None)
        return out


def evaluate(
    config: dict[str, Any],
    dataset: Any,
    protocol: str | Protocol = "cv5",
    metrics: tuple[str, ...] | None = None,
    time_limit: float | None = 300.0,
    memory_limit: int | None = 4096,
    random_state: int = 0,
    isolate: bool = True,
    return_predictions: bool = False,
) -> Evaluation:
    """Score ``config`` on ``dataset`` under ``protocol`` with wall-time and memory limits.

    Args:
        config: ``{"algorithm": ..., "params": {...}}`` (see :mod:`automl_meta.space`).
        dataset: anything :func:`automl_meta.load_dataset` accepts.
        protocol: ``"cv5"``, ``"cv3"``, ``"holdout0.25"``, ... or a :class:`Protocol`.
        metrics: metric names; default all of the task's (the first listed is primary).
        time_limit: seconds of wall time before the worker is killed (``None``: no limit).
        memory_limit: megabytes the worker may map beyond what it holds when the evaluation
            starts (``None``: no limit).
        random_state: seed of the estimators.
        isolate: run in a worker process (the default); ``False`` runs inline, without
            limits, for debugging. The worker is reused by later calls on the same
            ``dataset`` object, so treat a dataset as immutable once evaluated.
        return_predictions: keep the out-of-fold predictions in ``predictions`` (class
            probabilities over the sorted labels, or values; NaN for rows never tested),
            as ensemble selection needs.

    Example:
        >>> from automl_meta.space import default_config
        >>> ev = evaluate(default_config("knn"), "sklearn:iris", protocol="cv3")
        >>> ev.status, round(ev.score, 2)
        ('ok', 0.96)
    """

    dataset = load_dataset(dataset)
    protocol = Protocol.parse(protocol)
    config = validate_config(config, dataset.task)
    metrics = tuple(metrics) if metrics else default_metrics(dataset.task)
    _check_metrics(metrics, dataset.task)
    if time_limit is not None and time_limit <= 0:
        raise ConfigurationError(f"time_limit={time_limit!r} must be positive seconds or None.",
                                 parameter="time_limit")
    start = time.perf_counter()
    pipeline = build(config, dataset, random_state=random_state)
    work = functools.partial(_score, pipeline, protocol, metrics, return_predictions)
    result = _run_isolated(work, pipeline, config, dataset, time_limit, memory_limit) \
        if isolate else work(dataset)
    return Evaluation(config=config, protocol=protocol.key, task=dataset.task,
                      wall_seconds=time.perf_counter() - start, **result)


def _check_metrics(metrics: tuple[str, ...], task: str) -> None:
    allowed = default_metrics(task)
    unknown = [m for m in metrics if m not in allowed]
    if unknown:
        raise ConfigurationError(
            f"Unknown metric(s) {', '.join(unknown)} for {task}; expected some of "
            f"{', '.join(allowed)}."
        )


def _score(pipeline: Any, protocol: Protocol, metrics: tuple[str, ...],
           return_predictions: bool, dataset: Dataset) -> dict[str, Any]:
    from sklearn.base import clone

    from automl_meta.evaluation._label_codes import label_codes

    y = dataset.y.to_numpy()
    classes = None
    if dataset.task == "classification":
        # models learn integer codes in the order of the sorted labels: the same classes in
        # the same order, so the same models and scores, but no label can trip an estimator
        # (scikit-learn's forests with class_weight="balanced" fail on labels such as "-1")
        y = label_codes(y)[1]
        classes = np.arange(int(y.max()) + 1)
    oof = _empty_predictions(dataset, classes) if return_predictions else None
    wants_scores = _needs_scores(metrics) or return_predictions
    fold_metrics: list[dict[str, float]] = []
    fit_seconds = predict_seconds = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for train, test in protocol.splits(dataset):
            model = clone(pipeline)
            t0 = time.perf_counter()
            model.fit(dataset.X.iloc[train], y[train])
            t1 = time.perf_counter()
            X_test, y_test = dataset.X.iloc[test], y[test]
            y_pred = model.predict(X_test)
            scores = (class_scores(model, X_test, classes)
                      if classes is not None and wants_scores else None)
            if oof is not None:
                oof[test] = _fold_predictions(y_pred, scores, classes)
            predict_seconds += time.perf_counter() - t1
            fit_seconds += t1 - t0
            fold_metrics.append(score_predictions(dataset.task, metrics, y_test, y_pred,
                                                  scores, classes))
    mean = {m: float(np.nanmean([f[m] for f in fold_metrics]))
            if not all(np.isnan(f[m]) for f in fold_metrics) else float("nan")
            for m in metrics}
    return {"status": "ok", "metrics": mean, "fit_seconds": fit_seconds,
            "predict_seconds": predict_seconds, "error": None, "predictions": oof}


def _empty_predictions(dataset: Dataset, classes: np.ndarray | None) -> np.ndarray:
    if classes is None:
        return np.full(dataset.n_rows, np.nan)
    return np.full((dataset.n_rows, len(classes)), np.nan)


def _fold_predictions(y_pred: np.ndarray, scores: np.ndarray | None,
                      classes: np.ndarray | None) -> np.ndarray:
    if classes is None:
        return np.asarray(y_pred, dtype=float)
    if scores is not None:
        return scores
    return (np.asarray(y_pred)[:, None] == classes[None, :]).astype(float)


def _fit_full(pipeline: Any, dataset: Dataset) -> dict[str, Any]:
    from sklearn.base import clone

    model = clone(pipeline)
    if dataset.task == "classification":
        model = _learning_label_codes(model)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(dataset.X, dataset.y)
    return {"status": "ok", "model": model, "fit_seconds": time.perf_counter() - started}


def _learning_label_codes(model: Any) -> Any:
    """``model`` with its classifier wrapped in a ``LabelCodedClassifier``: it learns label
    codes as in :func:`evaluate`, and a ``Pipeline`` stays a ``Pipeline``."""
    from sklearn.pipeline import Pipeline

    from automl_meta.evaluation._label_codes import LabelCodedClassifier

    if isinstance(model, Pipeline):
        name, final = model.steps[-1]
        return model.set_params(**{name: LabelCodedClassifier(final)})
    return LabelCodedClassifier(model)


def fit_in_worker(config: dict[str, Any], dataset: Any, time_limit: float | None = 300.0,
                  memory_limit: int | None = 4096,
                  random_state: int = 0) -> tuple[Any, str, str | None]:
    """Fit ``config`` on all of ``dataset`` in a worker process under the same limits as
    :func:`evaluate`. Returns ``(fitted pipeline or None, status, error)``.

    A classifier learns label codes as in :func:`evaluate` (its final step is a
    :class:`~automl_meta.evaluation._label_codes.LabelCodedClassifier`) and predicts the
    dataset's own labels.

    Example:
        >>> from automl_meta.space import default_config
        >>> model, status, _ = fit_in_worker(default_config("knn"), "sklearn:iris")
        >>> status, model.classes_.tolist()
        ('ok', [0, 1, 2])
    """

    dataset = load_dataset(dataset)
    config = validate_config(config, dataset.task)
    if time_limit is not None and time_limit <= 0:
        raise ConfigurationError(f"time_limit={time_limit!r} must be positive seconds or None.",
                                 parameter="time_limit")
    pipeline = build(config, dataset, random_state=random_state)
    work = functools.partial(_fit_full, pipeline)
    result = _run_isolated(work, pipeline, config, dataset, time_limit, memory_limit)
    return result.get("model"), result["status"], result.get("error")


def _needs_scores(metrics: tuple[str, ...]) -> bool:
    return "roc_auc" in metrics or "log_loss" in metrics


def _run_isolated(work: Any, pipeline: Any, config: dict[str, Any], dataset: Dataset,
                  time_limit: float | None, memory_limit: int | None) -> dict[str, Any]:
    # the heavy packages the algorithm declares (``Algorithm.preload``: torch for the MLP): a
    # warm worker that was forked before one was first needed imports it before the work
    imports = get_algorithm(config["algorithm"], dataset.task).preload
    prepare = functools.partial(_preload, pipeline, imports, dataset)
    return _failure_defaults(_workers.run(work, dataset, time_limit, memory_limit,
                                          imports=imports, prepare=prepare))


def _preload(pipeline: Any, imports: tuple[str, ...], dataset: Dataset) -> None:
    """Import what a worker will need once, in the parent, so forked workers start warm."""
    import sklearn.metrics  # noqa: F401
    import threadpoolctl  # noqa: F401

    for name in imports:
        importlib.import_module(name)
    _warm_caches(pipeline, dataset)


_WARMED = False


def _warm_caches(pipeline: Any, dataset: Dataset) -> None:
    """Fill per-process caches once, in the parent, so that no worker fills its own.

    The first DataFrame scikit-learn validates makes narwhals look its plugins up through
    ``importlib.metadata`` (about 60 ms); preprocessing a few rows here does that once per
    process instead of once per forked worker. Only the preprocessing step runs, on a
    throw-away clone, so no estimator code runs outside the worker's limits.
    """
    global _WARMED
    if _WARMED:
        return
    _WARMED = True
    from sklearn.base import clone

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clone(pipeline.steps[0][1]).fit_transform(dataset.X.iloc[:8], dataset.y.iloc[:8])
    except Exception:  # only a speed-up: the worker does the real work and reports errors
        pass


def _failure_defaults(result: dict[str, Any]) -> dict[str, Any]:
    result.setdefault("metrics", {})
    result.setdefault("fit_seconds", 0.0)
    result.setdefault("predict_seconds", 0.0)
    result.setdefault("error", None)
    return result
