"""The work behind the routes: the store, tokens, limits and locks of one server process.

Kept apart from the FastAPI wiring (``app.py``) so it reads as plain library code: every
method takes validated input and returns library objects or raises
:class:`~automl_meta.service.limits.ServiceProblem` / an ``AutoMLMetaError``.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi.security import HTTPAuthorizationCredentials

from automl_meta.config import user_db_url
from automl_meta.errors import ConfigurationError, DatasetError, MetaDBError
from automl_meta.evaluation import Protocol
from automl_meta.evaluation.metrics import PRIMARY_METRIC
from automl_meta.service import schemas as sc
from automl_meta.service.auth import Access
from automl_meta.service.limits import ServiceProblem
from automl_meta.service.uploads import load_upload, private_directory, save_upload
from automl_meta.space import validate_config

logger = logging.getLogger("automl_meta.service")


class Service:
    """The state behind the routes: the store, the tokens, the limits and the locks."""

    def __init__(self, db_url: str | os.PathLike[str] | None, tokens: tuple[str, ...],
                 read_token_required: bool, max_upload_bytes: int, data_dir: Path,
                 shipped: Path | None,
                 strategies: tuple[str, ...], max_concurrent_uploads: int,
                 read_tokens: tuple[str, ...] = ()) -> None:
        from automl_meta.metadb import MetaDB

        self.store = MetaDB(db_url or user_db_url())
        self.access = Access(tokens, read_tokens, read_token_required)
        self.max_upload_bytes = max_upload_bytes
        self.data_dir = data_dir
        self.shipped = shipped
        self.strategies = strategies
        self._uploads = threading.BoundedSemaphore(max_concurrent_uploads)
        self._guard = threading.Lock()
        self._learner_locks: dict[str, threading.Lock] = {}

    # -- reading --------------------------------------------------------------------------
    def recommender(self) -> Any:
        """The library's :class:`~automl_meta.advice._recommend.Recommender` of the store,
        refreshed when the store's change token says something was recorded."""
        from automl_meta.advice._recommend import get_recommender

        # another worker's writes show within a second; this worker's own at once
        return get_recommender(self.store, self.shipped, max_age=1.0)

    def recommend(self, metafeatures: Mapping[str, float | None], task: str, k: int,
                  strategy: str, fingerprint: str | None = None) -> list[Any]:
        """What ``automl_meta.recommend(metafeatures=..., task=..., db=store)`` returns."""
        self.check_strategy(strategy)
        started = time.perf_counter()
        values = {name: math.nan if value is None else float(value)
                  for name, value in metafeatures.items()}
        recommender = self.recommender()
        chosen = recommender.resolve_strategy(strategy, task)
        if task in recommender.knowledge.matrices:
            # fit each learner once, not once per concurrent request (the ranker takes
            # seconds)
            for name in {chosen, "portfolio"} if strategy == "auto" else {chosen}:
                with self._learner_lock(name):
                    recommender.learner(name)
        try:  # with no matrix of the task, earlier runs on the same data may still answer
            recs = recommender.recommend(values, task, k=k, strategy=strategy,
                                         fingerprint=fingerprint)
        except MetaDBError as exc:
            raise ServiceProblem(404, str(exc), "MetaDBError") from exc
        elapsed = time.perf_counter() - started
        for rec in recs:
            rec.details.setdefault("seconds", elapsed)
        return recs

    def check_strategy(self, strategy: str) -> None:
        if strategy not in self.strategies:
            raise ServiceProblem(400, f"strategy={strategy!r} is not enabled on this server; "
                                 f"expected one of {', '.join(self.strategies)}.",
                                 "ConfigurationError")

    def _learner_lock(self, strategy: str) -> threading.Lock:
        with self._guard:
            return self._learner_locks.setdefault(strategy, threading.Lock())

    def warm_up(self) -> None:
        """Import what requests need and load the knowledge and the learners of ``auto``,
        so that the first requests (and those of a replaced worker) are not slow."""
        import automl_meta.metafeatures  # noqa: F401

        try:
            recommender = self.recommender()
            for task in recommender.knowledge.matrices:
                for name in {recommender.resolve_strategy("auto", task), "portfolio"}:
                    recommender.learner(name)
        except Exception:  # a server with an empty store must still start
            logger.warning("could not warm up the recommender", exc_info=True)

    def extract(self, upload: Any, target: str | None, task: str | None,
                groups: str = "all") -> tuple[Any, Any]:
        """Save, load and characterise an uploaded dataset; returns (dataset, meta-features)."""
        from automl_meta.metafeatures import extract_metafeatures

        chosen: Any = "all" if groups.strip() == "all" else [
            g.strip() for g in groups.split(",") if g.strip()]
        with self._uploads, private_directory(self.data_dir) as directory:
            path = save_upload(upload.file, upload.filename, directory, self.max_upload_bytes)
            dataset = load_upload(path, target, task)
            return dataset, extract_metafeatures(dataset, groups=chosen)

    # -- writing --------------------------------------------------------------------------
    def record(self, body: sc.RecordRequest) -> sc.RecordResponse:
        """Add evaluation results; everything is checked before anything is written."""
        from automl_meta.metafeatures import EXTRACTOR_VERSION

        ds = body.dataset
        configs, rows = [], []
        for i, ev in enumerate(body.evaluations):
            config = {"algorithm": ev.config.algorithm, "params": dict(ev.config.params)}
            try:
                validate_config(config, ds.task)
                protocol = Protocol.parse(ev.protocol).key
            except ConfigurationError as exc:
                raise ServiceProblem(422, f"evaluations[{i}]: {exc}",
                                     "ConfigurationError") from exc
            metrics = ev.metrics.known()
            score = ev.score if ev.score is not None else metrics.get(PRIMARY_METRIC[ds.task])
            low, high = sc.SCORE_RANGES[ds.task]
            if ev.score is not None and ((low is not None and ev.score < low)
                                         or (high is not None and ev.score > high)):
                allowed = f"in [{low:g}, {high:g}]" if low is not None else f"<= {high:g}"
                raise ServiceProblem(422, (
                    f"evaluations[{i}].score = {ev.score!r} is out of range: the score of a "
                    f"{ds.task} evaluation ({PRIMARY_METRIC[ds.task]}) must be {allowed}. "
                    "Nothing was written."), "DatasetError")
            configs.append(config)
            rows.append({"protocol": protocol, "status": ev.status, "score": score,
                         "metrics": metrics, "fit_seconds": ev.fit_seconds,
                         "predict_seconds": ev.predict_seconds, "error": ev.error,
                         "n_rows_used": ev.n_rows_used})
        if body.metafeatures and body.extractor_version is None:
            raise ServiceProblem(422, "extractor_version is required with metafeatures: send "
                                 "automl_meta.metafeatures.EXTRACTOR_VERSION of the extractor "
                                 "that computed them.", "ConfigurationError")
        if body.metafeatures and body.extractor_version != EXTRACTOR_VERSION:
            raise ServiceProblem(409, f"The meta-features were computed by extractor version "
                                 f"{body.extractor_version!r}; this server stores version "
                                 f"{EXTRACTOR_VERSION!r}, and versions are never mixed. "
                                 "Recompute them with POST /v1/metafeatures or upgrade "
                                 "automl-meta.", "ConfigurationError")
        store = self.store
        try:  # one transaction: the dataset, meta-features, configurations and evaluations
            dataset_id, config_ids, stored = store.record(
                {"name": ds.name, "fingerprint": ds.fingerprint, "task": ds.task,
                 "n_rows": ds.n_rows, "n_features": ds.n_features,
                 "n_classes": ds.n_classes, "source": ds.source},
                configs, rows, metafeatures=dict(body.metafeatures) or None,
                metafeature_seconds=dict(body.metafeature_seconds),
                extractor_version=EXTRACTOR_VERSION if body.metafeatures else None)
        except DatasetError as exc:  # the store's own check of a value (e.g. a score)
            raise ServiceProblem(422, str(exc), "DatasetError") from exc
        from automl_meta.advice._recommend import forget_store_state

        forget_store_state(store)
        return sc.RecordResponse(dataset_id=dataset_id, config_ids=config_ids,
                                 evaluations=len(rows), metafeatures_stored=stored)

    # -- auth -----------------------------------------------------------------------------
    def check_token(self, credentials: HTTPAuthorizationCredentials | None,
                    write: bool) -> None:
        """Raise a 401/403 :class:`ServiceProblem` unless the token may read (or write).

        The :class:`~automl_meta.service.limits.RequestGuard` makes the same check before
        the body is read; this one keeps a route safe on its own.
        """
        refusal = self.access.token_refusal(
            credentials.credentials if credentials is not None else None, write)
        if refusal is not None:
            status, message = refusal
            raise ServiceProblem(status, message, "Unauthorized" if status == 401 else
                                 "Forbidden")
