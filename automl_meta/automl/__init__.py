"""The AutoML run: search from the meta-learners' advice, ensemble, refit, record, save.

:func:`fit` returns a :class:`FitResult`; :func:`save_result` and :func:`load_model` write
and read it as a directory that never needs unpickling; the scikit-learn estimators
:class:`AutoMetaClassifier` and :class:`AutoMetaRegressor` wrap :func:`fit`.

Each name loads its module on first use, so loading a saved model to predict
(:func:`load_model`) does not import the search, the advice or Optuna.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automl_meta.automl._fit import fit
    from automl_meta.automl._result import FitProgress, FitResult, parse_budget
    from automl_meta.automl._saved_model import SavedModel, load_model, save_result
    from automl_meta.automl.estimators import AutoMetaClassifier, AutoMetaRegressor

_LAZY = {
    "AutoMetaClassifier": "automl_meta.automl.estimators",
    "AutoMetaRegressor": "automl_meta.automl.estimators",
    "FitProgress": "automl_meta.automl._result",
    "FitResult": "automl_meta.automl._result",
    "SavedModel": "automl_meta.automl._saved_model",
    "fit": "automl_meta.automl._fit",
    "load_model": "automl_meta.automl._saved_model",
    "parse_budget": "automl_meta.automl._result",
    "save_result": "automl_meta.automl._saved_model",
}

__all__ = ["AutoMetaClassifier", "AutoMetaRegressor", "FitProgress", "FitResult", "SavedModel",
           "fit", "load_model", "parse_budget", "save_result"]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'automl_meta.automl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
