"""Tables of the meta-database (SQLAlchemy Core) and the schema version."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 2
METRIC_COLUMNS = ("balanced_accuracy", "accuracy", "roc_auc", "log_loss", "r2", "rmse", "mae")

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", String(32), nullable=False),
)

dataset = Table(
    "dataset", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("source", Text, nullable=False, default=""),
    Column("fingerprint", String(64), nullable=False),
    Column("task", String(16), nullable=False),
    Column("family", String(255), nullable=False, default=""),
    Column("n_rows", Integer, nullable=False),
    Column("n_features", Integer, nullable=False),
    Column("n_classes", Integer, nullable=False, default=0),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("fingerprint", name="uq_dataset_fingerprint"),
)

metafeature = Table(
    "metafeature", metadata,
    Column("dataset_id", Integer, ForeignKey("dataset.id"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("value", Float, nullable=True),
    Column("seconds", Float, nullable=False, default=0.0),
    Column("extractor_version", String(32), nullable=False),
)

config = Table(
    "config", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task", String(16), nullable=False),
    Column("algorithm", String(64), nullable=False),
    Column("params_json", Text, nullable=False),
    Column("hash", String(32), nullable=False),
    UniqueConstraint("task", "hash", name="uq_config_task_hash"),
)

grid = Table(
    "grid", metadata,
    Column("name", String(64), primary_key=True),
    Column("config_id", Integer, ForeignKey("config.id"), primary_key=True),
    Column("position", Integer, nullable=False),
)

evaluation = Table(
    "evaluation", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset_id", Integer, ForeignKey("dataset.id"), nullable=False),
    Column("config_id", Integer, ForeignKey("config.id"), nullable=False),
    Column("protocol", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("score", Float, nullable=True),
    *(Column(name, Float, nullable=True) for name in METRIC_COLUMNS),
    Column("fit_seconds", Float, nullable=False, default=0.0),
    Column("predict_seconds", Float, nullable=False, default=0.0),
    Column("error", Text, nullable=True),
    Column("n_rows_used", Integer, nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("host", String(255), nullable=False, default=""),
    UniqueConstraint("dataset_id", "config_id", "protocol", name="uq_evaluation_cell"),
)
Index("ix_evaluation_dataset", evaluation.c.dataset_id)

run = Table(
    "run", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset_id", Integer, ForeignKey("dataset.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("started", String(32), nullable=False),
    Column("finished", String(32), nullable=True),
    Column("budget", Float, nullable=True),
    Column("best_config_id", Integer, ForeignKey("config.id"), nullable=True),
    Column("best_score", Float, nullable=True),
    Column("n_trials", Integer, nullable=False, default=0),
    Column("notes", Text, nullable=True),
)

TABLES = (dataset, metafeature, config, grid, evaluation, run)
