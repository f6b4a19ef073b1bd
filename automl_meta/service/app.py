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

Status codes: 400 for an unusable dataset or setting, 401/403 for a missing, wrong or
useless token, 404 when the store knows nothing of the task, 413 for a body over the
limit, 415 for a file format the server does not read (pickles are refused), 422 for a
body that does not match its schema, 503 when the meta-database cannot be reached.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
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
from automl_meta.service.auth import load_tokens, token_matches
from automl_meta.service.limits import BodySizeLimit, ServiceProblem
from automl_meta.service.uploads import load_upload, private_directory, save_upload

logger = logging.getLogger("automl_meta.service")

DEFAULT_MAX_UPLOAD_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_JSON_BYTES = 8 * 1024 * 1024
ENV_PREFIX = "AUTOML_META_SERVE_"
# errors of the server's own state (store, artifacts): 503, not the user's 4xx
SERVER_SIDE_ERRORS = (MetaDBError, ArtifactError, NetworkError, DeviceError)


class Service:
    """The state behind the routes: the store, the tokens, the limits and the locks."""

    def __init__(self, db_url: str | None, tokens: tuple[str, ...], read_token_required: bool,
                 max_upload_bytes: int, data_dir: Path, shipped: Path | None,
                 strategies: tuple[str, ...], max_concurrent_uploads: int) -> None:
        from automl_meta.config import user_db_url
        from automl_meta.metadb import MetaDB

        self.store = MetaDB(db_url or user_db_url())
        self.tokens = tokens
        self.read_token_required = read_token_required
        self.max_upload_bytes = max_upload_bytes
        self.data_dir = data_dir
        self.shipped = shipped
        self.strategies = strategies
        self._uploads = threading.BoundedSemaphore(max_concurrent_uploads)
        self._guard = threading.Lock()
        self._learner_locks: dict[str, threading.Lock] = {}

    # -- reading --------------------------------------------------------------------------
    def recommender(self) -> Any:
        """The library's cached :class:`~automl_meta._recommend.Recommender` of the store."""
        from automl_meta._recommend import get_recommender

        return get_recommender(self.store, self.shipped)

    def recommend(self, metafeatures: Mapping[str, float | None], task: str, k: int,
                  strategy: str) -> list[Any]:
        """What ``automl_meta.recommend(metafeatures=..., task=..., db=store)`` returns."""
        if strategy not in self.strategies:
            raise ServiceProblem(400, f"strategy={strategy!r} is not enabled on this server; "
                                 f"expected one of {', '.join(self.strategies)}.",
                                 "ConfigurationError")
        started = time.perf_counter()
        values = {name: math.nan if value is None else float(value)
                  for name, value in metafeatures.items()}
        recommender = self.recommender()
        chosen = recommender.resolve_strategy(strategy, task)
        try:
            recommender.knowledge.matrix(task)
        except MetaDBError as exc:
            raise ServiceProblem(404, str(exc), "MetaDBError") from exc
        # fit each learner once, not once per concurrent request (the ranker takes seconds)
        for name in {chosen, "portfolio"} if strategy == "auto" else {chosen}:
            with self._learner_lock(name):
                recommender.learner(name)
        recs = recommender.recommend(values, task, k=k, strategy=strategy)
        elapsed = time.perf_counter() - started
        for rec in recs:
            rec.details.setdefault("seconds", elapsed)
        return recs

    def _learner_lock(self, strategy: str) -> threading.Lock:
        with self._guard:
            return self._learner_locks.setdefault(strategy, threading.Lock())

    def warm_up(self) -> None:
        """Load the knowledge and the learners of ``auto`` before the first request."""
        try:
            recommender = self.recommender()
            for task in recommender.knowledge.matrices:
                for name in {recommender.resolve_strategy("auto", task), "portfolio"}:
                    recommender.learner(name)
        except Exception:  # a server with an empty store must still start
            logger.warning("could not warm up the recommender", exc_info=True)

    def extract(self, upload: Any, target: str | None, task: str | None,
                groups: str = "all") -> tuple[Any, Any]:
        """Save, load and characterise an uploaded dataset; returns (dataset, meta-features)."""
        from automl_meta.metafeatures import extract_metafeatures

        chosen: Any = "all" if groups.strip() == "all" else [
            g.strip() for g in groups.split(",") if g.strip()]
        with self._uploads, private_directory(self.data_dir) as directory:
            path = save_upload(upload.file, upload.filename, directory, self.max_upload_bytes)
            dataset = load_upload(path, target, task)
            return dataset, extract_metafeatures(dataset, groups=chosen)

    # -- writing --------------------------------------------------------------------------
    def record(self, body: sc.RecordRequest) -> sc.RecordResponse:
        """Add evaluation results; everything is checked before anything is written."""
        from automl_meta._metrics import PRIMARY_METRIC
        from automl_meta.evaluation import Protocol
        from automl_meta.metafeatures import EXTRACTOR_VERSION
        from automl_meta.space import validate_config

        ds = body.dataset
        configs, rows = [], []
        for i, ev in enumerate(body.evaluations):
            config = {"algorithm": ev.config.algorithm, "params": dict(ev.config.params)}
            try:
                validate_config(config, ds.task)
                protocol = Protocol.parse(ev.protocol).key
            except ConfigurationError as exc:
                raise ServiceProblem(422, f"evaluations[{i}]: {exc}",
                                     "ConfigurationError") from exc
            metrics = {name: value for name, value in ev.metrics.items() if value is not None}
            score = ev.score if ev.score is not None else metrics.get(PRIMARY_METRIC[ds.task])
            configs.append(config)
            rows.append({"protocol": protocol, "status": ev.status, "score": score,
                         "metrics": metrics, "fit_seconds": ev.fit_seconds,
                         "predict_seconds": ev.predict_seconds, "error": ev.error})
        if body.metafeatures and body.extractor_version is None:
            raise ServiceProblem(422, "extractor_version is required with metafeatures: send "
                                 "automl_meta.metafeatures.EXTRACTOR_VERSION of the extractor "
                                 "that computed them.", "ConfigurationError")
        if body.metafeatures and body.extractor_version != EXTRACTOR_VERSION:
            raise ServiceProblem(409, f"The meta-features were computed by extractor version "
                                 f"{body.extractor_version!r}; this server stores version "
                                 f"{EXTRACTOR_VERSION!r}, and versions are never mixed. "
                                 "Recompute them with POST /v1/metafeatures or upgrade "
                                 "automl-meta.", "ConfigurationError")
        store = self.store
        dataset_id = store.add_dataset(ds.name, ds.fingerprint, ds.task, ds.n_rows,
                                       ds.n_features, ds.n_classes, source=ds.source)
        stored = False
        if body.metafeatures and store.metafeature_version(dataset_id) != EXTRACTOR_VERSION:
            store.add_metafeatures(dataset_id, dict(body.metafeatures),
                                   dict(body.metafeature_seconds), EXTRACTOR_VERSION)
            stored = True
        config_ids = store.add_configs(ds.task, configs)
        store.add_evaluations(dataset_id, [{"config_id": cid, **row}
                                           for cid, row in zip(config_ids, rows, strict=True)])
        return sc.RecordResponse(dataset_id=dataset_id, config_ids=config_ids,
                                 evaluations=len(rows), metafeatures_stored=stored)

    # -- auth -----------------------------------------------------------------------------
    def check_token(self, credentials: HTTPAuthorizationCredentials | None,
                    write: bool) -> None:
        if not write and not self.read_token_required:
            return
        if write and not self.tokens:
            raise ServiceProblem(403, "This server accepts no writes: it was started without "
                                 "a token. Start it with AUTOML_META_TOKEN set or with "
                                 "--token-file.", "Forbidden")
        given = credentials.credentials if credentials is not None else None
        if not token_matches(given, self.tokens):
            what = "is not valid" if given else "is missing"
            raise ServiceProblem(401, f"The bearer token {what}. Send the header "
                                 "'Authorization: Bearer <token>' with a token of this server "
                                 "(automl_meta.service.Client(url, token=...) does).",
                                 "Unauthorized")


def create_app(
    db_url: str | None = None,
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
) -> FastAPI:
    """The FastAPI application of a shared meta-database.

    Args:
        db_url: the store (URL or SQLite path); default ``$AUTOML_META_DB`` or the user
            store. The shipped ``meta_db/`` (``shipped``, default ``$AUTOML_META_SHIPPED``
            or the repository's) is layered underneath, as for :func:`automl_meta.recommend`.
        token, token_file: the write token(s); default ``$AUTOML_META_TOKEN``, else the file
            (``$AUTOML_META_TOKEN_FILE``), one token per line. Without any, writes get 403.
        read_token_required: whether reading also needs a token.
        max_upload_bytes: the largest dataset upload (413 above it).
        data_dir: where uploads are written while they are read (each request in its own
            directory, removed afterwards); default a private temporary directory.
        strategies: the strategies clients may ask for (default all); learners that are not
            saved with the shipped bundle are fitted on first use, once.
        max_json_bytes: the largest JSON body.
        max_concurrent_uploads: uploads parsed at once per process (memory bound).
        warm_up: load the knowledge and the ``auto`` learners at startup.

    Example:
        >>> app = create_app("team.sqlite", token=secrets.token_urlsafe(32))  # doctest: +SKIP
        >>> uvicorn.run(app)  # doctest: +SKIP
    """
    from automl_meta._recommend import STRATEGIES

    tokens = load_tokens(token, token_file)
    if read_token_required and not tokens:
        raise ConfigurationError("read_token_required=True needs a token (token=, "
                                 "$AUTOML_META_TOKEN or a token file); none was given.")
    enabled = tuple(strategies) if strategies is not None else STRATEGIES
    unknown = sorted(set(enabled) - set(STRATEGIES))
    if unknown:
        raise ConfigurationError(f"Unknown strategies {', '.join(unknown)}; expected some of "
                                 f"{', '.join(STRATEGIES)}.")
    for name, value in (("max_upload_bytes", max_upload_bytes),
                        ("max_json_bytes", max_json_bytes),
                        ("max_concurrent_uploads", max_concurrent_uploads)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigurationError(f"{name}={value!r} must be a positive integer.")
    own_data_dir = data_dir is None
    directory = Path(tempfile.mkdtemp(prefix="automl-meta-serve-")) if own_data_dir else \
        Path(data_dir).resolve()
    service = Service(db_url, tokens, read_token_required, max_upload_bytes, directory,
                      Path(shipped) if shipped is not None else None, enabled,
                      max_concurrent_uploads)

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
    app.add_middleware(BodySizeLimit, max_json_bytes=max_json_bytes,
                       max_upload_bytes=max_upload_bytes)
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
                                       body.k, body.strategy)
        return sc.RecommendResponse(task=body.task, recommendations=_recs_out(recs))

    @app.post("/v1/evaluations", response_model=sc.RecordResponse, responses=errors,
              dependencies=[Depends(require_write)])
    def record(body: sc.RecordRequest) -> sc.RecordResponse:
        """Record evaluation results into the store; a cell already present is kept."""
        return service.record(body)


async def _recommend_upload(request: Request, service: Service) -> sc.RecommendResponse:
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("file")
    if not isinstance(upload, StarletteUpload):
        raise RequestValidationError([{"type": "missing", "loc": ("body", "file"),
                                       "msg": "Field required: the dataset file"}])
    fields = _validated(sc.RecommendUploadFields, {
        key: value for key, value in form.items() if key != "file"})

    def work() -> tuple[Any, list[Any]]:
        dataset, features = service.extract(upload, fields.target, fields.task)
        return dataset, service.recommend(features.to_dict(), dataset.task, fields.k,
                                          fields.strategy)

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
            "strategy": {"type": "string", "enum": list(sc.Strategy.__args__),
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
    return [sc.RecommendationOut(**_jsonable(rec.to_dict())) for rec in recs]


def _jsonable(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become null, numpy scalars Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
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
        return _problem(503, "The meta-database is not available right now; retry later. "
                        "(The details are in the server log.)", "MetaDBError")

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


def create_app_from_env() -> FastAPI:
    """:func:`create_app` configured by ``AUTOML_META_SERVE_*`` variables (uvicorn factory).

    ``automl-meta serve --workers N`` sets them, so that each worker process builds the
    same application: ``DB``, ``TOKEN_FILE``, ``READ_TOKEN_REQUIRED``, ``MAX_UPLOAD_BYTES``,
    ``DATA_DIR``, ``STRATEGIES`` (comma-separated). The token itself is read from
    ``$AUTOML_META_TOKEN`` when set.
    """
    env = os.environ

    def get(name: str) -> str | None:
        return env.get(ENV_PREFIX + name) or None

    strategies = get("STRATEGIES")
    return create_app(
        db_url=get("DB"), token_file=get("TOKEN_FILE"),
        read_token_required=(get("READ_TOKEN_REQUIRED") or "0").lower() in ("1", "true", "yes"),
        max_upload_bytes=int(get("MAX_UPLOAD_BYTES") or DEFAULT_MAX_UPLOAD_BYTES),
        data_dir=get("DATA_DIR"),
        strategies=[s.strip() for s in strategies.split(",")] if strategies else None)
