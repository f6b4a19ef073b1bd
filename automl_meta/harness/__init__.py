"""Benchmarks: the leave-one-dataset-out evaluation of the meta-learners, and the harness
that runs every method (ours and the peers') on a directory of datasets.

Example:
    >>> from automl_meta.harness import run_benchmark
    >>> run_benchmark("../shared/datasets/pmlb", "out/", methods=["hgb_default", "tpe"],
    ...               budgets=[5, 20], datasets=["iris"])  # doctest: +SKIP
"""

from __future__ import annotations

from automl_meta.harness.harness import run_benchmark, write_outputs
from automl_meta.harness.methods import DEFAULT_METHODS, METHODS
from automl_meta.harness.summary import score_table, summarise
from automl_meta.metalearners.lodo import LODO_KS, lodo_regret

__all__ = ["DEFAULT_METHODS", "LODO_KS", "METHODS", "lodo_regret", "run_benchmark",
           "score_table", "summarise", "write_outputs"]
