"""The sources ``load_dataset`` takes besides files: frames, arrays, datasets,
scikit-learn and OpenML names (OpenML offline, from a cached copy)."""

from __future__ import annotations

import socket
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from automl_meta import AutoMLMetaError, AutoMLMetaWarning, load_dataset
from automl_meta.errors import DatasetError, NetworkError
from tests.data._helpers import _check_clean, _frame


def test_unsupported_source_type() -> None:
    with pytest.raises(DatasetError, match=r"Cannot load a dataset from a list"):
        load_dataset([[1, 2], [3, 4]])


def test_xy_length_mismatch() -> None:
    with pytest.raises(DatasetError, match="X has 5 rows but y has 4"):
        load_dataset((np.zeros((5, 2)), np.zeros(4)))


def test_xy_multi_output_target() -> None:
    with pytest.raises(DatasetError, match=r"y has shape \(30, 2\).*one label per row"):
        load_dataset((np.zeros((30, 2)), np.zeros((30, 2))))


def test_complex_feature_is_an_error() -> None:
    frame = pd.DataFrame({"z": np.arange(30) + 1j, "target": [0, 1] * 15})
    with pytest.raises(DatasetError, match="'z'.*complex numbers"):
        load_dataset(frame, task="classification")


def test_unknown_sklearn_dataset_suggests_names() -> None:
    with pytest.raises(DatasetError, match=r"sklearn:iriss is not.*Did you mean: 'iris'"):
        load_dataset("sklearn:iriss")


def test_bad_openml_id() -> None:
    with pytest.raises(DatasetError, match="not an OpenML dataset ID"):
        load_dataset("openml:iris")


# ---------------------------------------------------------------- openml, offline


def test_openml_without_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openml", None)  # makes `import openml` fail
    with pytest.raises(DatasetError, match="needs the openml package"):
        load_dataset("openml:61")


def _block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError("network access is blocked in this test")

    def no_dns(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror("name resolution is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)


@pytest.fixture
def offline_openml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """openml with an empty cache in ``tmp_path``, one try per request, no network."""
    openml = pytest.importorskip("openml")
    _block_network(monkeypatch)
    monkeypatch.setattr(openml.config, "_root_cache_directory", tmp_path / "openml-cache")
    monkeypatch.setattr(openml.config, "connection_n_retries", 1)
    return openml


def test_openml_download_failure_is_a_network_error(
    offline_openml: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("simulated: the server is unreachable")

    monkeypatch.setattr(offline_openml.datasets, "get_dataset", fail)
    with pytest.raises(NetworkError, match=r"openml:61.*not reachable.*cached copy"):
        load_dataset("openml:61")


def test_openml_with_empty_cache_and_no_network(offline_openml: Any) -> None:
    # the real openml code path: nothing cached, every connection refused
    with pytest.raises(NetworkError, match=r"openml:61.*not reachable") as info:
        load_dataset("openml:61")
    assert isinstance(info.value, AutoMLMetaError)
    assert str(offline_openml.config.get_cache_directory()) in str(info.value)


def _fake_openml_cache(openml: Any, dataset_id: int, target: str = "class") -> None:
    """Write what openml caches after a download: the description XML and the ARFF file."""
    directory = Path(openml.config.get_cache_directory()) / "datasets" / str(dataset_id)
    directory.mkdir(parents=True)
    (directory / "description.xml").write_text(
        '<oml:data_set_description xmlns:oml="http://openml.org/openml">\n'
        f"<oml:id>{dataset_id}</oml:id><oml:name>tiny-offline</oml:name>"
        "<oml:version>1</oml:version><oml:format>ARFF</oml:format>"
        f"<oml:url>https://openml.invalid/data/{dataset_id}.arff</oml:url>"
        f"<oml:default_target_attribute>{target}</oml:default_target_attribute>"
        "<oml:status>active</oml:status>\n</oml:data_set_description>\n",
        encoding="utf-8",
    )
    rows = "".join(
        f"{'?' if i == 4 else (i * 3) % 7 + 0.5},{'ab'[i % 2]},{'yes' if i % 3 else 'no'}\n"
        for i in range(30)
    )
    (directory / "dataset.arff").write_text(
        "@relation tiny\n@attribute x numeric\n@attribute colour {a,b}\n"
        "@attribute class {yes,no}\n@data\n" + rows,
        encoding="utf-8",
    )


def test_openml_loads_offline_from_a_cached_copy(offline_openml: Any) -> None:
    _fake_openml_cache(offline_openml, 990001)
    with pytest.warns(AutoMLMetaWarning, match="Inferred task 'classification'"):
        ds = load_dataset("openml:990001")
    assert ds.name == "tiny-offline"
    assert ds.source == "openml:990001"
    assert (ds.n_rows, ds.n_features, ds.task) == (30, 2, "classification")
    assert ds.y.value_counts().to_dict() == {"yes": 20, "no": 10}
    assert ds.categorical == ["colour"]
    assert ds.X["x"].isna().sum() == 1


def test_openml_cached_copy_with_unknown_target(offline_openml: Any) -> None:
    _fake_openml_cache(offline_openml, 990002)
    with pytest.raises(DatasetError, match=r"'Class' not found.*Did you mean: 'class'"):
        load_dataset("openml:990002", target="Class")


def test_dataframe_with_target() -> None:
    frame = _frame()
    ds = load_dataset(frame, task="classification", name="mine")
    _check_clean(ds)
    assert (ds.name, ds.source) == ("mine", "dataframe")
    assert ds.numeric == ["num", "count"]
    assert ds.categorical == ["colour"]
    assert ds.y.tolist() == frame["target"].tolist()
    assert list(frame.columns) == ["num", "count", "colour", "target"]  # input untouched


def test_numpy_xy() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 3))
    y = rng.normal(size=50)
    with pytest.warns(AutoMLMetaWarning, match="Inferred task 'regression'"):
        ds = load_dataset((X, y))
    _check_clean(ds)
    assert list(ds.X.columns) == ["x0", "x1", "x2"]
    assert ds.y.name == "target"
    np.testing.assert_array_equal(ds.X.to_numpy(), X)
    np.testing.assert_array_equal(ds.y.to_numpy(), y)


def test_dataframe_xy_keeps_column_names() -> None:
    frame = _frame()
    ds = load_dataset((frame.drop(columns="target"), frame["target"]), task="classification")
    assert list(ds.X.columns) == ["num", "count", "colour"]
    assert ds.y.name == "target"


def test_existing_dataset_is_returned_as_is() -> None:
    ds = load_dataset(_frame(), task="classification")
    assert load_dataset(ds) is ds


def test_sklearn_iris() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", AutoMLMetaWarning)  # the task is known: no warning
        ds = load_dataset("sklearn:iris")
    _check_clean(ds)
    assert (ds.n_rows, ds.n_features, ds.task, ds.n_classes) == (150, 4, "classification", 3)
    assert ds.source == "sklearn:iris"


def test_sklearn_diabetes() -> None:
    ds = load_dataset("sklearn:diabetes")
    _check_clean(ds)
    assert (ds.n_rows, ds.n_features, ds.task) == (442, 10, "regression")
