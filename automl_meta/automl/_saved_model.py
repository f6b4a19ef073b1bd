"""Saving a :func:`~automl_meta.fit` result to a directory and loading it back to predict.

The directory holds ``config.json`` (the chosen configuration(s), the metric, and the
feature columns the model reads), ``leaderboard.csv``, ``report.md`` and, when scikit-learn's
safe format can hold the model, ``model.skops``. Nothing is ever pickled: loading checks
every node of ``model.skops`` against the exact class names our own saving produces
(:data:`automl_meta._support.safe_skops.SAVED_MODEL`) before anything is built, and checks that
``config.json`` has the fields and types it was written with.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl_meta._support.safe_skops import SAVED_MODEL, load_skops
from automl_meta._version import __version__
from automl_meta.automl._report import render_report
from automl_meta.automl._result import FitResult
from automl_meta.data import load_features
from automl_meta.errors import ArtifactError, AutoMLMetaWarning, ConfigurationError
from automl_meta.evaluation.metrics import class_scores
from automl_meta.space import REGISTRY  # noqa: F401  (declares the algorithms' saved types)

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
MODEL_FILE = "model.skops"
TASKS = ("classification", "regression")


def save_result(result: FitResult, directory: str | Path) -> list[Path]:
    """Write ``config.json``, ``leaderboard.csv``, ``report.md`` and, where scikit-learn's
    safe format can hold it, ``model.skops`` into ``directory``. Never a pickle.

    Returns the paths written. A model skops cannot represent (a PyTorch network) is a
    warning, and ``config.json`` keeps what rebuilds it with ``automl_meta.space.build``.

    Example:
        >>> save_result(fit("sklearn:iris", budget="10s"), "model/")  # doctest: +SKIP
        >>> load_model("model/").predict("new.csv")  # doctest: +SKIP
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    model_path, model_error = out / MODEL_FILE, None
    try:
        import skops.io as sio

        sio.dump(result.model, str(model_path))
    except Exception as exc:  # e.g. a PyTorch module skops cannot represent
        model_error = f"{type(exc).__name__}: {exc}"
        model_path.unlink(missing_ok=True)  # never leave a half-written model behind
        warnings.warn(f"The fitted model could not be saved with skops ({model_error}); "
                      "config.json rebuilds it with automl_meta.space.build(config, dataset).",
                      AutoMLMetaWarning, stacklevel=2)
    classes = getattr(result.model, "classes_", None)
    config_path = out / CONFIG_FILE
    config_path.write_text(json.dumps({
        "format": FORMAT_VERSION, "automl_meta_version": __version__,
        "task": result.task, "metric": result.metric, "best_score": result.best_score,
        "best_config": result.best_config,
        "ensemble": [{"config": c, "weight": w} for c, w in result.ensemble],
        "dataset": result.dataset, "target": result.target, "features": result.features,
        "categorical": result.categorical,
        "classes": None if classes is None else np.asarray(classes).tolist(),
        "n_rows": result.n_rows, "budget": result.budget, "seconds": result.seconds,
        "trials": len(result.leaderboard), "protocol": result.protocol,
        "model_file": None if model_error else MODEL_FILE, "model_error": model_error,
    }, indent=1, default=str) + "\n")
    board_path = out / "leaderboard.csv"
    board = result.leaderboard.copy()
    if "params" in board:
        board["params"] = [json.dumps(p, sort_keys=True, default=str) for p in board["params"]]
    board.to_csv(board_path, index=False)
    report_path = out / "report.md"
    report_path.write_text(render_report(result))
    written = [config_path, board_path, report_path]
    return written if model_error else [*written, model_path]


@dataclass
class SavedModel:
    """A model :func:`save_result` wrote, loaded by :func:`load_model`, ready to predict.

    ``predict`` and ``predict_proba`` take new data as anything
    :func:`~automl_meta.data.load_features` reads (a file, a DataFrame, an array): the label
    column may be absent, extra columns are ignored, and a missing feature column is a
    :class:`~automl_meta.errors.DatasetError` naming it.

    Example:
        >>> saved = load_model("model/")  # doctest: +SKIP
        >>> saved.predict("new.csv")[:3]  # doctest: +SKIP
    """

    model: Any
    config: dict[str, Any]
    directory: Path

    @property
    def task(self) -> str:
        return str(self.config["task"])

    @property
    def features(self) -> list[str]:
        """The feature columns the model was trained on, in order."""
        return list(self.config["features"])

    @property
    def categorical(self) -> list[str]:
        return list(self.config.get("categorical") or [])

    @property
    def classes_(self) -> np.ndarray:
        if self.task != "classification":
            raise ConfigurationError("classes_ is only defined for classification models.")
        return np.asarray(self.model.classes_)

    def features_of(self, data: Any) -> pd.DataFrame:
        """``data``'s feature columns, checked and typed as in training."""
        return load_features(data, self.features, self.categorical)

    def predict(self, data: Any) -> np.ndarray:
        return np.asarray(self.model.predict(self.features_of(data)))

    def predict_proba(self, data: Any) -> np.ndarray:
        """Class probabilities, one column per class of ``classes_``."""
        classes = self.classes_
        scores = class_scores(self.model, self.features_of(data), classes)
        if scores is None:
            raise ConfigurationError(f"The saved {self.config['best_config']['algorithm']} "
                                     "model gives no class probabilities; use predict.")
        return scores

    def prediction_frame(self, data: Any, proba: bool = False) -> pd.DataFrame:
        """Predictions as a table: a ``prediction`` column, or with ``proba`` one column of
        probabilities per class (named by the class)."""
        if not proba:
            return pd.DataFrame({"prediction": self.predict(data)})
        if self.task != "classification":
            raise ConfigurationError("Probabilities (--proba) are only defined for "
                                     "classification models; this one is a regressor.")
        scores = self.predict_proba(data)
        return pd.DataFrame(scores, columns=[str(c) for c in self.classes_])


def load_model(directory: str | Path) -> SavedModel:
    """Load the model that :func:`save_result` (``automl-meta fit --out DIR``) wrote.

    Raises:
        ArtifactError: when the directory, its ``config.json`` or ``model.skops`` is
            missing or unreadable, or the model holds a type outside the allowlist.

    Example:
        >>> saved = load_model("model/")  # doctest: +SKIP
        >>> saved.predict(new_rows)  # doctest: +SKIP
    """
    root = Path(directory).expanduser()
    config = _read_config(root)
    path = root / MODEL_FILE
    if not path.is_file():
        why = f" (it could not be saved: {config['model_error']})" if config.get(
            "model_error") else ""
        raise ArtifactError(f"{str(root)!r} has no {MODEL_FILE}{why}. Expected the model "
                            "saved by `automl-meta fit --out`; refit it, or rebuild it from "
                            "config.json with automl_meta.space.build(config, dataset).")
    model = load_skops(path, SAVED_MODEL, "Refit the model with `automl-meta fit --out`.")
    _check_config_matches(config, model, root / CONFIG_FILE)
    return SavedModel(model=model, config=config, directory=root)


def _read_config(root: Path) -> dict[str, Any]:
    path = root / CONFIG_FILE
    if not path.is_file():
        raise ArtifactError(f"No saved model at {str(root)!r}: {CONFIG_FILE} is missing. "
                            "Expected a directory written by `automl-meta fit --out DIR`.")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"Cannot read {str(path)!r}: {exc}. Expected the JSON written by "
                            "`automl-meta fit --out`.") from exc
    problem = _config_problem(config)
    if problem:
        raise ArtifactError(f"{str(path)!r} is not a valid saved-model config: {problem} (it "
                            "was written by an older automl-meta, or edited). Restore it, or "
                            "refit with `automl-meta fit --out` to save it again.")
    return config


def _config_problem(config: Any) -> str | None:
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


def _check_config_matches(config: dict[str, Any], model: Any, path: Path) -> None:
    """Refuse a ``config.json`` whose features or classes are not the loaded model's."""
    inner = model.members[0] if getattr(model, "members", None) else model
    trained = getattr(inner, "feature_names_in_", None)
    if trained is not None and [str(c) for c in trained] != config["features"]:
        raise ArtifactError(f"{str(path)!r} lists features {config['features'][:5]} but the "
                            "model was trained on "
                            f"{[str(c) for c in trained][:5]} (was config.json edited?). "
                            "Restore it, or refit with `automl-meta fit --out`.")
    classes = getattr(model, "classes_", None) if config["task"] == "classification" else None
    if classes is not None and config.get("classes") is not None and \
            np.asarray(classes).tolist() != config["classes"]:
        raise ArtifactError(f"{str(path)!r} lists classes {config['classes'][:5]} but the "
                            f"model predicts {np.asarray(classes).tolist()[:5]} (was "
                            "config.json edited?). Restore it, or refit with "
                            "`automl-meta fit --out`.")
