"""Helpers of the meta-database tests: the PMLB datasets, a fast build, the cells
of a store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from automl_meta.metadb import BuildSettings, MetaDB

PMLB = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "pmlb"
POSTGRES_URL = os.environ.get("AUTOML_META_TEST_POSTGRES")
SMALL = ["analcatdata_aids", "1096_FacultySalaries"]  # one classification, one regression
FAST = BuildSettings(configs_per_algorithm=2, protocol="cv2", max_rows=120, time_limit=60,
                     chunk_size=3, metafeatures=False, algorithms=("linear", "knn"))

requires_pmlb = pytest.mark.skipif(not PMLB.is_dir(),
                                   reason=f"needs the shared PMLB datasets at {PMLB}")


def _paths() -> list[Path]:
    return [PMLB / f"{name}.tsv.gz" for name in SMALL]


def _cells(db: MetaDB) -> list[tuple[str, str, str, str, float | None]]:
    evaluations = db.table("evaluation")
    datasets = db.table("dataset").set_index("id")["fingerprint"]
    configs = db.table("config").set_index("id")["hash"]
    return sorted(
        (datasets[r.dataset_id], configs[r.config_id], r.protocol, r.status,
         None if r.score != r.score else round(float(r.score), 10))
        for r in evaluations.itertuples()
    )
