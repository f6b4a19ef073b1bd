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
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from automl_meta._support.safe_skops import SAVED_MODEL, import_skops_io, load_skops
from automl_meta._version import __version__
from automl_meta.automl._report import render_report
from automl_meta.automl._saved_config import CONFIG_FILE, FORMAT_VERSION, MODEL_FILE
from automl_meta.automl._saved_config import read_config as _read_config
from automl_meta.data import load_features
from automl_meta.errors import ArtifactError, AutoMLMetaWarning, ConfigurationError
from automl_meta.evaluation.metrics import class_scores
from automl_meta.space import REGISTRY  # noqa: F401  (declares the algorithms' saved types)
from automl_meta.space._pipeline import unseen_categories

if TYPE_CHECKING:
    from automl_meta.automl._result import FitResult


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
        import_skops_io().dump(result.model, str(model_path))
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
    :class:`~automl_meta.errors.DatasetError` naming it. Values of a categorical column that
    training never saw are encoded as unknown, with one
    :class:`~automl_meta.errors.AutoMLMetaWarning` per call naming the columns and rows.

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
        """One prediction per row of ``data``."""
        return np.asarray(self.model.predict(self._checked_features(data)))

    def predict_proba(self, data: Any) -> np.ndarray:
        """Class probabilities, one column per class of ``classes_``."""
        classes = self.classes_
        scores = class_scores(self.model, self._checked_features(data), classes)
        if scores is None:
            raise ConfigurationError(f"The saved {self.config['best_config']['algorithm']} "
                                     "model gives no class probabilities; use predict.")
        return scores

    def _checked_features(self, data: Any) -> pd.DataFrame:
        """:meth:`features_of`, warning once about categories training never saw."""
        X = self.features_of(data)
        if self.categorical:
            warn_unseen_categories(self.model, X, stacklevel=5)
        return X

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


def warn_unseen_categories(model: Any, X: Any, stacklevel: int = 3) -> None:
    """One warning naming the columns of ``X`` with categories ``model`` never saw."""
    unseen = unseen_categories(model, X)
    if not unseen:
        return
    parts = [f"{column} ({rows} row{'s' if rows != 1 else ''}, e.g. "
             f"{', '.join(repr(str(v)) for v in values)})"
             for column, (rows, values) in list(unseen.items())[:5]]
    more = f" and {len(unseen) - 5} more" if len(unseen) > 5 else ""
    count = f"{len(unseen)} column{'s' if len(unseen) != 1 else ''}"
    warnings.warn(f"{count} had categories not seen in training: {'; '.join(parts)}{more}; "
                  "they were encoded as unknown. Check them for typos, or refit on data "
                  "that has them.", AutoMLMetaWarning, stacklevel=stacklevel)


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
