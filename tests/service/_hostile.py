"""Helpers of the tests of the service under hostile clients: the tokens, an app on a
store, a record payload, the store's counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from automl_meta.metadb import MetaDB  # noqa: E402
from automl_meta.metafeatures import EXTRACTOR_VERSION  # noqa: E402
from automl_meta.service import create_app  # noqa: E402

TOKEN = "write-token-for-tests-0123456789"
READ = "read-token-for-tests-0123456789"
STRATEGIES = ("auto", "knn", "portfolio")


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def app_for(path: Path | str, **kwargs: Any) -> Any:
    kwargs.setdefault("token", TOKEN)
    return create_app(path, strategies=STRATEGIES, warm_up=False, **kwargs)


def payload(iris: tuple[Any, dict[str, Any]], n: int = 2, *, metafeatures: bool = True,
            task: str = "classification") -> dict[str, Any]:
    dataset, mf = iris
    body: dict[str, Any] = {
        "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint, "task": task,
                    "n_rows": dataset.n_rows, "n_features": dataset.n_features,
                    "n_classes": dataset.n_classes},
        "evaluations": [{"config": {"algorithm": "linear", "params": {
            "C": round(0.01 + i * 0.001, 6), "class_weight": None}}, "protocol": "cv3",
            "status": "ok", "metrics": {"balanced_accuracy": 0.5 + (i % 500) / 1000,
                                        "accuracy": 0.9}, "fit_seconds": 0.01}
            for i in range(n)]}
    if task == "regression":
        for row in body["evaluations"]:
            row["config"]["params"] = {"alpha": row["config"]["params"]["C"]}
            row["metrics"] = {"r2": 0.5}
    if metafeatures:
        body["metafeatures"] = mf
        body["extractor_version"] = EXTRACTOR_VERSION
    return body


def counts(store: MetaDB) -> tuple[int, int, int]:
    stats = store.stats()
    return stats["datasets"], stats["configs"], stats["evaluations"]
