"""Warm workers: reused alike, replaced when they cannot serve, per caller, gone with
their parent, untouched by a forked child."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
import time
import types
from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from automl_meta.data import load_dataset
from automl_meta.evaluation import evaluate
from automl_meta.evaluation._workers import idle_pids
from automl_meta.space import default_config
from tests.evaluation._helpers import _Hog, _is_gone, _warm_worker


class _Gambler(ClassifierMixin, BaseEstimator):
    """Predicts from numpy's global random state (what a seeded model must not do)."""

    def fit(self, X: Any, y: Any) -> _Gambler:
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.random.choice(self.classes_, size=len(X))


def test_a_worker_is_reused_and_starts_every_evaluation_alike(wine: Any, inject: Any) -> None:
    warm = _warm_worker(wine)
    config = inject("gambler", _Gambler)
    first = evaluate(config, wine, protocol="cv3", metrics=("accuracy",))
    again = evaluate(config, wine, protocol="cv3", metrics=("accuracy",))
    assert first.ok and again.ok
    assert idle_pids(wine)[-1] == warm  # both ran in the same warm worker
    # which reset numpy's global random state: the same draws as in a fresh worker
    assert first.metrics == again.metrics
    # chance on three classes, so the draws were random
    assert 0.1 < first.metrics["accuracy"] < 0.6


def test_a_reused_worker_drops_the_previous_memory_limit(wine: Any, inject: Any) -> None:
    assert evaluate(default_config("knn"), wine, protocol="cv3", memory_limit=128).ok
    warm = idle_pids(wine)[-1]
    result = evaluate(inject("hog", _Hog), wine, protocol="holdout0.25", memory_limit=None,
                      metrics=("accuracy",))
    assert result.ok, result.error
    assert idle_pids(wine)[-1] == warm


def test_a_replaced_label_column_is_not_served_from_a_stale_worker(wine: Any) -> None:
    import pandas as pd

    dataset = load_dataset((wine.X, wine.y), task="classification")
    config = default_config("linear")
    good = evaluate(config, dataset, protocol="cv3", metrics=("accuracy",))
    shuffled = np.random.default_rng(0).permutation(dataset.y.to_numpy())
    dataset.y = pd.Series(shuffled, name=dataset.y.name)
    noise = evaluate(config, dataset, protocol="cv3", metrics=("accuracy",))
    assert good.metrics["accuracy"] > 0.9 and noise.metrics["accuracy"] < 0.6


def test_work_a_warm_worker_cannot_load_runs_in_a_fresh_one(
        wine: Any, inject: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    warm = _warm_worker(wine)
    # a class from a module that did not exist when the warm worker was forked
    module = types.ModuleType("late_module_4217")
    exec("import numpy as np\n"
         "from sklearn.base import BaseEstimator, ClassifierMixin\n"
         "class Majority(ClassifierMixin, BaseEstimator):\n"
         "    def fit(self, X, y):\n"
         "        self.classes_, counts = np.unique(y, return_counts=True)\n"
         "        self.label_ = self.classes_[np.argmax(counts)]\n"
         "        return self\n"
         "    def predict(self, X):\n"
         "        return np.repeat(self.label_, len(X))\n", module.__dict__)
    module.Majority.__module__ = module.__name__
    monkeypatch.setitem(sys.modules, module.__name__, module)
    result = evaluate(inject("majority", module.Majority), wine, protocol="holdout0.25",
                      metrics=("balanced_accuracy",))
    assert result.ok, result.error
    assert result.score == pytest.approx(1 / 3)
    assert _is_gone(warm) and idle_pids(wine)


def test_work_that_does_not_pickle_still_runs_isolated(wine: Any, inject: Any) -> None:
    class Local(ClassifierMixin, BaseEstimator):  # a local class: no pickle can name it
        def fit(self, X: Any, y: Any) -> Local:
            self.classes_ = np.unique(y)
            return self

        def predict(self, X: Any) -> np.ndarray:
            return np.repeat(self.classes_[0], len(X))

    _warm_worker(wine)
    result = evaluate(inject("local", Local), wine, protocol="holdout0.25",
                      metrics=("balanced_accuracy",))
    assert result.ok, result.error
    assert result.score == pytest.approx(1 / 3)


def test_concurrent_calls_get_their_own_workers(wine: Any, diabetes: Any) -> None:
    jobs = [(default_config("knn"), wine), (default_config("random_forest"), wine),
            (default_config("knn", "regression"), diabetes)]
    expected = [evaluate(c, d, protocol="cv3").metrics for c, d in jobs]
    got: dict[int, Any] = {}

    def one(i: int) -> None:
        got[i] = evaluate(*jobs[i], protocol="cv3")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert [got[i].metrics for i in range(len(jobs))] == expected


def test_workers_exit_when_their_parent_dies(tmp_path: Any) -> None:
    import subprocess
    from pathlib import Path

    import automl_meta

    script = tmp_path / "parent.py"
    script.write_text(
        "import os, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "from automl_meta.evaluation._workers import idle_pids\n"
        "from automl_meta.data import load_dataset\n"
        "from automl_meta.evaluation import evaluate\n"
        "from automl_meta.space import default_config\n"
        "datasets = [load_dataset('sklearn:iris'), load_dataset('sklearn:wine')]\n"
        "for dataset in datasets:\n"
        "    assert evaluate(default_config('knn'), dataset, protocol='cv3').ok\n"
        "print(*idle_pids(), flush=True)\n"
        "os._exit(0)  # no atexit handlers: as if the parent were killed\n")
    package_root = str(Path(automl_meta.__file__).absolute().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [package_root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    # the workers inherit stdout: capture it through a file, not a pipe they keep open
    with open(tmp_path / "out.txt", "w") as out:
        subprocess.run([sys.executable, str(script)], stdout=out, env=env, timeout=120,
                       check=True)
    pids = [int(p) for p in (tmp_path / "out.txt").read_text().split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)


def _evaluate_in_child(names: list[str], queue: Any) -> None:
    try:
        statuses = [evaluate(default_config("linear"), load_dataset(name), protocol="cv3",
                             time_limit=60).status for name in names]
        queue.put(statuses)
    except BaseException as exc:  # report, so the parent's assertion shows what went wrong
        queue.put([f"{type(exc).__name__}: {exc}"])


def test_a_forked_child_does_not_touch_its_parents_workers() -> None:
    """``fit`` in a child process of one that evaluated before (the benchmark harness does
    this) must use workers of its own, never retire or reuse the parent's."""
    names = ["sklearn:iris", "sklearn:wine", "sklearn:breast_cancer"]
    for name in names:
        assert evaluate(default_config("linear"), load_dataset(name), protocol="cv3",
                        time_limit=60).status == "ok"
    before = sorted(idle_pids())
    assert before  # the parent holds idle workers the child inherits a record of
    context = mp.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_evaluate_in_child, args=(names, queue))
    child.start()
    statuses = queue.get(timeout=120)
    child.join(30)
    assert statuses == ["ok", "ok", "ok"]
    assert sorted(idle_pids()) == before  # still alive and still the parent's
    assert all(os.waitpid(pid, os.WNOHANG) == (0, 0) for pid in before)
