"""The package's imports run one way: a walk of every module's ``import`` statements.

Each module of ``automl_meta`` belongs to a layer (:data:`LAYERS`, lowest first) and may
import only from its own layer or lower ones; the modules' import graph has no cycle; and an
import of one of our modules inside a function must defer an optional or heavy package
(:data:`HEAVY`) that the importing module does not load anyway — the test works out which
from the top-level imports, and names it. Any other function-level import only hides a
cycle or saves nothing; :data:`FUNCTION_LEVEL_ALLOWED` may give another reason by hand.

What counts as an import edge:

- every ``import`` / ``from ... import`` statement, at module level, in a class body or
  inside a function, relative ones resolved;
- ``from automl_meta.x import y`` goes to ``automl_meta.x.y`` when that is a module, else to
  ``automl_meta.x`` — except that a name a package's ``_LAZY`` map resolves (the root's and
  ``service``'s lazy attributes) goes to the module the map names, which is where it comes
  from when it loads;
- imports under ``if TYPE_CHECKING:`` do not count: they never run, so they can neither
  close a cycle nor load a layer; annotations may name a higher layer's types;
- a ``_LAZY`` map itself (strings) and ``importlib.import_module(variable)`` are not edges.

The deprecation shims (``optuna_integration``, ``estimators``, ``benchmark/``) re-export
from above by design and are not checked as importers; importing one from inside the
package is an upward edge, though (its layer is above everything).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import automl_meta

PACKAGE_DIR = Path(automl_meta.__file__).parent
ROOT = PACKAGE_DIR.parent

SHIM_LAYER = 99
# longest prefix wins; a module no prefix covers fails test_every_module_has_a_layer
LAYERS: dict[str, int] = {
    "automl_meta": 0,  # the root's face: __init__, errors, config, _version
    "automl_meta._support": 0,
    "automl_meta.data": 1,
    "automl_meta.space": 2,
    "automl_meta.metafeatures": 2,
    "automl_meta.evaluation": 3,
    "automl_meta.metadb": 4,
    "automl_meta.metalearners": 5,
    "automl_meta.service": 6,  # __init__ imports nothing; its lazy names resolve per module
    "automl_meta.service.client": 6,
    "automl_meta.service.schemas": 6,
    "automl_meta.advice": 7,
    "automl_meta.automl": 8,
    "automl_meta.service.app": 9,
    "automl_meta.service.backend": 9,
    "automl_meta.service.auth": 9,
    "automl_meta.service.limits": 9,
    "automl_meta.service.uploads": 9,
    "automl_meta.harness": 10,
    "automl_meta.cli": 11,
    # deprecation shims: never checked as importers, and nothing inside may import them
    "automl_meta.optuna_integration": SHIM_LAYER,
    "automl_meta.estimators": SHIM_LAYER,
    "automl_meta.benchmark": SHIM_LAYER,
}
LAYER_ORDER = """0 automl_meta root (__init__, errors, config, _version), _support
1 data   2 space, metafeatures   3 evaluation   4 metadb   5 metalearners
6 service.client, service.schemas   7 advice   8 automl
9 service (app, backend, auth, limits, uploads)   10 harness   11 cli"""

# Packages worth deferring: optional extras, or slow to import (numpy and pandas count, so
# that `automl-meta --help` stays free of them).
HEAVY = frozenset({
    "numpy", "pandas", "scipy", "sklearn", "optuna", "sqlalchemy", "torch", "fastapi",
    "starlette", "uvicorn", "httpx", "multipart", "pydantic", "lightgbm", "xgboost",
    "catboost", "skops", "safetensors", "pyarrow", "joblib", "loky", "dask", "ray",
    "matplotlib", "openml", "flaml", "arff",
})

# (importer, imported) -> a reason, by hand, for a function-level import the heavy-package
# rule does not see.
FUNCTION_LEVEL_ALLOWED: dict[tuple[str, str], str] = {
    ("automl_meta.cli.serve", "automl_meta.service.auth"):
        "hmac and hashlib (OpenSSL) cost every CLI start some 7 ms; only serve needs them",
}

# Known exceptions to the rules, each with what would fix it; empty since the layout of
# issue #20 (test_known_edges_still_occur says when an entry is no longer needed).
KNOWN_OWN_PACKAGE: dict[tuple[str, str], str] = {}
KNOWN_UPWARD: dict[tuple[str, str], str] = {}
KNOWN_CYCLE_EDGES: dict[tuple[str, str], str] = {}
KNOWN_FUNCTION_LEVEL: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Edge:
    """One import of an automl_meta module by another."""

    source: str
    target: str
    path: Path
    line: int
    in_function: bool

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def __str__(self) -> str:
        return f"{self.where}: {self.source} -> {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}
PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"}


def _lazy_map(path: Path) -> dict[str, str]:
    """A package ``__init__``'s ``_LAZY = {"name": "module", ...}`` literal, if any."""
    for node in ast.parse(path.read_text()).body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_LAZY"
                                                 for t in node.targets)):
            value = ast.literal_eval(node.value)
            return {str(k): str(v) for k, v in value.items()}
    return {}


LAZY = {name: _lazy_map(MODULES[name]) for name in PACKAGES}


def layer_of(module: str) -> int | None:
    """The layer of ``module`` by the longest prefix of :data:`LAYERS` that covers it."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return LAYERS[prefix]
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import node that runs, with whether it sits inside a function."""

    def walk(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom,
                                                                  bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    yield from walk(other, in_function)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_function
            yield from walk(child, in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    yield from walk(tree, False)


def _resolve_from(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if module in PACKAGES else module.rpartition(".")[0]
    base = package.split(".")
    if node.level > 1:
        base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] == "automl_meta":
                yield alias.name
        return
    base = _resolve_from(module, node)
    if base.split(".")[0] != "automl_meta":
        return
    for alias in node.names:
        child = f"{base}.{alias.name}"
        if child in MODULES:
            yield child
        elif alias.name in LAZY.get(base, {}):
            yield LAZY[base][alias.name]
        else:
            yield base


def _edges() -> list[Edge]:
    edges = []
    for module, path in MODULES.items():
        for node, in_function in _imports(ast.parse(path.read_text(), str(path))):
            for target in _targets(module, node):
                if target != module:
                    edges.append(Edge(module, target, path, node.lineno, in_function))
    return edges


EDGES = _edges()


def _third_party(path: Path) -> set[str]:
    """The heavy packages a module imports when it is imported (not inside functions)."""
    found = set()
    for node, in_function in _imports(ast.parse(path.read_text())):
        if in_function:
            continue
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if not node.level else [])
        found.update(n.split(".")[0] for n in names if n.split(".")[0] in HEAVY)
    return found


_THIRD_PARTY = {module: _third_party(path) for module, path in MODULES.items()}
_TOP_LEVEL: dict[str, set[str]] = {}
for _edge in EDGES:
    if not _edge.in_function:
        _TOP_LEVEL.setdefault(_edge.source, set()).add(_edge.target)


def heavy_on_import(module: str) -> set[str]:
    """The heavy packages importing ``module`` loads: its own top-level imports, those of the
    modules it imports at the top, and of its parent packages, transitively."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(_TOP_LEVEL.get(current, ()))
        parts = current.split(".")
        todo.extend(".".join(parts[:end]) for end in range(1, len(parts)))
    return set().union(*(_THIRD_PARTY.get(m, set()) for m in seen))


def deferred(edge: Edge) -> set[str]:
    """The heavy packages a function-level ``edge`` keeps from loading with its importer."""
    return heavy_on_import(edge.target) - heavy_on_import(edge.source)


def _is_shim(module: str) -> bool:
    return layer_of(module) == SHIM_LAYER


def _own_package(edge: Edge) -> bool:
    """An import of a package ``__init__`` (other than the root's) from inside that
    package: it runs the ``__init__`` that imports the importer, a cycle in waiting."""
    return (edge.target in PACKAGES and edge.target != "automl_meta"
            and edge.source.startswith(edge.target + "."))


def _listing(edges: list[Edge]) -> str:
    return "\n".join(dict.fromkeys(f"  {edge}" for edge in edges))


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in MODULES if layer_of(m) is None)
    assert not unplaced, f"Modules in no layer of LAYERS (add them): {unplaced}"
    assert len(EDGES) > 100, "the walk found too few imports: is it reading the package?"


def test_no_module_imports_a_higher_layer() -> None:
    upward = [e for e in EDGES if not _is_shim(e.source)
              and (layer_of(e.target) or 0) > (layer_of(e.source) or 0)
              and (e.source, e.target) not in KNOWN_UPWARD]
    assert not upward, (
        f"{len(upward)} import(s) reach a higher layer (layers, lowest first:\n{LAYER_ORDER}"
        f"):\n{_listing(upward)}\nMove what is shared down to the lower layer, or pass it "
        "in as an argument.")


def test_submodules_import_siblings_not_their_own_package() -> None:
    inward = [e for e in EDGES if not _is_shim(e.source) and _own_package(e)
              and (e.source, e.target) not in KNOWN_OWN_PACKAGE]
    assert not inward, ("Import the sibling module directly, not through the package's "
                        f"__init__:\n{_listing(inward)}")


def _cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # recursion depth is bounded by the package's size
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    considered = [e for e in EDGES if not _is_shim(e.source)
                  and (e.source, e.target) not in KNOWN_CYCLE_EDGES]
    cycles = _cycles(considered)
    messages = []
    for component in cycles:
        members = set(component)
        inside = [e for e in considered if e.source in members and e.target in members]
        messages.append(f"cycle among {', '.join(component)}:\n{_listing(inside)}")
    assert not cycles, ("Import cycles (an import inside a function still closes one; move "
                        "the shared piece to the lower module):\n" + "\n".join(messages))


def test_the_cycle_finder_finds_a_cycle() -> None:
    here = Path(__file__)
    ring = [Edge("a", "b", here, 1, False), Edge("b", "c", here, 2, True),
            Edge("c", "a", here, 3, False), Edge("c", "d", here, 4, False)]
    assert _cycles(ring) == [["a", "b", "c"]]
    assert _cycles(ring[1:]) == []


def test_function_level_imports_of_our_modules_defer_something_heavy() -> None:
    local = [e for e in EDGES if e.in_function and not _is_shim(e.source)]
    unexplained = [e for e in local if not deferred(e)
                   and (e.source, e.target) not in FUNCTION_LEVEL_ALLOWED
                   and (e.source, e.target) not in KNOWN_FUNCTION_LEVEL]
    assert not unexplained, (
        f"{len(unexplained)} function-level import(s) of automl_meta modules defer no heavy "
        "package (the importer already loads what they load): import at the top of the "
        "module, or give the reason in FUNCTION_LEVEL_ALLOWED:\n" + _listing(unexplained))


def test_the_heavy_package_rule_sees_what_a_module_loads() -> None:
    # the CLI starts without numpy; the metadb store is built on SQLAlchemy
    assert not heavy_on_import("automl_meta.cli") & {"numpy", "pandas", "torch"}
    assert "sqlalchemy" in heavy_on_import("automl_meta.metadb._store")
    assert "torch" not in heavy_on_import("automl_meta")
    lazy = [e for e in EDGES if e.source == "automl_meta.cli.data" and e.in_function
            and e.target == "automl_meta.evaluation"]
    assert lazy and {"numpy", "pandas"} <= deferred(lazy[0])


def test_an_import_resolves_to_the_module_it_loads() -> None:
    def targets(code: str, module: str = "automl_meta.harness.trials") -> list[str]:
        node = ast.parse(code).body[0]
        assert isinstance(node, (ast.Import, ast.ImportFrom))
        return list(_targets(module, node))

    assert targets("from automl_meta.metadb import _schema as s, MetaDB") == [
        "automl_meta.metadb._schema", "automl_meta.metadb"]
    assert targets("from automl_meta import fit, errors") == [
        "automl_meta.automl", "automl_meta.errors"]  # the root's lazy map, a submodule
    assert targets("from automl_meta.service import create_app") == ["automl_meta.service.app"]
    assert targets("from .settings import BenchmarkSettings") == ["automl_meta.harness.settings"]
    assert targets("import numpy, automl_meta.space") == ["automl_meta.space"]
    assert layer_of("automl_meta.service.app") > layer_of("automl_meta.advice._recommend") \
        > layer_of("automl_meta.service.client")


def test_known_edges_still_occur() -> None:
    pairs = {(e.source, e.target) for e in EDGES}
    still_local = {(e.source, e.target) for e in EDGES if e.in_function and not deferred(e)}
    fixed = sorted({*(set(KNOWN_OWN_PACKAGE) | set(KNOWN_UPWARD) | set(KNOWN_CYCLE_EDGES))
                    - pairs, *(set(KNOWN_FUNCTION_LEVEL) - still_local)})
    assert not fixed, f"Fixed, so delete them from the KNOWN_* lists: {fixed}"
