"""A skops file whose gradient-boosting trees are not trees is refused before predicting.

scikit-learn's ``TreePredictor`` follows its node array's child indices and feature numbers
in Cython without checking them, which is why skops does not trust the class by default.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.ensemble import HistGradientBoostingRegressor

from automl_meta._support.safe_skops import RANKER, import_skops_io, load_skops
from automl_meta.errors import ArtifactError


@pytest.fixture(scope="module")
def model() -> HistGradientBoostingRegressor:
    X, y = load_diabetes(return_X_y=True)
    return HistGradientBoostingRegressor(max_iter=3, max_leaf_nodes=4).fit(X, y)


def _saved(model: HistGradientBoostingRegressor, path: Path) -> Path:
    import_skops_io().dump(model, str(path))
    return path


def test_a_boosting_model_saved_by_us_loads_and_predicts_the_same(
        model: HistGradientBoostingRegressor, tmp_path: Path) -> None:
    loaded = load_skops(_saved(model, tmp_path / "m.skops"), RANKER, "Retrain it.")
    X = load_diabetes(return_X_y=True)[0][:20]
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("left", 10**6, "left child index"),  # beyond the array: an out-of-bounds read
    ("right", 0, "right child index"),  # back to the root: a walk that never ends
    ("feature_idx", 10**4, "reads a feature"),  # beyond the model's 10 features
])
def test_a_tampered_tree_is_refused(model: HistGradientBoostingRegressor, tmp_path: Path,
                                    field: str, value: int, problem: str) -> None:
    import copy

    tampered = copy.deepcopy(model)
    nodes = tampered._predictors[1][0].nodes
    root = int(np.flatnonzero(~nodes["is_leaf"].astype(bool))[0])
    nodes[field][root] = value
    with pytest.raises(ArtifactError, match=problem) as refused:
        load_skops(_saved(tampered, tmp_path / "m.skops"), RANKER, "Retrain it.")
    assert "Retrain it." in str(refused.value)
