"""The ``serve`` command: the meta-database over HTTP for a team."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import typer

from automl_meta._support import lifecycle as _lifecycle
from automl_meta.cli._common import DB_OPTION, console, err_console, open_db
from automl_meta.errors import AutoMLMetaError


def serve(
    db: str | None = DB_OPTION,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 "
                             "for every interface: put TLS in front of it)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
    token_file: Path | None = typer.Option(None, "--token-file", help="File of bearer "
                                           "tokens, one per line (default: "
                                           "$AUTOML_META_TOKEN). Without a token, no writes."),
    read_token_required: bool = typer.Option(False, "--read-token-required/--open-reads",
                                             help="Also require a token to read (implied "
                                             "by read tokens)."),
    read_token_file: Path | None = typer.Option(
        None, "--read-token-file", help="File of read-only bearer tokens, one per line "
        "(default: $AUTOML_META_READ_TOKEN, $AUTOML_META_READ_TOKEN_FILE). With one, every "
        "read (stats, recommend, metafeatures) needs a read or write token."),
    allowed_hosts: str | None = typer.Option(
        None, "--allowed-hosts", envvar="AUTOML_META_ALLOWED_HOSTS", help="Comma-separated "
        "Host names to answer (others get 400, against DNS rebinding); '*' for any. "
        "Default: localhost,127.0.0.1,::1 on a loopback --host, else any."),
    max_upload_mb: float = typer.Option(64.0, "--max-upload-mb", min=0.001,
                                        help="Largest dataset upload, in MiB."),
    max_record_mb: float = typer.Option(32.0, "--max-record-mb", min=0.001,
                                        help="Largest POST /v1/evaluations body, in MiB."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Where uploads are "
                                         "written while read (default: a private temp dir)."),
    strategies: str | None = typer.Option(None, "--strategies", help="Comma-separated "
                                          "strategies clients may ask for, of {strategies} "
                                          "(default: all)."),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log",
                                    help="Log every request."),
) -> None:
    """Serve the meta-database over HTTP for a team (needs the serve extra)."""
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise AutoMLMetaError(f"automl-meta serve needs the serve extra ({exc.name} is "
                              "missing): pip install 'automl-meta[serve]'.") from exc
    from automl_meta.service.app import ENV_PREFIX, default_allowed_hosts  # fastapi
    from automl_meta.service.auth import load_tokens  # hmac, hashlib: not for every command

    tokens = load_tokens(None, token_file)  # a bad token file fails here, not in each worker
    read_tokens = load_tokens(None, read_token_file, read=True)
    if read_token_required and not tokens and not read_tokens:
        raise typer.BadParameter("--read-token-required needs a token (AUTOML_META_TOKEN, "
                                 "AUTOML_META_READ_TOKEN, --token-file or --read-token-file).")
    hosts = allowed_hosts if allowed_hosts is not None else default_allowed_hosts(host)
    store = open_db(db)  # creates the schema once, before workers race to
    settings = {"DB": store.url, "TOKEN_FILE": str(token_file.resolve()) if token_file else "",
                "READ_TOKEN_FILE": str(read_token_file.resolve()) if read_token_file else "",
                "READ_TOKEN_REQUIRED": "1" if read_token_required else "",
                "ALLOWED_HOSTS": hosts,
                "MAX_UPLOAD_BYTES": str(int(max_upload_mb * 2**20)),
                "MAX_RECORD_BYTES": str(int(max_record_mb * 2**20)),
                "DATA_DIR": str(data_dir.resolve()) if data_dir else "",
                "STRATEGIES": strategies or ""}
    os.environ.update({ENV_PREFIX + name: value for name, value in settings.items()})
    if not tokens:
        err_console.print("[yellow]warning:[/] no token (AUTOML_META_TOKEN or --token-file): "
                          "this server accepts no writes.")
    if hosts.strip() == "*":
        err_console.print("[yellow]note:[/] any Host header is answered; name the server's "
                          "host names with --allowed-hosts (and set a read token when the "
                          "dataset names are private).")
    console.print(f"serving {store._safe_url()} on http://{host}:{port} "
                  f"({workers} worker{'s' if workers > 1 else ''})")
    store.close()
    _lifecycle.note_kept("the server stopped; it keeps no state of its own")
    os.environ[_SERVE_PARENT] = str(os.getpid())
    # the import-string factory lets uvicorn start each worker process with its own app
    app_path = "automl_meta.cli.serve:_serving_app"
    if workers == 1:  # uvicorn re-raises the stop signal it caught, which our handler sees
        uvicorn.run(app_path, factory=True, host=host, port=port, access_log=access_log)
        return
    config = uvicorn.Config(app_path, factory=True, host=host, port=port, workers=workers,
                            access_log=access_log)
    supervisor = _supervisor_class()(config, sockets=[config.bind_socket()])
    supervisor.run()
    if supervisor.stopped_by is not None:  # as with one worker: exit 128 + the signal
        raise _lifecycle.Interrupted(supervisor.stopped_by)


_SERVE_PARENT = "AUTOML_META_SERVE_PARENT_PID"


def _supervisor_class() -> type:
    """uvicorn's ``Multiprocess``, subclassed when first needed (uvicorn is an extra)."""
    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):  # type: ignore[misc]
        """uvicorn's supervisor of worker processes, remembering the signal that stopped it
        (uvicorn's own returns as if nothing had happened, and the command exited 0)."""

        stopped_by: int | None = None

        def handle_int(self) -> None:
            self.stopped_by = signal.SIGINT
            super().handle_int()

        def handle_term(self) -> None:
            self.stopped_by = signal.SIGTERM
            super().handle_term()

        def handle_hup(self) -> None:  # uvicorn restarts its workers on SIGHUP; we stop
            self.stopped_by = signal.SIGHUP
            self.should_exit.set()

    return Supervisor


def _serving_app() -> Any:
    """The app of one ``serve`` worker: a worker process of ``--workers N`` dies with the
    command (uvicorn's supervisor) that started it, even when that is killed."""
    from automl_meta.service.app import create_app_from_env

    parent = os.environ.get(_SERVE_PARENT, "")
    if parent.isdigit() and int(parent) != os.getpid():
        _lifecycle.die_with_parent(int(parent))
    return create_app_from_env()
