"""Deprecated: the benchmark harness is :mod:`automl_meta.harness` now.

``automl_meta.benchmark`` and its submodules keep working for one release: each
``automl_meta.benchmark.<name>`` is the module ``automl_meta.harness.<name>``
(``models`` is ``harness.one_shot``, ``lodo`` is ``metalearners.lodo``).
"""

from __future__ import annotations

import importlib
import sys
import warnings

_RENAMED = {"models": "automl_meta.harness.one_shot", "lodo": "automl_meta.metalearners.lodo"}
_SUBMODULES = ("advice", "harness", "methods", "prepare", "report", "results", "searches",
               "settings", "summary", "trials")

warnings.warn("automl_meta.benchmark is deprecated and will be removed in the next release; "
              "use automl_meta.harness.", DeprecationWarning, stacklevel=2)

for _name in _SUBMODULES:
    sys.modules[f"{__name__}.{_name}"] = importlib.import_module(f"automl_meta.harness.{_name}")
for _name, _target in _RENAMED.items():
    sys.modules[f"{__name__}.{_name}"] = importlib.import_module(_target)

from automl_meta.harness import *  # noqa: E402, F403
