"""Evaluation protocols (cv, holdout), the ``Evaluation`` record, and determinism."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from automl_meta.errors import ConfigurationError
from automl_meta.evaluation import Evaluation, Protocol, evaluate
from automl_meta.space import default_config
from tests.evaluation._helpers import _manual_folds


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
