"""Fixtures of the meta-database tests: a store URL of every backend.

PostgreSQL tests run when AUTOML_META_TEST_POSTGRES holds a URL of a database they may wipe
(``.ci/run`` starts Debian's server on loopback and sets it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import wipe_postgres
from tests.metadb._helpers import POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.sqlite'}"
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need AUTOML_META_TEST_POSTGRES (a URL they may wipe)")
    wipe_postgres(POSTGRES_URL)
    return POSTGRES_URL
