"""Repeated column names in a file: renamed so every column stays, with one warning."""

from __future__ import annotations

from collections.abc import Sequence

from automl_meta.data._prepare import DEFAULT_TARGET_NAMES, warn
from automl_meta.errors import AutoMLMetaWarning


class ToleratedFormatWarning(AutoMLMetaWarning):
    """A file breaks its format in a way other readers accept, and was read anyway.

    The message says what was tolerated and how it was read: a trailing comma on ARFF data
    lines, values separated by spaces, an ``integer [lo,hi]`` attribute type, or repeated
    column names (renamed ``name``, ``name.1``, ``name.2``, ...).

    Example:
        >>> import warnings
        >>> from automl_meta.data import ToleratedFormatWarning, load_dataset
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("error", ToleratedFormatWarning)  # refuse, as before
        ...     ds = load_dataset("datasets/bank8FM.arff.gz")  # doctest: +SKIP
        >>> issubclass(ToleratedFormatWarning, UserWarning)
        True
    """


def unique_names(names: Sequence[str]) -> list[str]:
    """``names`` with each repeat renamed: the first keeps its name, the next ones get
    ``.1``, ``.2``, ... in file order (pandas' rule); a suffix already used by another
    column is skipped (``a, a, a.1`` -> ``a, a.2, a.1``).

    Example:
        >>> unique_names(["target", "x", "target"])
        ['target', 'x', 'target.1']
    """
    taken = set(names)
    seen: set[str] = set()
    result = []
    for name in names:
        if name not in seen:
            seen.add(name)
            result.append(name)
            continue
        k = 1
        while f"{name}.{k}" in taken:
            k += 1
        taken.add(f"{name}.{k}")
        result.append(f"{name}.{k}")
    return result


def default_label(names: Sequence[str], renamed: Sequence[str]) -> str | None:
    """The label the usual rule picks when it names a repeated column: the last column
    named ``target`` / ``class`` / ``label`` / ``y`` (PMLB puts its label last), under its
    new name; ``None`` when that name is not repeated (the usual rule then applies as is)."""
    lowered = [name.lower() for name in names]
    for candidate in DEFAULT_TARGET_NAMES:
        places = [i for i, name in enumerate(lowered) if name == candidate]
        if places:
            return renamed[places[-1]] if len(places) > 1 else None
    return None


def warn_renamed(filename: str, names: Sequence[str], renamed: Sequence[str],
                 label: str | None) -> None:
    """One warning naming every repeated column and its new names (and the default label
    when it is one of them)."""
    groups: dict[str, list[str]] = {}
    for old, new in zip(names, renamed, strict=True):
        groups.setdefault(old, []).append(new)
    parts = [f"{len(new)} columns are named {old!r}; read them as "
             f"{', '.join(map(repr, new))}" for old, new in groups.items() if len(new) > 1]
    message = (f"{filename}: {'; '.join(parts)} (a repeated name gets .1, .2, ... in file "
               "order).")
    if label is not None and label not in names:
        message += (f" By default the label is {label!r}, the last of them; pass "
                    "target=<column name> to choose another.")
    warn(message, ToleratedFormatWarning, parameter="target")
