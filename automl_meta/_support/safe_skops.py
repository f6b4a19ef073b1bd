"""Loading skops files without letting them run code.

A skops file is a zip archive whose ``schema.json`` describes a tree of nodes; each node
names a loader (``ObjectNode``, ``FunctionNode``, ...) and a ``module.class`` that skops
imports and calls while it builds the object. skops itself trusts some names by default
(every scikit-learn estimator, numpy ufuncs, a few builtins), and a caller that passes
``trusted=get_untrusted_types(...)`` or a prefix trusts whatever the file names. So every
load in automl-meta goes through :func:`load_skops`, which reads ``schema.json`` as plain
JSON and, before skops builds anything:

- accepts only the loaders our own saving produces (never ``MethodNode``,
  ``OperatorFuncNode``, ``DefaultDictNode``, ...) and only the current skops protocol
  (an older protocol selects older, looser loaders);
- accepts a node's ``module.class`` only when it is one of the exact names of the
  artifact's :class:`Allowlist` (never a prefix), a function only when it is one of the
  allowlist's reviewed functions, and checks that every allowed class name resolves to a
  class;
- then asks skops' own audit (``get_untrusted_types``) and refuses anything it reports
  outside the allowlist, and only then calls ``skops.io.load`` with exactly those names.

The allowlists are exact names found by saving every algorithm of the space and every
skops-saved learner: the pipeline's fixed names here, each algorithm's own in its
declaration (``Algorithm.saved_types``); ``tests/automl/test_saved_model_allowlist.py``,
``tests/metalearners/test_learner_files.py`` and the algorithm contract suite save them
again and check that nothing outside the lists appears.

skops is imported through :func:`import_skops_io`, which keeps scikit-learn's
``all_estimators()`` from running during that import: skops calls it only to build its
default trust (every scikit-learn estimator), and it imports every scikit-learn module (and
through them torch) — seconds for a process that only predicts. Our exact allowlist never
relied on that default, so skops' own default trust only shrinks.
"""

from __future__ import annotations

import functools
import importlib
import io
import json
import sys
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from automl_meta.errors import ArtifactError

SCHEMA_FILE = "schema.json"
MAX_SCHEMA_BYTES = 256 * 1024 * 1024  # a zip bomb in schema.json is refused unread

# JsonNode content is only ever ``json.loads``-ed, so its class name is not checked.
_NO_NAME_LOADERS = frozenset({"JsonNode"})
# Every loader our saving produces. Left out on purpose: MethodNode (getattr of any name),
# OperatorFuncNode (attrgetter / methodcaller), DefaultDictNode, SetNode, RandomStateNode,
# SparseMatrixNode and the rest: we never write them. BytesNode only reads a file of the zip
# (the boosting estimators' models).
ALLOWED_LOADERS = frozenset({
    "BytesNode", "CachedNode", "DTypeNode", "DictNode", "FunctionNode", "JsonNode",
    "ListNode", "LossNode",
    "NdArrayNode", "ObjectNode", "PartialNode", "RandomGeneratorNode", "SliceNode",
    "TreeNode", "TupleNode", "TypeNode",
})
# The bit generator a numpy Generator is rebuilt with (skops calls it by name).
ALLOWED_BIT_GENERATORS = frozenset({"PCG64"})


@dataclass(frozen=True)
class Allowlist:
    """The exact ``module.class`` names (and reviewed functions) one kind of artifact may
    hold; ``what`` names the artifact in messages.

    ``classes`` is ``fixed`` plus, when ``declared`` is given, the exact names it yields at
    the time of the check (for a saved model: what the registered algorithms declare).
    """

    what: str
    fixed: frozenset[str]
    functions: frozenset[str] = frozenset()
    declared: Callable[[], Iterable[str]] | None = field(default=None, compare=False)

    @property
    def classes(self) -> frozenset[str]:
        """Every exact class name allowed now."""
        if self.declared is None:
            return self.fixed
        return self.fixed | frozenset(self.declared())


_DATA_TYPES = frozenset({
    "builtins.bytes", "builtins.dict", "builtins.float", "builtins.int", "builtins.list",
    "builtins.slice",
    "builtins.str", "builtins.tuple",
    "numpy.dtype", "numpy.float64", "numpy.int64", "numpy.ndarray", "numpy.uint64",
    "numpy.random._generator.Generator",
})
_HIST_GB_TYPES = frozenset({
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
})

# Sources of the exact class names a saved model's estimators hold: the algorithm space
# declares its own (each Algorithm's ``saved_types``) through declare_saved_model_types, so
# this lower layer never imports the space.
_SAVED_MODEL_SOURCES: list[Callable[[], Iterable[str]]] = []


def declare_saved_model_types(source: Callable[[], Iterable[str]]) -> None:
    """Allow in a saved model the exact class names ``source()`` yields when a model is
    loaded (``automl_meta.space`` declares its registered algorithms' ``saved_types``)."""
    if source not in _SAVED_MODEL_SOURCES:
        _SAVED_MODEL_SOURCES.append(source)


def _declared_saved_model_types() -> Iterator[str]:
    for source in _SAVED_MODEL_SOURCES:
        yield from source()


#: What ``fit --out`` saves: a Pipeline (its preprocessing, the label-coded and ensemble
#: wrappers) around the estimators of the algorithms of the space. The fixed names are the
#: pipeline's; each algorithm declares the classes of its estimator
#: (``automl_meta.space.Algorithm.saved_types``), allowed once ``automl_meta.space`` is
#: imported (``load_model`` and every command that loads a model import it).
SAVED_MODEL = Allowlist("a saved model", _DATA_TYPES | frozenset({
    "automl_meta.automl._ensemble.WeightedEnsemble",
    "automl_meta.evaluation._label_codes.LabelCodedClassifier",
    "functools.partial",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.impute._base.MissingIndicator",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._encoders.OrdinalEncoder",
}), functions=frozenset({
    # HistGradientBoosting's own preprocessing holds partial(check_array, dtype=...,
    # ensure_all_finite=False); check_array only validates and converts an array, whatever
    # keyword arguments a file gives it.
    "sklearn.utils.validation.check_array",
}), declared=_declared_saved_model_types)

#: What the ranker meta-learner saves (``learners/ranker.<task>.skops``).
RANKER = Allowlist("the ranker meta-learner", _DATA_TYPES | _HIST_GB_TYPES)


_SKOPS_IMPORT_LOCK = threading.Lock()


def _no_estimators(*args: Any, **kwargs: Any) -> list[tuple[str, type]]:
    return []


def import_skops_io() -> ModuleType:
    """``skops.io``, imported the first time without scikit-learn's ``all_estimators()``.

    skops builds its default trust (``SKLEARN_ESTIMATOR_TYPE_NAMES``) from
    ``all_estimators()`` when ``skops.io`` is first imported; that walk imports every
    scikit-learn module and, through the array-API shims, torch (2.8 s of the 5 s a load
    took before, on a busy 2-core machine). For that one import both places it is looked
    up return no estimators, so skops trusts no scikit-learn estimator by default: its
    trust only shrinks. Every load here passes the exact names :func:`check_skops` audited
    (all in the allowlist), so our models load the same; a caller using ``skops.io.load``
    directly in the same process must name scikit-learn estimators in ``trusted`` itself.
    When ``skops.io`` was already imported, it is returned as it is. Another thread calling
    ``all_estimators()`` during that import would see an empty list.
    """
    module = sys.modules.get("skops.io")
    if module is not None:
        return module
    import sklearn.utils
    import sklearn.utils.discovery

    with _SKOPS_IMPORT_LOCK:
        patched = [m for m in (sklearn.utils, sklearn.utils.discovery)
                   if "all_estimators" in vars(m)]
        originals = [m.all_estimators for m in patched]
        for owner in patched:
            owner.all_estimators = _no_estimators  # type: ignore[attr-defined]
        try:
            import skops.io
        finally:
            for owner, original in zip(patched, originals, strict=True):
                owner.all_estimators = original  # type: ignore[attr-defined]
    return skops.io


def load_skops(path: str | Path, allowlist: Allowlist, remedy: str) -> Any:
    """The object in the skops file ``path``, refused with :class:`ArtifactError` (whose
    message ends with ``remedy``) unless every node is one ``allowlist`` permits.

    Example:
        >>> load_skops("model/model.skops", SAVED_MODEL, "Refit it.")  # doctest: +SKIP
    """
    sio = import_skops_io()

    path = Path(path)
    try:
        data = path.read_bytes()  # audit and load the same bytes, even if the file changes
    except OSError as exc:
        raise ArtifactError(f"Cannot read {str(path)!r}: {exc.strerror or exc}. {remedy}") \
            from exc
    data = _with_current_module_names(data, path, remedy)
    trusted = check_skops(data, path, allowlist, remedy)
    try:
        loaded = sio.loads(data, trusted=trusted)
    except Exception as exc:
        raise ArtifactError(f"Could not load {str(path)!r}: {type(exc).__name__}: {exc}. It "
                            f"may come from other library versions. {remedy}") from exc
    for predictor, n_features in _tree_predictors(loaded):
        problem = tree_predictor_problem(predictor, n_features)
        if problem:
            raise ArtifactError(f"{str(path)!r} holds a gradient-boosting tree that is not a "
                                f"tree ({problem}): predicting with it could crash or hang "
                                f"the process, so it was refused. {remedy}")
    return loaded


_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"


def _tree_predictors(root: Any) -> Iterator[tuple[Any, int | None]]:
    """Every scikit-learn ``TreePredictor`` reachable from ``root`` through attributes and
    containers (a pipeline's steps, an ensemble's members, a boosting model's trees), with
    the feature count of the estimator holding it (``None`` when none says)."""
    stack: list[tuple[Any, int | None]] = [(root, None)]
    seen: set[int] = set()
    while stack:
        item, n_features = stack.pop()
        if id(item) in seen or item is None or isinstance(item, (str, bytes, int, float)):
            continue
        seen.add(id(item))
        if f"{type(item).__module__}.{type(item).__qualname__}" == _PREDICTOR:
            yield item, n_features
        elif isinstance(item, dict):
            stack.extend((value, n_features) for value in item.values())
        elif isinstance(item, (list, tuple, set)):
            stack.extend((value, n_features) for value in item)
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            own = vars(item)
            count = own.get("n_features_in_", n_features) if "_predictors" in own \
                else n_features
            count = count if isinstance(count, int) else None
            stack.extend((value, count) for value in own.values())


def tree_predictor_problem(predictor: Any, n_features: int | None = None) -> str | None:
    """Why ``predictor`` (a ``TreePredictor`` of a model of ``n_features`` inputs) is unsafe
    to predict with, or ``None``.

    skops does not trust this class by default because its Cython prediction follows the
    node array's child indices and feature numbers without checking them. A tree built by
    scikit-learn stores its nodes in pre-order: each child comes after its parent and
    within the array, which is what is checked here (so the walk always ends in a leaf),
    together with the feature numbers and categorical bitset indices it reads.
    """
    import numpy as np

    nodes = getattr(predictor, "nodes", None)
    names = getattr(getattr(nodes, "dtype", None), "names", None) or ()
    needed = ("left", "right", "is_leaf", "feature_idx", "is_categorical", "bitset_idx")
    if not isinstance(nodes, np.ndarray) or nodes.ndim != 1 or len(nodes) == 0 \
            or not all(name in names for name in needed):
        return "its node array is not a tree's"
    inner = ~nodes["is_leaf"].astype(bool)
    index = np.arange(len(nodes))[inner]
    for side in ("left", "right"):
        child = nodes[side][inner].astype(np.int64)
        if ((child <= index) | (child >= len(nodes))).any():
            return f"a {side} child index points outside the nodes after it"
    features = nodes["feature_idx"][inner].astype(np.int64)
    if (features < 0).any() or (n_features is not None and (features >= n_features).any()):
        return "a split reads a feature the model does not have"
    categorical = inner & nodes["is_categorical"].astype(bool)
    if categorical.any():
        used = nodes["bitset_idx"][categorical].astype(np.int64)
        for name in ("raw_left_cat_bitsets", "binned_left_cat_bitsets"):
            bitsets = getattr(predictor, name, None)
            if bitsets is None or (used < 0).any() or (used >= len(bitsets)).any():
                return "a categorical split reads a bitset the model does not have"
    return None


def check_skops(data: bytes, path: Path, allowlist: Allowlist, remedy: str) -> list[str]:
    """Audit the skops file ``data`` (read from ``path``) without building anything; return
    the names to pass as ``trusted``.

    Raises:
        ArtifactError: when the file is not a readable skops archive, uses another skops
            protocol, or holds a loader or name outside ``allowlist``.
    """
    sio = import_skops_io()
    from skops.io._protocol import PROTOCOL

    schema = _read_schema(data, path, remedy)
    if schema.get("protocol") != PROTOCOL:
        raise ArtifactError(f"Refusing to load {str(path)!r}: it was written with skops "
                            f"protocol {schema.get('protocol')!r}, and this installation reads "
                            f"only protocol {PROTOCOL}. {remedy}")
    names = _audit_nodes(schema, path, allowlist, remedy)
    for name in sorted(names):
        if not _resolves_as(name, function=name in allowlist.functions):
            _refuse(path, allowlist, [name], remedy, "a name that is not the expected class")
    try:
        reported = set(sio.get_untrusted_types(data=data))
    except Exception as exc:
        raise ArtifactError(f"{str(path)!r} is not a readable skops file ({type(exc).__name__}: "
                            f"{exc}). {remedy}") from exc
    outside = sorted(reported - names)
    if outside:
        _refuse(path, allowlist, outside, remedy, "types outside the allowlist")
    return sorted(reported)


# classes of ours that files saved by the previous release name by their old module (they
# moved into packages in issue #20); exact (module, class) pairs, read for one release
MOVED_CLASSES: dict[tuple[str, str], str] = {
    ("automl_meta._ensemble", "WeightedEnsemble"): "automl_meta.automl._ensemble",
    ("automl_meta._label_codes", "LabelCodedClassifier"): "automl_meta.evaluation._label_codes",
}


def _with_current_module_names(data: bytes, path: Path, remedy: str) -> bytes:
    """``data`` with the nodes naming a class of :data:`MOVED_CLASSES` by its old module
    renamed to the current one (and unchanged when no node does), before the audit."""
    schema = _read_schema(data, path, remedy)
    renamed = False

    def visit(node: Any) -> None:
        nonlocal renamed
        if isinstance(node, dict):
            new = MOVED_CLASSES.get((node.get("__module__"), node.get("__class__")))
            if new is not None:
                node["__module__"] = new
                renamed = True
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    if not renamed:
        return data
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as archive, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as rewritten:
        for info in archive.infolist():
            body = json.dumps(schema).encode() if info.filename == SCHEMA_FILE \
                else archive.read(info)
            rewritten.writestr(info, body)
    return out.getvalue()


def _read_schema(data: bytes, path: Path, remedy: str) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo(SCHEMA_FILE)
            if info.file_size > MAX_SCHEMA_BYTES:
                raise ArtifactError(f"Refusing to load {str(path)!r}: its {SCHEMA_FILE} "
                                    f"unpacks to {info.file_size:,} bytes (at most "
                                    f"{MAX_SCHEMA_BYTES:,}). {remedy}")
            schema = json.loads(archive.read(info))
    except ArtifactError:
        raise
    except (OSError, KeyError, ValueError, RecursionError, zipfile.BadZipFile) as exc:
        raise ArtifactError(f"{str(path)!r} is not a readable skops file ({type(exc).__name__}: "
                            f"{exc}). {remedy}") from exc
    if not isinstance(schema, dict):
        raise ArtifactError(f"{str(path)!r} is not a readable skops file (its {SCHEMA_FILE} "
                            f"is not an object). {remedy}")
    return schema


def _audit_nodes(schema: dict[str, Any], path: Path, allowlist: Allowlist,
                 remedy: str) -> set[str]:
    """Every ``module.class`` the nodes of ``schema`` name, each checked against
    ``allowlist``. Every dict anywhere in the JSON is visited, so no node can hide in a
    place this walk does not look at."""
    names: set[str] = set()
    classes = allowlist.classes  # once: a declared allowlist is computed on each read
    stack: list[Any] = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        stack.extend(item.values())
        if "__loader__" not in item:
            continue
        loader = item["__loader__"]
        module, cls = item.get("__module__"), item.get("__class__")
        if not isinstance(loader, str) or loader not in ALLOWED_LOADERS:
            _refuse(path, allowlist, [f"{loader!r} node"], remedy, "a node kind we never save")
        if loader in _NO_NAME_LOADERS:
            continue
        if not isinstance(module, str) or not isinstance(cls, str):
            _refuse(path, allowlist, [f"{loader} without a name"], remedy, "a malformed node")
        name = f"{module}.{cls}"
        allowed = allowlist.functions if loader == "FunctionNode" else classes
        if name not in allowed:
            _refuse(path, allowlist, [name], remedy, "types outside the allowlist")
        if loader == "RandomGeneratorNode":
            _check_bit_generator(item, path, allowlist, remedy)
        names.add(name)
    return names


def _check_bit_generator(node: dict[str, Any], path: Path, allowlist: Allowlist,
                         remedy: str) -> None:
    from skops.io._numpy import RandomGeneratorNode

    try:
        name = RandomGeneratorNode._get_bit_generator_name(node["content"]["bit_generator"])
    except (KeyError, TypeError):
        name = None
    if name not in ALLOWED_BIT_GENERATORS:
        _refuse(path, allowlist, [f"numpy.random.{name}"], remedy, "types outside the allowlist")


@functools.cache
def _resolves_as(name: str, function: bool) -> bool:
    """Whether ``name`` (already in an allowlist, so importing its module is ours to do)
    is a class, or for a reviewed function a plain function."""
    import inspect

    module, _, attribute = name.rpartition(".")
    try:
        value = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError):
        return False
    return inspect.isfunction(value) if function else isinstance(value, type)


def _refuse(path: Path, allowlist: Allowlist, names: list[str], remedy: str,
            why: str) -> None:
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    raise ArtifactError(f"Refusing to load {str(path)!r}: it contains {why} ({shown}). "
                        f"Expected only the exact scikit-learn, numpy and automl-meta classes "
                        f"{allowlist.what} is saved with; nothing in it was run. {remedy}")
