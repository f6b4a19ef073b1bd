"""The one progress bar of long work (builds, benchmarks): count, elapsed time and ETA; plain
lines at a modest rate when the output is not a terminal (CI, a notebook, a log file)."""

from __future__ import annotations

from typing import Any

PLAIN_EVERY_SHARE = 0.1  # a plain line every 10% of the total ...
PLAIN_EVERY_SECONDS = 10.0  # ... or every 10 s, whichever is rarer


def eta_progress(label: str = "[progress.description]{task.description}",
                 **options: Any) -> Any:
    """A ``rich.progress.Progress`` showing ``label``, a bar, done/total, elapsed and ETA.

    When its console is neither a terminal nor a notebook (a log file, CI), no bar is drawn;
    each task prints a plain line instead (description, done/total, elapsed, ETA) when it
    starts, every 10% of its total or 10 s (whichever is rarer), and when it finishes.

    Example:
        >>> with eta_progress("evaluating") as bar:  # doctest: +SKIP
        ...     task = bar.add_task("build", total=10)
        ...     bar.advance(task, 10)
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    given = options.get("console")
    console = given if isinstance(given, Console) else _default_console()
    if console.is_terminal or console.is_jupyter:  # a notebook draws rich's live widget
        return Progress(*columns, **options)
    return _plain_progress_class(Progress, label)(*columns, **{**options, "disable": True})


def _default_console() -> Any:
    from rich import get_console

    return get_console()


def _plain_progress_class(base: type, label: str) -> type:
    """A subclass of rich's ``Progress`` that prints plain lines instead of a live bar."""

    class PlainProgress(base):  # type: ignore[misc, valid-type]
        _logged: dict[Any, tuple[float, float]]  # task -> (time, completed) last printed

        def add_task(self, *args: Any, **kwargs: Any) -> Any:
            task_id = super().add_task(*args, **kwargs)
            self._logged = getattr(self, "_logged", {})
            self._line(task_id, force=True)
            return task_id

        def advance(self, task_id: Any, advance: float = 1) -> None:
            super().advance(task_id, advance)
            self._line(task_id)

        def update(self, task_id: Any, **kwargs: Any) -> None:
            super().update(task_id, **kwargs)
            self._line(task_id)

        def stop(self) -> None:
            for task_id in list(getattr(self, "_logged", {})):
                self._line(task_id, force=True)
            super().stop()

        def _line(self, task_id: Any, force: bool = False) -> None:
            with self._lock:
                task = self._tasks[task_id]
                now = self.get_time()
                last_time, last_done = self._logged.get(task_id, (float("-inf"), -1.0))
                if last_done == task.completed and force and last_time > float("-inf"):
                    return  # nothing new since the line already printed
                share = PLAIN_EVERY_SHARE * (task.total or 0)
                due = (now - last_time >= PLAIN_EVERY_SECONDS
                       and task.completed - last_done >= share)
                if not (force or due or (task.finished and last_done != task.completed)):
                    return
                self._logged[task_id] = (now, task.completed)
                total = "?" if task.total is None else f"{task.total:g}"
                eta = task.time_remaining
                text = (f"{_name(label, task)}  {task.completed:g}/{total}  "
                        f"elapsed {_clock(task.elapsed or 0.0)}"
                        + ("" if eta is None or task.finished else f"  ETA {_clock(eta)}"))
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    return PlainProgress


def _name(label: str, task: Any) -> str:
    """``label`` as its text column shows it for ``task``, without markup; the task's
    description added when the label does not show it."""
    from rich.text import Text

    name = Text.from_markup(label.format(task=task)).plain
    return name if "{task.description}" in label or not task.description \
        else f"{name} ({task.description})"


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
