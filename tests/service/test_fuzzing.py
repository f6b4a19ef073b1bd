"""Schema fuzzing of the service: its own OpenAPI schema, never a server error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")
pytest.importorskip("multipart")

from automl_meta.service import create_app  # noqa: E402
from tests.service._api import PMLB, STRATEGIES, TOKEN, auth, copy_db, postgres_copy  # noqa: E402

pytestmark = [
    pytest.mark.skipif(not PMLB.is_dir(), reason=f"needs the shared PMLB datasets at {PMLB}"),
    pytest.mark.filterwarnings("ignore::automl_meta.errors.AutoMLMetaWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


# -- schema fuzzing -----------------------------------------------------------------------
try:
    import schemathesis
except ImportError:  # pragma: no cover - schemathesis is in the dev extra
    schemathesis = None


@pytest.fixture(params=["examples+fuzzing", pytest.param("coverage", marks=pytest.mark.slow),
                        pytest.param("postgres", marks=pytest.mark.postgres)])
def fuzz_schema(request: pytest.FixtureRequest, built: Path, tmp_path: Path) -> Any:
    """The app's own OpenAPI schema, served in-process (ASGI) from a copy of the store.

    The default run uses schemathesis' explicit examples and 30 random cases per operation;
    the slow run adds its coverage phase (a few hundred boundary cases per operation); the
    postgres run is the default one against PostgreSQL (whose text columns are stricter).
    """
    if request.param == "postgres":
        db: Any = postgres_copy(built, tmp_path)
    else:
        db = copy_db(built, tmp_path / "fuzz.sqlite")
    app = create_app(db, token=TOKEN, data_dir=tmp_path / "uploads", strategies=STRATEGIES,
                     max_upload_bytes=100_000)
    loader = getattr(schemathesis, "openapi", None)
    schema = (loader.from_asgi if hasattr(loader, "from_asgi") else schemathesis.from_asgi)(
        "/openapi.json", app)
    phases = getattr(getattr(schema, "config", None), "phases", None)
    if phases is not None:  # schemathesis 4: choose the phases
        phases.coverage.enabled = request.param == "coverage"
        phases.fuzzing.enabled = request.param != "coverage"
    return schema


if schemathesis is not None:
    from hypothesis import HealthCheck, settings
    from schemathesis.checks import not_a_server_error

    _from_fixture = getattr(getattr(schemathesis, "pytest", None), "from_fixture", None) \
        or schemathesis.from_pytest_fixture
    fuzzed = _from_fixture("fuzz_schema")

    @fuzzed.parametrize()
    @settings(max_examples=30, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def test_openapi_fuzzing_finds_no_server_error(case: Any) -> None:
        """Every operation, with the write token: never a 5xx, whatever the body."""
        case.call_and_validate(headers=auth(), checks=[not_a_server_error])
else:  # pragma: no cover
    @pytest.mark.skip(reason="needs schemathesis (pip install 'automl-meta[dev]')")
    def test_openapi_fuzzing_finds_no_server_error() -> None:
        """Skipped without schemathesis."""
