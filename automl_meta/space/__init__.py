"""The algorithm space: what a configuration is, how it is sampled and built.

A configuration is a plain dict ``{"algorithm": "random_forest", "params": {...}}``; it
round-trips through JSON and has a stable :func:`config_hash`.
"""

from __future__ import annotations

from automl_meta.space._algorithms import (
    BOOSTING,
    REGISTRY,
    Algorithm,
    register,
    register_boosting,
)
from automl_meta.space._configs import (
    ALGORITHM_PARAM,
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
)
from automl_meta.space._params import Param
from automl_meta.space._pipeline import build

__all__ = [
    "ALGORITHM_PARAM",
    "BOOSTING",
    "REGISTRY",
    "Algorithm",
    "Param",
    "algorithms",
    "build",
    "config_hash",
    "config_to_trial_params",
    "default_config",
    "get_algorithm",
    "param_name",
    "register",
    "register_boosting",
    "sample_configs",
    "suggest",
    "suggest_params",
    "trial_params_to_config",
    "validate_config",
]
