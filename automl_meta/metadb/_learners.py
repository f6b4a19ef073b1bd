"""Checksums of a bundle's trained learners (``<bundle>/learners/``) in its manifest.

``db export`` and ``db train`` record the SHA-256 of every file under ``learners/`` in the
bundle's ``manifest.json`` (key ``"learners"``: file name -> checksum), and loading a
learner from a bundle verifies its files against them:

- the shipped bundle (``meta_db/``) must have them: a file missing from the list or not
  matching its checksum is refused;
- any other bundle whose manifest lists learners is verified the same way;
- a learner directory without a manifest, or a bundle exported before learners were
  checksummed, is loaded without this check. What protects it is what protects every
  load: learners are JSON and safetensors (data only) and the ranker's skops files are
  checked node by node against the exact classes the ranker is saved with.

A checksum guards against a changed or swapped file, not against someone who can rewrite
the manifest too; the allowlist is what keeps a crafted file from running code.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from automl_meta.config import shipped_meta_db_dir
from automl_meta.errors import ArtifactError

LEARNERS_DIR = "learners"
MANIFEST = "manifest.json"
MANIFEST_KEY = "learners"


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of the file at ``path``."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def learner_checksums(bundle: str | Path) -> dict[str, str]:
    """``{relative file name: sha256}`` of every file under ``<bundle>/learners/``."""
    directory = Path(bundle) / LEARNERS_DIR
    if not directory.is_dir():
        return {}
    return {path.relative_to(directory).as_posix(): sha256_file(path)
            for path in sorted(directory.rglob("*")) if path.is_file()}


def record_learner_checksums(learners_dir: str | Path) -> bool:
    """Write the checksums of ``learners_dir`` into its bundle's manifest, when it is the
    ``learners/`` directory of a bundle; returns whether it was. The manifest is replaced
    atomically, so an interrupted write leaves the old one."""
    directory = Path(learners_dir)
    manifest_path = directory.parent / MANIFEST
    if directory.name != LEARNERS_DIR or not manifest_path.is_file():
        return False
    manifest = _read(manifest_path)
    manifest[MANIFEST_KEY] = learner_checksums(directory.parent)
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=directory.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, manifest_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def verify_learner_file(path: str | Path) -> None:
    """Refuse with :class:`ArtifactError` a learner file whose bundle's manifest does not
    list it or lists another checksum (see the module docstring for when it applies)."""
    path = Path(path)
    directory = path.parent
    bundle = directory.parent
    shipped = _same(bundle, shipped_meta_db_dir())
    manifest_path = bundle / MANIFEST
    remedy = ("Restore the shipped learners (e.g. `git checkout meta_db/`) or retrain them "
              "with `automl-meta db train`." if shipped else
              "Restore the file, or retrain with `automl-meta db train --out DIR` (which "
              "records the checksums again).")
    if directory.name != LEARNERS_DIR or not manifest_path.is_file():
        if shipped:
            raise ArtifactError(f"Refusing to load {str(path)!r}: the shipped meta-db has no "
                                f"{MANIFEST} to verify it against. {remedy}")
        return
    entries = _read(manifest_path).get(MANIFEST_KEY)
    if entries is None and not shipped:
        return
    if not isinstance(entries, dict):
        raise ArtifactError(f"Refusing to load {str(path)!r}: {manifest_path} lists no "
                            f"checksums of its learners. {remedy}")
    name = path.relative_to(directory).as_posix()
    if name not in entries:
        raise ArtifactError(f"Refusing to load {str(path)!r}: it is not one of the learner "
                            f"files {manifest_path} lists. {remedy}")
    if sha256_file(path) != entries[name]:
        raise ArtifactError(f"Refusing to load {str(path)!r}: it does not match the checksum "
                            f"in {manifest_path} (the file was changed or replaced). {remedy}")


def _read(manifest_path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{manifest_path} is not readable JSON ({exc}); the bundle is "
                            "corrupt. Restore it or re-export it with `automl-meta db "
                            "export`.") from exc
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{manifest_path} is not a bundle manifest (not a JSON object).")
    return manifest


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
