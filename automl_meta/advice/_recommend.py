"""``Recommender``: the meta-knowledge and fitted meta-learners that advise in this process.

:func:`~automl_meta.advice.recommend` reaches it through a
:class:`~automl_meta.advice.LocalSource`; :func:`get_recommender` keeps one per store,
reused until the store changes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from automl_meta.advice._explain import Neighbourhood, annotate
from automl_meta.config import shipped_meta_db_dir, user_db_url
from automl_meta.errors import ConfigurationError, did_you_mean
from automl_meta.metadb import MetaDB
from automl_meta.metalearners import (
    LEARNERS,
    KNNLearner,
    MetaKnowledge,
    MetaLearner,
    Recommendation,
    load_knowledge,
    load_learner,
)
from automl_meta.metalearners._recall import earlier_runs

STRATEGIES = LEARNERS.strategies  # "auto" and every registered learner, read live
DEFAULT_STRATEGY = "knn"
EARLIER_RUNS_FIRST = 3  # best recorded configurations of the same data put first
MIN_DATASETS_FOR_METAFEATURES = 5


class Recommender:
    """The meta-knowledge and fitted meta-learners behind :func:`recommend`.

    Shipped learners (``meta_db/learners/``) are used as they are while the user store is
    empty; once the user store holds evaluations, the memory-based learners are refitted on
    shipped + user knowledge so that every recorded run counts at once. ``learners`` are
    already fitted learners by strategy (the benchmark passes ones fitted without the
    evaluated dataset's family); a strategy missing from them is loaded or fitted on use.
    ``recall=False`` leaves out the earlier runs on the same data (the benchmark, which
    holds a dataset out, must not find it again under another name).

    Example:
        >>> rec = Recommender.load()  # doctest: +SKIP
        >>> rec.recommend(metafeatures, "classification", k=3)  # doctest: +SKIP
    """

    def __init__(self, knowledge: MetaKnowledge, learners_dir: Path | None = None,
                 auto_strategy: str = DEFAULT_STRATEGY, refit: bool = False,
                 learners: Mapping[str, MetaLearner] | None = None,
                 recall: bool = True) -> None:
        self.knowledge = knowledge
        self.recall = recall
        self.learners_dir = learners_dir
        self.auto_strategy = auto_strategy
        self.refit = refit
        self._learners: dict[str, MetaLearner] = dict(learners or {})

    @classmethod
    def load(cls, db: MetaDB | str | Path | None | bool = None,
             shipped: str | Path | None = None) -> Recommender:
        """The recommender of the shipped bundle with the store ``db`` (a MetaDB, URL or
        path; default the user store) layered over it, or of the bundle alone for
        ``db=False``."""
        shipped_dir = Path(shipped) if shipped is not None else shipped_meta_db_dir()
        store = False if db is False else _store(db)
        knowledge = load_knowledge(shipped_dir, store)
        user_rows = 0 if store is False else store.stats()["evaluations"]
        learners_dir = shipped_dir / "learners"
        strategy_file = learners_dir / "strategy.json"
        auto = DEFAULT_STRATEGY
        if strategy_file.is_file():
            auto = json.loads(strategy_file.read_text()).get("auto", DEFAULT_STRATEGY)
        return cls(knowledge, learners_dir if learners_dir.is_dir() else None, auto,
                   refit=user_rows > 0)

    def learner(self, strategy: str) -> MetaLearner:
        """The fitted learner for ``strategy`` (loaded from disk or fitted on first use)."""
        if strategy not in self._learners:
            saved = self.learners_dir / f"{strategy}.json" if self.learners_dir else None
            memory_based = strategy in LEARNERS and LEARNERS[strategy].memory_based
            if saved is not None and saved.is_file() and not (self.refit and memory_based):
                self._learners[strategy] = load_learner(saved)
            else:
                self._learners[strategy] = LEARNERS[strategy]().fit(self.knowledge)
        return self._learners[strategy]

    def resolve_strategy(self, strategy: str, task: str) -> str:
        if strategy not in STRATEGIES:
            raise ConfigurationError(
                f"strategy={strategy!r} is unknown.{did_you_mean(strategy, STRATEGIES)} "
                f"Expected one of {', '.join(STRATEGIES)}.", parameter="strategy"
            )
        if strategy != "auto":
            return strategy
        matrix = self.knowledge.matrices.get(task)
        if matrix is None or len(matrix.datasets) < MIN_DATASETS_FOR_METAFEATURES:
            return "portfolio"
        return self.auto_strategy

    def recommend(self, metafeatures: Mapping[str, float] | pd.Series, task: str, k: int = 10,
                  strategy: str = "auto", fingerprint: str | None = None) -> list[Recommendation]:
        """The ``k`` best configurations, best first.

        When the knowledge holds runs on this very data (the same ``fingerprint``, or the
        same data under another name or version, recognised by its meta-features), its
        best recorded configurations come first (at most ``EARLIER_RUNS_FIRST``), then the
        learner's picks.

        Each recommendation also gets the raw metric it is expected to reach
        (``expected_metric``) and a ``summary`` of why it sits where it does (see
        :mod:`automl_meta.advice._explain`); neither changes what is recommended.
        """
        chosen = self.resolve_strategy(strategy, task)
        recs = earlier_runs(self.knowledge, metafeatures, task, min(k, EARLIER_RUNS_FIRST),
                            chosen, fingerprint) if self.recall else []
        if not recs:
            self.knowledge.matrix(task)  # a clear error when nothing of this task is known
        seen = {json.dumps(r.config, sort_keys=True) for r in recs}
        fallbacks = [chosen] + (["portfolio"] if strategy == "auto" and
                                chosen != "portfolio" else [])
        for name in fallbacks:
            if task not in self.knowledge.matrices:
                break
            for extra in self.learner(name).recommend(metafeatures, task, k):
                if len(recs) >= k:
                    break
                if json.dumps(extra.config, sort_keys=True) not in seen:
                    seen.add(json.dumps(extra.config, sort_keys=True))
                    recs.append(extra)
        for rank, rec in enumerate(recs, start=1):
            rec.rank = rank
        annotate(recs, self.neighbourhood(metafeatures, task), task)
        return recs

    def neighbourhood(self, metafeatures: Mapping[str, float] | pd.Series,
                      task: str) -> Neighbourhood | None:
        """The past datasets around these meta-features by the ``knn`` learner's distance
        (``None`` when no ``knn`` learner is registered or nothing of ``task`` is known):
        what the expected metric and the covering reasons are read from, for every
        strategy."""
        if task not in self.knowledge.matrices or "knn" not in LEARNERS:
            return None
        learner = self.learner("knn")
        if not isinstance(learner, KNNLearner):
            return None
        return Neighbourhood.from_knn(learner, metafeatures, task)


_CACHE: dict[tuple[str, str, tuple[int, int, int]], Recommender] = {}
_STORES: dict[str, Any] = {}
_TOKENS: dict[str, tuple[float, tuple[int, int, int]]] = {}


def get_recommender(db: Any = None, shipped: str | Path | None = None,
                    max_age: float = 0.0) -> Recommender:
    """A :class:`Recommender` for this store, reused while the store does not change.

    By default every call asks the store whether anything was recorded since (one cheap
    query), so a recorded run is used at once. A server answering hundreds of requests a
    second passes ``max_age`` (seconds) to ask at most that often; its own writes call
    :func:`forget_store_state` so they are still seen at once. A ready
    :class:`Recommender` passed as ``db`` is returned as it is (so ``fit``, ``warm_start``
    and ``MetaSampler`` can advise from part of the knowledge); ``db=False`` gives the
    shipped bundle's alone.
    """
    if isinstance(db, Recommender):
        return db
    shipped_dir = Path(shipped) if shipped is not None else shipped_meta_db_dir()
    if db is False:
        key = ("", str(shipped_dir), (0, 0, 0))
        if key not in _CACHE:
            _CACHE.clear()
            _CACHE[key] = Recommender.load(False, shipped_dir)
        return _CACHE[key]
    store = _store(db)
    now = time.monotonic()
    checked = _TOKENS.get(store.url)
    if checked is not None and now - checked[0] < max_age:
        token = checked[1]
    else:
        token = store.change_token()
        _TOKENS[store.url] = (now, token)
    key = (store.url, str(shipped_dir), token)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = Recommender.load(store, shipped_dir)
    return _CACHE[key]


def forget_store_state(store: Any) -> None:
    """Make the next :func:`get_recommender` call re-read ``store``'s change token."""
    _TOKENS.pop(getattr(store, "url", str(store)), None)


def _store(db: MetaDB | str | Path | None) -> MetaDB:
    """The store ``db`` names (default the user store); one per URL for the life of the
    process, as opening one (engine, schema check) costs more than a recommendation."""
    if isinstance(db, MetaDB):
        return db
    url = str(db or user_db_url())
    store = _STORES.get(url)
    if store is None:
        store = _STORES[url] = MetaDB(url)
    return store
