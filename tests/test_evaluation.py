"""``evaluate``: metrics, protocols, isolation (timeout, memout, error), warm workers,
determinism, and the refit of ``fit_in_worker``."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import os
import resource
import sys
import threading
import time
import types
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.base import BaseEstimator, ClassifierMixin

from automl_meta.data import load_dataset
from automl_meta.errors import ConfigurationError
from automl_meta.evaluation import Evaluation, Protocol, evaluate, fit_in_worker
from automl_meta.evaluation._label_codes import LabelCodedClassifier
from automl_meta.evaluation._workers import idle_pids
from automl_meta.space import build, default_config
from automl_meta.space._algorithms import REGISTRY

CLF_METRICS = ("balanced_accuracy", "accuracy", "roc_auc", "log_loss")
REG_METRICS = ("r2", "rmse", "mae")


@pytest.fixture(scope="module")
def cancer() -> Any:
    return load_dataset("sklearn:breast_cancer")


@pytest.fixture(scope="module")
def wine() -> Any:
    return load_dataset("sklearn:wine")


@pytest.fixture(scope="module")
def diabetes() -> Any:
    return load_dataset("sklearn:diabetes")


def _manual_folds(config: dict[str, Any], dataset: Any, protocol: str) -> list[dict[str, Any]]:
    """Fit and predict each fold by hand: what evaluate() must reproduce."""
    folds = []
    for train, test in Protocol.parse(protocol).splits(dataset):
        model = build(config, dataset, random_state=0).fit(dataset.X.iloc[train],
                                                           dataset.y.iloc[train])
        X_test = dataset.X.iloc[test]
        fold = {"y": dataset.y.to_numpy()[test], "pred": model.predict(X_test)}
        if hasattr(model, "predict_proba"):
            fold["proba"] = model.predict_proba(X_test)
            fold["classes"] = model.classes_
        folds.append(fold)
    return folds


# --------------------------------------------------------------------------- metrics


def test_all_classification_metrics_at_once_binary(cancer: Any) -> None:
    config = default_config("linear", "classification")
    result = evaluate(config, cancer, protocol="cv3", metrics=CLF_METRICS)
    assert result.status == "ok", result.error
    assert set(result.metrics) == set(CLF_METRICS)
    folds = _manual_folds(config, cancer, "cv3")
    expected = {
        "balanced_accuracy": np.mean([skm.balanced_accuracy_score(f["y"], f["pred"])
                                      for f in folds]),
        "accuracy": np.mean([skm.accuracy_score(f["y"], f["pred"]) for f in folds]),
        "roc_auc": np.mean([skm.roc_auc_score(f["y"] == f["classes"][1], f["proba"][:, 1])
                            for f in folds]),
        "log_loss": np.mean([skm.log_loss(f["y"], f["proba"], labels=f["classes"])
                             for f in folds]),
    }
    for name, value in expected.items():
        assert result.metrics[name] == pytest.approx(value, rel=1e-6), name
    assert result.score == result.metrics["balanced_accuracy"]
    assert 0.9 < result.metrics["roc_auc"] <= 1.0
    assert 0.0 < result.metrics["log_loss"] < 0.5


def test_all_classification_metrics_at_once_multiclass(wine: Any) -> None:
    config = default_config("linear", "classification")
    result = evaluate(config, wine, protocol="cv3", metrics=CLF_METRICS)
    assert result.ok, result.error
    folds = _manual_folds(config, wine, "cv3")
    auc = np.mean([skm.roc_auc_score(f["y"], f["proba"], multi_class="ovr",
                                     average="weighted", labels=f["classes"]) for f in folds])
    loss = np.mean([skm.log_loss(f["y"], f["proba"], labels=f["classes"]) for f in folds])
    assert result.metrics["roc_auc"] == pytest.approx(auc, rel=1e-6)
    assert result.metrics["log_loss"] == pytest.approx(loss, rel=1e-6)


def test_probability_metrics_from_a_decision_function(cancer: Any) -> None:
    # the SVM has no predict_proba: roc_auc and log_loss come from its decision function
    result = evaluate(default_config("svm", "classification"), cancer, protocol="cv3",
                      metrics=CLF_METRICS)
    assert result.ok, result.error
    assert 0.9 < result.metrics["roc_auc"] <= 1.0
    assert np.isfinite(result.metrics["log_loss"]) and result.metrics["log_loss"] > 0


def test_all_regression_metrics_at_once(diabetes: Any) -> None:
    config = default_config("linear", "regression")
    result = evaluate(config, diabetes, protocol="cv3", metrics=REG_METRICS)
    assert result.ok, result.error
    assert set(result.metrics) == set(REG_METRICS)
    folds = _manual_folds(config, diabetes, "cv3")
    expected = {
        "r2": np.mean([skm.r2_score(f["y"], f["pred"]) for f in folds]),
        "rmse": np.mean([np.sqrt(skm.mean_squared_error(f["y"], f["pred"])) for f in folds]),
        "mae": np.mean([skm.mean_absolute_error(f["y"], f["pred"]) for f in folds]),
    }
    for name, value in expected.items():
        assert result.metrics[name] == pytest.approx(value, rel=1e-9), name
    assert result.score == result.metrics["r2"]
    assert result.metrics["mae"] < result.metrics["rmse"]


def test_default_metrics_are_every_metric_of_the_task(wine: Any, diabetes: Any) -> None:
    assert set(evaluate(default_config("knn"), wine, protocol="cv3").metrics) == \
        set(CLF_METRICS)
    assert set(evaluate(default_config("knn", "regression"), diabetes,
                        protocol="cv3").metrics) == set(REG_METRICS)


def test_a_single_metric(wine: Any) -> None:
    result = evaluate(default_config("knn"), wine, protocol="cv3",
                      metrics=("balanced_accuracy",))
    assert list(result.metrics) == ["balanced_accuracy"]
    assert 0.5 < result.score <= 1.0


@pytest.mark.parametrize("metrics", [("r2",), ("balanced_accuracy", "f1"), ("AUC",)])
def test_unknown_or_foreign_metrics_are_configuration_errors(wine: Any, metrics: tuple) -> None:
    with pytest.raises(ConfigurationError, match="metric"):
        evaluate(default_config("knn"), wine, protocol="cv3", metrics=metrics)


def test_roc_auc_when_a_fold_holds_two_of_three_classes() -> None:
    from automl_meta.evaluation.metrics import score_predictions

    rng = np.random.default_rng(0)
    classes = np.array(["a", "b", "c"])
    y = rng.choice(["a", "b"], size=40)
    scores = rng.dirichlet(np.ones(3), size=40)
    got = score_predictions("classification", ("roc_auc",), y, y, scores, classes)
    pair = scores[:, :2] / scores[:, :2].sum(axis=1, keepdims=True)
    by_class = [skm.roc_auc_score(y == c, pair[:, i]) for i, c in enumerate(["a", "b"])]
    weights = [(y == c).mean() for c in ("a", "b")]
    assert 0.0 < got["roc_auc"] < 1.0
    assert got["roc_auc"] == pytest.approx(np.average(by_class, weights=weights))
    # with all three classes present it is scikit-learn's weighted one-vs-rest AUC
    y3 = rng.choice(classes, size=40)
    got3 = score_predictions("classification", ("roc_auc",), y3, y3, scores, classes)
    assert got3["roc_auc"] == pytest.approx(skm.roc_auc_score(
        y3, scores, multi_class="ovr", average="weighted", labels=classes))
    # a single class present: no AUC
    one = score_predictions("classification", ("roc_auc",), np.array(["a"] * 40),
                            np.array(["a"] * 40), scores, classes)
    assert np.isnan(one["roc_auc"])


def test_class_scores_align_columns_with_every_class() -> None:
    from automl_meta.evaluation.metrics import class_scores

    class TwoOfThree:
        classes_ = np.array(["a", "c"])

        def predict_proba(self, X: Any) -> np.ndarray:
            return np.tile([0.25, 0.75], (len(X), 1))

    aligned = class_scores(TwoOfThree(), np.zeros((3, 1)), np.array(["a", "b", "c"]))
    np.testing.assert_allclose(aligned, np.tile([0.25, 0.0, 0.75], (3, 1)))

    class Margin:
        classes_ = np.array([0, 1])

        def decision_function(self, X: Any) -> np.ndarray:
            return np.array([-2.0, 0.0, 3.0])

    proba = class_scores(Margin(), np.zeros((3, 1)), np.array([0, 1]))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba[0, 0] > 0.9 and proba[1, 1] == pytest.approx(0.5) and proba[2, 1] > 0.99


def test_labels_that_look_like_numbers(wine: Any) -> None:
    # ARFF nominal labels such as "-1" made scikit-learn's forests with
    # class_weight="balanced" fail; the scores must not depend on how labels are spelt
    import pandas as pd

    codes = wine.y.to_numpy().astype(int)
    numeric_like = pd.Series(np.array(["-1", "-2", "0"])[codes], name="target")
    letters = pd.Series(np.array(["a", "b", "c"])[codes], name="target")  # same sort order
    config = {"algorithm": "random_forest", "params": {"class_weight": "balanced",
                                                       "n_estimators": 50}}
    results = [evaluate(config, load_dataset((wine.X, y), task="classification"),
                        protocol="cv3") for y in (numeric_like, letters)]
    assert [r.status for r in results] == ["ok", "ok"], results[0].error
    assert results[0].metrics == results[1].metrics
    assert results[0].score > 0.9


# --------------------------------------------------------------------------- protocols


@pytest.mark.parametrize(("spec", "expected"), [
    ("cv5", Protocol("cv", n_splits=5, random_state=0)),
    ("cv3:s1", Protocol("cv", n_splits=3, random_state=1)),
    (" cv10 ", Protocol("cv", n_splits=10, random_state=0)),
    ("holdout0.25", Protocol("holdout", test_size=0.25, random_state=0)),
    ("holdout.3:s7", Protocol("holdout", test_size=0.3, random_state=7)),
])
def test_protocol_parse_good(spec: str, expected: Protocol) -> None:
    protocol = Protocol.parse(spec)
    assert protocol == expected
    assert Protocol.parse(protocol) is protocol
    assert Protocol.parse(protocol.key) == protocol


@pytest.mark.parametrize("spec", ["cv1", "cv0", "cv", "kfold5", "cv5:s", "cv5:x1", "",
                                  "holdout", "holdout0", "holdout1.5", "holdout0.0",
                                  "holdout25", "cv-3"])
def test_protocol_parse_bad(spec: str) -> None:
    with pytest.raises(ConfigurationError, match="protocol"):
        Protocol.parse(spec)


def test_protocol_keys() -> None:
    assert Protocol.parse("cv5").key == "cv5:s0"
    assert Protocol.parse("holdout0.25:s3").key == "holdout0.25:s3"


def test_cv_splits_partition_the_rows_stratified(wine: Any) -> None:
    splits = Protocol.parse("cv5").splits(wine)
    assert len(splits) == 5
    tests = np.concatenate([test for _, test in splits])
    assert sorted(tests) == list(range(wine.n_rows))
    y = wine.y.to_numpy()
    for train, test in splits:
        assert not set(train) & set(test)
        assert len(train) + len(test) == wine.n_rows
        for label in np.unique(y):
            share = (y[test] == label).mean() - (y == label).mean()
            assert abs(share) < 0.05
    assert [t.tolist() for _, t in Protocol.parse("cv5:s1").splits(wine)] != \
        [t.tolist() for _, t in splits]


def test_holdout_split_and_score(wine: Any) -> None:
    (train, test), = Protocol.parse("holdout0.25").splits(wine)
    assert len(test) == int(np.ceil(0.25 * wine.n_rows))
    assert sorted(np.concatenate([train, test])) == list(range(wine.n_rows))
    config = default_config("linear")
    result = evaluate(config, wine, protocol="holdout0.25", metrics=("accuracy",))
    assert result.ok and result.protocol == "holdout0.25:s0"
    fold, = _manual_folds(config, wine, "holdout0.25")
    assert result.metrics["accuracy"] == pytest.approx(skm.accuracy_score(fold["y"],
                                                                          fold["pred"]))


def test_cv_protocols_differ_in_folds(diabetes: Any) -> None:
    config = default_config("linear", "regression")
    cv3 = evaluate(config, diabetes, protocol="cv3", metrics=("r2",))
    cv5 = evaluate(config, diabetes, protocol="cv5", metrics=("r2",))
    assert cv3.protocol == "cv3:s0" and cv5.protocol == "cv5:s0"
    assert cv3.score != cv5.score
    assert 0.3 < cv3.score < 0.7 and 0.3 < cv5.score < 0.7


# --------------------------------------------------------------------------- the result


def test_evaluation_record(wine: Any) -> None:
    config = {"algorithm": "knn", "params": {"n_neighbors": 3.0}}
    result = evaluate(config, wine, protocol="cv3")
    assert isinstance(result, Evaluation)
    assert result.status == "ok" and result.error is None and result.task == "classification"
    assert result.config["params"]["n_neighbors"] == 3.0
    assert result.config["params"]["weights"] == "uniform"  # completed from the default
    assert result.fit_seconds > 0 and result.predict_seconds > 0
    assert result.wall_seconds >= result.fit_seconds + result.predict_seconds
    record = json.loads(json.dumps(result.to_dict()))
    assert record["status"] == "ok" and record["protocol"] == "cv3:s0"


def test_invalid_requests_fail_in_the_caller(wine: Any) -> None:
    with pytest.raises(ConfigurationError, match="Did you mean"):
        evaluate({"algorithm": "knnn", "params": {}}, wine)
    with pytest.raises(ConfigurationError, match="time_limit"):
        evaluate(default_config("knn"), wine, time_limit=0)
    with pytest.raises(ConfigurationError, match="protocol"):
        evaluate(default_config("knn"), wine, protocol="cv1")


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("config", [
    default_config("random_forest"),
    {"algorithm": "mlp", "params": {"hidden_size": 16, "n_layers": 1, "batch_size": 128}},
], ids=["random_forest", "mlp"])
def test_scores_are_deterministic_for_a_seed(wine: Any, config: dict[str, Any]) -> None:
    first = evaluate(config, wine, protocol="cv3", random_state=0)
    again = evaluate(config, wine, protocol="cv3", random_state=0)
    inline = evaluate(config, wine, protocol="cv3", random_state=0, isolate=False)
    assert first.ok and again.ok and inline.ok
    assert first.metrics == again.metrics == inline.metrics


def test_the_seed_matters(wine: Any) -> None:
    config = {"algorithm": "random_forest", "params": {"n_estimators": 50,
                                                       "max_features": 0.05}}
    scores = {evaluate(config, wine, protocol="cv3", metrics=("log_loss",),
                       random_state=seed).metrics["log_loss"] for seed in (0, 1)}
    assert len(scores) == 2


# --------------------------------------------------------------------------- isolation


class _Sleeper(ClassifierMixin, BaseEstimator):
    """Never finishes fitting."""

    def fit(self, X: Any, y: Any) -> _Sleeper:
        time.sleep(3600)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))


class _Hog(ClassifierMixin, BaseEstimator):
    """Touches 64 MB after 64 MB, up to 1 GB: far past a 128 MB limit."""

    def fit(self, X: Any, y: Any) -> _Hog:
        chunks = [np.ones(8 * 1024 * 1024) for _ in range(16)]
        self.classes_ = np.unique(y)
        self.size_ = sum(c.nbytes for c in chunks)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.repeat(self.classes_[0], len(X))


class _Raiser(ClassifierMixin, BaseEstimator):
    def fit(self, X: Any, y: Any) -> _Raiser:
        raise ValueError("deliberate failure 4217 while fitting")

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))


class _Crasher(ClassifierMixin, BaseEstimator):
    """Ends its process without a word, like a crash in native code."""

    def fit(self, X: Any, y: Any) -> _Crasher:
        os._exit(3)

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))


@pytest.fixture
def inject(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Register a temporary classification algorithm building ``estimator_class()``."""

    def register(name: str, estimator_class: type) -> dict[str, Any]:
        template = REGISTRY[("classification", "knn")]
        algorithm = dataclasses.replace(template, name=name, params=(), default={},
                                        factory=lambda params, seed: estimator_class())
        monkeypatch.setitem(REGISTRY, ("classification", name), algorithm)
        return {"algorithm": name, "params": {}}

    return register


def _warm_worker(dataset: Any) -> int:
    """The pid of the idle worker the next evaluation of ``dataset`` will use: the one that
    has just finished a good evaluation of it."""
    assert evaluate(default_config("knn"), dataset, protocol="cv3", metrics=("accuracy",)).ok
    pids = idle_pids(dataset)
    assert pids
    return pids[-1]


def _is_gone(pid: int) -> bool:
    """The worker ``pid`` was killed and reaped, and every live child is an idle worker
    (none is left running a failed evaluation)."""
    live = {p.pid for p in mp.active_children()}
    return pid not in live and not os.path.exists(f"/proc/{pid}") and live <= set(idle_pids())


def test_a_hanging_fit_is_stopped_at_the_time_limit(wine: Any, inject: Any) -> None:
    config = inject("sleeper", _Sleeper)
    warm = _warm_worker(wine)  # the sleeper runs in this reused worker
    start = time.perf_counter()
    result = evaluate(config, wine, protocol="cv3", time_limit=1.5)
    elapsed = time.perf_counter() - start
    assert result.status == "timeout"
    assert "1.5" in result.error
    assert elapsed < 1.5 + 2.0
    assert 1.5 <= result.wall_seconds < 1.5 + 2.0
    assert result.metrics == {} and np.isnan(result.score)
    assert _is_gone(warm)
    # the caller is fine and keeps evaluating
    assert evaluate(default_config("knn"), wine, protocol="cv3").ok


def test_allocating_past_the_memory_limit_is_a_memout(wine: Any, inject: Any) -> None:
    config = inject("hog", _Hog)
    before = resource.getrlimit(resource.RLIMIT_AS)
    warm = _warm_worker(wine)
    result = evaluate(config, wine, protocol="cv3", memory_limit=128, time_limit=60)
    assert result.status == "memout", (result.status, result.error)
    assert "128" in result.error
    assert result.metrics == {}
    # the limit applied to the worker only
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert _is_gone(warm)
    assert np.ones(64 * 1024 * 1024).sum() == 64 * 1024 * 1024  # 512 MB is fine here
    assert evaluate(default_config("knn"), wine, protocol="cv3").ok


def test_without_a_memory_limit_the_same_fit_succeeds(wine: Any, inject: Any) -> None:
    # proof that the memout above comes from the limit, not from the machine
    config = inject("hog", _Hog)
    result = evaluate(config, wine, protocol="holdout0.25", memory_limit=None,
                      metrics=("accuracy",))
    assert result.ok, result.error


def test_an_exception_is_an_error_with_its_message(wine: Any, inject: Any) -> None:
    config = inject("raiser", _Raiser)
    warm = _warm_worker(wine)
    result = evaluate(config, wine, protocol="cv3")
    assert result.status == "error"
    assert result.error.startswith("ValueError: deliberate failure 4217 while fitting")
    assert result.metrics == {}
    assert _is_gone(warm)  # a worker that failed is never reused
    with pytest.raises(ValueError, match="deliberate failure 4217"):
        evaluate(config, wine, protocol="cv3", isolate=False)


def test_a_dying_worker_is_an_error(wine: Any, inject: Any) -> None:
    config = inject("crasher", _Crasher)
    warm = _warm_worker(wine)
    result = evaluate(config, wine, protocol="cv3")
    assert result.status == "error"
    assert "exit code 3" in result.error
    assert _is_gone(warm)
    assert evaluate(default_config("knn"), wine, protocol="cv3").ok


# --------------------------------------------------------------------------- warm workers


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


# --------------------------------------------------------------------------- refit


def test_fit_in_worker_learns_label_codes_and_predicts_the_labels(wine: Any) -> None:
    # the refit must train like the evaluation: labels such as "-1" break scikit-learn's
    # forests with class_weight="balanced" when they are fitted on as they are
    import pandas as pd

    y = pd.Series(np.where(wine.y.to_numpy() == 0, "-1", "1"), name="target")
    dataset = load_dataset((wine.X, y), task="classification")
    config = {"algorithm": "random_forest", "params": {"class_weight": "balanced",
                                                       "n_estimators": 50}}
    model, status, error = fit_in_worker(config, dataset, time_limit=60)
    assert status == "ok", error
    assert model.classes_.tolist() == ["-1", "1"]
    assert isinstance(model.steps[-1][1], LabelCodedClassifier)
    predicted = model.predict(dataset.X)
    assert set(predicted) == {"-1", "1"}
    assert (predicted == y.to_numpy()).mean() > 0.95
    proba = model.predict_proba(dataset.X)
    assert proba.shape == (len(y), 2)
    assert (model.classes_[proba.argmax(axis=1)] == predicted).all()
    # the very model an evaluation fold fits: the same pipeline on the label codes
    codes = (y.to_numpy() == "1").astype(int)
    reference = build(config, dataset, random_state=0).fit(dataset.X, codes)
    np.testing.assert_allclose(proba, reference.predict_proba(dataset.X))


def test_fit_in_worker_reports_a_timeout(wine: Any, inject: Any) -> None:
    model, status, error = fit_in_worker(inject("sleeper", _Sleeper), wine, time_limit=1.0)
    assert model is None and status == "timeout" and "1.0" in error


def test_label_coded_classifier_passes_scores_through() -> None:
    from sklearn.svm import SVC

    X = np.array([[0.0], [0.1], [1.0], [1.1], [2.0], [2.1]])
    y = np.array(["b", "b", "a", "a", "c", "c"])
    model = LabelCodedClassifier(SVC()).fit(X, y)
    assert model.classes_.tolist() == ["a", "b", "c"]
    assert model.predict([[0.05], [2.05]]).tolist() == ["b", "c"]
    assert model.decision_function(X).shape == (6, 3)
    assert not hasattr(model, "predict_proba")  # SVC() has none: neither has the wrapper


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
