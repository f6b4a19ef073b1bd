"""The AutoML run: search from the meta-learners' advice, ensemble, refit, record, save.

:func:`fit` returns a :class:`FitResult`; :func:`save_result` and :func:`load_model` write
and read it as a directory that never needs unpickling; the scikit-learn estimators
:class:`AutoMetaClassifier` and :class:`AutoMetaRegressor` wrap :func:`fit`.
"""

from __future__ import annotations

from automl_meta.automl._fit import fit
from automl_meta.automl._result import FitProgress, FitResult, parse_budget
from automl_meta.automl._saved_model import SavedModel, load_model, save_result
from automl_meta.automl.estimators import AutoMetaClassifier, AutoMetaRegressor

__all__ = ["AutoMetaClassifier", "AutoMetaRegressor", "FitProgress", "FitResult", "SavedModel",
           "fit", "load_model", "parse_budget", "save_result"]
