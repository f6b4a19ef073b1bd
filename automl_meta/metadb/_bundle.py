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
from sqlalchemy import func, select

from automl_meta._version import __version__
from automl_meta.errors import ArtifactError, DatasetError
from automl_meta.metadb import _schema as s
from automl_meta.metadb._learners import learner_checksums
from automl_meta.metadb._store import MetaDB, Writer, now

MANIFEST = "manifest.json"
BUNDLE_TABLES = ("dataset", "metafeature", "config", "grid", "evaluation", "run")


def export_bundle(db: MetaDB, directory: str | Path, command: str = "",
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write every table of ``db`` as compressed Parquet plus ``manifest.json`` (with the
    checksums of the files under ``learners/`` when the directory has trained learners)."""
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
        # checksums of trained learners already in the directory (see metadb/_learners.py)
        **({"learners": learner_checksums(out)} if (out / "learners").is_dir() else {}),
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


REQUIRED_TABLES = ("dataset", "metafeature", "config", "evaluation")
OPTIONAL_COLUMNS = {"n_rows_used"}  # added by schema v2; a v1 bundle lacks it


def read_bundle_tables(directory: str | Path, verify: bool = True) -> dict[str, pd.DataFrame]:
    """The tables of a bundle as DataFrames, checked against the manifest.

    Every table's file must lie inside the bundle directory (no symlink out of it), match
    its checksum and hold the manifest's row count and the schema's columns; the tables
    ``dataset``, ``metafeature``, ``config`` and ``evaluation`` must be present (``grid``
    and ``run`` are empty when absent). Anything else raises ``ArtifactError``.
    """
    manifest = read_manifest(directory)
    root = Path(directory).resolve()
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise _corrupt(directory, "its manifest has no \"files\" mapping")
    missing = [name for name in REQUIRED_TABLES if name not in files]
    if missing:
        raise _corrupt(directory, f"its manifest lists no {', '.join(missing)} table")
    columns = {t.name: {c.name for c in t.columns} for t in s.TABLES}
    tables = {}
    for name, info in files.items():
        if name not in BUNDLE_TABLES:
            raise _corrupt(directory, f"its manifest lists an unknown table {name!r} "
                           f"(expected {', '.join(BUNDLE_TABLES)})")
        if not isinstance(info, dict) or not isinstance(info.get("sha256"), str) \
                or not isinstance(info.get("rows"), int):
            raise _corrupt(directory, f"the manifest entry of {name} lacks its checksum "
                           "(\"sha256\") or row count (\"rows\")")
        path = _inside(root, info.get("file", f"{name}.parquet"), directory)
        if not path.is_file():
            raise _corrupt(directory, f"it lacks {path.name}, listed in its manifest")
        if verify and _sha256(path) != info["sha256"]:
            raise ArtifactError(
                f"{path} does not match the checksum in its manifest: the file was changed or "
                "truncated. Restore it (e.g. `git checkout meta_db/`) or re-export the bundle."
            )
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise _corrupt(directory, f"{path.name} is not readable Parquet "
                           f"({type(exc).__name__}: {exc})") from exc
        if len(frame) != info["rows"]:
            raise _corrupt(directory, f"{path.name} holds {len(frame)} rows where its "
                           f"manifest says {info['rows']}")
        expected = columns[name] - OPTIONAL_COLUMNS - ({"id"} if name == "evaluation" else set())
        lacking = sorted(expected - set(frame.columns))
        if lacking:
            raise _corrupt(directory, f"{path.name} lacks the column(s) {', '.join(lacking)}")
        tables[name] = frame
    for name in BUNDLE_TABLES:
        if name not in tables:
            tables[name] = pd.DataFrame(columns=sorted(columns[name]))
    return tables


def _inside(root: Path, name: Any, directory: str | Path) -> Path:
    """``root / name``, refused unless it is a plain file name inside ``root``.

    A file that is a symbolic link (a bundle laid out by a package manager, or a test's
    copy) is read: its content must still match the manifest's checksum.
    """
    if not isinstance(name, str) or not name or Path(name).is_absolute() \
            or Path(name).name != name or name in (".", ".."):
        raise _corrupt(directory, f"its manifest names the file {name!r}, which is not a "
                       "plain file name inside the bundle directory")
    return root / name


def _corrupt(directory: str | Path, what: str) -> ArtifactError:
    return ArtifactError(
        f"The bundle {str(directory)!r} is incomplete or corrupt: {what}. Nothing was "
        "imported. Re-export it with `automl-meta db export`, or restore the original."
    )


def import_bundle(db: MetaDB, directory: str | Path) -> dict[str, int]:
    """Merge a bundle into ``db``; ids are remapped, nothing already present is duplicated.

    The bundle is checked whole first (manifest, checksums, row counts, and that every
    evaluation, meta-feature, grid entry and run points at a dataset and configuration of
    the bundle), then imported in one transaction: all of it, or on any error nothing.
    """
    tables = read_bundle_tables(directory)
    _check_references(tables, directory)
    try:
        return db.write(lambda writer: _import(writer, tables))
    except DatasetError as exc:
        raise _corrupt(directory, f"evaluation.parquet holds an invalid score ({exc})") from exc


def _check_references(tables: dict[str, pd.DataFrame], directory: str | Path) -> None:
    datasets = set(pd.to_numeric(tables["dataset"]["id"]).astype(int))
    configs = set(pd.to_numeric(tables["config"]["id"]).astype(int))
    references = [("evaluation", "dataset_id", datasets), ("evaluation", "config_id", configs),
                  ("metafeature", "dataset_id", datasets), ("grid", "config_id", configs),
                  ("run", "dataset_id", datasets)]
    for table, column, known in references:
        values = pd.to_numeric(tables[table][column], errors="coerce")
        unknown = sorted({int(v) for v in values.dropna()} - known)
        if values.isna().any() or unknown:
            shown = ", ".join(map(str, unknown[:5])) or "null"
            raise _corrupt(directory, f"{table}.parquet has {column} {shown} that "
                           f"{'dataset' if column == 'dataset_id' else 'config'}.parquet "
                           "does not hold")


def _none_if_nan(value: Any) -> Any:
    return None if isinstance(value, float) and value != value else value


def _import(w: Writer, tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    count = select(func.count()).select_from(s.evaluation)
    before = int(w.conn.execute(count).scalar_one())
    dataset_ids: dict[int, int] = {}
    for row in tables["dataset"].itertuples(index=False):
        dataset_ids[int(row.id)] = w.add_dataset(
            row.name, row.fingerprint, row.task, row.n_rows, row.n_features, row.n_classes,
            source=_none_if_nan(row.source) or "")
    config_ids: dict[int, int] = {}
    for task, group in tables["config"].groupby("task"):
        new_ids = w.add_configs(str(task), [
            {"algorithm": r.algorithm, "params": json.loads(r.params_json)}
            for r in group.itertuples(index=False)])
        config_ids.update(zip(group["id"].astype(int), new_ids, strict=True))
    for name, group in tables["grid"].groupby("name"):
        ordered = group.sort_values("position")["config_id"].astype(int)
        if not w.grid(str(name)):
            w.set_grid(str(name), [config_ids[c] for c in ordered])
    for dataset_id, group in tables["metafeature"].groupby("dataset_id"):
        target = dataset_ids[int(dataset_id)]
        version = str(group["extractor_version"].iloc[0])
        if w.metafeature_version(target) is None:
            w.add_metafeatures(target, dict(zip(group["name"], group["value"], strict=True)),
                               dict(zip(group["name"], group["seconds"], strict=True)), version)
    for dataset_id, group in tables["evaluation"].groupby("dataset_id"):
        w.add_evaluations(dataset_ids[int(dataset_id)], [{
            "config_id": config_ids[int(r["config_id"])], "protocol": r["protocol"],
            "status": r["status"], "score": _none_if_nan(r["score"]),
            "metrics": {m: _none_if_nan(r[m]) for m in s.METRIC_COLUMNS},
            "fit_seconds": r["fit_seconds"], "predict_seconds": r["predict_seconds"],
            "error": _none_if_nan(r["error"]), "n_rows_used": _none_if_nan(r.get("n_rows_used")),
        } for r in group.to_dict("records")])
    _import_runs(w, tables["run"], dataset_ids, config_ids)
    return {"datasets": len(dataset_ids), "configs": len(config_ids),
            "evaluations_added": int(w.conn.execute(count).scalar_one()) - before}


def _import_runs(w: Writer, runs: pd.DataFrame, dataset_ids: dict[int, int],
                 config_ids: dict[int, int]) -> None:
    existing = {(r[0], r[1], r[2]) for r in w.conn.execute(
        select(s.run.c.dataset_id, s.run.c.kind, s.run.c.started)).all()}
    for r in runs.to_dict("records"):
        key = (dataset_ids[int(r["dataset_id"])], r["kind"], r["started"])
        if key in existing:
            continue
        best = _none_if_nan(r.get("best_config_id"))
        w.add_run(key[0], r["kind"], r["started"], _none_if_nan(r["finished"]),
                  _none_if_nan(r["budget"]),
                  config_ids.get(int(best)) if best is not None else None,
                  _none_if_nan(r["best_score"]), int(r["n_trials"]),
                  json.loads(_none_if_nan(r["notes"]) or "{}"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
