"""Build meta-db v3 (issue #24), resumably, on any machine.

    python scripts/build_meta_db_v3.py --store build/v3.sqlite [--jobs 2]
    python scripts/build_meta_db_v3.py --store build/v3.sqlite --export meta_db/v3-build

A new store starts from what the repository holds: the shipped ``meta_db/`` (meta-db v3
as shipped by ``scripts/ship_meta_db_v3.py``), and, where they exist, ``meta_db/pending/``
and the build's later export ``meta_db/v3-build/`` (each imported once; nothing is
evaluated twice). Then, in stages so that a build stopped at
any point is as useful as it can be (cheapest datasets first within each):

1. the shipped grid (``<task>:n22:s0``, the seven scikit-learn / PyTorch algorithms) on
   the raw ARFF files of ``../shared/datasets/uci-arff`` and ``arff-collection``;
2. the boosting grid (``<task>:n40:s0:lightgbm+xgboost+catboost``: each default plus 40
   random configurations per algorithm), its first 11 per algorithm (the default and 10),
   on every raw ARFF and PMLB file: every algorithm on every dataset;
3. the second fidelity: on the datasets with more than 5,000 rows, up to 10,000 rows of
   them, every algorithm's default and its next 3 grid configurations (40 per dataset),
   stored under protocol ``cv3:s0:r10000``;
4. the rest of the boosting grid on every file.

Every finished evaluation is committed as it ends, so a killed build loses nothing; run the
same command again to continue. ``--export`` writes the store as a bundle (Parquet and a
manifest with checksums) to commit, so the next session resumes from it.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

from automl_meta.metadb import BuildSettings, MetaDB, build
from automl_meta.metadb._bundle import export_bundle, import_bundle

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
SEEDS = [ROOT / "meta_db", ROOT / "meta_db" / "pending", ROOT / "meta_db" / "v3-build"]
BOOSTING = ("lightgbm", "xgboost", "catboost")
COMMAND = "python scripts/build_meta_db_v3.py --store build/v3.sqlite --jobs 2"


def phases() -> list[tuple[str, list[Path], BuildSettings]]:
    raw = sorted((SHARED / "uci-arff").glob("*.arff")) + sorted(
        (SHARED / "arff-collection").glob("*.arff.gz"))
    pmlb = sorted((SHARED / "pmlb").glob("*.tsv.gz"))
    shipped = BuildSettings(configs_per_algorithm=22)
    boosting = BuildSettings(configs_per_algorithm=40, algorithms=BOOSTING)
    larger = {"max_rows": 10_000, "min_rows": 5_000, "per_algorithm": 4}
    return [("shipped grid on the raw ARFF files", raw, shipped),
            ("boosting grid, first 11 per algorithm, on every file", raw + pmlb,
             replace(boosting, per_algorithm=11)),
            ("shipped grid at 10,000 rows on the larger files", raw + pmlb,
             replace(shipped, **larger)),
            ("boosting grid at 10,000 rows on the larger files", raw + pmlb,
             replace(boosting, **larger)),
            ("boosting grid, all of it, on every file", raw + pmlb, boosting)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True, help="SQLite file of the build.")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--export", type=Path, help="Only export the store to this bundle.")
    args = parser.parse_args()
    if not SHARED.is_dir():
        print(f"error: the shared datasets are not at {SHARED}", file=sys.stderr)
        return 2
    fresh = not args.store.exists()
    args.store.parent.mkdir(parents=True, exist_ok=True)
    db = MetaDB(args.store)
    if args.export:
        export_bundle(db, args.export, command=COMMAND)
        print(f"exported {args.store} to {args.export}")
        return 0
    if fresh:
        for bundle in SEEDS:
            if (bundle / "manifest.json").is_file():
                print(f"import {bundle.relative_to(ROOT)}: {import_bundle(db, bundle)}",
                      flush=True)
    retired = db.drop_retired_params()  # a store or an export of an earlier space
    if retired:
        print(f"dropped retired parameters from {retired} stored configurations", flush=True)
    for name, paths, settings in phases():
        started = time.perf_counter()
        print(f"{name}: {len(paths)} files", flush=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            totals = build(db, paths, settings, jobs=args.jobs)
        print(f"{name}: {totals['ok']} ok, {totals['failed']} failed, "
              f"{totals['skipped_datasets']} files skipped "
              f"in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
