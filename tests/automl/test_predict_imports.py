"""Predicting with a saved model imports only what predicting needs, and trusts no more.

One fresh interpreter (the only place import side effects show) loads a saved linear model
and predicts; it must not import torch, the search or the advice, and the skops it imported
must trust no scikit-learn estimator by default (``import_skops_io`` keeps skops'
``all_estimators()`` walk from running). A skops file holding a scikit-learn estimator
outside our allowlist is refused in that process too. A missing ``config.json`` is reported
by the CLI before scikit-learn or skops is imported.

A model with the PyTorch MLP has no ``model.skops`` at all (skops cannot hold a torch
module; ``tests/automl/test_saved_result.py`` checks the clear error), so there is no saved
MLP model to load.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from automl_meta.automl import FitResult, save_result
from automl_meta.errors import ArtifactError
from tests.automl._helpers import one_model_result

PROBE = """
import json, sys
from automl_meta import load_model
from automl_meta.errors import ArtifactError
predictions = load_model(sys.argv[1]).predict(sys.argv[2])
from skops.io._trusted_types import SKLEARN_ESTIMATOR_TYPE_NAMES
try:
    load_model(sys.argv[3])
    refused = ""
except ArtifactError as exc:
    refused = str(exc)
print(json.dumps({
    "predictions": [str(p) for p in predictions],
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "automl_meta")),
    "skops_default_estimators": list(SKLEARN_ESTIMATOR_TYPE_NAMES),
    "refused": refused,
}))
"""


def _linear_result(rows: int = 60) -> tuple[FitResult, pd.DataFrame]:
    from automl_meta import load_dataset
    from automl_meta.evaluation._label_codes import LabelCodedClassifier
    from automl_meta.space import build, default_config

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows),
                      "colour": rng.choice(["red", "blue"], rows)})
    y = pd.Series(np.where(X["a"] > 0, "yes", "no"), name="label")
    dataset = load_dataset((X, y), task="classification")
    config = default_config("linear", "classification")
    model = build(config, dataset)  # as fit refits it: the classifier learns label codes
    model = model.set_params(model=LabelCodedClassifier(model.named_steps["model"]))
    model.fit(dataset.X, dataset.y)
    result = one_model_result(model, config, dataset)
    return result, X


def _outside_allowlist(directory: Path) -> Path:
    """A saved-model directory whose model.skops holds a real scikit-learn estimator that is
    in no algorithm's saved types (KMeans): skops' old default would have trusted it."""
    from sklearn.cluster import KMeans

    from automl_meta._support.safe_skops import import_skops_io
    from tests._support._skops_gadgets import _model_dir

    kmeans = KMeans(n_clusters=2, n_init=1, random_state=0).fit(np.eye(4)[:, :2])
    return _model_dir(directory, import_skops_io().dumps(kmeans))


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("predict-imports")
    result, X = _linear_result()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_result(result, root / "linear")
    X.head(7).to_csv(root / "rows.csv", index=False)
    _outside_allowlist(root / "kmeans")
    done = subprocess.run([sys.executable, "-c", PROBE, str(root / "linear"),
                           str(root / "rows.csv"), str(root / "kmeans")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["expected"] = [str(p) for p in result.model.predict(X.head(7))]
    return out


def test_loading_and_predicting_a_linear_model_imports_no_torch(probe: dict[str, Any]) -> None:
    assert probe["predictions"] == probe["expected"]
    assert not [m for m in probe["loaded"] if m.split(".")[0] == "torch"]


def test_predicting_imports_neither_the_search_nor_the_advice(probe: dict[str, Any]) -> None:
    loaded = set(probe["loaded"])
    assert "automl_meta.automl._saved_model" in loaded
    assert not loaded & {"automl_meta.automl._fit", "automl_meta.automl._search",
                         "automl_meta.advice", "automl_meta.metafeatures",
                         "automl_meta.metadb"}


def test_skops_imported_for_predicting_trusts_no_estimator_by_default(
        probe: dict[str, Any]) -> None:
    assert probe["skops_default_estimators"] == []


def test_an_estimator_outside_the_allowlist_is_refused_by_the_lean_skops(
        probe: dict[str, Any]) -> None:
    assert "Refusing to load" in probe["refused"]
    assert "sklearn.cluster._kmeans.KMeans" in probe["refused"]


def test_an_estimator_outside_the_allowlist_is_refused_here_too(tmp_path: Path) -> None:
    from automl_meta import load_model

    with pytest.raises(ArtifactError, match=r"Refusing to load.*sklearn\.cluster\._kmeans"):
        load_model(_outside_allowlist(tmp_path / "kmeans"))


def test_import_skops_io_leaves_all_estimators_as_it_was() -> None:
    import sklearn.utils
    import sklearn.utils.discovery

    from automl_meta._support.safe_skops import import_skops_io

    before = (sklearn.utils.all_estimators, sklearn.utils.discovery.all_estimators)
    assert import_skops_io() is sys.modules["skops.io"]
    assert (sklearn.utils.all_estimators, sklearn.utils.discovery.all_estimators) == before


MISSING_PROBE = """
import json, sys
from automl_meta.cli import main
sys.argv = ["automl-meta", "predict", sys.argv[1], sys.argv[2]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "heavy": sorted(m for m in ("sklearn", "skops", "pandas")
                                               if m in sys.modules)}))
"""


def test_cli_reports_a_missing_config_before_the_heavy_imports(tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n1,2\n")
    done = subprocess.run([sys.executable, "-c", MISSING_PROBE, str(tmp_path / "nowhere"),
                           str(rows)], capture_output=True, text=True, timeout=120)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"code": 2, "heavy": []}, done.stderr
    assert "config.json is missing" in done.stderr and "Traceback" not in done.stderr
