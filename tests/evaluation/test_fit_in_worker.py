"""The refit of ``fit_in_worker``: label codes learned, labels predicted, timeouts."""

from __future__ import annotations

from typing import Any

import numpy as np

from automl_meta.data import load_dataset
from automl_meta.evaluation import fit_in_worker
from automl_meta.evaluation._label_codes import LabelCodedClassifier
from automl_meta.space import build
from tests.evaluation._helpers import _Sleeper


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
