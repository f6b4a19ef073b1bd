"""The request and response bodies of the service (pydantic models).

Bounds mirror the meta-database's columns (a name fits ``String(255)``, a meta-feature name
``String(128)``, counts fit a 32-bit integer), so a request the models accept never fails
later in the database with a server error.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from automl_meta.evaluation.metrics import METRIC_RANGES, PRIMARY_METRIC
from automl_meta.metalearners import LEARNERS

Task = Literal["classification", "regression"]


def strategy_names() -> list[str]:
    """``"auto"`` and every registered meta-learner, now (the ``strategy`` field's values)."""
    return list(LEARNERS.strategies)


def _known_strategy(value: str) -> str:
    if value not in LEARNERS.strategies:
        raise ValueError(f"unknown strategy {value!r}; expected one of "
                         f"{', '.join(strategy_names())}")
    return value


def _strategy_enum(schema: dict[str, Any]) -> None:
    schema["enum"] = strategy_names()


# Checked against the learner registry when a request is validated (not a Literal fixed at
# import), so a learner registered at run time is a strategy of the service too; the
# OpenAPI schema lists the names registered when it is generated.
Strategy = Annotated[str, AfterValidator(_known_strategy),
                     Field(json_schema_extra=_strategy_enum)]
Status = Literal["ok", "timeout", "memout", "error"]
MetricName = Literal["balanced_accuracy", "accuracy", "roc_auc", "log_loss", "r2", "rmse",
                     "mae"]

MAX_INT32 = 2**31 - 1
MAX_METAFEATURES = 5_000
MAX_EVALUATIONS = 20_000  # one record request, all or nothing; ~20 MB of JSON at most
MAX_K = 1_000


def _no_nul(value: str) -> str:
    if "\x00" in value:  # PostgreSQL text cannot hold NUL; say so instead of failing later
        raise ValueError("must not contain NUL (\\x00) characters")
    return value


def Text(max_length: int, min_length: int = 0) -> Any:  # noqa: N802  (a type factory)
    """A string stored in the meta-database: bounded, without NUL characters."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length),
                     AfterValidator(_no_nul)]


MetaFeatureName = Text(128, 1)
ParamName = Text(64, 1)
ParamValue = Text(256) | bool | int | float | None
Seconds = Annotated[float, Field(ge=0.0, le=1e9, allow_inf_nan=False)]
MetaFeatureValues = Annotated[
    dict[MetaFeatureName, float | None],
    Field(max_length=MAX_METAFEATURES, description="Meta-feature values by name; null (or a "
          "missing name) means not available."),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecommendRequest(_Strict):
    """Recommend configurations for a dataset described by its meta-features."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "metafeatures": {"nr_inst": 150.0, "nr_attr": 4.0, "nr_class": 3.0,
                         "class_ent": 1.585}, "task": "classification", "k": 3,
        "strategy": "auto"}]})

    metafeatures: MetaFeatureValues
    task: Task
    k: int = Field(10, ge=1, le=MAX_K, description="How many recommendations.")
    strategy: Strategy = "auto"
    fingerprint: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16,64}$")] | None = Field(
        None, description="The data's content fingerprint (automl_meta.load_dataset, hex): "
        "runs the store holds on the very same data come first.")


class RecommendUploadFields(_Strict):
    """The form fields that come with a dataset uploaded to ``POST /v1/recommend``."""

    target: Text(255) | None = None
    task: Task | None = None
    k: int = Field(10, ge=1, le=MAX_K)
    strategy: Strategy = "auto"


class RecommendationOut(BaseModel):
    """One recommended configuration (the fields of ``automl_meta.Recommendation``)."""

    algorithm: str
    params: dict[str, Any]
    predicted_score: float | None
    strategy: str
    why: str
    rank: int
    details: dict[str, Any] = Field(default_factory=dict)
    metric: str | None = Field(None, description="The raw metric of expected_metric "
                               "(balanced_accuracy, r2).")
    expected_metric: float | None = Field(
        None, description="The metric it is expected to reach: what it scored on the "
        "nearest past datasets that ran it (null when none did); predicted_score is a "
        "normalised score, 1 = as good as the best known configuration.")
    summary: str = Field("", description="A few words on why it sits where it does in "
                         "the list (after the first, picks hedge what the ones above miss).")


class DatasetOut(BaseModel):
    """What the server found in an uploaded dataset."""

    name: str
    fingerprint: str
    task: Task
    n_rows: int
    n_features: int
    n_classes: int


class RecommendResponse(BaseModel):
    """Recommendations, best first."""

    task: Task
    recommendations: list[RecommendationOut]
    dataset: DatasetOut | None = None


class MetaFeaturesResponse(BaseModel):
    """The meta-features of an uploaded dataset."""

    dataset: DatasetOut
    extractor_version: str
    metafeatures: dict[str, float | None]
    seconds: dict[str, float]
    groups: dict[str, str]


class DatasetIn(_Strict):
    """The dataset the recorded evaluations were made on (as ``automl_meta.Dataset``)."""

    name: Text(255, 1)
    fingerprint: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16,64}$")] = Field(
        description="The content fingerprint of automl_meta.load_dataset (hex).")
    task: Task
    n_rows: int = Field(ge=1, le=MAX_INT32)
    n_features: int = Field(ge=0, le=MAX_INT32)
    n_classes: int = Field(0, ge=0, le=MAX_INT32)
    source: Text(1_000) = ""


class ConfigIn(_Strict):
    """A configuration: an algorithm of the space and its hyperparameters."""

    algorithm: Text(64, 1)
    params: dict[ParamName, ParamValue] = Field(default_factory=dict, max_length=100)


def _metric(low: float | None, high: float | None, what: str) -> Any:
    return Field(None, ge=low, le=high, allow_inf_nan=False, description=what)


class MetricsIn(_Strict):
    """An evaluation's metrics: each finite and in its range; null or missing: not known."""

    balanced_accuracy: float | None = _metric(0.0, 1.0, "In [0, 1].")
    accuracy: float | None = _metric(0.0, 1.0, "In [0, 1].")
    roc_auc: float | None = _metric(0.0, 1.0, "In [0, 1].")
    log_loss: float | None = _metric(0.0, None, ">= 0.")
    r2: float | None = _metric(None, 1.0, "At most 1.")
    rmse: float | None = _metric(0.0, None, ">= 0.")
    mae: float | None = _metric(0.0, None, ">= 0.")

    def known(self) -> dict[str, float]:
        """The metrics given, by name."""
        return {name: value for name, value in self.model_dump().items() if value is not None}


# the range of the primary score by task (balanced accuracy, R²), as the store checks it
SCORE_RANGES: dict[str, tuple[float | None, float | None]] = {
    task: METRIC_RANGES[metric] for task, metric in PRIMARY_METRIC.items()}


class EvaluationIn(_Strict):
    """One evaluation result (as ``automl_meta.Evaluation``)."""

    config: ConfigIn
    protocol: Text(32, 1) = Field(
        description="cvK or holdoutF, optionally with :sSEED (e.g. cv5, cv3:s1).")
    status: Status
    score: float | None = Field(None, allow_inf_nan=False, description="The primary "
                                "metric (balanced accuracy in [0, 1] or R² <= 1); default: "
                                "balanced_accuracy or r2 from metrics.")
    metrics: MetricsIn = Field(default_factory=MetricsIn)
    fit_seconds: Seconds = 0.0
    predict_seconds: Seconds = 0.0
    error: Text(10_000) | None = None
    n_rows_used: int | None = Field(None, ge=1, le=MAX_INT32, description="Rows the "
                                    "evaluation used, when that was a subsample.")


class RecordRequest(_Strict):
    """Evaluation results to add to the shared meta-database (idempotent)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "dataset": {"name": "iris", "fingerprint": "471dc77efc19eaa9216d3a4371ebf327",
                    "task": "classification", "n_rows": 150, "n_features": 4, "n_classes": 3},
        "metafeatures": {"nr_inst": 150.0, "nr_attr": 4.0}, "extractor_version": "1",
        "evaluations": [{"config": {"algorithm": "knn", "params": {
            "n_neighbors": 7, "weights": "distance", "p": 2}}, "protocol": "cv5",
            "status": "ok", "metrics": {"balanced_accuracy": 0.96}, "fit_seconds": 0.01}]}]})

    dataset: DatasetIn
    metafeatures: MetaFeatureValues = Field(default_factory=dict)
    metafeature_seconds: dict[MetaFeatureName, Seconds] = Field(
        default_factory=dict, max_length=MAX_METAFEATURES)
    extractor_version: Text(32, 1) | None = (
        Field(None, description="EXTRACTOR_VERSION of the meta-features; required with them.")
    )
    evaluations: list[EvaluationIn] = Field(min_length=1, max_length=MAX_EVALUATIONS)


class RecordResponse(BaseModel):
    """Where the results went."""

    dataset_id: int
    config_ids: list[int]
    evaluations: int = Field(description="Evaluations received; cells already present "
                             "were kept as they were.")
    metafeatures_stored: bool


class HealthResponse(BaseModel):
    """Liveness and the store's reachability."""

    status: Literal["ok"]
    version: str
    schema_version: int


class StatsResponse(BaseModel):
    """The coverage counts of the store (``MetaDB.stats()``)."""

    model_config = ConfigDict(extra="allow")

    datasets: int
    configs: int
    evaluations: int
    failures: int
    runs: int
    datasets_with_metafeatures: int
    configs_per_algorithm: dict[str, int]
    evaluations_by_status: dict[str, int]
    bytes: int
    schema_version: int


class ErrorResponse(BaseModel):
    """Every error: a message saying what was wrong and what to do."""

    detail: Any
    error: str
    message: str
