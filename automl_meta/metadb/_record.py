"""Recording what users ran back into their store, so the memory grows with use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from automl_meta.data import Dataset
from automl_meta.metadb import _schema as s
from automl_meta.metadb._store import MetaDB


def record_dataset(db: MetaDB, dataset: Dataset, metafeatures: Any = None) -> int:
    """Register ``dataset`` and its meta-features (computed if not given); returns its id."""
    return record_evaluations(db, dataset, [], metafeatures)


def record_evaluations(db: MetaDB, dataset: Dataset, evaluations: Iterable[Any],
                       metafeatures: Any = None, n_rows_used: int | None = None) -> int:
    """Store :class:`~automl_meta.evaluation.Evaluation` results of ``dataset``.

    ``n_rows_used`` says on how many rows they were computed when that was a subsample.
    Returns the dataset id. Cells already present (same configuration and protocol) are
    kept as they were, so recording twice never double-counts. The dataset, its
    meta-features (computed here when not given and the store lacks them) and the
    evaluations are written in one transaction: all of them or, on an error, none.

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
    from automl_meta.metafeatures import EXTRACTOR_VERSION, extract_metafeatures

    evaluations = list(evaluations)
    features = metafeatures
    if features is None and _metafeature_version(db, dataset.fingerprint) != EXTRACTOR_VERSION:
        features = extract_metafeatures(dataset)
    values = dict(features.items()) if features is not None else None
    dataset_id, _, _ = db.record(
        {"name": dataset.name, "fingerprint": dataset.fingerprint, "task": dataset.task,
         "n_rows": dataset.n_rows, "n_features": dataset.n_features,
         "n_classes": dataset.n_classes, "source": dataset.source},
        [e.config for e in evaluations],
        [{"protocol": e.protocol, "status": e.status, "score": e.score,
          "metrics": e.metrics, "fit_seconds": e.fit_seconds,
          "predict_seconds": e.predict_seconds, "error": e.error,
          "n_rows_used": n_rows_used} for e in evaluations],
        metafeatures=values, metafeature_seconds=getattr(features, "seconds", {}),
        extractor_version=EXTRACTOR_VERSION)
    return dataset_id


def _metafeature_version(db: MetaDB, fingerprint: str) -> str | None:
    """The extractor version of the meta-features stored for ``fingerprint`` (or None)."""
    from sqlalchemy import select

    with db.engine.connect() as conn:
        return conn.execute(
            select(s.metafeature.c.extractor_version)
            .join(s.dataset, s.dataset.c.id == s.metafeature.c.dataset_id)
            .where(s.dataset.c.fingerprint == fingerprint).limit(1)).scalar()
