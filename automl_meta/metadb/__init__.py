"""The meta-database: store, resumable builder, Parquet bundles, Optuna-study import."""

from __future__ import annotations

from automl_meta.metadb._builder import BuildSettings, build, plan_build
from automl_meta.metadb._optuna_import import ImportSummary, import_optuna_study
from automl_meta.metadb._schema import SCHEMA_VERSION
from automl_meta.metadb._store import MetaDB, family_of

__all__ = ["SCHEMA_VERSION", "BuildSettings", "ImportSummary", "MetaDB", "build", "family_of",
           "import_optuna_study", "plan_build"]
