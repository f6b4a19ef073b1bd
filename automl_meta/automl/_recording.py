"""Recording a fit into its knowledge source as trials finish, and resuming from what the
source already holds for the same data."""

from __future__ import annotations

import time
import warnings
from typing import Any

from automl_meta._support import lifecycle as _lifecycle
from automl_meta.advice import KnowledgeSource
from automl_meta.automl._result import FitResult
from automl_meta.data import Dataset
from automl_meta.errors import AutoMLMetaError, AutoMLMetaWarning
from automl_meta.metalearners import Recommendation
from automl_meta.space import config_hash

RESUME_RERUN = 3  # best stored configurations of the same data evaluated again first


class TrialRecorder:
    """Records a fit's trials into ``source`` as they finish: a local store gets each batch
    of finished trials at once (one transaction; the dataset and its meta-features were
    registered first), a remote one every few trials or seconds (a failure there is a
    warning and ends the recording).

    ``previous`` maps the hash of each configuration the source already scored on this
    data (same protocol and rows) to its ``metric`` (NaN for a failure), for resuming;
    ``previous_configs`` maps the same hashes to the configurations.
    """

    def __init__(self, source: KnowledgeSource, data: Dataset, metafeatures: Any,
                 protocol_key: str, metric: str, rows_used: int) -> None:
        self.source, self.data, self.metafeatures = source, data, metafeatures
        self.rows_used = rows_used
        self.recorded = 0
        self.last_flush = time.perf_counter()
        self.failed: str | None = None
        self.previous, self.previous_configs = source.stored_trials(
            data, metafeatures, protocol_key, metric, rows_used)
        _lifecycle.note_kept(lambda: f"{self.recorded} finished trials were recorded to "
                             f"{source.label}; rerun fit on the same data to resume from them")

    def flush(self, evaluations: list[Any], force: bool = False) -> None:
        """Record the evaluations not yet recorded (the list only ever grows); a stop signal
        waits until the write is done, so it never lands mid-commit."""
        with _lifecycle.shielded():
            self._flush(evaluations, force)

    def _flush(self, evaluations: list[Any], force: bool) -> None:
        end = len(evaluations)
        pending = evaluations[self.recorded:end]
        if not pending or self.failed is not None:
            return
        if not force and len(pending) < self.source.batch_trials \
                and time.perf_counter() - self.last_flush < self.source.batch_seconds:
            return
        try:
            self.source.record(self.data, pending, metafeatures=self.metafeatures,
                               n_rows_used=self.rows_used)
        except AutoMLMetaError as exc:
            if not self.source.remote:
                raise
            self.failed = str(exc)
            warnings.warn(f"The run could not be recorded on {self.source.label}: {exc} "
                          "The fitted model is returned all the same.",
                          AutoMLMetaWarning, stacklevel=5)
            return
        self.recorded = end
        self.last_flush = time.perf_counter()

    def finish(self, evaluations: list[Any], result: FitResult, budget: float,
               started_at: str) -> tuple[int | None, str | None]:
        """Record what is left and the run; (run id, where it was recorded)."""
        self.flush(evaluations, force=True)
        if self.failed is not None:
            return None, None
        run_id = self.source.record_run(
            self.data, self.metafeatures, started=started_at, budget=budget,
            best_config=result.best_config, best_score=result.best_score,
            n_trials=len(evaluations),
            notes={"metric": result.metric, "ensemble": [c for c, _ in result.ensemble]})
        return run_id, self.source.label

    def close(self, evaluations: list[Any], failing: bool) -> None:
        """The last flush; while another exception propagates, a failure here only warns
        so that exception is the one the caller sees."""
        try:
            self.flush(evaluations, force=True)
        except Exception as exc:
            if not failing:
                raise
            warnings.warn(f"{len(evaluations) - self.recorded} finished trial(s) could not "
                          f"be recorded while stopping: {type(exc).__name__}: {exc}",
                          AutoMLMetaWarning, stacklevel=3)


def _resume_first(known: dict[str, float], configs: dict[str, dict[str, Any]],
                  recs: list[Any], n_warm: int, sign: float) -> tuple[list[Any], set[str]]:
    """The warm-start list when resuming: the best stored configurations first (evaluated
    again, so they can join an ensemble and compete with predictions), then the
    recommendations the store has not scored yet; and the hashes to evaluate again."""
    if not known:
        return recs, set()
    best = sorted((h for h, v in known.items() if v == v and h in configs),
                  key=lambda h: -sign * known[h])[:min(RESUME_RERUN, max(n_warm, 1))]
    first = [Recommendation(configs[h]["algorithm"], configs[h]["params"], 1.0, "resume",
                            f"scored {known[h]:.4f} on this data by an earlier fit", rank=i)
             for i, h in enumerate(best, start=1)]
    rest = [r for r in recs if config_hash(r.config) not in known]
    return first + rest, set(best)
