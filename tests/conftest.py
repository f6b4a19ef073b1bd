"""Shared test fixtures: where the shared datasets live, and how to skip without them.

The datasets are read in place from ``../shared/datasets`` beside the project (see its
README.md); they are never copied into the repository. Use either the marker::

    @pytest.mark.requires_shared
    def test_something(shared_datasets: Path) -> None: ...

or the ``requires_shared`` skip marker object (``from tests.conftest import requires_shared``).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SHARED_MISSING_REASON = (
    f"needs the shared datasets at {SHARED_DATASETS} (the directory is missing; it lives "
    "beside the project checkout as ../shared/datasets)"
)

requires_shared = pytest.mark.skipif(not SHARED_DATASETS.is_dir(), reason=SHARED_MISSING_REASON)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires_shared: needs ../shared/datasets; skipped when it is missing"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SHARED_DATASETS.is_dir():
        return
    skip = pytest.mark.skip(reason=SHARED_MISSING_REASON)
    for item in items:
        if item.get_closest_marker("requires_shared") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The shared datasets directory; skips the test when it is missing."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(SHARED_MISSING_REASON)
    return SHARED_DATASETS


@contextlib.contextmanager
def serving(application: Any) -> Iterator[str]:
    """Serve an ASGI ``application`` with uvicorn in a thread of this process; yields its
    URL and stops the server (and checks it stopped) on exit."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(application, log_level="warning",
                                          timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
    assert not thread.is_alive()


def wipe_postgres(url: str) -> None:
    """Drop every table of the meta-db schema in the PostgreSQL database at ``url`` (the
    test URLs name databases the tests may wipe)."""
    from sqlalchemy import create_engine, text

    from automl_meta.metadb import _schema

    engine = create_engine(url)
    with engine.begin() as conn:
        for table in reversed((*_schema.TABLES, _schema.schema_version)):
            conn.execute(text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE'))
    engine.dispose()
