"""Meta-database build throughput: evaluations per second with 1 and 2 loky workers and with
2 workers of a local dask cluster, on the same datasets and grid, in one run.

    python benchmarks/db_build.py [--datasets N]

Prints the rates, the scaling ratios (2 workers / 1 worker) and a markdown snippet for
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

from automl_meta.metadb import BuildSettings, MetaDB, build

PMLB = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "pmlb"
NAMES = ["analcatdata_aids", "analcatdata_asbestos", "analcatdata_bankruptcy", "1027_ESL",
         "1096_FacultySalaries", "192_vineyard", "228_elusage", "analcatdata_cyyoung8092"]
SETTINGS = BuildSettings(configs_per_algorithm=3, protocol="cv3", max_rows=300, chunk_size=8,
                         metafeatures=False,
                         algorithms=("linear", "knn", "svm", "random_forest", "hist_gb"))


def measure(backend: str, jobs: int, paths: list[Path]) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        db = MetaDB(Path(tmp) / "bench.sqlite")
        started = time.perf_counter()
        totals = build(db, paths, SETTINGS, jobs=jobs, backend=backend, progress=False)
        seconds = time.perf_counter() - started
        return totals["ok"] + totals["failed"], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", type=int, default=len(NAMES))
    args = parser.parse_args()
    paths = [PMLB / f"{name}.tsv.gz" for name in NAMES[: args.datasets]]
    runs = [("loky", 1), ("loky", 2), ("dask", 2)]
    rates = {}
    for backend, jobs in runs:
        count, seconds = measure(backend, jobs, paths)
        rates[(backend, jobs)] = count / seconds
        print(f"{backend:>5} x{jobs}: {count} evaluations in {seconds:.1f} s "
              f"= {count / seconds:.2f} /s")
    base = rates[("loky", 1)]
    print("\n| backend | workers | evaluations/s | vs loky x1 |\n|---|---:|---:|---:|")
    for (backend, jobs), rate in rates.items():
        print(f"| {backend} | {jobs} | {rate:.2f} | {rate / base:.2f} |")


if __name__ == "__main__":
    main()
