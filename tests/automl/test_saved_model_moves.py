"""Models saved before our classes moved into packages (issue #20) still load, and the
renaming that makes them load trusts nothing beyond the exact moved classes."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from automl_meta._support.safe_skops import MOVED_CLASSES, SAVED_MODEL, load_skops
from automl_meta.automl._ensemble import WeightedEnsemble
from automl_meta.errors import ArtifactError
from automl_meta.evaluation._label_codes import LabelCodedClassifier


def _rewrite_modules(path: Path, renames: dict[str, str]) -> None:
    """Write ``path`` again with each node's ``__module__`` renamed as ``renames`` says, as
    a file of the previous release names our classes."""
    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    schema = json.loads(entries["schema.json"])

    def visit(node: object) -> None:
        if isinstance(node, dict):
            if node.get("__module__") in renames:
                node["__module__"] = renames[node["__module__"]]
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    entries["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, body in entries.items():
            archive.writestr(name, body)


def _old_style_model(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.where(X[:, 0] > 0, "yes", "no")
    member = LabelCodedClassifier(LogisticRegression()).fit(X, y)
    model = WeightedEnsemble([member, member], [0.5, 0.5], "classification")
    path = tmp_path / "model.skops"
    sio.dump(model, str(path))
    _rewrite_modules(path, {new: old for (old, _), new in MOVED_CLASSES.items()})
    return path, X, model.predict(X)


def test_a_model_naming_the_old_modules_loads_and_predicts_the_same(tmp_path: Path) -> None:
    path, X, expected = _old_style_model(tmp_path)
    schema = zipfile.ZipFile(path).read("schema.json").decode()
    assert '"automl_meta._ensemble"' in schema and '"automl_meta._label_codes"' in schema
    loaded = load_skops(path, SAVED_MODEL, "Refit it.")
    assert isinstance(loaded, WeightedEnsemble)
    assert (loaded.predict(X) == expected).all()


def test_only_the_exact_moved_classes_are_renamed(tmp_path: Path) -> None:
    path, _, _ = _old_style_model(tmp_path)
    # the old module name with another class is no moved class: refused, not renamed
    _rewrite_modules(path, {"automl_meta._label_codes": "automl_meta._lifecycle"})
    with pytest.raises(ArtifactError, match="automl_meta._lifecycle"):
        load_skops(path, SAVED_MODEL, "Refit it.")
