"""One BLAS / OpenMP thread while the contract suites fit: their fits are tiny, and threads
spinning against everything else on the machine made one ranker fit take seconds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield
