"""Issue #12: every public function and class documents itself with an example, the
examples that run do what they say, and ``automl-meta COMMAND --help`` explains every option.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import re
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from automl_meta.cli import app

PUBLIC_MODULES = (
    "automl_meta",
    "automl_meta.metalearners",
    "automl_meta.metadb",
    "automl_meta.space",
    "automl_meta.metafeatures",
    "automl_meta.data",
)
EXAMPLE_SECTION = re.compile(r"^Examples?:\s*$", re.MULTILINE)


def public_objects() -> list[tuple[str, Any]]:
    """``(module.name, object)`` for every class and callable in the ``__all__`` lists
    (modules, constants and ``__version__`` left out)."""
    found = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.ismodule(value) or not callable(value):
                continue
            found.append((f"{module_name}.{name}", value))
    return found


PUBLIC = public_objects()


def test_the_walk_sees_the_public_api() -> None:
    names = {name for name, _ in PUBLIC}
    assert {"automl_meta.recommend", "automl_meta.MetaDB", "automl_meta.space.suggest",
            "automl_meta.metalearners.KNNLearner", "automl_meta.data.load_dataset",
            "automl_meta.metafeatures.extract_metafeatures"} <= names
    assert "automl_meta.__version__" not in names
    assert "automl_meta.space" not in names  # a module
    assert "automl_meta.space.REGISTRY" not in names  # a constant


@pytest.mark.parametrize(("name", "obj"), PUBLIC, ids=[name for name, _ in PUBLIC])
def test_public_object_has_a_docstring_with_an_example(name: str, obj: Any) -> None:
    # the object's own docstring: inspect.getdoc would let a class borrow its base's
    own = inspect.cleandoc(obj.__doc__ or "")
    section = EXAMPLE_SECTION.search(own)
    assert section, f"{name} has no 'Example:' section in its docstring"
    assert ">>>" in own[section.end():], f"{name}'s Example: section shows no >>> line"


def collect_doctests() -> list[doctest.DocTest]:
    """The doctests of the public objects (their methods' included), each once."""
    finder = doctest.DocTestFinder()
    tests: dict[str, doctest.DocTest] = {}
    for _, obj in PUBLIC:
        qualified = f"{obj.__module__}.{obj.__qualname__}"
        for test in finder.find(obj, qualified, module=inspect.getmodule(obj)):
            if test.examples:
                tests.setdefault(test.name, test)
    return [tests[name] for name in sorted(tests)]


DOCTESTS = collect_doctests()


def live_examples(test: doctest.DocTest) -> int:
    return sum(not example.options.get(doctest.SKIP, False) for example in test.examples)


def test_most_public_examples_really_run() -> None:
    runnable = [test.name for test in DOCTESTS if live_examples(test)]
    assert len(runnable) >= 40, runnable
    assert sum(live_examples(test) for test in DOCTESTS) >= 90


@pytest.mark.parametrize("test", DOCTESTS, ids=[test.name for test in DOCTESTS])
def test_doctest_passes(test: doctest.DocTest) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # examples may warn on purpose (an inferred task)
        result = runner.run(test, out=report.append, clear_globs=True)
    assert result.failed == 0, "".join(report)


def walk_commands(command: Any, path: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    """Every command and sub-command of a click (or typer) group, depth first."""
    yield " ".join(path), command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk_commands(sub, (*path, name))


COMMANDS = list(walk_commands(typer.main.get_command(app), ("automl-meta",)))


def test_the_walk_sees_every_command() -> None:
    names = {name for name, _ in COMMANDS}
    assert {"automl-meta fit", "automl-meta recommend", "automl-meta db",
            "automl-meta db build", "automl-meta db import-optuna"} <= names
    assert len(names) >= 15


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_command_explains_itself_and_every_option(name: str, command: Any) -> None:
    assert (command.help or command.short_help or "").strip(), f"{name} has no help text"
    undocumented = [param.name for param in command.params
                    if not (getattr(param, "help", None) or "").strip()]
    assert not undocumented, f"{name}: these options/arguments have no help: {undocumented}"

    # wide enough that rich never shortens an option name
    result = CliRunner().invoke(app, [*name.split()[1:], "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "option":
            shown = max(param.opts, key=len)
        else:
            shown = param.metavar or param.name
        assert shown in result.output, f"{name} --help does not show {shown}"
