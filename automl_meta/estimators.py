"""Deprecated: import the estimators from :mod:`automl_meta.automl` (or ``automl_meta``)."""

from __future__ import annotations

from automl_meta._support.deprecation import moved

__getattr__ = moved(__name__, "automl_meta.automl")
