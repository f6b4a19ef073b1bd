"""One dataset under the benchmark protocol: rows capped with a fixed seed, a fixed split.

Every method sees the same rows: at most ``max_rows`` of them (stratified by class for
classification), split once 75/25 (stratified when every class has two rows). Searches
score configurations by cross-validation on the training part only; the test part scores
the model each method finally chose.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automl_meta.data import Dataset, load_dataset
from automl_meta.evaluation import Protocol

TEST_SIZE = 0.25


@dataclass
class PreparedDataset:
    """A dataset ready for the benchmark.

    ``data`` holds the capped rows; ``split`` is the holdout :class:`Protocol` whose single
    split of ``data`` is (``train``, ``test``), so ``evaluate(config, data, split)`` fits on
    exactly ``train`` and scores on exactly ``test``. ``fingerprint`` is the content hash of
    the whole dataset as loaded, the key the meta-database knows it by.

    Example:
        >>> prepared = prepare_dataset("iris.csv", max_rows=5000, seed=0)  # doctest: +SKIP
        >>> prepared.train.n_rows, prepared.test.n_rows  # doctest: +SKIP
        (112, 38)
    """

    name: str
    path: str
    task: str
    data: Dataset
    train: Dataset
    test: Dataset
    split: Protocol
    n_rows_total: int
    fingerprint: str

    def search_protocol(self, folds: int, seed: int) -> Protocol:
        """The cross-validation protocol searches use on ``train``."""
        return Protocol("cv", n_splits=folds, random_state=seed)


def prepare_dataset(path: str | Path, max_rows: int, seed: int,
                    name: str | None = None) -> PreparedDataset:
    """Load ``path``, cap its rows and split it as the benchmark protocol says."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dropped ID columns, inferred tasks: said elsewhere
        full = load_dataset(path, name=name)
    data = full.subsample(max_rows, random_state=seed)
    split = Protocol("holdout", test_size=TEST_SIZE, random_state=seed)
    train_index, test_index = split.splits(data)[0]
    return PreparedDataset(
        name=full.name, path=str(path), task=full.task, data=data,
        train=rows_of(data, train_index, "train"), test=rows_of(data, test_index, "test"),
        split=split, n_rows_total=full.n_rows, fingerprint=full.fingerprint,
    )


def rows_of(dataset: Dataset, index: np.ndarray, part: str) -> Dataset:
    """The rows ``index`` of ``dataset`` as a dataset of their own."""
    return Dataset(
        X=dataset.X.iloc[index].reset_index(drop=True),
        y=dataset.y.iloc[index].reset_index(drop=True),
        task=dataset.task, name=dataset.name, categorical=list(dataset.categorical),
        numeric=list(dataset.numeric), source=dataset.source,
        fingerprint=f"{dataset.fingerprint}/{part}",
    )
