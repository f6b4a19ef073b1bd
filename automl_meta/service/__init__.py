"""The team service: ``automl-meta serve`` (FastAPI) and its Python :class:`Client`.

Needs the ``serve`` extra (``pip install 'automl-meta[serve]'``); both names load lazily,
so ``import automl_meta.service`` itself imports neither FastAPI nor httpx.
"""

from __future__ import annotations

import importlib
from typing import Any

from automl_meta.errors import ConfigurationError

_LAZY = {"create_app": "automl_meta.service.app", "Client": "automl_meta.service.client"}

__all__ = ["Client", "create_app"]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'automl_meta.service' has no attribute {name!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"automl_meta.service.{name} needs the serve extra ({exc.name} is missing): "
            "pip install 'automl-meta[serve]'."
        ) from exc
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
