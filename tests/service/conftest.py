"""Fixtures of the service tests: no shipped bundle and no token in the environment, a
tiny real meta-db built from four PMLB datasets (two classification, two regression) in a
SQLite file, a copy of it per test, a test client of the app on that copy; and iris with its
meta-features for the tests under hostile clients.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")
pytest.importorskip("multipart")

with warnings.catch_warnings():  # starlette's notice about httpx2, raised on import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from automl_meta import load_dataset  # noqa: E402
from automl_meta.metadb import MetaDB, build  # noqa: E402
from automl_meta.metafeatures import extract_metafeatures  # noqa: E402
from automl_meta.service import create_app  # noqa: E402
from tests.service._api import NAMES, PMLB, SETTINGS, STRATEGIES, TOKEN, copy_db  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def no_shipped_bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOML_META_SHIPPED", str(tmp_path_factory.mktemp("no-bundle")))
        patch.delenv("AUTOML_META_TOKEN", raising=False)
        patch.delenv("AUTOML_META_TOKEN_FILE", raising=False)
        yield


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQLite file of the tiny meta-db (built once; copy it before writing)."""
    path = tmp_path_factory.mktemp("built") / "meta.sqlite"
    db = MetaDB(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build(db, [PMLB / f"{n}.tsv.gz" for n in NAMES], SETTINGS, jobs=1, progress=False)
    db.close()
    return path


@pytest.fixture
def store(built: Path, tmp_path: Path) -> MetaDB:
    return MetaDB(copy_db(built, tmp_path / "store.sqlite"))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
def client(store: MetaDB, data_dir: Path) -> Iterator[TestClient]:
    app = create_app(store.url, token=TOKEN, data_dir=data_dir, strategies=STRATEGIES,
                     max_upload_bytes=200_000)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def features() -> dict[str, Any]:
    """Meta-features of one classification and one regression dataset."""
    return {task: extract_metafeatures(load_dataset(PMLB / f"{name}.tsv.gz"))
            for task, name in (("classification", "analcatdata_aids"),
                               ("regression", "1027_ESL"))}


@pytest.fixture(scope="module")
def iris() -> tuple[Any, dict[str, Any]]:
    dataset = load_dataset("sklearn:iris")
    mf = extract_metafeatures(dataset, groups=["general", "statistical"])
    return dataset, {k: (None if not math.isfinite(v) else v) for k, v in mf.to_dict().items()}
