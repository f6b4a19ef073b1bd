"""Reading and checking a saved model's ``config.json``, with nothing heavy imported.

:func:`~automl_meta.automl.load_model` reads the config through :func:`read_config`; the
``predict`` command calls it before it imports scikit-learn and skops, so a directory that
holds no saved model is reported at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from automl_meta.errors import ArtifactError

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
MODEL_FILE = "model.skops"
TASKS = ("classification", "regression")


def read_config(root: Path) -> dict[str, Any]:
    """The checked ``config.json`` of the saved-model directory ``root``.

    Raises:
        ArtifactError: when the file is missing, is not JSON, or lacks the fields and types
            it was written with.
    """
    path = root / CONFIG_FILE
    if not path.is_file():
        raise ArtifactError(f"No saved model at {str(root)!r}: {CONFIG_FILE} is missing. "
                            "Expected a directory written by `automl-meta fit --out DIR`.")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"Cannot read {str(path)!r}: {exc}. Expected the JSON written by "
                            "`automl-meta fit --out`.") from exc
    problem = config_problem(config)
    if problem:
        raise ArtifactError(f"{str(path)!r} is not a valid saved-model config: {problem} (it "
                            "was written by an older automl-meta, or edited). Restore it, or "
                            "refit with `automl-meta fit --out` to save it again.")
    return config


def config_problem(config: Any) -> str | None:
    """What is wrong with a loaded ``config.json`` (``None`` when nothing is)."""
    if not isinstance(config, dict):
        return f"expected a JSON object, got {type(config).__name__}"
    if config.get("task") not in TASKS:
        return f"'task' is {config.get('task')!r}; expected one of {', '.join(TASKS)}"
    features = config.get("features")
    if (not isinstance(features, list) or not features
            or not all(isinstance(f, str) for f in features)):
        return "'features' must be a non-empty list of column names (strings)"
    if len(set(features)) != len(features):
        return "'features' names a column twice"
    categorical = config.get("categorical")
    if categorical is not None and (not isinstance(categorical, list) or not all(
            isinstance(c, str) and c in features for c in categorical)):
        return "'categorical' must be a list of column names from 'features'"
    classes = config.get("classes")
    if config["task"] == "classification" and classes is not None and (
            not isinstance(classes, list) or len(classes) < 2
            or not all(isinstance(c, (str, int, float, bool)) for c in classes)):
        return "'classes' must be a list of at least two labels"
    best = config.get("best_config")
    if not isinstance(best, dict) or not isinstance(best.get("algorithm"), str):
        return "'best_config' must be an object with the 'algorithm' name"
    for key in ("model_error", "model_file"):
        if config.get(key) is not None and not isinstance(config[key], str):
            return f"{key!r} must be a string or null"
    return None
