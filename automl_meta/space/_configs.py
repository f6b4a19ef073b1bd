"""Configurations: plain JSON-able dicts with a stable hash, sampled, suggested, built."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from automl_meta.errors import ConfigurationError, did_you_mean
from automl_meta.space._algorithms import BOOSTING, REGISTRY, Algorithm
from automl_meta.space._params import suggest_value

TASKS = ("classification", "regression")
ALGORITHM_PARAM = "algorithm"


def algorithms(task: str) -> list[str]:
    """The names of the algorithms available for ``task``.

    Example:
        >>> algorithms("classification")[:3]
        ['linear', 'knn', 'svm']
    """
    _check_task(task)
    return [name for (t, name) in REGISTRY if t == task]


def get_algorithm(name: str, task: str) -> Algorithm:
    """The :class:`Algorithm` called ``name`` for ``task``.

    Example:
        >>> get_algorithm("svm", "regression").default["C"]
        1.0
    """
    _check_task(task)
    try:
        return REGISTRY[(task, name)]
    except KeyError:
        names = algorithms(task)
        if any(a.name == name for a in BOOSTING):
            raise ConfigurationError(
                f"{name!r} is not in the search space of this process yet; expected one of "
                f"{', '.join(names)}. Call automl_meta.space.register_boosting() first (it "
                "joins the default space with meta-db v3)."
            ) from None
        raise ConfigurationError(
            f"Unknown algorithm {name!r} for {task}.{did_you_mean(name, names)} "
            f"Expected one of {', '.join(names)}."
        ) from None


def default_config(name: str, task: str = "classification") -> dict[str, Any]:
    """The default configuration of algorithm ``name`` for ``task``.

    Example:
        >>> default_config("knn")["params"]["n_neighbors"]
        5
    """
    algorithm = get_algorithm(name, task)
    return {"algorithm": name, "params": dict(algorithm.default)}


# parameters an earlier space searched that turned out to do nothing: dropped from stored
# configurations (their evaluations are exactly those of the configuration without them)
RETIRED_PARAMS: dict[str, tuple[str, ...]] = {"catboost": ("bagging_temperature",)}


def without_retired(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without the parameters of :data:`RETIRED_PARAMS` (a copy if any is there).

    Example:
        >>> without_retired({"algorithm": "catboost", "params": {"depth": 6,
        ...                  "bagging_temperature": 1.0}})
        {'algorithm': 'catboost', 'params': {'depth': 6}}
    """
    retired = RETIRED_PARAMS.get(config.get("algorithm", ""), ())
    params = config.get("params") or {}
    if not any(name in params for name in retired):
        return config
    return {**config, "params": {k: v for k, v in params.items() if k not in retired}}


def config_hash(config: dict[str, Any]) -> str:
    """A stable hash of a configuration (key order and int/float spelling do not matter).

    Example:
        >>> a = {"algorithm": "knn", "params": {"n_neighbors": 5, "p": 2}}
        >>> b = {"algorithm": "knn", "params": {"p": 2, "n_neighbors": 5.0}}
        >>> config_hash(a) == config_hash(b), len(config_hash(a))
        (True, 16)
    """
    canonical = json.dumps(
        {"algorithm": config["algorithm"], "params": _canonical(config.get("params", {}))},
        sort_keys=True, separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _canonical(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, float) and value.is_integer() and not isinstance(value, bool):
            value = int(value)
        elif isinstance(value, float):
            value = float(f"{value:.10g}")
        out[key] = value
    return out


def validate_config(config: Any, task: str) -> dict[str, Any]:
    """Check ``config`` against the space of ``task``; returns a normalised copy.

    Example:
        >>> validate_config({"algorithm": "knn", "params": {"n_neighbors": 7}}, "classification")
        {'algorithm': 'knn', 'params': {'n_neighbors': 7, 'weights': 'uniform', 'p': 2}}
    """
    if not isinstance(config, dict) or "algorithm" not in config:
        raise ConfigurationError(
            f"A configuration must be a dict with 'algorithm' and 'params'; got {config!r}."
        )
    algorithm = get_algorithm(config["algorithm"], task)
    params = dict(config.get("params") or {})
    known = {p.name for p in algorithm.params}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigurationError(
            f"Unknown parameter(s) {', '.join(unknown)} for {algorithm.name}."
            f"{did_you_mean(unknown[0], sorted(known))} Expected a subset of "
            f"{', '.join(sorted(known))}."
        )
    merged: dict[str, Any] = {}
    for param in algorithm.params:
        if not param.active({**algorithm.default, **params, **merged}):
            continue
        value = params.get(param.name, algorithm.default.get(param.name))
        if value is None and param.name not in algorithm.default:
            value = _first_value(param)
        if not _contains(param.distribution, value):
            raise ConfigurationError(
                f"{algorithm.name}.{param.name}={value!r} is outside its range "
                f"{param.distribution!r}."
            )
        merged[param.name] = value
    return {"algorithm": algorithm.name, "params": merged}


def _first_value(param: Any) -> Any:
    dist = param.distribution
    return dist.choices[0] if hasattr(dist, "choices") else dist.low


def _contains(distribution: Any, value: Any) -> bool:
    if hasattr(distribution, "choices"):
        return value in distribution.choices
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return False
    return distribution.low <= value <= distribution.high


def param_name(algorithm: str, param: str) -> str:
    """The Optuna parameter name of ``param`` of ``algorithm`` (``svm__C``).

    Example:
        >>> param_name("svm", "C")
        'svm__C'
    """
    return f"{algorithm}__{param}"


def suggest(trial: Any, task: str, algorithms_subset: list[str] | None = None) -> dict[str, Any]:
    """Sample a configuration inside an Optuna objective.

    The trial gets a categorical ``algorithm`` parameter and ``<algorithm>__<param>`` for
    the parameters of the chosen algorithm, so different algorithms never share a name.

    Example:
        >>> import optuna
        >>> def objective(trial):
        ...     config = suggest(trial, "classification")
        ...     return 0.0
    """
    names = algorithms_subset or algorithms(task)
    for name in names:
        get_algorithm(name, task)
    chosen = trial.suggest_categorical(ALGORITHM_PARAM, names)
    return {"algorithm": chosen, "params": suggest_params(trial, get_algorithm(chosen, task))}


def suggest_params(trial: Any, algorithm: Algorithm) -> dict[str, Any]:
    """Sample the parameters of one algorithm (names prefixed by the algorithm).

    Example:
        >>> import optuna
        >>> study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        >>> params = suggest_params(study.ask(), get_algorithm("knn", "classification"))
        >>> sorted(params), sorted(study.trials[0].params)
        (['n_neighbors', 'p', 'weights'], ['knn__n_neighbors', 'knn__p', 'knn__weights'])
    """
    params: dict[str, Any] = {}
    for param in algorithm.params:
        if param.active(params):
            params[param.name] = suggest_value(trial, param_name(algorithm.name, param.name),
                                               param.distribution)
    return params


def config_to_trial_params(config: dict[str, Any]) -> dict[str, Any]:
    """The Optuna parameters (as :func:`suggest` names them) that reproduce ``config``.

    Example:
        >>> config_to_trial_params({"algorithm": "svm", "params": {"C": 2.0}})
        {'algorithm': 'svm', 'svm__C': 2.0}
    """
    name = config["algorithm"]
    out: dict[str, Any] = {ALGORITHM_PARAM: name}
    out.update({param_name(name, k): v for k, v in config.get("params", {}).items()})
    return out


def trial_params_to_config(params: dict[str, Any]) -> dict[str, Any]:
    """The configuration behind the parameters of a trial sampled by :func:`suggest`.

    Example:
        >>> trial_params_to_config({"algorithm": "svm", "svm__C": 2.0})
        {'algorithm': 'svm', 'params': {'C': 2.0}}
    """
    name = params[ALGORITHM_PARAM]
    prefix = f"{name}__"
    return {"algorithm": name,
            "params": {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}}


def sample_configs(task: str, n_per_algorithm: int, seed: int = 0,
                   include_defaults: bool = True) -> list[dict[str, Any]]:
    """A fixed, reproducible set: each algorithm's default plus ``n`` random configurations.

    Example:
        >>> configs = sample_configs("classification", n_per_algorithm=2, seed=0)
        >>> len(configs), configs[0] == default_config("linear")
        (30, True)
        >>> configs == sample_configs("classification", n_per_algorithm=2, seed=0)
        True
    """
    import optuna

    configs: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, name in enumerate(algorithms(task)):
        algorithm = get_algorithm(name, task)
        candidates = [default_config(name, task)] if include_defaults else []
        sampler = optuna.samplers.RandomSampler(seed=seed * 1000 + index)
        with _quiet_optuna():
            study = optuna.create_study(sampler=sampler)
            for _ in range(n_per_algorithm):
                trial = study.ask()
                candidates.append({"algorithm": name, "params": suggest_params(trial, algorithm)})
        for config in candidates:
            key = config_hash(config)
            if key not in seen:
                seen.add(key)
                configs.append(config)
    return configs


class _quiet_optuna:
    def __enter__(self) -> None:
        import optuna

        self._level = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    def __exit__(self, *exc: object) -> None:
        import optuna

        optuna.logging.set_verbosity(self._level)


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ConfigurationError(
            f"task={task!r} is unknown; expected 'classification' or 'regression'."
        )
