"""automl-meta: hyperparameter meta-learning for tabular machine learning.

Heavy parts (scikit-learn pipelines, Optuna, SQLAlchemy, PyTorch) load only when first
used, so ``import automl_meta`` stays fast and never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from automl_meta._version import __version__
from automl_meta.errors import AutoMLMetaError, AutoMLMetaWarning

_LAZY = {
    "Dataset": "automl_meta.data",
    "load_dataset": "automl_meta.data",
    "evaluate": "automl_meta.evaluation",
    "Evaluation": "automl_meta.evaluation",
    "extract_metafeatures": "automl_meta.metafeatures",
    "MetaFeatures": "automl_meta.metafeatures",
    "MetaDB": "automl_meta.metadb",
    "space": "automl_meta.space",
    "recommend": "automl_meta.advice",
    "Recommendation": "automl_meta.metalearners",
    "warm_start": "automl_meta.advice",
    "MetaSampler": "automl_meta.advice",
    "fit": "automl_meta.automl",
    "FitResult": "automl_meta.automl",
    "FitProgress": "automl_meta.automl",
    "load_model": "automl_meta.automl",
    "SavedModel": "automl_meta.automl",
    "AutoMetaClassifier": "automl_meta.automl",
    "AutoMetaRegressor": "automl_meta.automl",
    "record_evaluations": "automl_meta.metadb._record",
    "Client": "automl_meta.service",
}

_MODULES = {"space"}

__all__ = ["AutoMLMetaError", "AutoMLMetaWarning", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'automl_meta' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if name in _MODULES else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
