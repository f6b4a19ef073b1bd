"""The Python client and ``recommend(server=...)`` against a live server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")
pytest.importorskip("multipart")

from automl_meta import load_dataset, recommend  # noqa: E402
from automl_meta.errors import ConfigurationError  # noqa: E402
from automl_meta.metadb import MetaDB  # noqa: E402
from automl_meta.metafeatures import extract_metafeatures  # noqa: E402
from automl_meta.service import Client, create_app  # noqa: E402
from tests.conftest import serving
from tests.service._api import PMLB, STRATEGIES, TOKEN, as_json, comparable, counts  # noqa: E402

pytestmark = [
    pytest.mark.skipif(not PMLB.is_dir(), reason=f"needs the shared PMLB datasets at {PMLB}"),
    pytest.mark.filterwarnings("ignore::automl_meta.errors.AutoMLMetaWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


# -- the Python client against a real server ---------------------------------------------
@pytest.fixture
def live_url(store: MetaDB, data_dir: Path) -> Iterator[str]:
    app = create_app(store.url, token=TOKEN, data_dir=data_dir, strategies=STRATEGIES)
    with serving(app) as url:
        yield url


def test_client_against_a_live_server(live_url: str, store: MetaDB) -> None:
    from automl_meta.evaluation import evaluate
    from automl_meta.metalearners import Recommendation
    from automl_meta.space import default_config

    path = PMLB / "1027_ESL.tsv.gz"
    with Client(live_url, token=TOKEN) as client:
        assert client.health()["status"] == "ok"
        assert counts(client.stats()) == counts(store.stats())
        mf = client.metafeatures(path)
        local = extract_metafeatures(load_dataset(path))
        assert as_json(mf.to_dict()) == as_json(local.to_dict())
        recs = client.recommend(metafeatures=mf, task="regression", k=3, strategy="knn")
        assert all(isinstance(r, Recommendation) for r in recs)
        expected = recommend(metafeatures=local, task="regression", k=3, strategy="knn",
                             db=store)
        assert comparable(recs) == comparable(expected)
        frame = pd.read_csv(path, sep="\t")  # sent as Parquet; the task is inferred
        uploaded = client.recommend(data=frame, task="regression", k=2)
        assert comparable(uploaded) == comparable(recommend(frame, task="regression", k=2,
                                                            db=store))

        dataset = load_dataset("sklearn:diabetes")
        result = evaluate(default_config("knn", "regression"), dataset, protocol="cv2")
        answer = client.record(dataset, [result])
        assert answer["evaluations"] == 1
        stats = store.stats()
        client.record(dataset, [result])  # idempotent
        assert counts(store.stats()) == counts(stats)
        row = store.table("evaluation").iloc[-1]
        assert row["protocol"] == result.protocol and row["score"] == pytest.approx(result.score)
    with Client(live_url, token="wrong-token-0123456789abcdef") as intruder, \
            pytest.raises(ConfigurationError, match="401"):
        intruder.record(dataset, [result])
    with Client("http://127.0.0.1:9", retries=0) as nowhere, pytest.raises(
            Exception, match="Could not reach"):
        nowhere.health()


def test_recommend_with_server_asks_the_server(live_url: str, store: MetaDB,
                                               features: dict[str, Any]) -> None:
    import inspect

    if "server" not in inspect.signature(recommend).parameters:
        pytest.skip("automl_meta.recommend(server=...) is not there yet")
    mf = features["classification"]
    remote = recommend(metafeatures=mf, task="classification", k=3, server=live_url)
    local = recommend(metafeatures=mf, task="classification", k=3, db=store)
    assert comparable(remote) == comparable(local)
    path = PMLB / "1027_ESL.tsv.gz"  # extracted here; only the meta-features travel
    assert comparable(recommend(path, k=2, server=live_url)) == comparable(
        recommend(path, k=2, db=store))
