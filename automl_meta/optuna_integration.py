"""Deprecated: import ``warm_start`` and ``MetaSampler`` from :mod:`automl_meta.advice`."""

from __future__ import annotations

from automl_meta._support.deprecation import moved

__getattr__ = moved(__name__, "automl_meta.advice")
