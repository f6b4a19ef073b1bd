"""What the command modules share: consoles, common options, loading a dataset with its
warnings printed, errors and warnings in the CLI's terms, JSON options, opening a store, and
help texts that list a registry."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperCommand

from automl_meta.config import user_db_url
from automl_meta.errors import AutoMLMetaWarning, MetaDBError, advice_of

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
    """Print the automl-meta warnings among ``caught`` to stderr, one line each, in the
    CLI's terms (see :func:`in_cli_terms`)."""
    from rich.markup import escape

    for item in caught:
        if issubclass(item.category, AutoMLMetaWarning):
            err_console.print(f"[yellow]warning:[/] {escape(in_cli_terms(item.message))}")


# the library's parameters the CLI spells differently; any other `name` is `--name`
CLI_OPTIONS = {"time_limit": "--time-limit", "max_rows": "--max-rows", "n_jobs": "--jobs"}
# advice that only makes sense in Python, by the parameter it is about (the error's `advice`)
CLI_ADVICE = {
    "source": "Give the path of one file in it; `automl-meta db build DIR` and "
              "`automl-meta benchmark DIR` take a directory of datasets.",
}


def in_cli_terms(problem: BaseException | str) -> str:
    """The message of an automl-meta error or warning, with its advice in the CLI's terms.

    The library words its messages for Python callers (``Pass target=<column name>.``).
    An error or warning that carries a ``parameter`` (see
    :class:`~automl_meta.errors.AutoMLMetaError`) has every ``parameter=value`` rewritten
    into the option (``Pass --target <column name>.``, ``task='regression'`` ->
    ``--task regression``), and its Python-only ``advice`` replaced by :data:`CLI_ADVICE`.

    Example:
        >>> from automl_meta.errors import DatasetError
        >>> in_cli_terms(DatasetError("No label. Pass target=<column name>.",
        ...                           parameter="target"))
        'No label. Pass --target <column name>.'
    """
    message = str(problem)
    if isinstance(problem, str):
        return message
    parameter, advice = advice_of(problem)
    if parameter is None:
        return message
    if advice and advice in message and parameter in CLI_ADVICE:
        message = message.replace(advice, CLI_ADVICE[parameter])
    option = CLI_OPTIONS.get(parameter, "--" + parameter.replace("_", "-"))
    written = re.compile(rf"(?<![\w.-]){re.escape(parameter)}=(?:'([^'\s]*)')?")
    return written.sub(lambda match: f"{option} {match.group(1) or ''}", message)


def parse_json(text: str, option: str) -> dict[str, Any]:
    """``text`` as a JSON object, else a usage error naming ``option``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{option} must be a JSON object: {exc}") from exc
    if not isinstance(value, dict):
        raise typer.BadParameter(f"{option} must be a JSON object, got {text!r}.")
    return value


def open_db(db: str | None, command: str | None = None) -> Any:
    """The store named by ``--db``, else the user store.

    A ``command`` that only reads (``db stats``, ``db export``) refuses a ``--db`` SQLite
    path that does not exist, rather than creating an empty store there.
    """
    from automl_meta.metadb import MetaDB  # sqlalchemy: not for `--help`

    if command and db and "://" not in db and not Path(db).exists():
        raise MetaDBError(
            f"--db {db}: no meta-database there, and `automl-meta {command}` only reads one. "
            "Expected an existing SQLite file or a PostgreSQL URL; check the path, build a "
            "store with `automl-meta db build DATASETS --db PATH`, or leave out --db to use "
            "your user store."
        )
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
