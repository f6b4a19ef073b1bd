"""Parquet bundles: a directory of one Parquet file per table plus a JSON manifest.

A bundle is how meta-knowledge ships (``meta_db/``) and moves between stores. Import is
idempotent: datasets match by fingerprint and configurations by hash, so importing the
same bundle twice, or into a store that already holds part of it, adds only what is new.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from automl_meta._version import __version__
from automl_meta.errors import ArtifactError
from automl_meta.metadb import _schema as s
from automl_meta.metadb._store import MetaDB, _retry, now

MANIFEST = "manifest.json"
BUNDLE_TABLES = ("dataset", "metafeature", "config", "grid", "evaluation", "run")


def export_bundle(db: MetaDB, directory: str | Path, command: str = "",
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write every table of ``db`` as compressed Parquet plus ``manifest.json``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, Any]] = {}
    for name in BUNDLE_TABLES:
        frame = db.table(name)
        if name == "evaluation":
            frame = frame.drop(columns=["id"]).sort_values(["dataset_id", "config_id"])
        path = out / f"{name}.parquet"
        frame.to_parquet(path, index=False, compression="zstd")
        files[name] = {"rows": int(len(frame)), "sha256": _sha256(path)}
    stats = db.stats()
    datasets = db.table("dataset")
    manifest = {
        "format": "automl-meta-bundle",
        "schema_version": s.SCHEMA_VERSION,
        "builder_version": __version__,
        "created_at": now(),
        "command": command,
        "counts": {k: stats[k] for k in ("datasets", "datasets_evaluated",
                                          "datasets_with_metafeatures", "configs",
                                          "evaluations", "failures")},
        "datasets": sorted(datasets["name"].tolist()),
        "algorithms": sorted(stats["configs_per_algorithm"]),
        "files": files,
        **(extra or {}),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a bundle, checked for format and schema version."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise ArtifactError(
            f"No {MANIFEST} in {str(directory)!r}: not an automl-meta bundle. Expected a "
            "directory written by `automl-meta db export`."
        )
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc}); the bundle is corrupt.") from exc
    if manifest.get("format") != "automl-meta-bundle":
        raise ArtifactError(f"{path} is not an automl-meta bundle manifest.")
    if int(manifest.get("schema_version", -1)) > s.SCHEMA_VERSION:
        raise ArtifactError(
            f"The bundle {str(directory)!r} has schema version {manifest['schema_version']}, "
            f"newer than this automl-meta understands ({s.SCHEMA_VERSION}). Upgrade automl-meta."
        )
    return manifest


def read_bundle_tables(directory: str | Path, verify: bool = True) -> dict[str, pd.DataFrame]:
    """The tables of a bundle as DataFrames (checksums verified)."""
    manifest = read_manifest(directory)
    tables = {}
    for name, info in manifest["files"].items():
        path = Path(directory) / f"{name}.parquet"
        if not path.is_file():
            raise ArtifactError(f"The bundle {str(directory)!r} lacks {path.name}.")
        if verify and _sha256(path) != info["sha256"]:
            raise ArtifactError(
                f"{path} does not match the checksum in its manifest: the file was changed or "
                "truncated. Restore it (e.g. `git checkout meta_db/`) or re-export the bundle."
            )
        tables[name] = pd.read_parquet(path)
    return tables


def import_bundle(db: MetaDB, directory: str | Path) -> dict[str, int]:
    """Merge a bundle into ``db``; ids are remapped, nothing already present is duplicated."""
    tables = read_bundle_tables(directory)
    dataset_ids: dict[int, int] = {}
    for row in tables["dataset"].itertuples(index=False):
        dataset_ids[int(row.id)] = db.add_dataset(
            row.name, row.fingerprint, row.task, row.n_rows, row.n_features, row.n_classes,
            source=row.source)
    config_ids: dict[int, int] = {}
    configs = tables["config"]
    for task, group in configs.groupby("task"):
        new_ids = db.add_configs(str(task), [
            {"algorithm": r.algorithm, "params": json.loads(r.params_json)}
            for r in group.itertuples(index=False)])
        config_ids.update(zip(group["id"].astype(int), new_ids, strict=True))
    for name, group in tables["grid"].groupby("name"):
        ordered = group.sort_values("position")["config_id"].astype(int)
        if not db.grid(str(name)):
            db.set_grid(str(name), [config_ids[c] for c in ordered])
    mf = tables["metafeature"]
    for dataset_id, group in mf.groupby("dataset_id"):
        target = dataset_ids[int(dataset_id)]
        version = str(group["extractor_version"].iloc[0])
        if db.metafeature_version(target) is None:
            db.add_metafeatures(target, dict(zip(group["name"], group["value"], strict=True)),
                                dict(zip(group["name"], group["seconds"], strict=True)), version)
    evaluations = tables["evaluation"]
    before = db.stats()["evaluations"]
    for dataset_id, group in evaluations.groupby("dataset_id"):
        rows = [{
            "config_id": config_ids[int(r["config_id"])], "protocol": r["protocol"],
            "status": r["status"], "score": r["score"],
            "metrics": {m: r[m] for m in s.METRIC_COLUMNS},
            "fit_seconds": r["fit_seconds"], "predict_seconds": r["predict_seconds"],
            "error": r["error"], "n_rows_used": r.get("n_rows_used"),
        } for r in group.to_dict("records")]
        for start in range(0, len(rows), 500):
            db.add_evaluations(dataset_ids[int(dataset_id)], rows[start:start + 500])
    _import_runs(db, tables["run"], dataset_ids, config_ids)
    after = db.stats()
    return {"datasets": len(dataset_ids), "configs": len(config_ids),
            "evaluations_added": after["evaluations"] - before}


def _import_runs(db: MetaDB, runs: pd.DataFrame, dataset_ids: dict[int, int],
                 config_ids: dict[int, int]) -> None:
    with db.engine.connect() as conn:
        existing = {(r[0], r[1], r[2]) for r in conn.execute(
            select(s.run.c.dataset_id, s.run.c.kind, s.run.c.started)).all()}
    for r in runs.to_dict("records"):
        key = (dataset_ids[int(r["dataset_id"])], r["kind"], r["started"])
        if key in existing:
            continue
        best = r.get("best_config_id")
        _retry(lambda r=r, key=key, best=best: db.add_run(
            key[0], r["kind"], r["started"], r["finished"], r["budget"],
            config_ids.get(int(best)) if best == best and best is not None else None,
            r["best_score"], int(r["n_trials"]), json.loads(r["notes"] or "{}")))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
