"""Saving a :func:`~automl_meta.fit` result to a directory and loading it back to predict.

The directory holds ``config.json`` (the chosen configuration(s), the metric, and the
feature columns the model reads), ``leaderboard.csv``, ``report.md`` and, when scikit-learn's
safe format can hold the model, ``model.skops``. Nothing is ever pickled: loading checks
every type in ``model.skops`` against an allowlist (scikit-learn, numpy and automl-meta's
own estimators) before anything is built.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from automl_meta.errors import ArtifactError, AutoMLMetaWarning, ConfigurationError

if TYPE_CHECKING:
    from automl_meta.automl import FitResult

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
MODEL_FILE = "model.skops"
TRUSTED_TYPE_PREFIXES = ("sklearn.", "numpy.")
TRUSTED_TYPES = frozenset({
    "automl_meta._ensemble.WeightedEnsemble",
    "automl_meta._label_codes.LabelCodedClassifier",
    "automl_meta.space._capped.NeighborsCappedClassifier",
    "automl_meta.space._capped.NeighborsCappedRegressor",
    "automl_meta.space._capped.RowCappedClassifier",
    "automl_meta.space._capped.RowCappedRegressor",
})


def save_result(result: FitResult, directory: str | Path) -> list[Path]:
    """Write ``config.json``, ``leaderboard.csv``, ``report.md`` and, where scikit-learn's
    safe format can hold it, ``model.skops`` into ``directory``. Never a pickle.

    Returns the paths written. A model skops cannot represent (a PyTorch network) is a
    warning, and ``config.json`` keeps what rebuilds it with ``automl_meta.space.build``.

    Example:
        >>> save_result(fit("sklearn:iris", budget="10s"), "model/")  # doctest: +SKIP
        >>> load_model("model/").predict("new.csv")  # doctest: +SKIP
    """
    from automl_meta._report import render_report
    from automl_meta._version import __version__

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
        from automl_meta.data import load_features

        return load_features(data, self.features, self.categorical)

    def predict(self, data: Any) -> np.ndarray:
        return np.asarray(self.model.predict(self.features_of(data)))

    def predict_proba(self, data: Any) -> np.ndarray:
        """Class probabilities, one column per class of ``classes_``."""
        from automl_meta._metrics import class_scores

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
    import skops.io as sio

    root = Path(directory).expanduser()
    config = _read_config(root)
    path = root / MODEL_FILE
    if not path.is_file():
        why = f" (it could not be saved: {config['model_error']})" if config.get(
            "model_error") else ""
        raise ArtifactError(f"{str(root)!r} has no {MODEL_FILE}{why}. Expected the model "
                            "saved by `automl-meta fit --out`; refit it, or rebuild it from "
                            "config.json with automl_meta.space.build(config, dataset).")
    try:
        untrusted = sio.get_untrusted_types(file=str(path))
    except Exception as exc:
        raise ArtifactError(f"{str(path)!r} is not a readable skops file ({exc}). Expected "
                            "the model.skops written by `automl-meta fit --out`.") from exc
    refused = [t for t in untrusted
               if not t.startswith(TRUSTED_TYPE_PREFIXES) and t not in TRUSTED_TYPES]
    if refused:
        raise ArtifactError(f"Refusing to load {str(path)!r}: it contains types outside the "
                            f"allowlist ({', '.join(refused[:5])}). Expected only "
                            "scikit-learn, numpy and automl-meta estimators; refit the model.")
    try:
        model = sio.load(str(path), trusted=untrusted)
    except Exception as exc:
        raise ArtifactError(f"Could not load {str(path)!r}: {type(exc).__name__}: {exc}. "
                            "It may come from other library versions; refit the model.") \
            from exc
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
    if not isinstance(config, dict) or not config.get("features") or "task" not in config:
        raise ArtifactError(f"{str(path)!r} does not list the model's task and feature "
                            "columns (it was written by an older automl-meta, or edited). "
                            "Refit with `automl-meta fit --out` to save it again.")
    return config
