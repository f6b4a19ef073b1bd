"""``Client``: the Python side of a team's ``automl-meta serve``.

Every call is idempotent on the server (recording the same evaluation twice keeps one),
so a call that fails on the way (connection refused or reset, 502/503/504) is retried a
few times before it raises :class:`~automl_meta.errors.NetworkError`. httpx (the ``serve``
extra) is imported when a client is made, so importing this module needs nothing extra.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from automl_meta import errors as E
from automl_meta.data import Dataset
from automl_meta.data._load import index_task
from automl_meta.metafeatures import EXTRACTOR_VERSION, MetaFeatures, extract_metafeatures
from automl_meta.metalearners import Recommendation

if TYPE_CHECKING:
    import httpx

RETRY_STATUSES = (502, 503, 504)
# one record request holds at most this many evaluations (the server takes up to 20,000,
# all or nothing) and about this many bytes of JSON (the server's default limit is 32 MiB)
RECORD_BATCH = 10_000
RECORD_BATCH_BYTES = 16 * 2**20
TOKEN_ENV = "AUTOML_META_TOKEN"
READ_TOKEN_ENV = "AUTOML_META_READ_TOKEN"


class Client:
    """Talk to an ``automl-meta serve`` server.

    Args:
        url: the server, e.g. ``"http://meta.internal:8000"``.
        token: the write token (default ``$AUTOML_META_TOKEN``); needed to record, and
            also good for reading.
        timeout: seconds per request (meta-features of a large upload take a while).
        retries: extra attempts after a connection error or a 502/503/504.
        read_token: a read-only token (default ``$AUTOML_META_READ_TOKEN``), sent with
            reads when the server protects them (``automl-meta serve --read-token-file``);
            without one, reads send ``token``.

    Example:
        >>> client = Client("http://127.0.0.1:8000")  # doctest: +SKIP
        >>> mf = client.metafeatures("data.csv", target="label")  # doctest: +SKIP
        >>> client.recommend(metafeatures=mf, task="classification", k=3)  # doctest: +SKIP
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 120.0,
                 retries: int = 2, read_token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.read_token = (read_token if read_token is not None
                           else os.environ.get(READ_TOKEN_ENV) or None)
        self.retries = retries
        self._write_headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        reader = self.read_token or self.token
        self._read_headers = {"Authorization": f"Bearer {reader}"} if reader else {}
        try:
            import httpx
        except ImportError as exc:
            raise E.ConfigurationError(
                f"automl_meta.service.Client needs the serve extra ({exc.name} is missing): "
                "pip install 'automl-meta[serve]'.") from exc

        self._transport_error = httpx.TransportError
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading --------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """``{"status": "ok", "version": ..., "schema_version": ...}``."""
        return self._request("GET", "/health")

    def stats(self) -> dict[str, Any]:
        """The server store's coverage counts, as ``MetaDB.stats()``."""
        return self._request("GET", "/v1/stats")

    def metafeatures(self, data: Any, target: str | None = None, task: str | None = None,
                     groups: str = "all") -> Any:
        """Upload a dataset (a file path or a DataFrame) and get its meta-features.

        Returns a :class:`~automl_meta.metafeatures.MetaFeatures`, equal to what
        ``extract_metafeatures`` computes locally on the same data.
        """
        body = self._request("POST", "/v1/metafeatures", files=_upload(data),
                             data=_form(target=target, task=task or _index_task(data),
                                        groups=groups))
        values = {name: math.nan if value is None else value
                  for name, value in body["metafeatures"].items()}
        return MetaFeatures(values, body["seconds"], body["groups"])

    def recommend(self, metafeatures: Mapping[str, float] | None = None,
                  task: str | None = None, k: int = 10, strategy: str = "auto", *,
                  data: Any = None, target: str | None = None,
                  fingerprint: str | None = None) -> list[Any]:
        """Recommendations from the server, as :func:`automl_meta.recommend` returns them.

        Pass ``metafeatures`` and ``task`` (the data never leaves this machine), or ``data``
        (a file path or DataFrame, uploaded) with optional ``target`` and ``task``. With
        meta-features, the data's content ``fingerprint`` lets the server put runs it holds
        on the very same data first.
        """
        if metafeatures is not None:
            if task is None:
                raise E.ConfigurationError("With metafeatures, pass task='classification' or "
                                           "task='regression'.")
            body = self._request("POST", "/v1/recommend", json={
                "metafeatures": _finite_values(metafeatures), "task": task, "k": k,
                "strategy": strategy,
                **({"fingerprint": fingerprint} if fingerprint is not None else {})})
        elif data is not None:
            body = self._request("POST", "/v1/recommend", files=_upload(data), data=_form(
                target=target, task=task or _index_task(data), k=k, strategy=strategy))
        else:
            raise E.ConfigurationError("recommend() needs metafeatures (with task) or data.")
        out = []
        for item in body["recommendations"]:
            if item.get("predicted_score") is None:
                item["predicted_score"] = math.nan
            out.append(Recommendation(**item))
        return out

    # -- writing --------------------------------------------------------------------------
    def record(self, dataset: Any, evaluations: Iterable[Any],
               metafeatures: Mapping[str, float] | None = None,
               n_rows_used: int | None = None) -> dict[str, Any]:
        """Record evaluation results of ``dataset`` on the server (needs the token).

        Args:
            dataset: an :class:`~automl_meta.Dataset`, or a mapping with ``name``,
                ``fingerprint``, ``task``, ``n_rows``, ``n_features`` (``n_classes``).
            evaluations: :class:`~automl_meta.evaluation.Evaluation` objects or mappings
                with ``config``, ``protocol``, ``status``, ``metrics`` (...).
            metafeatures: the dataset's meta-features; computed here when omitted and
                ``dataset`` is a Dataset.
            n_rows_used: on how many rows the evaluations were computed, when that was a
                subsample (as :func:`~automl_meta.record_evaluations`).

        Returns:
            The server's answer: ``dataset_id``, ``config_ids``, ``evaluations``.

        Up to 10,000 evaluations (and 16 MiB of JSON) go in one request, which the server
        stores all or nothing; more are sent in several such requests. The meta-features
        always go with them when ``dataset`` is a Dataset (a record without them is kept
        but not used to find neighbours).
        """
        if isinstance(dataset, Dataset):
            if metafeatures is None:
                metafeatures = extract_metafeatures(dataset)
            described = {"name": dataset.name[:255], "fingerprint": dataset.fingerprint,
                         "task": dataset.task, "n_rows": dataset.n_rows,
                         "n_features": dataset.n_features, "n_classes": dataset.n_classes,
                         "source": dataset.source[:1000]}
        else:
            described = dict(dataset)
        payload: dict[str, Any] = {"dataset": described}
        if metafeatures:
            payload["metafeatures"] = _finite_values(metafeatures)
            payload["metafeature_seconds"] = {
                str(name): float(value) for name, value in
                dict(getattr(metafeatures, "seconds", {})).items()
                if value is not None and math.isfinite(float(value)) and float(value) >= 0}
            payload["extractor_version"] = EXTRACTOR_VERSION
        rows = [_evaluation(e) for e in evaluations]
        if n_rows_used is not None:
            for row in rows:
                row["n_rows_used"] = int(n_rows_used)
        if not rows:
            raise E.ConfigurationError("record() needs at least one evaluation.")
        answer: dict[str, Any] = {}
        config_ids: list[int] = []
        for batch in _batches(rows, RECORD_BATCH,
                              RECORD_BATCH_BYTES - len(json.dumps(payload))):
            answer = self._request("POST", "/v1/evaluations", write=True,
                                   json={**payload, "evaluations": batch})
            config_ids += answer["config_ids"]
        return {**answer, "config_ids": config_ids, "evaluations": len(rows)}

    # -- transport ------------------------------------------------------------------------
    def _request(self, method: str, path: str, write: bool = False, **kwargs: Any) -> Any:
        headers = self._write_headers if write else self._read_headers
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._http.request(method, path, headers=headers, **kwargs)
            except self._transport_error as exc:
                if last:
                    raise E.NetworkError(
                        f"Could not reach the automl-meta server at {self.url} ({method} "
                        f"{path}): {exc.__class__.__name__}: {exc}. Check the URL and that "
                        "`automl-meta serve` is running.") from exc
            else:
                if response.status_code not in RETRY_STATUSES or last:
                    return _answer(response, method, path)
            time.sleep(min(2.0, 0.2 * 2 ** attempt))
        raise AssertionError("unreachable")


def _answer(response: httpx.Response, method: str, path: str) -> Any:
    if response.is_success:
        return response.json()
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message, error = str(body.get("message") or body.get("detail")), str(body.get("error"))
    else:
        message, error = response.text[:500], ""
    text = f"{method} {path} -> {response.status_code}: {message}"
    known = {"DatasetError": E.DatasetError, "ConfigurationError": E.ConfigurationError,
             "MetaDBError": E.MetaDBError, "SchemaVersionError": E.SchemaVersionError,
             "ArtifactError": E.ArtifactError}
    if error in known:
        raise known[error](text)
    if response.status_code >= 500:
        raise E.NetworkError(text)
    if response.status_code in (413, 415):
        raise E.DatasetError(text)
    raise E.ConfigurationError(text)


def _batches(rows: list[dict[str, Any]], count: int, size: int
             ) -> Iterable[list[dict[str, Any]]]:
    """``rows`` in order, in batches of at most ``count`` rows and about ``size`` bytes."""
    batch: list[dict[str, Any]] = []
    used = 0
    for row in rows:
        cost = len(json.dumps(row, default=str)) + 2
        if batch and (len(batch) >= count or used + cost > size):
            yield batch
            batch, used = [], 0
        batch.append(row)
        used += cost
    if batch:
        yield batch


def _upload(data: Any) -> dict[str, tuple[str, bytes, str]]:
    if isinstance(data, pd.DataFrame):
        buffer = io.BytesIO()
        data.to_parquet(buffer, index=False)
        return {"file": ("dataframe.parquet", buffer.getvalue(), "application/octet-stream")}
    if isinstance(data, (str, os.PathLike)):
        path = Path(data).expanduser()
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise E.DatasetError(f"Cannot read {str(path)!r} to upload it: "
                                 f"{exc.strerror or exc}.") from exc
        return {"file": (path.name, content, "application/octet-stream")}
    raise E.DatasetError(f"Cannot upload a {type(data).__name__}; expected a file path or a "
                         "pandas DataFrame.")


def _index_task(data: Any) -> str | None:
    """The task an ``index.csv`` beside a local file gives it, as ``load_dataset`` reads it
    (the server sees the file alone, so it would otherwise infer the task)."""
    if not isinstance(data, (str, os.PathLike)):
        return None
    return index_task(Path(data).expanduser())


def _form(**fields: Any) -> dict[str, str]:
    return {name: str(value) for name, value in fields.items() if value is not None}


def _finite_values(values: Mapping[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, value in dict(values.items()).items():
        number = float(value) if value is not None else math.nan
        out[str(name)] = number if math.isfinite(number) else None
    return out


def _evaluation(item: Any) -> dict[str, Any]:
    row = dict(item.to_dict() if hasattr(item, "to_dict") else item)
    if hasattr(item, "score") and "score" not in row:
        row["score"] = item.score
    keep = ("config", "protocol", "status", "score", "metrics", "fit_seconds",
            "predict_seconds", "error", "n_rows_used")
    out = {key: row[key] for key in keep if key in row}
    out["metrics"] = _finite_values(out.get("metrics") or {})
    if out.get("score") is not None and not math.isfinite(float(out["score"])):
        out["score"] = None
    if out.get("error") is not None:
        out["error"] = str(out["error"])[:10_000]
    return out
