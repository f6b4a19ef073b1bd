"""Knowledge sources: where advice comes from and where a run's evaluations go.

:func:`recommend`, :func:`~automl_meta.fit`, :func:`~automl_meta.warm_start`,
:class:`~automl_meta.MetaSampler` and the scikit-learn estimators all talk to one
:class:`KnowledgeSource` (in the spirit of Optuna's ``BaseStorage``). It recommends
configurations for a dataset's meta-features, records a run's evaluations as they finish,
tells a resuming fit what it already scored there, and hands the step-by-step learners
the :class:`~automl_meta.advice.Recommender` they run on in this process. Two implement it:

- :class:`LocalSource`: the user's store layered over the shipped ``meta_db/``, advised by
  the meta-learners in this process;
- :class:`ServerSource`: a team's ``automl-meta serve`` (only meta-features are sent).

:func:`resolve_source` turns whatever is passed as ``db=`` into one, so a server URL is
just another URL.
"""

from __future__ import annotations

import abc
import os
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from automl_meta.advice._recommend import Recommender, get_recommender
from automl_meta.config import as_db_url, user_db_url
from automl_meta.data import Dataset, load_dataset
from automl_meta.errors import ConfigurationError
from automl_meta.metadb import MetaDB
from automl_meta.metadb._record import record_dataset, record_evaluations
from automl_meta.metafeatures import extract_metafeatures
from automl_meta.metalearners import Recommendation
from automl_meta.metalearners._base import check_k
from automl_meta.service.client import Client

__all__ = ["KnowledgeSource", "LocalSource", "ServerSource", "local_recommender",
           "opened_source", "recommend", "resolve_source"]

SERVER_SCHEMES = ("http://", "https://")
ACCEPTED = ("None (the user store: $AUTOML_META_DB or the user data directory), a store's "
            "SQLAlchemy URL or path, the http(s):// URL of an `automl-meta serve`, a MetaDB, "
            "a Recommender, an automl_meta.service.Client, False (the shipped knowledge only, "
            "nothing recorded) or a KnowledgeSource")
StoredTrials = tuple[dict[str, float], dict[str, dict[str, Any]]]


class KnowledgeSource(abc.ABC):
    """What advice is asked of and runs are recorded into.

    A source that :func:`resolve_source` made from a URL or path is closed by whoever
    resolved it; one passed in as an object stays open (its owner closes it).

    ``remote`` sources are sent a fit's finished trials every ``batch_trials`` trials or
    ``batch_seconds`` seconds, and a failure to record there is a warning (the fitted model
    is returned all the same); a local one gets each batch at once and its errors propagate.
    ``records`` is ``False`` for a source that keeps nothing (``db=False``).
    """

    remote: bool = False
    batch_trials: int = 1
    batch_seconds: float = 0.0
    records: bool = True

    @property
    @abc.abstractmethod
    def label(self) -> str:
        """Where this source is, for messages (a URL without its password)."""

    @abc.abstractmethod
    def recommend(self, metafeatures: Mapping[str, float] | pd.Series, task: str, k: int = 10,
                  strategy: str = "auto",
                  fingerprint: str | None = None) -> list[Recommendation]:
        """The ``k`` best configurations for these meta-features, best first; runs already
        recorded on the same data (this content ``fingerprint``, or the same data under
        another name) come first."""

    @abc.abstractmethod
    def record(self, dataset: Dataset, evaluations: Sequence[Any],
               metafeatures: Mapping[str, float] | None = None,
               n_rows_used: int | None = None) -> None:
        """Record finished evaluations of ``dataset`` (idempotent: a cell recorded twice is
        kept once); ``n_rows_used`` when they were computed on a subsample."""

    @abc.abstractmethod
    def recommender(self) -> Recommender:
        """The :class:`Recommender` whose learners run in this process (the sequential
        proposers need one): the source's own knowledge, or for a server the shipped one."""

    def stored_trials(self, dataset: Dataset, metafeatures: Mapping[str, float] | None,
                      protocol: str, metric: str, rows_used: int) -> StoredTrials:
        """What this source already scored on ``dataset`` with ``protocol`` on
        ``rows_used`` rows, for resuming: config hash -> ``metric`` (NaN for an error), and
        config hash -> configuration. Only verdicts that do not depend on the time left
        count (scores and errors, not timeouts). A source that cannot tell returns nothing."""
        return {}, {}

    def record_run(self, dataset: Dataset, metafeatures: Mapping[str, float] | None, *,
                   started: str, budget: float, best_config: dict[str, Any],
                   best_score: float, n_trials: int, notes: Mapping[str, Any]) -> int | None:
        """Record a finished fit; its run id, or ``None`` where runs are not kept."""
        return None

    def close(self) -> None:
        """Release what this source opened (connections, stores); by default nothing."""
        return None

    def __enter__(self) -> KnowledgeSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"


class LocalSource(KnowledgeSource):
    """The user's store layered over the shipped ``meta_db/``, advised in this process.

    Args:
        store: the user store (URL, path or :class:`~automl_meta.MetaDB`; default
            ``$AUTOML_META_DB`` or the user data directory), or ``False`` for the shipped
            knowledge alone, with nothing recorded.
        recommender: a ready :class:`Recommender` to advise from instead of the store's
            (the benchmark passes ones fitted without the evaluated dataset's family);
            evaluations still go to ``store``.
        shipped: the shipped bundle's directory (default ``$AUTOML_META_SHIPPED``).

    Recommending reuses :func:`~automl_meta.advice.get_recommender`'s cache (one store
    per URL per process, learners refitted only when the store changed); the store written
    to is opened on the first write and closed by :meth:`close` when this source opened it.

    Example:
        >>> source = LocalSource("sqlite:///:memory:")
        >>> source.label
        'sqlite:///:memory:'
    """

    def __init__(self, store: str | os.PathLike[str] | MetaDB | None | bool = None, *,
                 recommender: Recommender | None = None,
                 shipped: str | Path | None = None) -> None:
        if store is True:
            raise ConfigurationError(f"db=True is not a knowledge source; expected {ACCEPTED}.")
        self.records = store is not False
        self._given = store if isinstance(store, MetaDB) else None
        self._url: str | None = None
        if self.records and self._given is None:
            self._url = as_db_url(store) if store is not None else user_db_url()
        self._store: MetaDB | None = self._given
        self._recommender = recommender
        self._shipped = shipped
        self._dataset_ids: dict[str, int] = {}

    @property
    def label(self) -> str:
        if not self.records:
            return "the shipped meta-knowledge"
        text = self._given.url if self._given is not None else str(self._url)
        try:
            url = make_url(text)
        except ArgumentError:
            return text.split("@")[-1]
        return text if url.password is None else url.render_as_string(hide_password=True)

    @property
    def store(self) -> MetaDB:
        """The user store written to (opened on first use)."""
        if not self.records:
            raise ConfigurationError("This source (db=False) is the shipped knowledge alone "
                                     "and records nothing; pass a store to record into.")
        if self._store is None:
            self._store = MetaDB(str(self._url))
        return self._store

    def recommender(self) -> Recommender:
        if self._recommender is not None:
            return self._recommender
        return get_recommender(self._given or self._url or False, self._shipped)

    def recommend(self, metafeatures: Mapping[str, float] | pd.Series, task: str, k: int = 10,
                  strategy: str = "auto",
                  fingerprint: str | None = None) -> list[Recommendation]:
        return self.recommender().recommend(metafeatures, task, k=k, strategy=strategy,
                                            fingerprint=fingerprint)

    def record(self, dataset: Dataset, evaluations: Sequence[Any],
               metafeatures: Mapping[str, float] | None = None,
               n_rows_used: int | None = None) -> None:
        self._dataset_ids[dataset.fingerprint] = record_evaluations(
            self.store, dataset, evaluations, metafeatures, n_rows_used)

    def _dataset_id(self, dataset: Dataset, metafeatures: Mapping[str, float] | None) -> int:
        if dataset.fingerprint not in self._dataset_ids:
            self._dataset_ids[dataset.fingerprint] = record_dataset(self.store, dataset,
                                                                    metafeatures)
        return self._dataset_ids[dataset.fingerprint]

    def stored_trials(self, dataset: Dataset, metafeatures: Mapping[str, float] | None,
                      protocol: str, metric: str, rows_used: int) -> StoredTrials:
        if not self.records:
            return {}, {}
        # registered first, so even a fit stopped before its first trial leaves the
        # dataset and its meta-features behind
        dataset_id = self._dataset_id(dataset, metafeatures)
        return self.store.scored_configs(dataset_id, protocol, metric, rows_used)

    def record_run(self, dataset: Dataset, metafeatures: Mapping[str, float] | None, *,
                   started: str, budget: float, best_config: dict[str, Any],
                   best_score: float, n_trials: int, notes: Mapping[str, Any]) -> int | None:
        if not self.records:
            return None
        dataset_id = self._dataset_id(dataset, metafeatures)
        (best_id,) = self.store.add_configs(dataset.task, [best_config])
        finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return self.store.add_run(dataset_id, "fit", started, finished, budget, best_id,
                                  best_score, n_trials, dict(notes))

    def close(self) -> None:
        if self._store is not None and self._given is None:
            self._store.close()
            self._store = None


class ServerSource(KnowledgeSource):
    """A team's ``automl-meta serve``: it recommends from its store and records into it.

    Only meta-features travel (the data stays here). The write token comes from
    ``$AUTOML_META_TOKEN`` unless given. The learners that propose step by step run here on
    the shipped knowledge (:meth:`recommender`).

    Args:
        server: the server's URL, or a :class:`~automl_meta.service.Client` (left open).
        token: the write token (default ``$AUTOML_META_TOKEN``).
        timeout: seconds per request.

    Example:
        >>> source = ServerSource("http://127.0.0.1:8000")  # doctest: +SKIP
        >>> source.recommend(metafeatures, "classification", k=3)  # doctest: +SKIP
    """

    remote = True
    # a server is sent the finished trials every few trials or seconds (a local store gets
    # each poll's finished trials at once: one SQLite transaction is ~1 ms)
    batch_trials = 5
    batch_seconds = 2.0

    def __init__(self, server: str | Client, *, token: str | None = None,
                 timeout: float = 120.0) -> None:
        self._own = not isinstance(server, Client)
        self.client = Client(server, token=token, timeout=timeout) if isinstance(
            server, str) else server

    @property
    def label(self) -> str:
        return str(self.client.url)

    def recommend(self, metafeatures: Mapping[str, float] | pd.Series, task: str, k: int = 10,
                  strategy: str = "auto",
                  fingerprint: str | None = None) -> list[Recommendation]:
        return self.client.recommend(metafeatures=metafeatures, task=task, k=k,
                                     strategy=strategy, fingerprint=fingerprint)

    def record(self, dataset: Dataset, evaluations: Sequence[Any],
               metafeatures: Mapping[str, float] | None = None,
               n_rows_used: int | None = None) -> None:
        self.client.record(dataset, evaluations, metafeatures=metafeatures,
                           n_rows_used=n_rows_used)

    def recommender(self) -> Recommender:
        return get_recommender(False)

    def close(self) -> None:
        if self._own:
            self.client.close()


def resolve_source(db: Any = None, *, timeout: float | None = None) -> KnowledgeSource:
    """The :class:`KnowledgeSource` that ``db`` names.

    ``None``: the user store; ``"http://..."`` / ``"https://..."``: a team server
    (:class:`ServerSource`, ``timeout`` seconds per request); any other URL or a path, or a
    :class:`~automl_meta.MetaDB`: that store (:class:`LocalSource`); a :class:`Recommender`:
    advice from it, records into the user store; a
    :class:`~automl_meta.service.Client`: its server; ``False``: the shipped knowledge
    only, nothing recorded; a :class:`KnowledgeSource`: itself.

    Example:
        >>> resolve_source("sqlite:///:memory:")
        LocalSource('sqlite:///:memory:')
        >>> resolve_source("http://meta.internal:8000").remote
        True
    """
    if isinstance(db, KnowledgeSource):
        return db
    if db is None or db is False or isinstance(db, MetaDB):
        return LocalSource(db)
    if isinstance(db, Recommender):
        return LocalSource(recommender=db)
    if isinstance(db, Client):
        return ServerSource(db)
    if isinstance(db, (str, os.PathLike)) and str(db).strip():
        text = str(db).strip()
        if text.lower().startswith(SERVER_SCHEMES):
            return ServerSource(text, **({} if timeout is None else {"timeout": timeout}))
        return LocalSource(db)
    raise ConfigurationError(f"db={db!r} is not a knowledge source; expected {ACCEPTED}.")


@contextmanager
def opened_source(db: Any = None, *, timeout: float | None = None
                  ) -> Iterator[KnowledgeSource]:
    """:func:`resolve_source`, closing at the end a source it made (not one passed in)."""
    source = resolve_source(db, timeout=timeout)
    try:
        yield source
    finally:
        if source is not db:
            source.close()


def local_recommender(db: Any = None) -> Recommender:
    """The :class:`Recommender` the step-by-step learners run on for ``db`` (a server's
    is the shipped knowledge's: they propose here)."""
    with opened_source(db) as source:
        return source.recommender()


def db_or_server(db: Any, server: Any, caller: str) -> Any:
    """The ``db=`` of a call that was also given the deprecated ``server=``."""
    if server is None:
        return db
    if db is not None:
        raise ConfigurationError("Pass db= or server=, not both: a server recommends from and "
                                 "records into its own meta-database. server= is deprecated: "
                                 "pass the server's URL as db=.")
    warnings.warn(f"{caller}(server=...) is deprecated and will be removed in the next release; "
                  "pass the server's URL (or Client) as db= instead.", DeprecationWarning,
                  stacklevel=3)
    return server


def recommend(
    dataset: Any = None,
    k: int = 10,
    strategy: str = "auto",
    db: Any = None,
    target: str | None = None,
    task: str | None = None,
    metafeatures: Mapping[str, float] | pd.Series | None = None,
    server: str | None = None,
) -> list[Recommendation]:
    """Recommend ``k`` configurations for ``dataset``, best first, each with its reason.

    Args:
        dataset: anything :func:`~automl_meta.load_dataset` accepts; may be omitted when
            ``metafeatures`` and ``task`` are given.
        k: how many recommendations.
        strategy: ``"auto"`` (the strategy the leave-one-dataset-out evaluation found best)
            or a registered meta-learner: ``"knn"``, ``"portfolio"``, ``"ranker"``,
            ``"neural"`` (see ``automl_meta.metalearners.LEARNERS.strategies``).
        db: where the advice comes from (anything :func:`resolve_source` accepts): by
            default the user store (``$AUTOML_META_DB`` or the user data directory) with the
            shipped ``meta_db/`` always layered underneath; a store's URL or path; a team's
            ``automl-meta serve`` URL (the meta-features are computed here and only they are
            sent; token from ``$AUTOML_META_TOKEN`` when reading needs one); a ready
            :class:`Recommender`, used as it is.
        target, task: passed to ``load_dataset``.
        metafeatures: precomputed meta-features (skips the extraction).
        server: deprecated, pass the server's URL as ``db``.

    Example:
        >>> recs = recommend("sklearn:breast_cancer", k=3)  # doctest: +SKIP
        >>> recs[0].algorithm, recs[0].params, recs[0].why  # doctest: +SKIP
        >>> recommend("data.csv", db="http://meta.internal:8000")  # doctest: +SKIP
    """
    started = time.perf_counter()
    k = check_k(k)  # before minutes of meta-features
    db = db_or_server(db, server, "recommend")
    fingerprint = None
    if metafeatures is None:
        if dataset is None:
            raise ConfigurationError("recommend() needs a dataset or precomputed metafeatures.")
        loaded: Dataset = load_dataset(dataset, target=target, task=task)
        metafeatures = extract_metafeatures(loaded)
        task, fingerprint = loaded.task, loaded.fingerprint
    elif task is None:
        if dataset is None:
            raise ConfigurationError("With precomputed metafeatures, pass task='classification'"
                                     " or task='regression'.")
        task = load_dataset(dataset, target=target).task
    with opened_source(db) as source:
        recs = source.recommend(metafeatures, task, k=k, strategy=strategy,
                                fingerprint=fingerprint)
    elapsed = time.perf_counter() - started
    for rec in recs:
        rec.details.setdefault("seconds", elapsed)
    return recs
