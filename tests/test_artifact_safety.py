"""Files we load must not run code: tampered model directories and learner files.

Every gadget below is a skops archive written by hand (a zip holding ``schema.json``)
whose node would, if skops built it, create a marker file. Each must be refused with an
``ArtifactError`` (exit 2 with one line in the CLI) and the marker must not exist. The
allowlists themselves are checked by saving every algorithm of the space and every
skops-saved learner and loading them back.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from automl_meta._support.safe_skops import RANKER, SAVED_MODEL, Allowlist, load_skops
from automl_meta.automl._saved_model import load_model
from automl_meta.errors import ArtifactError

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "meta_db"


# --- building skops files by hand -----------------------------------------------------------

def _schema_of(obj: Any) -> dict[str, Any]:
    return json.loads(zipfile.ZipFile(io.BytesIO(sio.dumps(obj))).read("schema.json"))


def _write_skops(path: Path, schema: dict[str, Any], members: dict[str, bytes] | None = None,
                 base: bytes | None = None) -> Path:
    """A skops archive with ``schema`` (and the array files of ``base``, if given)."""
    with zipfile.ZipFile(path, "w") as archive:
        if base is not None:
            with zipfile.ZipFile(io.BytesIO(base)) as source:
                for name in source.namelist():
                    if name != "schema.json":
                        archive.writestr(name, source.read(name))
        for name, data in (members or {}).items():
            archive.writestr(name, data)
        archive.writestr("schema.json", json.dumps(schema))
    return path


def _json(value: Any) -> dict[str, Any]:
    return {"__class__": type(value).__name__, "__module__": "builtins",
            "__loader__": "JsonNode", "content": json.dumps(value), "is_json": True}


def _tuple(*items: dict[str, Any]) -> dict[str, Any]:
    return {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
            "content": list(items)}


def _str_type() -> dict[str, Any]:
    return {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}


def _dict(**content: dict[str, Any]) -> dict[str, Any]:
    return {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
            "content": content,
            "key_types": {"__class__": "list", "__module__": "builtins",
                          "__loader__": "ListNode", "content": [_str_type() for _ in content]}}


def _call(module: str, name: str, *args: dict[str, Any]) -> dict[str, Any]:
    """A node skops builds by calling ``module.name(*args)``."""
    return {"__class__": name, "__module__": module, "__loader__": "ConstructorFromReduceNode",
            "content": _tuple(*args)}


def _reduce_call(module: str, name: str, *args: dict[str, Any]) -> dict[str, Any]:
    """A reduce node (``LossNode``): skops calls ``module.name(*args)`` as the constructor."""
    return {"__class__": name, "__module__": module, "__loader__": "LossNode",
            "__reduce__": {"args": _tuple(*args)}, "content": _dict()}


def _function(module: str, name: str) -> dict[str, Any]:
    return {"__class__": name, "__module__": module, "__loader__": "FunctionNode"}


def _gadgets(marker: Path) -> dict[str, dict[str, Any]]:
    """Nodes that each create ``marker`` when skops builds (or the model later calls) them."""
    code = f"open({str(marker)!r}, 'w').write('ran')"
    python = [sys.executable, "-c", code]
    return {
        # a numpy function that calls exec, as a reduce node's constructor
        "numpy runstring (reduce)": _reduce_call("numpy.testing._private.utils", "runstring",
                                                 _json(code), _dict()),
        # a scikit-learn function that runs a Python script in a subprocess
        "sklearn run-script (reduce)": _reduce_call(
            "sklearn.utils._testing", "assert_run_python_script_without_output", _json(code),
            _json("^$")),
        "builtins exec": _call("builtins", "exec", _json(code)),
        "builtins eval": _call("builtins", "eval", _json(code)),
        "os.system": _call("os", "system", _json(f"touch {marker}")),
        "subprocess.Popen (a class)": _call("subprocess", "Popen", {
            "__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
            "content": [_json(p) for p in python]}),
        "builtins getattr": _call("builtins", "getattr", _json("os"), _json("system")),
        "operator.methodcaller": {"__class__": "methodcaller", "__module__": "operator",
                                  "__loader__": "OperatorFuncNode",
                                  "attrs": _tuple(_json("system"), _json(f"touch {marker}"))},
        "functools.partial(os.system)": {
            "__class__": "partial", "__module__": "functools", "__loader__": "PartialNode",
            "content": {"func": _function("os", "system"),
                        "args": _tuple(_json(f"touch {marker}")), "kwds": _dict(),
                        "namespace": _json(None)}},
        "numpy function node": _function("numpy.testing._private.utils", "runstring"),
        # a ufunc skops trusts by default, where we expect no function at all
        "numpy ufunc (skops default)": _function("numpy", "add"),
        "method node": {"__class__": "LogisticRegression",
                        "__module__": "sklearn.linear_model._logistic",
                        "__loader__": "MethodNode",
                        "content": {"func": "fit", "obj": {
                            "__class__": "LogisticRegression",
                            "__module__": "sklearn.linear_model._logistic",
                            "__loader__": "ObjectNode", "content": _dict()}}},
        # an estimator skops trusts by default but our saving never writes
        "sklearn estimator (skops default)": {
            "__class__": "TransformedTargetRegressor", "__module__": "sklearn.compose._target",
            "__loader__": "ObjectNode", "content": _dict()},
        "numpy array of a function": {
            "__class__": "runstring", "__module__": "numpy.testing._private.utils",
            "__loader__": "NdArrayNode", "type": "json", "content": [_json(code)],
            "shape": _json([1])},
        "bit generator by name": {
            "__class__": "Generator", "__module__": "numpy.random._generator",
            "__loader__": "RandomGeneratorNode",
            "content": {"bit_generator": _dict(bit_generator=_json("seed")),
                        "seed_seq": _dict()}},
        "defaultdict factory": {
            "__class__": "defaultdict", "__module__": "collections",
            "__loader__": "DefaultDictNode",
            "content": {"main": _dict(), "default_factory": _function("os", "system")}},
    }


def _model(task_features: tuple[str, ...] = ("a", "b")) -> LogisticRegression:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(30, len(task_features))), columns=list(task_features))
    return LogisticRegression().fit(X, (X["a"] > 0).astype(int))


def _model_dir(directory: Path, skops_bytes: bytes | None = None,
               **config: Any) -> Path:
    """A directory ``load_model`` reads: ``config.json`` and ``model.skops``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.skops").write_bytes(skops_bytes or sio.dumps(_model()))
    document = {"format": 1, "task": "classification", "metric": "balanced_accuracy",
                "features": ["a", "b"], "categorical": [], "classes": [0, 1],
                "best_config": {"algorithm": "linear", "params": {}},
                "model_file": "model.skops", "model_error": None, **config}
    (directory / "config.json").write_text(json.dumps(document))
    return directory


def _nested(gadget: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """A real fitted model's schema with ``gadget`` hidden as one of its attributes."""
    base = sio.dumps(_model())
    schema = json.loads(zipfile.ZipFile(io.BytesIO(base)).read("schema.json"))
    schema["content"]["content"]["extra_"] = gadget
    schema["content"]["key_types"]["content"].append(_str_type())
    return schema, base


def _main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
          *args: str) -> tuple[int, str]:
    """Run the CLI entry point in this process: (exit code, stderr)."""
    from automl_meta.cli import main

    monkeypatch.setattr(sys, "argv", ["automl-meta", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return int(exit_info.value.code or 0), capsys.readouterr().err


def _one_clear_line(stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr and "unexpected" not in stderr, stderr
    assert lines and "Refusing to load" in " ".join(lines), stderr


# --- gadgets in a saved model ---------------------------------------------------------------

GADGET_NAMES = list(_gadgets(Path("/nonexistent")))


@pytest.mark.parametrize("name", GADGET_NAMES)
def test_gadget_model_is_refused_and_runs_nothing(name: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    gadget = _gadgets(marker)[name]
    root = _model_dir(tmp_path / "model")
    schema, base = _nested(gadget)
    _write_skops(root / "model.skops", schema, base=base)
    with pytest.raises(ArtifactError, match="Refusing to load"):
        load_model(root)
    assert not marker.exists()
    # as the root node too, not only hidden inside a real model
    bare = {**gadget, "protocol": schema["protocol"], "_skops_version": "0.16.0"}
    _write_skops(root / "model.skops", bare)
    with pytest.raises(ArtifactError, match="Refusing to load"):
        load_model(root)
    assert not marker.exists()


def test_the_gadgets_are_live_under_skops_own_check(tmp_path: Path) -> None:
    """Without our check (trusting what skops reports, as the old prefix rule did), the
    numpy reduce gadget does run: the test above would catch a real regression."""
    marker = tmp_path / "ran.txt"
    schema, base = _nested(_gadgets(marker)["numpy runstring (reduce)"])
    path = _write_skops(tmp_path / "gadget.skops", schema, base=base)
    untrusted = sio.get_untrusted_types(file=str(path))
    assert all(t.startswith(("numpy.", "sklearn.")) for t in untrusted)  # the old allowlist
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # runstring returns None, so building the estimator around it fails, after it ran
        with contextlib.suppress(Exception):
            sio.load(str(path), trusted=untrusted)
    assert marker.read_text() == "ran"


def test_an_older_skops_protocol_is_refused(tmp_path: Path) -> None:
    root = _model_dir(tmp_path / "model")
    schema = _schema_of(_model())
    schema["protocol"] = 0  # selects skops' older, looser node loaders
    _write_skops(root / "model.skops", schema, base=sio.dumps(_model()))
    with pytest.raises(ArtifactError, match="protocol 0"):
        load_model(root)


def test_a_skops_file_that_is_not_a_zip_is_an_artifact_error(tmp_path: Path) -> None:
    root = _model_dir(tmp_path / "model")
    (root / "model.skops").write_bytes(b"not a zip")
    with pytest.raises(ArtifactError, match="not a readable skops file"):
        load_model(root)


def test_an_allowlisted_name_that_is_a_function_is_refused(tmp_path: Path) -> None:
    """Even a name in the allowlist is refused unless it resolves to a class."""
    marker = tmp_path / "ran.txt"
    sneaky = Allowlist("a test artifact", SAVED_MODEL.classes
                       | {"numpy.testing._private.utils.runstring"})
    schema, base = _nested(_gadgets(marker)["numpy runstring (reduce)"])
    path = _write_skops(tmp_path / "gadget.skops", schema, base=base)
    with pytest.raises(ArtifactError, match="not the expected class"):
        load_skops(path, sneaky, "")
    assert not marker.exists()


def test_cli_predict_refuses_a_gadget_model_with_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "ran.txt"
    root = _model_dir(tmp_path / "model")
    schema, base = _nested(_gadgets(marker)["numpy runstring (reduce)"])
    _write_skops(root / "model.skops", schema, base=base)
    rows = tmp_path / "rows.csv"
    pd.DataFrame({"a": [0.1, -0.2], "b": [1.0, 2.0]}).to_csv(rows, index=False)
    code, stderr = _main(monkeypatch, capsys, "predict", str(root), str(rows))
    assert code == 2
    _one_clear_line(stderr)
    assert not marker.exists()


@pytest.mark.slow  # a fresh interpreter imports everything: ~10 s on a busy machine
def test_cli_predict_entry_point_refuses_a_gadget_in_a_subprocess(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    root = _model_dir(tmp_path / "model")
    schema, base = _nested(_gadgets(marker)["builtins exec"])
    _write_skops(root / "model.skops", schema, base=base)
    rows = tmp_path / "rows.csv"
    pd.DataFrame({"a": [0.1], "b": [1.0]}).to_csv(rows, index=False)
    done = subprocess.run([sys.executable, "-c", "from automl_meta.cli import main; main()",
                           "predict", str(root), str(rows)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    _one_clear_line(done.stderr)
    assert not marker.exists()


# --- edited config.json ---------------------------------------------------------------------

@pytest.mark.parametrize(("edit", "expected"), [
    ({"features": "a,b"}, "'features' must be a non-empty list"),
    ({"features": [1, 2]}, "'features' must be a non-empty list"),
    ({"features": ["a", "a"]}, "names a column twice"),
    ({"features": ["b", "a"]}, "model was trained on"),
    ({"task": "clustering"}, "'task' is 'clustering'"),
    ({"classes": "01"}, "'classes' must be a list"),
    ({"classes": [1, 0]}, "model predicts"),
    ({"categorical": ["z"]}, "'categorical' must be a list"),
    ({"best_config": None}, "'best_config' must be an object"),
])
def test_an_edited_config_is_a_clear_artifact_error(edit: dict[str, Any], expected: str,
                                                     tmp_path: Path) -> None:
    root = _model_dir(tmp_path / "model", **edit)
    with pytest.raises(ArtifactError, match=expected):
        load_model(root)


def test_an_unedited_config_loads_and_predicts(tmp_path: Path) -> None:
    model = _model()
    root = _model_dir(tmp_path / "model", sio.dumps(model))
    rows = pd.DataFrame({"a": [0.5, -0.5], "b": [0.0, 1.0]})
    assert load_model(root).predict(rows).tolist() == model.predict(rows).tolist()


def test_cli_predict_with_an_edited_config_exits_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = _model_dir(tmp_path / "model", features=[{"name": "a"}, "b"])
    rows = tmp_path / "rows.csv"
    pd.DataFrame({"a": [0.1], "b": [1.0]}).to_csv(rows, index=False)
    code, stderr = _main(monkeypatch, capsys, "predict", str(root), str(rows))
    assert code == 2, stderr
    assert "Traceback" not in stderr and "unexpected" not in stderr
    assert "'features' must be a non-empty list" in " ".join(stderr.split())


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
    from test_metalearners import _knowledge

    from automl_meta.metadb import MetaDB
    from automl_meta.metadb._bundle import export_bundle
    from automl_meta.metadb._learners import learner_checksums
    from automl_meta.metalearners import RankerLearner, load_learner
    from automl_meta.metalearners._train import train_learners

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
    from test_metalearners import _knowledge

    from automl_meta.metadb import MetaDB
    from automl_meta.metadb._bundle import export_bundle
    from automl_meta.metalearners import RankerLearner, load_learner

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


# --- the allowlists match what our saving produces ------------------------------------------

def _frame(task: str, labels: tuple[Any, ...] | None, columns: list[str]) -> Any:
    from automl_meta.data._load import _from_xy

    rng = np.random.default_rng(0)
    n = 40
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                      "c": rng.choice(["x", "y", "z"], n)})
    X.loc[3, "a"] = np.nan
    y = (pd.Series([labels[i % len(labels)] for i in range(n)]) if labels is not None
         else pd.Series(rng.normal(size=n)))
    return _from_xy(X[columns], y, task, "tiny")


def _check_every_algorithm(task: str, labels: tuple[Any, ...] | None, columns: list[str],
                           tmp_path: Path) -> None:
    from automl_meta.automl._ensemble import WeightedEnsemble
    from automl_meta.evaluation._engine import _learning_label_codes
    from automl_meta.space import REGISTRY, build, default_config

    dataset = _frame(task, labels, columns)
    models = {}
    for algorithm_task, name in REGISTRY:
        if algorithm_task != task or name == "mlp":  # a torch network: skops cannot hold it
            continue
        model = build(default_config(name, task), dataset)
        model = _learning_label_codes(model) if task == "classification" else model
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            models[name] = model.fit(dataset.X, dataset.y)
    members = list(models.values())[:2]
    models["ensemble"] = WeightedEnsemble(members, [0.6, 0.4], task)
    for name, model in models.items():
        path = tmp_path / f"{task}.{name}.skops"
        sio.dump(model, str(path))
        schema = json.loads(zipfile.ZipFile(path).read("schema.json"))
        named = _names(schema)
        outside = named - SAVED_MODEL.classes - SAVED_MODEL.functions
        assert not outside, (f"{task} {name} saves names outside SAVED_MODEL (another "
                             f"scikit-learn version?): {sorted(outside)}")
        assert set(sio.get_untrusted_types(file=str(path))) <= \
            SAVED_MODEL.classes | SAVED_MODEL.functions
        loaded = load_skops(path, SAVED_MODEL, "")
        assert np.array_equal(np.asarray(loaded.predict(dataset.X)),
                              np.asarray(model.predict(dataset.X))), name


def _names(schema: Any) -> set[str]:
    names, stack = set(), [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
            if "__loader__" in item and item["__loader__"] != "JsonNode":
                names.add(f"{item['__module__']}.{item['__class__']}")
    return names


@pytest.mark.parametrize(("task", "labels"), [("classification", ("p", "q", "r")),
                                              ("regression", None)])
def test_every_algorithm_saves_within_the_allowlist_and_loads_back(
        task: str, labels: tuple[Any, ...] | None, tmp_path: Path) -> None:
    _check_every_algorithm(task, labels, ["a", "b", "c"], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(("task", "labels", "columns"), [
    ("classification", (0, 1), ["a", "b", "c"]),
    ("classification", (True, False), ["a", "b"]),
    ("classification", (1.5, 2.5, 3.5), ["c"]),
    ("regression", None, ["a", "b"]),
    ("regression", None, ["c"]),
])
def test_every_algorithm_within_the_allowlist_for_other_labels_and_columns(
        task: str, labels: tuple[Any, ...] | None, columns: list[str], tmp_path: Path) -> None:
    _check_every_algorithm(task, labels, columns, tmp_path)


def test_the_ranker_saves_within_its_allowlist_and_loads_back(tmp_path: Path) -> None:
    from test_metalearners import _knowledge

    from automl_meta.metalearners import RankerLearner, load_learner

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
