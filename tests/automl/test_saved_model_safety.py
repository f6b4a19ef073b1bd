"""Saved models must not run code: tampered model directories are refused.

Each gadget (see ``tests/_support/_skops_gadgets.py``) hidden in a saved model must be refused
with an ``ArtifactError`` (exit 2 with one line in the CLI) and its marker must not exist; an
edited ``config.json`` is a clear error.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import skops.io as sio

from automl_meta.automl._saved_model import load_model
from automl_meta.errors import ArtifactError
from tests._support._skops_gadgets import (
    _gadgets,
    _main,
    _model,
    _model_dir,
    _nested,
    _one_clear_line,
    _schema_of,
    _write_skops,
)

# --- gadgets in a saved model ---------------------------------------------------------------

GADGET_NAMES = list(_gadgets(Path("/nonexistent")))


@pytest.mark.parametrize("name", GADGET_NAMES)
def test_gadget_model_is_refused_and_runs_nothing(name: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    gadget = _gadgets(marker)[name]
    root = _model_dir(tmp_path / "model")
    schema, base = _nested(gadget)
    _write_skops(root / "model.skops", schema, base=base)
    with pytest.raises(ArtifactError, match="Refusing to load"):
        load_model(root)
    assert not marker.exists()
    # as the root node too, not only hidden inside a real model
    bare = {**gadget, "protocol": schema["protocol"], "_skops_version": "0.16.0"}
    _write_skops(root / "model.skops", bare)
    with pytest.raises(ArtifactError, match="Refusing to load"):
        load_model(root)
    assert not marker.exists()


def test_an_older_skops_protocol_is_refused(tmp_path: Path) -> None:
    root = _model_dir(tmp_path / "model")
    schema = _schema_of(_model())
    schema["protocol"] = 0  # selects skops' older, looser node loaders
    _write_skops(root / "model.skops", schema, base=sio.dumps(_model()))
    with pytest.raises(ArtifactError, match="protocol 0"):
        load_model(root)


def test_a_skops_file_that_is_not_a_zip_is_an_artifact_error(tmp_path: Path) -> None:
    root = _model_dir(tmp_path / "model")
    (root / "model.skops").write_bytes(b"not a zip")
    with pytest.raises(ArtifactError, match="not a readable skops file"):
        load_model(root)


def test_cli_predict_refuses_a_gadget_model_with_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "ran.txt"
    root = _model_dir(tmp_path / "model")
    schema, base = _nested(_gadgets(marker)["numpy runstring (reduce)"])
    _write_skops(root / "model.skops", schema, base=base)
    rows = tmp_path / "rows.csv"
    pd.DataFrame({"a": [0.1, -0.2], "b": [1.0, 2.0]}).to_csv(rows, index=False)
    code, stderr = _main(monkeypatch, capsys, "predict", str(root), str(rows))
    assert code == 2
    _one_clear_line(stderr)
    assert not marker.exists()


@pytest.mark.slow  # a fresh interpreter imports everything: ~10 s on a busy machine
def test_cli_predict_entry_point_refuses_a_gadget_in_a_subprocess(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    root = _model_dir(tmp_path / "model")
    schema, base = _nested(_gadgets(marker)["builtins exec"])
    _write_skops(root / "model.skops", schema, base=base)
    rows = tmp_path / "rows.csv"
    pd.DataFrame({"a": [0.1], "b": [1.0]}).to_csv(rows, index=False)
    done = subprocess.run([sys.executable, "-c", "from automl_meta.cli import main; main()",
                           "predict", str(root), str(rows)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    _one_clear_line(done.stderr)
    assert not marker.exists()


# --- edited config.json ---------------------------------------------------------------------

@pytest.mark.parametrize(("edit", "expected"), [
    ({"features": "a,b"}, "'features' must be a non-empty list"),
    ({"features": [1, 2]}, "'features' must be a non-empty list"),
    ({"features": ["a", "a"]}, "names a column twice"),
    ({"features": ["b", "a"]}, "model was trained on"),
    ({"task": "clustering"}, "'task' is 'clustering'"),
    ({"classes": "01"}, "'classes' must be a list"),
    ({"classes": [1, 0]}, "model predicts"),
    ({"categorical": ["z"]}, "'categorical' must be a list"),
    ({"best_config": None}, "'best_config' must be an object"),
])
def test_an_edited_config_is_a_clear_artifact_error(edit: dict[str, Any], expected: str,
                                                     tmp_path: Path) -> None:
    root = _model_dir(tmp_path / "model", **edit)
    with pytest.raises(ArtifactError, match=expected):
        load_model(root)


def test_an_unedited_config_loads_and_predicts(tmp_path: Path) -> None:
    model = _model()
    root = _model_dir(tmp_path / "model", sio.dumps(model))
    rows = pd.DataFrame({"a": [0.5, -0.5], "b": [0.0, 1.0]})
    assert load_model(root).predict(rows).tolist() == model.predict(rows).tolist()


def test_cli_predict_with_an_edited_config_exits_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = _model_dir(tmp_path / "model", features=[{"name": "a"}, "b"])
    rows = tmp_path / "rows.csv"
    pd.DataFrame({"a": [0.1], "b": [1.0]}).to_csv(rows, index=False)
    code, stderr = _main(monkeypatch, capsys, "predict", str(root), str(rows))
    assert code == 2, stderr
    assert "Traceback" not in stderr and "unexpected" not in stderr
    assert "'features' must be a non-empty list" in " ".join(stderr.split())
