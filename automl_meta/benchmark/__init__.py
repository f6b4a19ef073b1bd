"""Benchmarks: the leave-one-dataset-out evaluation of the meta-learners."""

from __future__ import annotations

from automl_meta.benchmark.lodo import LODO_KS, lodo_regret

__all__ = ["LODO_KS", "lodo_regret"]
