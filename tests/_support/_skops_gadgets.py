"""Building skops files by hand for the artifact-safety tests.

Every gadget is a skops archive written by hand (a zip holding ``schema.json``) whose node
would, if skops built it, create a marker file. Also: a small model and a model directory
``load_model`` reads, the CLI run in-process, and the names a skops schema holds.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

REPO = Path(__file__).resolve().parents[2]
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
