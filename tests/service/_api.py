"""Helpers of the service tests on a tiny real meta-db: its datasets and settings, the
token, copies of the store, JSON comparisons, a record payload."""

from __future__ import annotations

import math
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from automl_meta import load_dataset
from automl_meta.metadb import BuildSettings, MetaDB
from automl_meta.metafeatures import EXTRACTOR_VERSION, extract_metafeatures
from tests.conftest import wipe_postgres

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
PMLB = DATASETS / "pmlb"
NAMES = ["analcatdata_aids", "analcatdata_asbestos", "1096_FacultySalaries", "1027_ESL"]
SETTINGS = BuildSettings(configs_per_algorithm=2, protocol="cv2", max_rows=150,
                         algorithms=("linear", "knn"))
TOKEN = "team-token-for-tests-0123456789"
STRATEGIES = ("auto", "knn", "portfolio")  # the ranker and neural fit for seconds


def copy_db(source: Path, target: Path) -> Path:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


def postgres_copy(built: Path, tmp_path: Path) -> str:
    """A wiped PostgreSQL store ($AUTOML_META_TEST_SERVICE_POSTGRES) holding ``built``."""

    from automl_meta.metadb._bundle import export_bundle, import_bundle

    url = os.environ.get("AUTOML_META_TEST_SERVICE_POSTGRES")
    if not url:
        pytest.skip("needs AUTOML_META_TEST_SERVICE_POSTGRES (a PostgreSQL URL it may wipe)")
    wipe_postgres(url)
    source = MetaDB(built)
    export_bundle(source, tmp_path / "bundle")
    source.close()
    target = MetaDB(url)
    import_bundle(target, tmp_path / "bundle")
    target.close()
    return url


def as_json(values: Any) -> Any:
    """What JSON makes of a value: NaN -> None, tuples -> lists."""
    if isinstance(values, dict):
        return {str(k): as_json(v) for k, v in values.items()}
    if isinstance(values, (list, tuple)):
        return [as_json(v) for v in values]
    if isinstance(values, float) and not math.isfinite(values):
        return None
    return values


def comparable(recs: list[Any]) -> list[dict[str, Any]]:
    """Recommendations as plain dicts without the (timing) ``details.seconds``."""
    out = []
    for rec in recs:
        item = as_json(rec if isinstance(rec, dict) else rec.to_dict())
        item["details"] = {k: v for k, v in item["details"].items() if k != "seconds"}
        out.append(item)
    return out


def counts(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stats.items() if k != "bytes"}


def record_payload(n: int = 2, task: str = "classification") -> dict[str, Any]:
    dataset = load_dataset("sklearn:iris")
    mf = extract_metafeatures(dataset, groups=["general"])
    return {
        "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint, "task": task,
                    "n_rows": dataset.n_rows, "n_features": dataset.n_features,
                    "n_classes": dataset.n_classes},
        "metafeatures": as_json(mf.to_dict()), "extractor_version": EXTRACTOR_VERSION,
        "evaluations": [{"config": {"algorithm": "knn", "params": {
            "n_neighbors": 3 + i, "weights": "distance", "p": 2}}, "protocol": "cv3",
            "status": "ok", "metrics": {"balanced_accuracy": 0.9 + i / 100, "accuracy": 0.9},
            "fit_seconds": 0.01} for i in range(n)],
    }


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
