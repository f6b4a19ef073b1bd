"""The exception hierarchy of automl-meta.

Every error a user can see derives from :class:`AutoMLMetaError`. Each message says what
was wrong, what was expected, and what to do about it, so that a user never has to read a
traceback from deep inside pandas or scikit-learn to understand their own mistake.
"""

from __future__ import annotations


class AutoMLMetaError(Exception):
    """Base class of every error raised by automl-meta on purpose.

    Example:
        >>> from automl_meta.space import get_algorithm
        >>> try:
        ...     get_algorithm("forest", "classification")
        ... except AutoMLMetaError as error:
        ...     print(type(error).__name__)
        ConfigurationError

    Attributes:
        parameter: the Python parameter the message is about (such as ``"target"``), or
            ``None``. The message writes it as ``target=...``; another interface rewrites
            that into its own terms (the command line shows ``--target ...``).
        advice: the part of the message that says what to do and makes sense only in
            Python (such as ``"Use automl_meta.data.list_datasets(directory) ..."``), or
            ``None``; another interface shows its own advice about ``parameter`` in its
            place (see :func:`advice_of`).
    """

    def __init__(self, *args: object, parameter: str | None = None,
                 advice: str | None = None) -> None:
        super().__init__(*args)
        self.parameter = parameter
        self.advice = advice


class DatasetError(AutoMLMetaError, ValueError):
    """A dataset could not be loaded or is unusable for learning."""


class NetworkError(AutoMLMetaError, ConnectionError):
    """A resource needed the network and the network was not reachable."""


class ConfigurationError(AutoMLMetaError, ValueError):
    """A configuration, parameter or setting is invalid."""


class MetaDBError(AutoMLMetaError):
    """The meta-database could not be opened, read or written."""


class SchemaVersionError(MetaDBError):
    """The meta-database was written by another schema version."""


class ArtifactError(AutoMLMetaError):
    """A saved artifact is missing, corrupt, or of a format we refuse to load."""


class DeviceError(AutoMLMetaError, RuntimeError):
    """The requested compute device is not available."""


class AutoMLMetaWarning(UserWarning):
    """A recoverable problem: the data was changed or a measure was skipped, and how.

    Example:
        >>> import warnings
        >>> import pandas as pd
        >>> from automl_meta.data import infer_task
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     task = infer_task(pd.Series([0, 1, 1], name="label"))
        >>> task, caught[0].category.__name__
        ('classification', 'AutoMLMetaWarning')

    Like :class:`AutoMLMetaError`, a warning may carry ``parameter`` and ``advice``.
    """

    def __init__(self, *args: object, parameter: str | None = None,
                 advice: str | None = None) -> None:
        super().__init__(*args)
        self.parameter = parameter
        self.advice = advice


def advice_of(problem: BaseException) -> tuple[str | None, str | None]:
    """The ``(parameter, advice)`` an error or warning carries, each ``None`` when absent
    (any exception may be passed).

    Example:
        >>> advice_of(DatasetError("No column 'y'. Pass target=<column name>.",
        ...                        parameter="target", advice="Pass target=<column name>."))
        ('target', 'Pass target=<column name>.')
    """
    parameter, advice = getattr(problem, "parameter", None), getattr(problem, "advice", None)
    return (parameter if isinstance(parameter, str) else None,
            advice if isinstance(advice, str) else None)


def did_you_mean(name: str, candidates: list[str] | tuple[str, ...], n: int = 3) -> str:
    """A ``" Did you mean: a, b?"`` suffix listing close matches of ``name``, or ``""``."""
    import difflib

    matches = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=n, cutoff=0.5)
    if not matches:
        lowered = str(name).lower()
        matches = [str(c) for c in candidates if str(c).lower() == lowered][:n]
    return f" Did you mean: {', '.join(repr(m) for m in matches)}?" if matches else ""
