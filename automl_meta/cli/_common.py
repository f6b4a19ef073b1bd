"""What the command modules share: consoles, common options, loading a dataset with its
warnings printed, JSON options, opening a store, and help texts that list a registry."""

from __future__ import annotations

import json
import warnings
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperCommand

from automl_meta.config import user_db_url
from automl_meta.errors import AutoMLMetaWarning

console = Console()
err_console = Console(stderr=True)

DB_OPTION = typer.Option(None, "--db", help="Meta-database URL or SQLite path "
                         "(default: $AUTOML_META_DB or the user store).")
TARGET_OPTION = typer.Option(None, "--target", "-t", help="Label column (default: "
                             "target/class/label, or an ARFF file's last attribute).")
TASK_OPTION = typer.Option(None, "--task", help="classification or regression "
                           "(default: inferred, or from an index.csv beside the file).")
DATA_ARGUMENT_HELP = "Dataset: a file path, openml:ID or sklearn:NAME."


def load(data: str, target: str | None, task: str | None) -> Any:
    """Load a dataset, printing our warnings (dropped rows, inferred task) to stderr."""
    from automl_meta.data import load_dataset  # pandas: not for `--help`

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_dataset(data, target=target, task=task)
    print_warnings(caught)
    return dataset


def print_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Print the automl-meta warnings among ``caught`` to stderr, one line each."""
    for item in caught:
        if issubclass(item.category, AutoMLMetaWarning):
            err_console.print(f"[yellow]warning:[/] {item.message}")


def parse_json(text: str, option: str) -> dict[str, Any]:
    """``text`` as a JSON object, else a usage error naming ``option``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{option} must be a JSON object: {exc}") from exc
    if not isinstance(value, dict):
        raise typer.BadParameter(f"{option} must be a JSON object, got {text!r}.")
    return value


def open_db(db: str | None) -> Any:
    """The store named by ``--db``, else the user store."""
    from automl_meta.metadb import MetaDB  # sqlalchemy: not for `--help`

    return MetaDB(db or user_db_url())


def _strategies() -> str:
    from automl_meta.metalearners import LEARNERS

    return ", ".join(LEARNERS.strategies)


def _learners() -> str:
    from automl_meta.metalearners import LEARNERS

    return ", ".join(LEARNERS)


def _algorithms() -> str:
    from automl_meta.space import REGISTRY

    return ", ".join(dict.fromkeys(name for _, name in REGISTRY))


# placeholders a help text may hold, filled from the registries only when help is shown:
# importing the registries pulls numpy, pandas and optuna, too slow for every command
REGISTRY_LISTS = {"{strategies}": _strategies, "{learners}": _learners,
                  "{algorithms}": _algorithms}


def fill_registry_lists(text: str | None) -> str | None:
    """``text`` with each placeholder of :data:`REGISTRY_LISTS` replaced by its list."""
    if not text:
        return text
    for placeholder, names in REGISTRY_LISTS.items():
        if placeholder in text:
            text = text.replace(placeholder, names())
    return text


class RegistryHelpCommand(TyperCommand):
    """A command whose help texts may name a registry's members by placeholder; they are
    filled when the help is read (a group's listing reads ``help`` directly)."""

    @property  # type: ignore[override]
    def help(self) -> str | None:  # noqa: D102
        self._help = fill_registry_lists(self._help)
        return self._help

    @help.setter
    def help(self, text: str | None) -> None:
        self._help = text

    def format_help(self, ctx: Any, formatter: Any) -> None:  # noqa: D102
        for param in self.params:
            if getattr(param, "help", None):  # options and typer's arguments have help
                param.help = fill_registry_lists(param.help)  # type: ignore[attr-defined]
        super().format_help(ctx, formatter)
