"""Loading datasets from every source into one clean :class:`Dataset`."""

from __future__ import annotations

from automl_meta.data._dataset import TASKS, Dataset
from automl_meta.data._features import load_features
from automl_meta.data._load import dataset_name, iter_datasets, list_datasets, load_dataset
from automl_meta.data._names import ToleratedFormatWarning
from automl_meta.data._prepare import fingerprint, infer_task

__all__ = [
    "TASKS",
    "Dataset",
    "ToleratedFormatWarning",
    "dataset_name",
    "fingerprint",
    "infer_task",
    "iter_datasets",
    "list_datasets",
    "load_dataset",
    "load_features",
]
