"""The FastAPI application behind ``automl-meta serve``: a team's shared meta-database.

Endpoints (JSON in and out; errors are ``{"detail", "error", "message"}``):

- ``GET /health``: liveness and the store's schema version (always open).
- ``GET /v1/stats``: the store's coverage counts (``MetaDB.stats()``).
- ``POST /v1/metafeatures``: upload a dataset (CSV / TSV / Parquet / ARFF by suffix) and
  get its meta-features, as :func:`automl_meta.metafeatures.extract_metafeatures` computes
  them.
- ``POST /v1/recommend``: recommendations, exactly as :func:`automl_meta.recommend` makes
  them from the same store, for a JSON body of meta-features or an uploaded dataset.
- ``POST /v1/evaluations``: record evaluation results (bearer token; idempotent).

Before any body is read, :class:`~automl_meta.service.limits.RequestGuard` checks the
``Host`` header (when allowed hosts are configured), the token (write token for writes;
a read or write token for reads when reads are protected) and the endpoint's body limit.

Status codes: 400 for an unusable dataset or setting or an unknown Host, 401/403 for a
missing, wrong or useless token, 404 when the store knows nothing of the task, 413 for a
body over the endpoint's limit, 415 for a file format the server does not read (pickles
are refused), 422 for a body that does not match its schema or a score out of its
metric's range, 500 for a database error that retrying will not fix, 503 when the
meta-database cannot be reached right now.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from sqlalchemy.exc import (
    DataError,
    DisconnectionError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.exceptions import HTTPException as StarletteHTTPException

from automl_meta._version import __version__
from automl_meta.errors import (
    ArtifactError,
    AutoMLMetaError,
    ConfigurationError,
    DeviceError,
    MetaDBError,
    NetworkError,
)
from automl_meta.service import schemas as sc
from automl_meta.service.auth import load_tokens
from automl_meta.service.backend import Service
from automl_meta.service.limits import (
    LOOPBACK_HOSTS,
    MULTIPART_OVERHEAD,
    SMALL_BODY_BYTES,
    Endpoint,
    RequestGuard,
    ServiceProblem,
    normalise_hosts,
)

logger = logging.getLogger("automl_meta.service")

DEFAULT_MAX_UPLOAD_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_JSON_BYTES = 8 * 1024 * 1024
# a record of sc.MAX_EVALUATIONS evaluations is ~10 MB of JSON with short error strings
DEFAULT_MAX_RECORD_BYTES = 32 * 1024 * 1024
ENV_PREFIX = "AUTOML_META_SERVE_"
# errors of the server's own state (store, artifacts): 503, not the user's 4xx
SERVER_SIDE_ERRORS = (MetaDBError, ArtifactError, NetworkError, DeviceError)
# what a database driver says when the database is away or busy for now (retry helps)
TRANSIENT_DB_MESSAGES = ("database is locked", "database table is locked", "busy",
                         "could not connect", "connection refused", "connection reset",
                         "connection timed out", "server closed the connection",
                         "terminating connection", "connection to server",
                         "the database system is", "too many connections", "timeout",
                         "could not translate host name", "no connection to the server")


def create_app(
    db_url: str | os.PathLike[str] | None = None,
    token: str | None = None,
    read_token_required: bool = False,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    token_file: str | os.PathLike[str] | None = None,
    shipped: str | os.PathLike[str] | None = None,
    strategies: Sequence[str] | None = None,
    max_json_bytes: int = DEFAULT_MAX_JSON_BYTES,
    max_concurrent_uploads: int = 2,
    warm_up: bool = True,
    read_token: str | None = None,
    read_token_file: str | os.PathLike[str] | None = None,
    allowed_hosts: str | Sequence[str] | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> FastAPI:
    """The FastAPI application of a shared meta-database.

    Args:
        db_url: the store (URL or SQLite path); default ``$AUTOML_META_DB`` or the user
            store. The shipped ``meta_db/`` (``shipped``, default ``$AUTOML_META_SHIPPED``
            or the repository's) is layered underneath, as for :func:`automl_meta.recommend`.
        token, token_file: the write token(s); default ``$AUTOML_META_TOKEN``, else the file
            (``$AUTOML_META_TOKEN_FILE``), one token per line. Without any, writes get 403.
        read_token_required: whether reading also needs a token (implied by read tokens).
        max_upload_bytes: the largest dataset upload (413 above it).
        data_dir: where uploads are written while they are read (each request in its own
            directory, removed afterwards); default a private temporary directory.
        strategies: the strategies clients may ask for (default all); learners that are not
            saved with the shipped bundle are fitted on first use, once.
        max_json_bytes: the largest JSON body of a read (``/v1/recommend``), and of any
            non-multipart body of an upload endpoint.
        max_concurrent_uploads: uploads parsed at once per process (memory bound).
        warm_up: load the knowledge and the ``auto`` learners at startup.
        read_token, read_token_file: token(s) that may only read; default
            ``$AUTOML_META_READ_TOKEN``, else the file (``$AUTOML_META_READ_TOKEN_FILE``).
            With any, every read endpoint (all but ``/health`` and the API docs) needs a
            read or a write token: use them when the store's dataset names are private.
        allowed_hosts: the ``Host`` names the server answers to (``"a,b"`` or a list;
            ``*.example.com`` for subdomains); others get 400. Default None: any host
            (``automl-meta serve`` defaults to the loopback names when it listens on
            loopback, against DNS rebinding).
        max_record_bytes: the largest body of ``POST /v1/evaluations``.

    Example:
        >>> app = create_app("team.sqlite", token=secrets.token_urlsafe(32))  # doctest: +SKIP
        >>> uvicorn.run(app)  # doctest: +SKIP
    """
    from automl_meta.advice._recommend import STRATEGIES

    tokens = load_tokens(token, token_file)
    read_tokens = load_tokens(read_token, read_token_file, read=True)
    if read_token_required and not tokens and not read_tokens:
        raise ConfigurationError("read_token_required=True needs a token (token=, "
                                 "read_token=, $AUTOML_META_TOKEN, $AUTOML_META_READ_TOKEN "
                                 "or a token file); none was given.")
    enabled = tuple(strategies) if strategies is not None else STRATEGIES
    unknown = sorted(set(enabled) - set(STRATEGIES))
    if unknown:
        raise ConfigurationError(f"Unknown strategies {', '.join(unknown)}; expected some of "
                                 f"{', '.join(STRATEGIES)}.")
    for name, value in (("max_upload_bytes", max_upload_bytes),
                        ("max_json_bytes", max_json_bytes),
                        ("max_record_bytes", max_record_bytes),
                        ("max_concurrent_uploads", max_concurrent_uploads)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigurationError(f"{name}={value!r} must be a positive integer.")
    own_data_dir = data_dir is None
    directory = Path(tempfile.mkdtemp(prefix="automl-meta-serve-")) if own_data_dir else \
        Path(data_dir).resolve()
    service = Service(db_url, tokens, read_token_required, max_upload_bytes, directory,
                      Path(shipped) if shipped is not None else None, enabled,
                      max_concurrent_uploads, read_tokens)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if warm_up:
            await run_in_threadpool(service.warm_up)
        yield
        service.store.close()
        if own_data_dir:
            shutil.rmtree(directory, ignore_errors=True)

    app = FastAPI(title="automl-meta", version=__version__, lifespan=lifespan,
                  description="A team's shared meta-database: meta-features, "
                  "recommendations, and the evaluations everyone records.")
    app.state.service = service
    upload_hint = ("Send a smaller file (e.g. a sample of the rows; meta-features need few) "
                   "or ask the operator to raise the limit (automl-meta serve "
                   "--max-upload-mb).")
    endpoints = {
        "/v1/evaluations": Endpoint("write", max_record_bytes, hint=(
            "Send fewer evaluations per request (at most "
            f"{sc.MAX_EVALUATIONS:,}; automl_meta.service.Client.record splits them) or "
            "ask the operator to raise the limit (automl-meta serve --max-record-mb).")),
        "/v1/recommend": Endpoint("read", max_json_bytes, max_upload_bytes + MULTIPART_OVERHEAD,
                                  hint=upload_hint),
        "/v1/metafeatures": Endpoint("read", max_json_bytes,
                                     max_upload_bytes + MULTIPART_OVERHEAD, hint=upload_hint),
        "/v1/stats": Endpoint("read", SMALL_BODY_BYTES, hint="This endpoint takes no body."),
    }
    app.add_middleware(RequestGuard, endpoints=endpoints, access=service.access,
                       allowed_hosts=normalise_hosts(allowed_hosts))
    _add_error_handlers(app)
    _add_routes(app, service)
    return app


def _add_routes(app: FastAPI, service: Service) -> None:
    bearer = HTTPBearer(auto_error=False, description="A token of this server (see "
                        "automl-meta serve --token-file).")
    errors: dict[int | str, dict[str, Any]] = {code: {"model": sc.ErrorResponse} for code in
                                                (400, 401, 403, 404, 409, 413, 415, 422, 503)}

    def require_read(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
                     ) -> None:
        service.check_token(credentials, write=False)

    def require_write(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
                      ) -> None:
        service.check_token(credentials, write=True)

    @app.get("/health", response_model=sc.HealthResponse, responses=errors)
    def health() -> sc.HealthResponse:
        """Liveness, and whether the meta-database answers."""
        return sc.HealthResponse(status="ok", version=__version__,
                                 schema_version=service.store.schema_version())

    @app.get("/v1/stats", response_model=sc.StatsResponse, responses=errors,
             dependencies=[Depends(require_read)])
    def stats() -> dict[str, Any]:
        """Coverage counts of the store: datasets, configurations, evaluations, failures."""
        return service.store.stats()

    @app.post("/v1/metafeatures", response_model=sc.MetaFeaturesResponse, responses=errors,
              dependencies=[Depends(require_read)])
    def metafeatures(
        file: UploadFile = File(..., description="CSV, TSV, Parquet or ARFF (optionally "
                                ".gz); the name's suffix selects the reader."),
        target: str | None = Form(None, max_length=255, description="The label column."),
        task: sc.Task | None = Form(None),
        groups: str = Form("all", max_length=200, description="'all' or comma-separated "
                           "groups"),
    ) -> sc.MetaFeaturesResponse:
        """The meta-features of an uploaded dataset."""
        from automl_meta.metafeatures import EXTRACTOR_VERSION

        dataset, features = service.extract(file, target, task, groups)
        return sc.MetaFeaturesResponse(
            dataset=_dataset_out(dataset), extractor_version=EXTRACTOR_VERSION,
            metafeatures=_jsonable(features.to_dict()), seconds=_jsonable(features.seconds),
            groups=features.groups)

    @app.post("/v1/recommend", response_model=sc.RecommendResponse, responses=errors,
              dependencies=[Depends(require_read)],
              openapi_extra={"requestBody": _recommend_body_schema()})
    async def recommend(request: Request) -> sc.RecommendResponse:
        """Recommendations for meta-features (JSON) or for an uploaded dataset (multipart)."""
        content_type = request.headers.get("content-type", "").lower()
        if content_type.startswith("multipart/form-data"):
            return await _recommend_upload(request, service)
        if content_type and not content_type.startswith("application/json"):
            raise ServiceProblem(415, f"Content type {content_type!r} is not accepted; send "
                                 "application/json (meta-features) or multipart/form-data "
                                 "(a dataset file).", "UnsupportedMediaType")
        body = _validated(sc.RecommendRequest, await request.body())
        recs = await run_in_threadpool(service.recommend, body.metafeatures, body.task,
                                       body.k, body.strategy, body.fingerprint)
        return sc.RecommendResponse(task=body.task, recommendations=_recs_out(recs))

    @app.post("/v1/evaluations", response_model=sc.RecordResponse, responses=errors,
              dependencies=[Depends(require_write)])
    def record(body: sc.RecordRequest) -> sc.RecordResponse:
        """Record evaluation results into the store; a cell already present is kept."""
        return service.record(body)


async def _recommend_upload(request: Request, service: Service) -> sc.RecommendResponse:
    async with request.form(max_files=1, max_fields=10) as form:  # closes the spooled file
        upload = form.get("file")
        if not isinstance(upload, StarletteUpload):
            raise RequestValidationError([{"type": "missing", "loc": ("body", "file"),
                                           "msg": "Field required: the dataset file"}])
        fields = _validated(sc.RecommendUploadFields, {
            key: value for key, value in form.items() if key != "file"})
        service.check_strategy(fields.strategy)  # before the (slower) extraction

        def work() -> tuple[Any, list[Any]]:
            dataset, features = service.extract(upload, fields.target, fields.task)
            return dataset, service.recommend(features.to_dict(), dataset.task, fields.k,
                                              fields.strategy, dataset.fingerprint)

        dataset, recs = await run_in_threadpool(work)
    return sc.RecommendResponse(task=dataset.task, recommendations=_recs_out(recs),
                                dataset=_dataset_out(dataset))


def _validated(model: Any, data: bytes | dict[str, Any]) -> Any:
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data or b"null")
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                      for e in exc.errors(include_url=False)]) from exc


def _recommend_body_schema() -> dict[str, Any]:
    upload = {
        "type": "object", "required": ["file"], "additionalProperties": False,
        "properties": {
            "file": {"type": "string", "format": "binary"},
            "target": {"type": "string", "maxLength": 255},
            "task": {"type": "string", "enum": ["classification", "regression"]},
            "k": {"type": "integer", "minimum": 1, "maximum": sc.MAX_K, "default": 10},
            "strategy": {"type": "string", "enum": sc.strategy_names(),
                         "default": "auto"},
        }}
    return {"required": True, "content": {
        "application/json": {"schema": sc.RecommendRequest.model_json_schema()},
        "multipart/form-data": {"schema": upload}}}


def _dataset_out(dataset: Any) -> sc.DatasetOut:
    return sc.DatasetOut(name=dataset.name, fingerprint=dataset.fingerprint,
                         task=dataset.task, n_rows=dataset.n_rows,
                         n_features=dataset.n_features, n_classes=dataset.n_classes)


def _recs_out(recs: list[Any]) -> list[sc.RecommendationOut]:
    # the fields one by one: Recommendation.to_dict (dataclasses.asdict) deep-copies, which
    # took a third of the time of a request
    return [sc.RecommendationOut(
        algorithm=rec.algorithm, params=_jsonable(rec.params),
        predicted_score=_jsonable(rec.predicted_score), strategy=rec.strategy, why=rec.why,
        rank=rec.rank, details=_jsonable(rec.details), metric=rec.metric,
        expected_metric=_jsonable(rec.expected_metric), summary=rec.summary) for rec in recs]


def _jsonable(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become null, numpy scalars Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalar or array
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# -- errors -------------------------------------------------------------------------------
def _problem(status: int, message: str, error: str, detail: Any = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": message if detail is None else detail, "error": error,
                         "message": message}, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceProblem)
    async def service_problem(_request: Request, exc: ServiceProblem) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return _problem(exc.status_code, exc.message, exc.error, headers=headers)

    @app.exception_handler(AutoMLMetaError)
    async def library_error(_request: Request, exc: AutoMLMetaError) -> JSONResponse:
        if isinstance(exc, SERVER_SIDE_ERRORS):
            logger.error("server-side error: %s", exc)
            return _problem(503, str(exc), exc.__class__.__name__)
        return _problem(400, str(exc), exc.__class__.__name__)

    @app.exception_handler(SQLAlchemyError)
    async def database_error(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        logger.error("meta-database error", exc_info=exc)
        if is_transient(exc):
            return _problem(503, "The meta-database is not available right now; retry "
                            "later. (The details are in the server log.)", "MetaDBError")
        if isinstance(exc, DataError):
            return _problem(422, "The meta-database refused a value of the request "
                            f"({exc.orig.__class__.__name__ if exc.orig else 'DataError'}); "
                            "nothing was written. Check the values against the schema "
                            "(GET /openapi.json).", "ValidationError")
        if isinstance(exc, IntegrityError):
            return _problem(409, "The request conflicts with what the meta-database holds; "
                            "nothing was written. (The details are in the server log.)",
                            "MetaDBError")
        return _problem(500, "The meta-database failed on this request in a way that "
                        "retrying will not fix; nothing was written. Tell the operator "
                        "(the details are in the server log).", "MetaDBError")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg")),
                    "type": str(e.get("type"))} for e in exc.errors()]
        summary = "; ".join(f"{'.'.join(d['loc']) or 'body'}: {d['msg']}" for d in details[:5])
        more = f" (and {len(details) - 5} more)" if len(details) > 5 else ""
        return _problem(422, f"The request does not match its schema: {summary}{more}.",
                        "ValidationError", detail=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _problem(exc.status_code, str(exc.detail), "HTTPError",
                        headers=dict(exc.headers or {}))


def is_transient(exc: SQLAlchemyError) -> bool:
    """Whether a database error says the database is away or busy for now (503, retry),
    rather than that this request cannot succeed (e.g. too many bind parameters)."""
    if isinstance(exc, (DisconnectionError, PoolTimeoutError)):
        return True
    if getattr(exc, "connection_invalidated", False):
        return True
    if not isinstance(exc, OperationalError):
        return False
    text = str(exc.orig if exc.orig is not None else exc).lower()
    return any(marker in text for marker in TRANSIENT_DB_MESSAGES)


def default_allowed_hosts(host: str) -> str:
    """``automl-meta serve``'s default ``--allowed-hosts`` for listening on ``host``: the
    loopback names on a loopback address (a browser page cannot rebind its name to
    127.0.0.1 and read the store), else ``*`` (any: the operator knows the server's names)."""
    import ipaddress

    name = host.strip().strip("[]").lower()
    try:
        loopback = name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:
        loopback = False
    return ",".join(dict.fromkeys((*LOOPBACK_HOSTS, name))) if loopback else "*"


def create_app_from_env() -> FastAPI:
    """:func:`create_app` configured by ``AUTOML_META_SERVE_*`` variables (uvicorn factory).

    ``automl-meta serve --workers N`` sets them, so that each worker process builds the
    same application: ``DB``, ``TOKEN_FILE``, ``READ_TOKEN_FILE``, ``READ_TOKEN_REQUIRED``,
    ``MAX_UPLOAD_BYTES``, ``MAX_RECORD_BYTES``, ``DATA_DIR``, ``STRATEGIES`` and
    ``ALLOWED_HOSTS`` (comma-separated). The tokens themselves are read from
    ``$AUTOML_META_TOKEN`` and ``$AUTOML_META_READ_TOKEN`` when set.
    """
    env = os.environ

    def get(name: str) -> str | None:
        return env.get(ENV_PREFIX + name) or None

    strategies = get("STRATEGIES")
    return create_app(
        db_url=get("DB"), token_file=get("TOKEN_FILE"), read_token_file=get("READ_TOKEN_FILE"),
        read_token_required=(get("READ_TOKEN_REQUIRED") or "0").lower() in ("1", "true", "yes"),
        max_upload_bytes=int(get("MAX_UPLOAD_BYTES") or DEFAULT_MAX_UPLOAD_BYTES),
        max_record_bytes=int(get("MAX_RECORD_BYTES") or DEFAULT_MAX_RECORD_BYTES),
        data_dir=get("DATA_DIR"), allowed_hosts=get("ALLOWED_HOSTS"),
        strategies=[s.strip() for s in strategies.split(",")] if strategies else None)
