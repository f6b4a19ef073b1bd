"""``fit`` and the estimators on one knowledge source: a local path and a server URL on the
same store record into it; batches for a remote source; the deprecated ``server=`` and
``time_budget=`` still work, with a warning."""

from __future__ import annotations

import importlib.util
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris

from automl_meta import AutoMetaClassifier, fit, recommend
from automl_meta.advice import LocalSource
from automl_meta.automl._recording import TrialRecorder
from automl_meta.errors import AutoMLMetaWarning, ConfigurationError
from automl_meta.metadb import MetaDB
from tests.advice._knowledge import TOKEN, evaluations, tiny_dataset, tiny_store

SERVE = all(importlib.util.find_spec(m) for m in ("fastapi", "uvicorn", "httpx", "multipart"))
needs_serve = pytest.mark.skipif(not SERVE, reason="needs the serve extra")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_store(tmp_path_factory.mktemp("sources-fit") / "tiny.sqlite")


@pytest.fixture
def store(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AUTOML_META_SHIPPED", str(tmp_path / "no-bundle"))
    monkeypatch.setenv("AUTOML_META_DB", str(tmp_path / "user.sqlite"))
    monkeypatch.setenv("AUTOML_META_TOKEN", TOKEN)
    return Path(shutil.copy(built, tmp_path / "store.sqlite"))


class Counting(LocalSource):
    """A local store that says it is remote, counting the trials of each record call."""

    remote = True
    batch_trials = 3
    batch_seconds = 3600.0

    def __init__(self, store: Path) -> None:
        super().__init__(store)
        self.batches: list[int] = []

    def record(self, dataset: Any, evaluations: Any, metafeatures: Any = None,
               n_rows_used: int | None = None) -> None:
        self.batches.append(len(evaluations))
        super().record(dataset, evaluations, metafeatures, n_rows_used)


def test_a_remote_source_gets_trials_in_batches_and_the_rest_at_the_end(store: Path) -> None:
    source = Counting(store)
    data = tiny_dataset(30)
    recorder = TrialRecorder(source, data, None, "cv3:s0", "balanced_accuracy", data.n_rows)
    done: list[Any] = []
    for evaluation in evaluations(30) + evaluations(31)[:2]:
        done.append(evaluation)
        recorder.flush(done)
    assert source.batches == [3]  # the 4th and 5th wait for a batch of three
    recorder.close(done, failing=False)
    assert source.batches == [3, 2] and recorder.recorded == 5
    source.close()


def test_a_failure_to_record_remotely_warns_and_stops_recording(store: Path) -> None:
    class Refusing(Counting):
        def record(self, *args: Any, **kwargs: Any) -> None:
            self.batches.append(-1)
            raise ConfigurationError("POST /v1/evaluations -> 401: refused")

    source = Refusing(store)
    data = tiny_dataset(32)
    recorder = TrialRecorder(source, data, None, "cv3:s0", "balanced_accuracy", data.n_rows)
    with pytest.warns(AutoMLMetaWarning, match="could not be recorded.*401"):
        recorder.flush(evaluations(32), force=True)
    recorder.flush(evaluations(32) * 2, force=True)  # no second attempt
    assert source.batches == [-1] and recorder.failed is not None
    source.close()


@needs_serve
def test_fit_through_a_path_and_through_a_server_url_records_into_the_same_store(
        store: Path) -> None:
    from automl_meta.service import create_app
    from tests.conftest import serving

    before = MetaDB(store).stats()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutoMLMetaWarning)
        local = fit("sklearn:iris", budget=4, db=store, ensemble=False)
    assert local.recorded_to == f"sqlite:///{store}" and local.run_id is not None
    after_local = MetaDB(store).stats()
    assert after_local["datasets"] == before["datasets"] + 1 and after_local["runs"] == 1
    assert after_local["evaluations"] - before["evaluations"] == len(local.leaderboard)
    # what the server will advise for wine: its store's first recommendation, now that the
    # store also holds the iris search just recorded
    advised = recommend("sklearn:wine", k=1, db=store)[0].config
    with serving(create_app(store, token=TOKEN, warm_up=False)) as url:
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AutoMLMetaWarning)
            remote = fit("sklearn:wine", budget=4, db=url, ensemble=False)
        assert time.perf_counter() - started < 4 * 1.1 + 1.5
    assert remote.recorded_to == url and remote.run_id is None  # the API keeps no runs
    after_remote = MetaDB(store).stats()
    assert after_remote["datasets"] == after_local["datasets"] + 1
    assert after_remote["datasets_with_metafeatures"] == after_local[
        "datasets_with_metafeatures"] + 1
    assert after_remote["evaluations"] - after_local["evaluations"] == len(remote.leaderboard)
    # the store advised both: its five datasets made the local first advised trial knn's
    # best or random forest's default, and the server's first advised trial was its store's
    # advice, not TPE's random draws (the baseline, linear's default, always comes first)
    first = _first_advised(local.leaderboard)
    assert first["algorithm"] in ("random_forest", "knn")
    first = _first_advised(remote.leaderboard, advised)
    assert {"algorithm": first["algorithm"], "params": first["params"]} == advised


def _first_advised(board: Any, advised: dict[str, Any] | None = None) -> Any:
    """The first trial after the baseline, or the baseline when it is ``advised`` too (a
    recommendation equal to the baseline is not evaluated twice)."""
    from automl_meta.automl._search import baseline_config

    trials = board.sort_values("trial")
    baseline = baseline_config("classification")
    assert trials["algorithm"].iloc[0] == baseline["algorithm"]
    assert trials["params"].iloc[0] == baseline["params"]
    return trials.iloc[0 if advised == baseline else 1]


@needs_serve
def test_estimators_take_budget_and_still_accept_time_budget_and_server(store: Path) -> None:
    from automl_meta.service import create_app
    from tests.conftest import serving

    model = AutoMetaClassifier(time_budget=4.0, record=True)
    params = model.get_params()
    assert params["budget"] == 60.0 and params["time_budget"] == 4.0
    copy = clone(model)
    assert copy.get_params()["time_budget"] == 4.0 and copy is not model
    assert AutoMetaClassifier().get_params()["time_budget"] == "deprecated"
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ConfigurationError, match="pass budget alone"):
        AutoMetaClassifier(budget=5, time_budget=5).fit(X, y)
    before = MetaDB(store).stats()["evaluations"]
    with serving(create_app(store, token=TOKEN, warm_up=False)) as url:
        model.set_params(server=url)
        started = time.perf_counter()
        with pytest.warns(DeprecationWarning) as caught:
            warnings.simplefilter("ignore", AutoMLMetaWarning)
            model.fit(X, y)
        assert time.perf_counter() - started < 4 * 1.1 + 1.5  # time_budget was the budget
    messages = " ".join(str(w.message) for w in caught if w.category is DeprecationWarning)
    assert "time_budget=...) is deprecated" in messages
    assert "AutoMetaClassifier(server=...) is deprecated" in messages
    assert (model.predict(X) == y).mean() > 0.85
    assert MetaDB(store).stats()["evaluations"] - before == len(model.leaderboard_)
