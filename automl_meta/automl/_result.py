"""What a :func:`~automl_meta.fit` hands back: its budget, progress and result."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl_meta.automl._report import render_report, write_score_curve
from automl_meta.automl._saved_model import save_result, warn_unseen_categories
from automl_meta.errors import ConfigurationError
from automl_meta.evaluation.metrics import class_scores

STAGES = ("prepare", "search", "refit", "record", "done")
SIMILAR_DIGITS = 2  # numeric parameters agreeing to this many significant digits are similar
SIMILAR_SCORE = 1e-4  # ... when their scores also agree within this


def parse_budget(budget: str | float | int) -> float:
    """Seconds from ``60``, ``"60s"``, ``"2m"``, ``"1h"`` or ``"1m30s"``."""
    if isinstance(budget, (int, float)) and not isinstance(budget, bool):
        seconds = float(budget)
    else:
        text = str(budget).strip().lower()
        parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?",
                             text)
        if not text or parts is None or not any(parts.groups()):
            raise ConfigurationError(f"budget={budget!r} is not a duration; expected seconds "
                                     "or a string like '60s', '5m', '1h'.")
        hours, minutes, secs = (float(g) if g else 0.0 for g in parts.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if not np.isfinite(seconds) or seconds <= 0:
        raise ConfigurationError(f"budget={budget!r} must be a positive, finite duration.")
    return seconds


@dataclass(frozen=True)
class FitProgress:
    """A snapshot of a running :func:`~automl_meta.fit`, handed to its ``callback``.

    ``stage`` is ``"prepare"`` (meta-features and recommendations), ``"search"`` (reported
    after every finished trial and every quarter second), ``"refit"`` (the chosen model on
    all rows), ``"record"`` or ``"done"``. ``best_score`` is the best cross-validated
    ``metric`` so far (``None`` before a trial succeeds); at ``"done"`` it is the final
    score, an ensemble's included.

    Example:
        >>> def show(p: FitProgress) -> None:
        ...     print(f"{p.trials} trials, best {p.best_score}, {p.time_left:.0f} s left")
        >>> fit("sklearn:iris", budget="10s", callback=show)  # doctest: +SKIP
    """

    stage: str
    trials: int
    failed: int
    best_score: float | None
    best_algorithm: str | None
    metric: str
    elapsed: float
    budget: float

    @property
    def time_left(self) -> float:
        """Seconds of the budget not yet spent (never negative)."""
        return max(0.0, self.budget - self.elapsed)


@dataclass
class FitResult:
    """What :func:`~automl_meta.fit` returns: the fitted model and how it was found.

    Besides the model and the search (``leaderboard``, ``study``, ``best_config``,
    ``ensemble`` members with their weights), it describes the training data (``dataset``,
    ``target``, the ``features`` the model reads in order, which of them are
    ``categorical``) so that :func:`~automl_meta.automl.save_result` writes all
    :func:`~automl_meta.load_model` needs.

    ``leaderboard`` has one row per trial evaluated (``trial`` is its order, ``finished``
    the seconds since ``fit`` started when it ended), best first; ties go to the earlier
    trial, the same rule that chose ``best_config``, so row 1 is the configuration ``fit``
    kept unless an ensemble or a fallback refit was kept instead.
    :meth:`distinct_leaderboard` folds near-identical trials into one row for display.

    How the budget was spent: ``stage_seconds`` maps each stage (:data:`._report.STAGE_NAMES`)
    (``prepare``: loading, meta-features and recommendations; ``search``; ``ensemble``
    selection; ``refit`` on all rows; ``record``) to its wall seconds; the search stopped
    ``search_ended`` seconds into the budget, keeping ``refit_reserve`` seconds for the
    refit on all ``n_rows`` (the search itself ran on ``search_rows`` of them);
    :attr:`search_note` says so in a sentence.

    Example:
        >>> result = fit("sklearn:iris", budget="10s")  # doctest: +SKIP
        >>> result.best_config["algorithm"], result.best_score  # doctest: +SKIP
        >>> result.leaderboard[["algorithm", "status", result.metric]].head(3)  # doctest: +SKIP
        >>> result.distinct_leaderboard(10)  # doctest: +SKIP
        >>> result.stage_seconds  # doctest: +SKIP
        {'prepare': 0.8, 'search': 8.1, 'ensemble': 0.0, 'refit': 0.3, 'record': 0.1}
        >>> result.predict(new_rows)  # doctest: +SKIP
        >>> result.save("model/")  # doctest: +SKIP
    """

    model: Any
    leaderboard: pd.DataFrame
    study: Any
    best_config: dict[str, Any]
    best_score: float
    task: str
    metric: str
    seconds: float
    ensemble: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    run_id: int | None = None
    dataset: str = ""
    target: str = "target"
    features: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    n_rows: int = 0
    budget: float = 0.0
    protocol: str = "cv3"
    recorded_to: str | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    search_ended: float | None = None
    refit_reserve: float = 0.0
    search_rows: int = 0

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of the fitted model for the feature rows ``X`` (a warning names the
        columns holding categories training never saw)."""
        warn_unseen_categories(self.model, X)
        return self.model.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities for ``X``, one column per class of ``model.classes_``."""
        if self.task != "classification":
            raise ConfigurationError("predict_proba is only defined for classification.")
        warn_unseen_categories(self.model, X)
        return class_scores(self.model, X, self.model.classes_)

    def save(self, directory: str | Path) -> list[Path]:
        """Write this result into ``directory`` in the format
        :func:`~automl_meta.load_model` reads (never a pickle): what
        :func:`~automl_meta.automl.save_result` writes, with ``config.json`` also holding
        ``stage_seconds``, plus ``score_over_time.png`` (the best score as the search went,
        shown in ``report.md``) when matplotlib is installed. Returns the paths written.

        Example:
            >>> result = fit("sklearn:iris", budget="10s")  # doctest: +SKIP
            >>> result.save("model/")  # doctest: +SKIP
            >>> load_model("model/").predict(new_rows)  # doctest: +SKIP
        """
        written = save_result(self, directory)
        out = Path(directory)
        config = out / "config.json"
        if config.is_file():
            saved = json.loads(config.read_text())
            saved["stage_seconds"] = {k: round(v, 3) for k, v in self.stage_seconds.items()}
            config.write_text(json.dumps(saved, indent=1, default=str) + "\n")
        figure = write_score_curve(self, out)
        if figure is not None:
            (out / "report.md").write_text(render_report(self, figure=figure.name))
            written.append(figure)
        return written

    @property
    def search_note(self) -> str | None:
        """A sentence on when the search stopped and why, or ``None`` when unknown."""
        if self.search_ended is None:
            return None
        rows = (f"all {self.n_rows:,} rows (the search used {self.search_rows:,})"
                if self.search_rows and self.search_rows < self.n_rows
                else f"all {self.n_rows:,} rows")
        early = "stopped early, at" if self.refit_reserve > max(0.1 * self.budget, 1.0) \
            else "stopped at"
        return (f"The search {early} {self.search_ended:.1f} s of the {self.budget:.0f} s "
                f"budget, keeping {self.refit_reserve:.1f} s for the refit on {rows}.")

    def distinct_leaderboard(self, rows: int | None = None) -> pd.DataFrame:
        """:attr:`leaderboard` with near-identical trials folded into the best of them.

        Trials are near-identical when they ran the same algorithm with the same
        categorical parameters, numeric parameters equal to two significant digits, the
        same status and scores within 1e-4; the row kept (the first, so the best) counts
        the others in a ``similar`` column. ``rows`` keeps only the first ones.

        Example:
            >>> result.distinct_leaderboard(10)[["algorithm", "similar"]]  # doctest: +SKIP
        """
        return distinct_leaderboard(self.leaderboard, self.metric, rows)


class ProgressReporter:
    """Builds :class:`FitProgress` snapshots from the evaluations so far for a callback."""

    def __init__(self, callback: Callable[[FitProgress], None] | None, metric: str,
                 sign: float, started: float, budget: float) -> None:
        self.callback = callback
        self.metric = metric
        self.sign = sign
        self.started = started
        self.budget = budget

    def __call__(self, stage: str, evaluations: list[Any],
                 final: tuple[float, str] | None = None) -> None:
        if self.callback is None:
            return
        done = list(evaluations)  # trials may append from worker threads meanwhile
        scored = [e for e in done if e.ok and np.isfinite(e.metrics.get(self.metric, np.nan))]
        best = max(scored, key=lambda e: self.sign * e.metrics[self.metric], default=None)
        score, algorithm = final or ((best.metrics[self.metric], best.config["algorithm"])
                                     if best is not None else (None, None))
        self.callback(FitProgress(stage=stage, trials=len(done), failed=len(done) - len(scored),
                                  best_score=score, best_algorithm=algorithm,
                                  metric=self.metric, elapsed=time.perf_counter() - self.started,
                                  budget=self.budget))


def leaderboard(evaluations: list[Any], metric: str, sign: float,
                finished: list[float] | None = None) -> pd.DataFrame:
    """One row per trial, best ``metric`` first (failures last), ties to the earlier trial
    (as :meth:`Search.ranked` chooses); ``finished`` holds when each trial ended, in
    seconds since the fit started."""
    rows = [{"trial": i, "algorithm": e.config["algorithm"], "params": e.config["params"],
             "status": e.status, metric: e.metrics.get(metric, np.nan),
             "fit_seconds": e.fit_seconds, "wall_seconds": e.wall_seconds}
            for i, e in enumerate(evaluations)]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    if finished is not None and len(finished) == len(frame):
        frame["finished"] = finished
    order = frame[metric].fillna(-np.inf * sign) * sign
    return frame.assign(_o=order).sort_values("_o", ascending=False, kind="stable") \
        .drop(columns="_o").reset_index(drop=True)


def distinct_leaderboard(board: pd.DataFrame, metric: str,
                         rows: int | None = None) -> pd.DataFrame:
    """``board`` (best first) without its near-identical rows, each kept row counting the
    ones it stands for in ``similar`` (see :meth:`FitResult.distinct_leaderboard`)."""
    if board.empty:
        return board.assign(similar=pd.Series(dtype=int))
    kept: list[int] = []
    similar: list[int] = []
    groups: dict[Any, list[int]] = {}  # key -> positions in `kept`
    scores = board[metric].to_numpy(dtype=float)
    for i, row in enumerate(board.itertuples(index=False)):
        key = (row.algorithm, row.status, _rounded(row.params))
        for slot in groups.get(key, []):
            other = scores[kept[slot]]
            if (np.isnan(other) and np.isnan(scores[i])) \
                    or abs(other - scores[i]) <= SIMILAR_SCORE:
                similar[slot] += 1
                break
        else:
            groups.setdefault(key, []).append(len(kept))
            kept.append(i)
            similar.append(0)
    frame = board.iloc[kept].assign(similar=similar).reset_index(drop=True)
    return frame if rows is None else frame.iloc[:rows]


def _rounded(params: Any) -> Any:
    """A hashable form of ``params`` with numbers at :data:`SIMILAR_DIGITS` significant
    digits (booleans, strings and ``None`` as they are)."""
    if isinstance(params, dict):
        return tuple(sorted((str(k), _rounded(v)) for k, v in params.items()))
    if isinstance(params, (list, tuple)):
        return tuple(_rounded(v) for v in params)
    if isinstance(params, (int, float, np.integer, np.floating)) \
            and not isinstance(params, (bool, np.bool_)):
        value = float(params)
        if value == 0 or not math.isfinite(value):
            return value
        return float(f"{value:.{SIMILAR_DIGITS - 1}e}")
    return params if isinstance(params, (str, bool, type(None))) else repr(params)
