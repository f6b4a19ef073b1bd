"""Every file of the shared datasets loads or is refused with a clear reason (slow).

The files are read in place from ``../shared/datasets``; the test skips without them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from automl_meta import load_dataset
from automl_meta.data import Dataset, ToleratedFormatWarning
from automl_meta.errors import AutoMLMetaError
from tests.conftest import SHARED_DATASETS, requires_shared

# the files strict ARFF refuses and Weka-style readers accept (arff-collection/README)
TOLERATED = ["arff-collection/bank8FM.arff.gz", "arff-collection/bank32nh.arff.gz",
             "arff-collection/delta.ailerons.arff.gz", "arff-collection/delta.elevators.arff.gz",
             "arff-collection/breast.w.arff.gz", "arff-collection/zoo.arff.gz"]
SCHIZO = "pmlb/schizo.tsv.gz"  # a feature named 'target' besides its label 'target'


def _every_file() -> list[Path]:
    if not SHARED_DATASETS.is_dir():
        return []
    return sorted(p for p in SHARED_DATASETS.rglob("*") if p.is_file())


def _load(path: Path) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dropped columns, inferred tasks: not the point here
        return load_dataset(path)


@pytest.mark.slow
@requires_shared
def test_every_shared_file_loads_or_is_refused_clearly() -> None:
    files = _every_file()
    assert len(files) > 300  # pmlb, uci-arff, arff-collection and their indexes
    loaded: list[str] = []
    refused: dict[str, str] = {}
    for path in files:
        name = str(path.relative_to(SHARED_DATASETS))
        try:
            dataset = _load(path)
        except AutoMLMetaError as error:  # any other exception type fails the test
            assert len(str(error)) > 30, (name, str(error))
            refused[name] = str(error)
            continue
        assert dataset.n_rows > 0 and dataset.y.name is not None, name
        assert dataset.y.name not in dataset.X.columns, name
        loaded.append(name)
    assert set(TOLERATED) <= set(loaded), set(TOLERATED) - set(loaded)
    # only files that are no dataset are refused: the README and the index tables
    assert {Path(name).name for name in refused} <= {"README.md", "index.csv"}, refused
    print(f"\n{len(loaded)} loaded, {len(refused)} refused: "
          + "; ".join(f"{name}: {reason[:90]}" for name, reason in sorted(refused.items())))


@pytest.mark.slow
@requires_shared
@pytest.mark.parametrize("name", TOLERATED)
def test_the_six_tolerated_files_load_with_one_warning(name: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_dataset(SHARED_DATASETS / name)
    tolerated = [str(w.message) for w in caught if issubclass(w.category,
                                                               ToleratedFormatWarning)]
    assert len(tolerated) == 1 and tolerated[0].startswith(Path(name).name + ": "), tolerated
    assert dataset.n_rows > 100 and dataset.X.shape[1] >= 5


@pytest.mark.slow
@requires_shared
def test_schizo_loads_with_its_last_target_as_the_label() -> None:
    path = SHARED_DATASETS / SCHIZO
    if not path.is_file():
        pytest.skip(f"{SCHIZO} is not in the shared datasets (tests/data/"
                    "test_tolerated_formats.py covers the same layout on a synthetic file)")
    with pytest.warns(UserWarning, match=r"2 columns are named 'target'"):
        dataset = load_dataset(path)
    assert dataset.y.name == "target.1" and "target" in dataset.X.columns
