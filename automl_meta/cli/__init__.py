"""The ``automl-meta`` command line: thin — it parses, calls the library, prints with rich.

The commands live by group in :mod:`~automl_meta.cli.data` (metafeatures, evaluate),
:mod:`~automl_meta.cli.advice` (recommend), :mod:`~automl_meta.cli.automl` (fit, predict),
:mod:`~automl_meta.cli.serve`, :mod:`~automl_meta.cli.harness` (benchmark) and
:mod:`~automl_meta.cli.db` (the ``db`` group); this module holds the app and turns errors
and stop signals into messages and exit codes.
"""

from __future__ import annotations

import sys
import traceback

import typer

from automl_meta._support import lifecycle as _lifecycle
from automl_meta._version import __version__
from automl_meta.cli import advice, automl, data, harness, serve
from automl_meta.cli._common import RegistryHelpCommand, console, err_console, in_cli_terms
from automl_meta.cli.db import db_app
from automl_meta.errors import AutoMLMetaError

app = typer.Typer(
    name="automl-meta",
    help="Hyperparameter meta-learning for tabular data: recommend, warm-start, fit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
for _command in (data.metafeatures, data.evaluate, advice.recommend, automl.fit,
                 serve.serve, automl.predict, harness.benchmark):
    app.command(cls=RegistryHelpCommand)(_command)


def _version(value: bool) -> None:
    if value:
        console.print(f"automl-meta {__version__}")
        raise typer.Exit()


# set by the app callback on every invocation; read by main() when an error escapes
_RUN_SETTINGS = {"debug": False}


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
    debug: bool = typer.Option(False, "--debug", envvar="AUTOML_META_DEBUG",
                               help="On an error, show the full traceback too."),
) -> None:
    """automl-meta: choose algorithms and hyperparameters from the memory of past datasets."""
    _RUN_SETTINGS["debug"] = debug


def main() -> None:
    """Entry point: an error becomes a one-paragraph message on stderr and a non-zero exit
    (2 for automl-meta's own errors, 1 for anything unexpected); ``--debug`` (or
    ``AUTOML_META_DEBUG=1``) also shows the traceback."""
    _RUN_SETTINGS["debug"] = False
    try:
        with _lifecycle.handle_signals():
            app()
    except _lifecycle.Interrupted as exc:
        _report_interrupted(exc.signum)
    except AutoMLMetaError as exc:
        _report_interrupted(_lifecycle.stopping())  # an error caused by stopping
        _report_error(exc, expected=True)
        sys.exit(2)
    except Exception as exc:
        _report_interrupted(_lifecycle.stopping())
        _report_error(exc, expected=False)
        sys.exit(1)


def _report_interrupted(signum: int | None) -> None:
    """After a stop signal (``signum``; nothing when ``None``): stop every child process,
    say in one line what was kept, and exit with 128 + the signal's number."""
    if signum is None:
        return
    from rich.markup import escape

    _lifecycle.kill_descendants()
    stopped = _lifecycle.Interrupted(signum)
    kept = _lifecycle.kept() or "the command did not finish"
    err_console.print(f"Interrupted by {stopped.signal_name}: {escape(kept)}.", soft_wrap=True,
                      highlight=False)
    sys.exit(stopped.exit_code)


def _report_error(exc: BaseException, expected: bool) -> None:
    from rich.markup import escape

    if _RUN_SETTINGS["debug"]:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    message = " ".join(in_cli_terms(exc).split()) or type(exc).__name__
    if not expected:
        message = (f"unexpected {type(exc).__name__}: {message}. This is a bug in automl-meta "
                   "or a library it uses; run again with --debug for the traceback and "
                   "report it.")
    err_console.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)


__all__ = ["app", "main"]
