"""Ship meta-db v3 (issue #24): the build's store as the shipped ``meta_db/`` bundle.

    python scripts/ship_meta_db_v3.py --store build/v3.sqlite [--out meta_db] [--no-train]

1. Rewrites configurations that hold retired parameters (``MetaDB.drop_retired_params``).
2. Exports the store as a bundle into ``--out`` (default ``meta_db/``), its manifest holding
   the build command, the grids (name, size, configurations per algorithm), the stages and
   fidelities run, and the bars of the issue as measured on the bundle.
3. Removes ``<out>/pending/`` (its datasets are in the build) and, unless ``--no-train``,
   fits the meta-learners on the new bundle into ``<out>/learners/`` and re-chooses
   ``auto`` leave-one-dataset-out, as ``automl-meta db train`` does. The neural learner is
   meta-trained apart: ``automl-meta db train-neural``.

The bundle must stay within 25 MB; a larger one is refused before anything is replaced.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from automl_meta.metadb import MetaDB
from automl_meta.metadb._bundle import export_bundle

ROOT = Path(__file__).resolve().parents[1]
BUILD_COMMAND = "python scripts/build_meta_db_v3.py --store build/v3.sqlite --jobs 2"
MAX_BYTES = 25 * 1024 * 1024
BARS = {"datasets_with_metafeatures": 300, "algorithms_per_task": 10, "evaluations": 60_000}


def grid_summary(db: MetaDB) -> dict[str, Any]:
    """Each grid of the store: its size and configurations per algorithm."""
    grids = db.table("grid")
    configs = db.table("config").set_index("id")
    out: dict[str, Any] = {}
    for name, group in grids.groupby("name"):
        algorithms = configs.loc[group["config_id"], "algorithm"].value_counts()
        out[str(name)] = {"size": int(len(group)),
                          "per_algorithm": {str(k): int(v) for k, v in algorithms.items()}}
    return out


def bars(stats: dict[str, Any], size: int) -> dict[str, Any]:
    """The measurable bars of meta-db v3, as this bundle meets them."""
    fewest = min(stats["algorithms_per_task"].values(), default=0)
    return {
        "datasets_with_metafeatures": {"value": stats["datasets_with_metafeatures"],
                                       "at_least": BARS["datasets_with_metafeatures"]},
        "algorithms_per_task": {"value": fewest, "at_least": BARS["algorithms_per_task"]},
        "evaluations": {"value": stats["evaluations"], "at_least": BARS["evaluations"]},
        "bytes": {"value": size, "at_most": MAX_BYTES},
    }


def bundle_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True, help="SQLite file of the build.")
    parser.add_argument("--out", type=Path, default=ROOT / "meta_db")
    parser.add_argument("--no-train", action="store_true", help="Do not fit the learners.")
    args = parser.parse_args()
    if not args.store.is_file():
        print(f"error: no build store at {args.store}; run {BUILD_COMMAND} first",
              file=sys.stderr)
        return 2
    db = MetaDB(args.store)
    db.drop_retired_params()
    stats = db.stats()
    extra = {"grids": grid_summary(db), "evaluations_by_protocol":
             stats["evaluations_by_protocol"], "algorithms_per_task": stats["algorithms_per_task"]}
    with tempfile.TemporaryDirectory(dir=args.out.parent) as scratch:
        staged = Path(scratch) / "bundle"
        export_bundle(db, staged, command=BUILD_COMMAND, extra=extra)
        size = bundle_bytes(staged)
        if size > MAX_BYTES:
            print(f"error: the bundle is {size / 2**20:.1f} MB, over the 25 MB a shipped "
                  "meta-db may take; nothing was replaced", file=sys.stderr)
            return 1
        export_bundle(db, staged, command=BUILD_COMMAND,
                      extra={**extra, "bars": bars(stats, size)})
        if args.out.exists():
            shutil.rmtree(args.out)
        shutil.move(str(staged), str(args.out))
    print(f"shipped {stats['evaluations']:,} evaluations of {stats['datasets']} datasets "
          f"to {args.out} ({bundle_bytes(args.out) / 2**20:.1f} MB)", flush=True)
    if not args.no_train:
        from automl_meta.metalearners import load_knowledge
        from automl_meta.metalearners._train import train_learners

        knowledge = load_knowledge(args.out, user_db=False)
        choice = train_learners(knowledge, args.out / "learners", evaluate=True, progress=True)
        print(f"learners trained on {choice['datasets']} datasets; auto: {choice['auto']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
