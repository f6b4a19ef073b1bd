"""The rich progress bar of meta-training (``neural.train``)."""

from __future__ import annotations


def progress_bar(show: bool, description: str, total: int,
                 episodes_per_step: int = 1) -> ProgressBar | None:
    """A started :class:`ProgressBar` when ``show``, else ``None``."""
    return ProgressBar(description, total, episodes_per_step) if show else None


class ProgressBar:
    """A rich progress bar: steps done of all stages, episodes seen, the running loss."""

    def __init__(self, description: str, total: int, episodes_per_step: int = 1) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._episodes_per_step = episodes_per_step
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=20),
                                  MofNCompleteColumn(), TextColumn("steps"),
                                  TextColumn("{task.fields[episodes]:,} episodes"),
                                  TextColumn("loss {task.fields[loss]:.3f}"),
                                  TimeRemainingColumn(), transient=True)
        self._task = self._progress.add_task(description, total=total, loss=float("nan"),
                                             episodes=0)
        self._progress.start()

    def update(self, advance: int, loss: float) -> None:
        done = self._progress.tasks[0].completed + advance
        self._progress.update(self._task, advance=advance, loss=loss,
                              episodes=int(done) * self._episodes_per_step)

    def close(self) -> None:
        self._progress.stop()
