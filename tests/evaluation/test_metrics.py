"""``evaluate``'s metrics: every metric at once, as scikit-learn computes them by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from automl_meta.data import load_dataset
from automl_meta.errors import ConfigurationError
from automl_meta.evaluation import evaluate
from automl_meta.space import default_config
from tests.evaluation._helpers import CLF_METRICS, REG_METRICS, _manual_folds


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
