"""Uploads to the service: body limits, names that cannot escape the data directory, no
pickle ever loaded, clear errors for unknown and broken files."""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")
pytest.importorskip("multipart")

with warnings.catch_warnings():  # starlette's notice about httpx2, raised on import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from automl_meta.metadb import MetaDB  # noqa: E402
from automl_meta.service import create_app  # noqa: E402
from tests.service._api import PMLB, STRATEGIES, TOKEN  # noqa: E402

pytestmark = [
    pytest.mark.skipif(not PMLB.is_dir(), reason=f"needs the shared PMLB datasets at {PMLB}"),
    pytest.mark.filterwarnings("ignore::automl_meta.errors.AutoMLMetaWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


# -- uploads: size, names, formats ---------------------------------------------------------
def test_oversized_bodies_are_413(store: MetaDB, data_dir: Path) -> None:
    app = create_app(store.url, token=TOKEN, data_dir=data_dir, strategies=STRATEGIES,
                     max_upload_bytes=5_000, max_json_bytes=20_000)
    big_csv = b"a,target\n" + b"1,0\n2,1\n" * 5_000
    with TestClient(app) as small:
        response = small.post("/v1/metafeatures", files={"file": ("big.csv", big_csv)})
        assert response.status_code == 413 and "larger than" in response.json()["message"]
        # just over the file limit, but under the multipart allowance: cut while copying
        response = small.post("/v1/metafeatures", files={"file": ("big.csv", big_csv[:6_000])})
        assert response.status_code == 413
        huge = {"metafeatures": {f"m{i}": float(i) for i in range(3_000)},
                "task": "classification"}
        assert small.post("/v1/recommend", json=huge).status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            yield b'{"metafeatures": {'
            for i in range(3_000):
                yield f'"m{i}": {i}, '.encode()
            yield b'"z": 1}, "task": "classification"}'

        response = small.post("/v1/recommend", content=chunks(),
                              headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert small.get("/health").status_code == 200  # and the server is fine


def test_upload_names_cannot_escape_the_data_directory(
        client: TestClient, data_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import automl_meta.service.backend as service_backend

    written: list[Path] = []
    save = service_backend.save_upload

    def spy(*args: Any, **kwargs: Any) -> Path:
        path = save(*args, **kwargs)
        written.append(path)
        return path

    monkeypatch.setattr(service_backend, "save_upload", spy)
    content = (PMLB / "analcatdata_aids.tsv.gz").read_bytes()
    before = set(tmp_path.rglob("*"))
    for name in ("../../etc/passwd.tsv.gz", "..\\..\\windows\\evil.tsv.gz",
                 "/tmp/absolute.tsv.gz", "....//....//x.tsv.gz", "\x00..%2f.tsv.gz"):
        response = client.post("/v1/metafeatures", files={"file": (name, content)})
        assert response.status_code in (200, 415), (name, response.text)
    assert len(written) >= 4
    root = data_dir.resolve()
    assert all(root in path.resolve().parents for path in written)
    assert [p.name for p in written[:2]] == ["passwd.tsv", "evil.tsv"]
    assert not Path("/etc/passwd.tsv.gz").exists() and not Path("/tmp/absolute.tsv.gz").exists()
    assert set(tmp_path.rglob("*")) - before <= {data_dir}  # nothing left behind, nowhere
    assert not any(data_dir.iterdir())


@pytest.mark.parametrize("name", ["model.pkl", "model.pickle", "model.joblib", "x.npy",
                                  "model.pkl.gz", "weights.pt"])
def test_a_pickle_is_never_loaded(client: TestClient, name: str,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the server unpickled an upload")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pd, "read_pickle", refuse)
    payload = b"\x80\x04\x95" + b"\x00" * 64  # the opening of a pickle
    for path in ("/v1/metafeatures", "/v1/recommend"):
        response = client.post(path, files={"file": (name, payload)})
        assert response.status_code == 415, response.text
        assert "arbitrary code" in response.json()["message"]


def test_unknown_and_broken_files_are_clear_4xx(client: TestClient) -> None:
    response = client.post("/v1/metafeatures", files={"file": ("data.xlsx", b"PK\x03\x04")})
    assert response.status_code == 415 and ".csv" in response.json()["message"]
    response = client.post("/v1/metafeatures", files={"file": ("data.csv.gz", b"not gzip")})
    assert response.status_code == 400 and "gzip" in response.json()["message"]
    response = client.post("/v1/metafeatures", files={"file": ("data.parquet", b"nope")})
    assert response.status_code == 400 and "Parquet" in response.json()["message"]
    response = client.post("/v1/metafeatures", files={"file": ("empty.csv", b"")})
    assert response.status_code == 400 and "empty" in response.json()["message"]
