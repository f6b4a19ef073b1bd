"""Knowledge sources: what ``db=`` resolves to, and the same advice from a local store and
from a live server on that store (``warm_start``, ``MetaSampler``, ``recommend``)."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from automl_meta.advice import (
    KnowledgeSource,
    LocalSource,
    MetaSampler,
    Recommender,
    ServerSource,
    get_recommender,
    recommend,
    resolve_source,
    warm_start,
)
from automl_meta.advice._sources import opened_source
from automl_meta.config import as_db_url
from automl_meta.errors import ConfigurationError, MetaDBError
from automl_meta.metadb import MetaDB
from automl_meta.metafeatures import extract_metafeatures
from automl_meta.service.client import Client
from tests.advice._knowledge import TOKEN, evaluations, tiny_dataset, tiny_store

SERVE = all(importlib.util.find_spec(m) for m in ("fastapi", "uvicorn", "httpx", "multipart"))
needs_serve = pytest.mark.skipif(not SERVE, reason="needs the serve extra")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_store(tmp_path_factory.mktemp("sources") / "tiny.sqlite")


@pytest.fixture
def store(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the tiny store; no shipped bundle, and an empty default user store."""
    monkeypatch.setenv("AUTOML_META_SHIPPED", str(tmp_path / "no-bundle"))
    monkeypatch.setenv("AUTOML_META_DB", str(tmp_path / "user.sqlite"))
    monkeypatch.delenv("AUTOML_META_TOKEN", raising=False)
    return Path(shutil.copy(built, tmp_path / "store.sqlite"))


@pytest.fixture
def live_url(store: Path) -> Iterator[str]:
    from automl_meta.service import create_app
    from tests.conftest import serving

    with serving(create_app(store, token=TOKEN, warm_up=False)) as url:
        yield url


def comparable(recs: list[Any]) -> list[tuple[str, dict[str, Any], str]]:
    return [(r.algorithm, r.params, r.strategy) for r in recs]


# -- resolve_source ------------------------------------------------------------------------
def test_resolve_source_gives_a_local_source_for_stores(store: Path, tmp_path: Path) -> None:
    default = resolve_source(None)
    assert isinstance(default, LocalSource) and default.records
    assert default.label == as_db_url(tmp_path / "user.sqlite")  # $AUTOML_META_DB
    for given in (store, str(store), as_db_url(store)):
        source = resolve_source(given)
        assert isinstance(source, LocalSource) and not source.remote
        assert source.label == as_db_url(store)
    db = MetaDB(store)
    wrapped = resolve_source(db)
    assert isinstance(wrapped, LocalSource) and wrapped.store is db
    wrapped.close()  # a store passed in is its owner's to close
    assert db.stats()["evaluations"] == 15


def test_resolve_source_gives_a_server_source_for_http_urls() -> None:
    for url in ("http://127.0.0.1:9", "HTTPS://meta.example:8443/"):
        source = resolve_source(url, timeout=3.0)
        assert isinstance(source, ServerSource) and source.remote
        assert source.label == url.rstrip("/") and source.client._http.timeout.read == 3.0
        assert source.batch_trials > 1  # a server is sent trials in batches
        source.close()
    with Client("http://127.0.0.1:9") as client:
        source = resolve_source(client)
        assert isinstance(source, ServerSource) and source.client is client
        source.close()  # the caller's client stays open
        assert not client._http.is_closed


def test_a_recommender_a_source_and_false_resolve_as_documented(store: Path) -> None:
    ready = get_recommender(store)
    advised = resolve_source(ready)
    assert isinstance(advised, LocalSource) and advised.recommender() is ready
    mine = LocalSource(store)
    assert resolve_source(mine) is mine
    shipped_only = resolve_source(False)
    assert isinstance(shipped_only, LocalSource) and not shipped_only.records
    assert shipped_only.stored_trials(tiny_dataset(0), None, "cv3:s0", "balanced_accuracy",
                                      60) == ({}, {})
    with pytest.raises(ConfigurationError, match="records nothing"):
        shipped_only.record(tiny_dataset(0), evaluations(0))
    # the shipped knowledge alone: there is none here, and the user store is not read
    features = extract_metafeatures(tiny_dataset(9))
    with pytest.raises(MetaDBError, match="No meta-knowledge"):
        shipped_only.recommend(features, "classification", k=2)


@pytest.mark.parametrize("bad", [42, True, "", "   ", object(), ["sqlite:///x.db"]])
def test_resolve_source_refuses_anything_else_saying_what_it_accepts(bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="not a knowledge source; expected None"):
        resolve_source(bad)


def test_opened_source_closes_what_it_opened_only(store: Path) -> None:
    with opened_source(store) as source:
        assert isinstance(source, LocalSource)
        source.record(tiny_dataset(7), evaluations(7))
        assert source._store is not None
    assert source._store is None  # made from a path: closed at the end
    mine = LocalSource(store)
    with opened_source(mine) as same:
        assert same is mine
        same.record(tiny_dataset(8), evaluations(8))
    assert mine._store is not None  # passed in: left open
    mine.close()


def test_a_local_source_records_and_reads_back_for_resuming(store: Path) -> None:
    source = LocalSource(store)
    data = tiny_dataset(11)
    assert source.stored_trials(data, None, "cv3:s0", "balanced_accuracy", 60) == ({}, {})
    source.record(data, evaluations(11), n_rows_used=60)
    scores, configs = source.stored_trials(data, None, "cv3:s0", "balanced_accuracy", 60)
    assert sorted(scores.values()) == [0.6, 0.6, 0.9]
    assert sorted(c["algorithm"] for c in configs.values()) == ["knn", "linear",
                                                              "random_forest"]
    # other rows or another protocol are not the same trials
    assert source.stored_trials(data, None, "cv3:s0", "balanced_accuracy", 30) == ({}, {})
    assert source.stored_trials(data, None, "cv5:s0", "balanced_accuracy", 60) == ({}, {})
    run_id = source.record_run(data, None, started="2024-01-01T00:00:00+00:00", budget=5.0,
                               best_config=configs[max(scores, key=scores.__getitem__)],
                               best_score=0.9, n_trials=3, notes={"metric": "x"})
    assert isinstance(run_id, int) and source.store.stats()["runs"] == 1
    source.close()


def test_a_knowledge_source_needs_its_abstract_methods() -> None:
    with pytest.raises(TypeError, match="abstract"):
        KnowledgeSource()  # type: ignore[abstract]

    class Fixed(KnowledgeSource):
        label = "fixed"

        def recommend(self, metafeatures: Any, task: str, k: int = 10,
                      strategy: str = "auto", fingerprint: str | None = None) -> list[Any]:
            return []

        def record(self, dataset: Any, evaluations: Any, metafeatures: Any = None,
                   n_rows_used: int | None = None) -> None:
            return None

        def recommender(self) -> Recommender:
            raise AssertionError("not needed")

    fixed = Fixed()
    assert resolve_source(fixed) is fixed and recommend(metafeatures={"a": 1.0},
                                                        task="classification", db=fixed) == []


# -- the same advice through a server ------------------------------------------------------
@needs_serve
def test_warm_start_meta_sampler_and_recommend_take_a_server_url(store: Path,
                                                                 live_url: str) -> None:
    data = tiny_dataset(21)
    features = extract_metafeatures(data)
    local = recommend(metafeatures=features, task="classification", k=3, strategy="knn",
                      db=store)
    assert len(local) == 3
    # the default user store is empty: only the server's answer can match the local one
    with pytest.raises(MetaDBError):
        recommend(metafeatures=features, task="classification", k=3, strategy="knn")
    study = optuna.create_study(direction="maximize")
    enqueued = warm_start(study, n=3, strategy="knn", db=live_url, task="classification",
                          metafeatures=features)
    assert comparable(enqueued) == comparable(local)
    assert len(study.get_trials(deepcopy=False)) == 3
    sampler = MetaSampler(features, n_startup=3, strategy="knn", task="classification",
                          db=live_url)
    assert comparable(sampler.recommendations) == comparable(local)
    assert comparable(recommend(data, k=3, strategy="knn", db=live_url)) == comparable(local)


@needs_serve
def test_server_keyword_still_works_with_a_deprecation_warning(store: Path,
                                                               live_url: str) -> None:
    features = extract_metafeatures(tiny_dataset(22))
    expected = comparable(recommend(metafeatures=features, task="classification", k=2,
                                    strategy="portfolio", db=live_url))
    with pytest.warns(DeprecationWarning, match=r"recommend\(server=...\) is deprecated"):
        recs = recommend(metafeatures=features, task="classification", k=2,
                         strategy="portfolio", server=live_url)
    assert comparable(recs) == expected
    study = optuna.create_study(direction="maximize")
    with pytest.warns(DeprecationWarning, match=r"warm_start\(server=...\)"):
        recs = warm_start(study, n=2, strategy="portfolio", server=live_url,
                          task="classification", metafeatures=features)
    assert comparable(recs) == expected
    with pytest.warns(DeprecationWarning, match=r"MetaSampler\(server=...\)"):
        sampler = MetaSampler(features, n_startup=2, strategy="portfolio",
                              task="classification", server=live_url)
    assert comparable(sampler.recommendations) == expected
    with pytest.raises(ConfigurationError, match="not both"):
        MetaSampler(features, n_startup=2, task="classification", db=store, server=live_url)
