"""The algorithm space: what a configuration is, how it is sampled and built.

A configuration is a plain dict ``{"algorithm": "random_forest", "params": {...}}``; it
round-trips through JSON and has a stable :func:`config_hash`.

:data:`REGISTRY` is the one list of algorithms: a new one is an :class:`Algorithm` (its
factory, hyperparameters from :func:`choice`, :func:`uniform`, :func:`log_float` and
:func:`int_range`, its default, the packages it ``requires`` and the classes it
``saved_types``) and one :func:`register` call per task.
"""

from __future__ import annotations

from automl_meta.space._algorithms import (
    BOOSTING,
    REGISTRY,
    Algorithm,
    register,
    register_boosting,
    unregister,
)
from automl_meta.space._configs import (
    ALGORITHM_PARAM,
    RETIRED_PARAMS,
    algorithms,
    config_hash,
    config_to_trial_params,
    default_config,
    get_algorithm,
    param_name,
    sample_configs,
    suggest,
    suggest_params,
    trial_params_to_config,
    validate_config,
    without_retired,
)
from automl_meta.space._params import Param, choice, int_range, log_float, uniform
from automl_meta.space._pipeline import build

__all__ = [
    "ALGORITHM_PARAM",
    "RETIRED_PARAMS",
    "BOOSTING",
    "REGISTRY",
    "Algorithm",
    "Param",
    "algorithms",
    "build",
    "choice",
    "config_hash",
    "config_to_trial_params",
    "default_config",
    "get_algorithm",
    "int_range",
    "log_float",
    "param_name",
    "register",
    "register_boosting",
    "sample_configs",
    "suggest",
    "suggest_params",
    "trial_params_to_config",
    "uniform",
    "unregister",
    "validate_config",
    "without_retired",
]
