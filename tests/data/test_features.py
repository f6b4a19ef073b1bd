"""load_features: new rows typed as in training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl_meta.errors import AutoMLMetaWarning, DatasetError


def test_load_features_types_new_rows_as_in_training_and_names_missing_columns() -> None:
    from automl_meta.data import load_features

    new = pd.DataFrame({"label": ["a", "b", "c"], "colour": [1, 2, None],
                        "size": ["0.5", " 2 ", "big"], "extra": [0, 0, 0]})
    with pytest.warns(AutoMLMetaWarning, match="1 non-numeric values") as caught:
        X = load_features(new, ["size", "colour"], categorical=["colour"], name="new")
    assert not any("treated as categorical" in str(w.message) for w in caught)
    assert list(X.columns) == ["size", "colour"]
    assert X["size"].tolist()[:2] == [0.5, 2.0] and np.isnan(X["size"].iloc[2])
    assert isinstance(X["colour"].dtype, pd.CategoricalDtype)
    assert X["colour"].tolist()[:2] == ["1.0", "2.0"] and pd.isna(X["colour"].iloc[2])
    arrays = load_features(np.arange(6.0).reshape(3, 2), ["x0", "x1"])
    assert arrays["x1"].tolist() == [1.0, 3.0, 5.0]
    with pytest.raises(DatasetError, match=r"lacks 2 of the 3 .*'weight', 'height'"):
        load_features(new, ["size", "weight", "height"], name="new")
