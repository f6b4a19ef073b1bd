"""The one progress bar of long work (builds, benchmarks): count, elapsed time and ETA."""

from __future__ import annotations

from typing import Any


def eta_progress(label: str = "[progress.description]{task.description}",
                 **options: Any) -> Any:
    """A ``rich.progress.Progress`` showing ``label``, a bar, done/total, elapsed and ETA.

    Example:
        >>> with eta_progress("evaluating") as bar:  # doctest: +SKIP
        ...     task = bar.add_task("build", total=10)
        ...     bar.advance(task, 10)
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("ETA"), TimeRemainingColumn(), **options)
