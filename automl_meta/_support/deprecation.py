"""Old import paths that keep working for one release, with a deprecation warning."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def moved(old: str, new: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` forwarding every name of ``old`` to ``new`` with a warning.

    Example:
        >>> __getattr__ = moved("automl_meta.optuna_integration", "automl_meta.advice")
    """

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(importlib.import_module(new), name)
        warnings.warn(f"{old} is deprecated and will be removed in the next release; import "
                      f"{name} from {new} instead.", DeprecationWarning, stacklevel=2)
        return value

    return __getattr__
