"""Learner files must not run code: the shipped manifest's checksums, replaced ranker
files refused (exit 2 in the CLI), the allowlist without a manifest, the checksums that
``db train`` and ``db export`` record, and the ranker's allowlist.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from automl_meta._support.safe_skops import RANKER, load_skops
from automl_meta.errors import ArtifactError
from tests._support._skops_gadgets import (
    SHIPPED,
    _gadgets,
    _main,
    _names,
    _one_clear_line,
    _str_type,
    _write_skops,
)

# --- shipped learners: checksums and gadgets -----------------------------------------------

@pytest.fixture()
def shipped_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of meta_db/ used as the shipped bundle, with an empty user store."""
    bundle = tmp_path / "meta_db"
    shutil.copytree(SHIPPED, bundle)
    monkeypatch.setenv("AUTOML_META_SHIPPED", str(bundle))
    monkeypatch.setenv("AUTOML_META_DB", str(tmp_path / "user.sqlite"))
    from automl_meta.advice import _recommend

    monkeypatch.setattr(_recommend, "_CACHE", {})
    return bundle


def test_shipped_manifest_covers_every_learner_file() -> None:
    from automl_meta.metadb._learners import learner_checksums

    manifest = json.loads((SHIPPED / "manifest.json").read_text())
    assert manifest["learners"] == learner_checksums(SHIPPED)
    assert {"ranker.classification.skops", "ranker.regression.skops", "knn.json",
            "neural.safetensors"} <= set(manifest["learners"])


def test_a_changed_shipped_learner_file_is_refused(shipped_copy: Path) -> None:
    from automl_meta.metalearners import load_learner

    learners = shipped_copy / "learners"
    load_learner(learners / "ranker.json")  # the intact copy loads
    with open(learners / "knn.safetensors", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ArtifactError, match="does not match the checksum"):
        load_learner(learners / "knn.json")
    manifest = json.loads((shipped_copy / "manifest.json").read_text())
    del manifest["learners"]["portfolio.json"]
    (shipped_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="not one of the learner files"):
        load_learner(learners / "portfolio.json")
    del manifest["learners"]
    (shipped_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="lists no checksums"):
        load_learner(learners / "ranker.json")


def _replace_ranker(bundle: Path, marker: Path, gadget: str, fix_manifest: bool) -> None:
    path = bundle / "learners" / "ranker.classification.skops"
    base = path.read_bytes()
    schema = json.loads(zipfile.ZipFile(io.BytesIO(base)).read("schema.json"))
    schema["content"]["content"]["extra_"] = _gadgets(marker)[gadget]
    schema["content"]["key_types"]["content"].append(_str_type())
    _write_skops(path, schema, base=base)
    if fix_manifest:  # an attacker who rewrites the manifest too: the allowlist still holds
        from automl_meta.metadb._learners import record_learner_checksums

        assert record_learner_checksums(bundle / "learners")


@pytest.mark.parametrize(("gadget", "fix_manifest", "expected"), [
    ("builtins exec", False, "does not match the checksum"),
    ("builtins exec", True, "a node kind we never save"),
    ("numpy runstring (reduce)", True, "types outside the allowlist"),
    ("sklearn estimator (skops default)", True, "types outside the allowlist"),
    ("operator.methodcaller", True, "a node kind we never save"),
])
def test_cli_recommend_ranker_refuses_a_replaced_ranker_file(
        gadget: str, fix_manifest: bool, expected: str, shipped_copy: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "ran.txt"
    _replace_ranker(shipped_copy, marker, gadget, fix_manifest)
    code, stderr = _main(monkeypatch, capsys, "recommend", "sklearn:iris", "--strategy",
                         "ranker", "--json")
    assert code == 2, stderr
    _one_clear_line(stderr)
    assert expected in " ".join(stderr.split())
    assert not marker.exists()


def test_a_user_learner_directory_without_manifest_still_gets_the_allowlist(
        tmp_path: Path) -> None:
    from automl_meta.metalearners import load_learner

    mine = tmp_path / "my_learners"
    shutil.copytree(SHIPPED / "learners", mine)
    load_learner(mine / "ranker.json")  # no manifest: loads without a checksum check
    marker = tmp_path / "ran.txt"
    path = mine / "ranker.regression.skops"
    schema, base = json.loads(zipfile.ZipFile(path).read("schema.json")), path.read_bytes()
    schema["content"]["content"]["extra_"] = _gadgets(marker)["numpy runstring (reduce)"]
    schema["content"]["key_types"]["content"].append(_str_type())
    _write_skops(path, schema, base=base)
    with pytest.raises(ArtifactError, match="types outside the allowlist"):
        load_learner(mine / "ranker.json")
    assert not marker.exists()


@pytest.mark.slow  # trains every learner (the neural one for a few steps): ~15 s
def test_train_and_export_record_learner_checksums(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``db train`` (train_learners) into a bundle's learners/ and ``db export`` into a
    directory holding learners both write the checksums the loader verifies."""
    import functools

    from automl_meta.metalearners import neural

    # a few steps of the neural learner: its files, not its quality, are what is checked
    monkeypatch.setattr(neural, "NeuralLearner", functools.partial(
        neural.NeuralLearner, steps=3, members=1, extra_candidates=0))
    from automl_meta.metadb import MetaDB
    from automl_meta.metadb._bundle import export_bundle
    from automl_meta.metadb._learners import learner_checksums
    from automl_meta.metalearners import RankerLearner, load_learner
    from automl_meta.metalearners._train import train_learners
    from tests.metalearners._helpers import _knowledge

    bundle = tmp_path / "bundle"
    export_bundle(MetaDB(f"sqlite:///{tmp_path / 'a.sqlite'}"), bundle)
    assert "learners" not in json.loads((bundle / "manifest.json").read_text())
    knowledge = _knowledge()
    train_learners(knowledge, bundle / "learners", evaluate=False)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["learners"] == learner_checksums(bundle)
    assert "ranker.classification.skops" in manifest["learners"] or \
        "ranker.regression.skops" in manifest["learners"]
    assert isinstance(load_learner(bundle / "learners" / "ranker.json"), RankerLearner)
    (bundle / "learners" / "extra.json").write_text("{}")
    export_bundle(MetaDB(f"sqlite:///{tmp_path / 'a.sqlite'}"), bundle)
    assert "extra.json" in json.loads((bundle / "manifest.json").read_text())["learners"]


def test_export_records_the_checksums_of_learners_beside_it(tmp_path: Path) -> None:
    from automl_meta.metadb import MetaDB
    from automl_meta.metadb._bundle import export_bundle
    from automl_meta.metalearners import RankerLearner, load_learner
    from tests.metalearners._helpers import _knowledge

    bundle = tmp_path / "bundle"
    RankerLearner(max_iter=10).fit(_knowledge()).save(bundle / "learners")
    export_bundle(MetaDB(f"sqlite:///{tmp_path / 'a.sqlite'}"), bundle)
    listed = json.loads((bundle / "manifest.json").read_text())["learners"]
    assert set(listed) == {"ranker.json", "ranker.classification.skops"}
    load_learner(bundle / "learners" / "ranker.json")
    edited = (bundle / "learners" / "ranker.json").read_text()
    assert '"max_iter": 10,' in edited
    (bundle / "learners" / "ranker.json").write_text(
        edited.replace('"max_iter": 10,', '"max_iter": 11,'))
    with pytest.raises(ArtifactError, match="does not match the checksum"):
        load_learner(bundle / "learners" / "ranker.json")


def test_the_ranker_saves_within_its_allowlist_and_loads_back(tmp_path: Path) -> None:
    from automl_meta.metalearners import RankerLearner, load_learner
    from tests.metalearners._helpers import _knowledge

    knowledge = _knowledge()
    learner = RankerLearner(max_iter=20).fit(knowledge)
    learner.save(tmp_path)
    for task in learner.models:
        path = tmp_path / f"ranker.{task}.skops"
        outside = _names(json.loads(zipfile.ZipFile(path).read("schema.json"))) - \
            RANKER.classes
        assert not outside, f"the ranker saves names outside RANKER: {sorted(outside)}"
        assert set(sio.get_untrusted_types(file=str(path))) <= RANKER.classes
    loaded = load_learner(tmp_path / "ranker.json")
    task = next(iter(learner.models))
    query = knowledge.metafeatures.iloc[0].to_dict()
    configs = learner.tasks[task]["candidates"][:5]
    assert np.allclose(loaded.predict(query, task, configs), learner.predict(query, task, configs))
    for path in sorted((SHIPPED / "learners").glob("ranker.*.skops")):
        load_skops(path, RANKER, "")  # the shipped files load under the same allowlist
