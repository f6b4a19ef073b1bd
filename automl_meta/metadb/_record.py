"""Recording what users ran back into their store, so the memory grows with use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from automl_meta.data import Dataset
from automl_meta.metadb._store import MetaDB


def record_dataset(db: MetaDB, dataset: Dataset, metafeatures: Any = None) -> int:
    """Register ``dataset`` and its meta-features (computed if not given); returns its id."""
    from automl_meta.metafeatures import EXTRACTOR_VERSION, extract_metafeatures

    dataset_id = db.add_dataset(dataset.name, dataset.fingerprint, dataset.task,
                                dataset.n_rows, dataset.n_features, dataset.n_classes,
                                source=dataset.source)
    if db.metafeature_version(dataset_id) != EXTRACTOR_VERSION:
        features = metafeatures if metafeatures is not None else extract_metafeatures(dataset)
        db.add_metafeatures(dataset_id, dict(features.items()),
                            getattr(features, "seconds", {}), EXTRACTOR_VERSION)
    return dataset_id


def record_evaluations(db: MetaDB, dataset: Dataset, evaluations: Iterable[Any],
                       metafeatures: Any = None, n_rows_used: int | None = None) -> int:
    """Store :class:`~automl_meta.evaluation.Evaluation` results of ``dataset``.

    ``n_rows_used`` says on how many rows they were computed when that was a subsample.
    Returns the dataset id. Cells already present (same configuration and protocol) are
    kept as they were, so recording twice never double-counts.

    Example:
        >>> from automl_meta.data import load_dataset
        >>> from automl_meta.evaluation import Evaluation
        >>> from automl_meta.space import default_config
        >>> db = MetaDB("sqlite:///:memory:")
        >>> ev = Evaluation(default_config("knn"), "cv3", "ok", task="classification",
        ...                 metrics={"balanced_accuracy": 0.95})
        >>> dataset_id = record_evaluations(db, load_dataset("sklearn:iris"), [ev])
        >>> dataset_id = record_evaluations(db, load_dataset("sklearn:iris"), [ev])
        >>> db.stats()["evaluations"]
        1
    """
    evaluations = list(evaluations)
    dataset_id = record_dataset(db, dataset, metafeatures)
    config_ids = db.add_configs(dataset.task, [e.config for e in evaluations])
    db.add_evaluations(dataset_id, [
        {"config_id": cid, "protocol": e.protocol, "status": e.status, "score": e.score,
         "metrics": e.metrics, "fit_seconds": e.fit_seconds,
         "predict_seconds": e.predict_seconds, "error": e.error,
         "n_rows_used": n_rows_used}
        for cid, e in zip(config_ids, evaluations, strict=True)])
    return dataset_id
