"""Shared test fixtures: where the shared datasets live, and how to skip without them.

The datasets are read in place from ``../shared/datasets`` beside the project (see its
README.md); they are never copied into the repository. Use either the marker::

    @pytest.mark.requires_shared
    def test_something(shared_datasets: Path) -> None: ...

or the ``requires_shared`` skip marker object (``from conftest import requires_shared``).
"""

from __future__ import annotations

from pathlib import Path

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
