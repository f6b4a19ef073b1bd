"""Transfer search (issue #22): an Optuna sampler that keeps using the past after the warm
start.

:class:`TransferSampler` first proposes the ``knn`` learner's recommendations, as
:func:`~automl_meta.warm_start` enqueues them. From then on every proposal comes from
:class:`TransferModel`, a Bayesian model average over the past datasets of the task: each
past dataset is an *expert* whose normalised scores over the meta-db's configurations are
a guess of the study's surface. An expert is calibrated to the study by a line
``value ≈ a + b * its score`` (``b >= 0``) fitted on the study's completed trials, and
weighted by its meta-feature similarity (the ``knn`` learner's weights, the prior) times
the likelihood of that fit (tempered by ``temperature``). So the first proposals follow the
nearest datasets, and as trials accumulate the weight moves to the past datasets whose
surfaces explain this study's scores, whatever their meta-features said: the meta-feature
prior's share decays with every trial. The next configuration is the candidate with the
largest expected improvement under that mixture; each expert's residuals at the study's
trials are carried to nearby candidates (kriging), so a candidate next to a trial is
expected to score about what the trial did. Candidates are the meta-db's configurations not
tried yet and, with ``n_local``, random steps from the study's best trials, so the search
can leave the grid the past ran. A configuration no past dataset ran is scored through its
nearest ones (a kernel over the configuration encoding, within its algorithm).

Measured in ``benchmarks/neural.py --methods transfer`` (the simulated leave-one-family-out
search, where every pick is snapped to the held-out dataset's grid). Variants tried there
and dropped: the kNN ranking continued (static), a rank-loss-weighted mean (TST-R style),
the kNN portfolio's covering gain under the posterior weights, a GP on the mixture's
residuals with a wide kernel, and the expert mixture without kriging. ``n_local`` is 0 by
default because the simulation, which can only snap an off-grid step to a grid
configuration, scored 4 and 16 steps worse at 10 to 50 trials; whether leaving the grid pays
on real searches is for them to say.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler, TPESampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from scipy.special import ndtr

from automl_meta.advice._optuna import _contains
from automl_meta.advice._sources import local_recommender
from automl_meta.data import load_dataset
from automl_meta.errors import AutoMLMetaWarning, ConfigurationError
from automl_meta.metafeatures import extract_metafeatures
from automl_meta.metalearners import KNNLearner, Recommendation
from automl_meta.metalearners._encoding import encode_configs
from automl_meta.space import (
    ALGORITHM_PARAM,
    REGISTRY,
    config_hash,
    config_to_trial_params,
    get_algorithm,
    trial_params_to_config,
    validate_config,
)

N_WARM = 5  # kNN recommendations proposed first (what the simulation's knn+tpe enqueues)
TEMPERATURE = 1.0  # power of the experts' likelihood in their weights
NOISE_PRIOR = 0.1  # prior residual variance of an expert's fit (standardised values) ...
NOISE_PRIOR_TRIALS = 2.0  # ... worth this many trials
LENGTH_SCALE = 0.15  # kernel over the configuration encoding, for configurations off the grid
RESIDUAL_SCALE = 0.1  # kernel carrying an expert's residuals at the trials to candidates
KRIGING_NUGGET = 0.05  # observation noise of that kernel, as a share of its variance
MIN_VARIANCE_LEFT = 0.01
N_LOCAL = 0  # steps from the study's best trials among the candidates (module docstring)
LOCAL_BEST = 3  # ... around this many of its best trials
LOCAL_STEP = 0.1  # their step, in the unit (log where the space is) scale of each parameter
_UNFINISHED = (TrialState.RUNNING, TrialState.WAITING)


class TransferModel:
    """The past datasets of one task as calibrated experts on a study's trials.

    Built from a fitted :class:`~automl_meta.metalearners.KNNLearner`: its normalised
    score matrix (with each configuration's prior where a dataset did not run it) and its
    neighbourhood weights for these meta-features, the prior over the experts. Only
    configurations of algorithms registered in this process's space are candidates.

    Example:
        >>> model = TransferModel(knn, metafeatures, "classification")  # doctest: +SKIP
        >>> weights = model.posterior([config], [0.83]).weights  # doctest: +SKIP
        >>> model.acquisition(candidates, configs, values)  # doctest: +SKIP
    """

    def __init__(self, learner: KNNLearner, metafeatures: Mapping[str, float] | pd.Series,
                 task: str, temperature: float = TEMPERATURE, noise_prior: float = NOISE_PRIOR,
                 noise_prior_trials: float = NOISE_PRIOR_TRIALS,
                 length_scale: float = LENGTH_SCALE,
                 residual_scale: float = RESIDUAL_SCALE) -> None:
        if task not in learner.tasks:
            raise ConfigurationError(
                f"The knn learner knows no {task} datasets, so there is no past to transfer "
                "from; expected a learner fitted on a meta-db with that task (or use "
                "optuna's TPESampler).")
        self.task = task
        self.temperature = temperature
        self.noise_prior = noise_prior
        self.noise_prior_trials = noise_prior_trials
        self.length_scale = length_scale
        self.residual_scale = residual_scale
        keep, self.configs = [], []
        for i, config in enumerate(learner.tasks[task]["configs"]):
            if (task, config["algorithm"]) in REGISTRY:  # else not in this process's space
                try:
                    self.configs.append(validate_config(config, task))
                except ConfigurationError:  # a parameter the space no longer has
                    continue
                keep.append(i)
        self.hashes = [config_hash(c) for c in self.configs]
        self.column = {h: j for j, h in enumerate(self.hashes)}
        self.algorithms = np.array([c["algorithm"] for c in self.configs])
        self.encoded = encode_configs(self.configs, task).astype(float)
        around = learner._neighbourhood(metafeatures, task)
        self.scores = np.asarray(around.filled, dtype=float)[:, keep]  # experts x configs
        prior = np.maximum(np.asarray(around.weights, dtype=float), 1e-12)
        self.prior = prior / prior.sum()

    def encode(self, configs: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Each configuration's meta-db column (-1: off the grid) and its encoding."""
        columns = np.array([self.column.get(config_hash(c), -1) for c in configs], dtype=int)
        encoded = np.empty((len(configs), self.encoded.shape[1]))
        on = columns >= 0
        encoded[on] = self.encoded[columns[on]]
        if (~on).any():
            encoded[~on] = encode_configs([c for c, o in zip(configs, on, strict=True)
                                           if not o], self.task)
        return columns, encoded

    def surfaces(self, configs: Sequence[dict[str, Any]],
                 encoded: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Each expert's normalised score at each configuration (experts x configs): its own
        where the meta-db has the configuration, else the kernel-weighted mean over the
        nearest configurations of the same algorithm; NaN for an algorithm none ran."""
        columns, rows = encoded if encoded is not None else self.encode(configs)
        out = np.full((len(self.scores), len(configs)), np.nan)
        on = columns >= 0
        out[:, on] = self.scores[:, columns[on]]
        for i in np.flatnonzero(~on):
            same = self.algorithms == configs[i]["algorithm"]
            if not same.any():
                continue
            distance = ((self.encoded[same] - rows[i]) ** 2).sum(axis=1)
            kernel = np.exp(-(distance - distance.min()) / (2 * self.length_scale ** 2))
            out[:, i] = self.scores[:, same] @ (kernel / kernel.sum())
        return out

    def posterior(self, configs: Sequence[dict[str, Any]],
                  values: Sequence[float]) -> Posterior:
        """The experts' calibrations and weights given the study's trials (higher values
        better); with fewer than two distinct values the weights are the prior."""
        return self._posterior(self.surfaces(configs), np.asarray(values, dtype=float))[0]

    def _posterior(self, surfaces: np.ndarray, values: np.ndarray
                   ) -> tuple[Posterior, np.ndarray, np.ndarray]:
        """The posterior, the observations it used (a mask) and their residuals per expert
        (experts x used observations, standardised units)."""
        usable = np.isfinite(surfaces).all(axis=0)
        y = values[usable]
        surfaces = surfaces[:, usable]
        n_experts = len(self.scores)
        spread = float(y.std()) if len(y) else 0.0
        if len(y) < 2 or spread <= 1e-12:
            return (Posterior(self.prior.copy(), np.zeros(n_experts), np.zeros(n_experts),
                              np.ones(n_experts), 0.0, 1.0, float(y.max()) if len(y) else 0.0,
                              0), usable, np.zeros((n_experts, len(y))))
        center = float(y.mean())
        standard = (y - center) / spread
        mean = surfaces.mean(axis=1, keepdims=True)
        centred = surfaces - mean
        variance = (centred ** 2).mean(axis=1)
        covariance = (centred * standard).mean(axis=1)
        slope = np.where(variance > 1e-12,
                         np.clip(covariance / np.maximum(variance, 1e-12), 0.0, None), 0.0)
        intercept = -slope * mean[:, 0]
        residual = standard - intercept[:, None] - slope[:, None] * surfaces
        n = len(standard)
        noise = ((residual ** 2).sum(axis=1) + self.noise_prior_trials * self.noise_prior) \
            / (n + self.noise_prior_trials)
        log_weight = np.log(self.prior) - self.temperature * 0.5 * n * np.log(noise)
        weights = np.exp(log_weight - log_weight.max())
        return (Posterior(weights / weights.sum(), intercept, slope, noise, center, spread,
                          float(standard.max()), n), usable, residual)

    def acquisition(self, candidates: Sequence[dict[str, Any]],
                    configs: Sequence[dict[str, Any]], values: Sequence[float]) -> np.ndarray:
        """Expected improvement of each candidate over the best value so far under the
        mixture of calibrated experts (before two distinct values: the prior-weighted
        predicted score). ``-inf`` for a candidate no expert can score.

        Each expert's residuals at the study's trials are carried to candidates near them
        (kriging with ``residual_scale``), which also shrinks the expert's uncertainty
        there: a small step from a trial is expected to score about what the trial did."""
        observed = self.encode(configs)
        posterior, usable, residual = self._posterior(
            self.surfaces(configs, observed), np.asarray(values, dtype=float))
        encoded = self.encode(candidates)
        surfaces = self.surfaces(candidates, encoded)
        finite = np.isfinite(surfaces).all(axis=0)
        surfaces = np.where(finite[None, :], surfaces, 0.0)
        if posterior.trials == 0:
            return np.where(finite, posterior.weights @ surfaces, -np.inf)
        mean = posterior.intercept[:, None] + posterior.slope[:, None] * surfaces
        sd = np.sqrt(posterior.noise)[:, None]
        if self.residual_scale > 0:
            near, left = self._kriging(observed[1][usable], encoded[1])
            mean = mean + residual @ near.T
            sd = sd * np.sqrt(left)[None, :]
        z = (mean - posterior.best) / sd
        improvement = sd * (z * ndtr(z) + np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi))
        return np.where(finite, posterior.weights @ improvement, -np.inf)

    def _kriging(self, observed: np.ndarray, candidates: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Simple kriging weights (candidates x observed) and the share of variance left."""
        def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            distance = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1)
            return np.exp(-distance / (2 * self.residual_scale ** 2))

        gram = kernel(observed, observed) + KRIGING_NUGGET * np.eye(len(observed))
        cross = kernel(candidates, observed)
        weights = np.linalg.solve(gram, cross.T).T
        left = np.clip(1.0 - (weights * cross).sum(axis=1), MIN_VARIANCE_LEFT, 1.0)
        return weights, left


class Posterior:
    """The experts' weights and calibrations (``value ≈ intercept + slope * score`` in
    standardised units: ``(value - center) / spread``), their residual variances
    (``noise``), the best standardised value and how many trials were fitted."""

    __slots__ = ("weights", "intercept", "slope", "noise", "center", "spread", "best",
                 "trials")

    def __init__(self, weights: np.ndarray, intercept: np.ndarray, slope: np.ndarray,
                 noise: np.ndarray, center: float, spread: float, best: float,
                 trials: int) -> None:
        self.weights, self.intercept, self.slope, self.noise = weights, intercept, slope, noise
        self.center, self.spread, self.best, self.trials = center, spread, best, trials

    @property
    def effective_experts(self) -> float:
        """``1 / sum(w²)``: how many past datasets the weights are spread over."""
        return float(1.0 / (self.weights ** 2).sum())


class TransferSampler(BaseSampler):
    """An Optuna sampler that warm-starts from the ``knn`` recommendations and keeps using
    the past datasets afterwards (see the module docstring for the model).

    For objectives that sample with :func:`automl_meta.space.suggest` (a categorical
    ``algorithm`` and ``<algorithm>__<param>``). Each trial's whole configuration is chosen
    when the objective asks for its first parameter; a parameter the configuration does not
    hold, or a value outside the distribution the objective asks with, goes to the
    ``fallback`` sampler (``TPESampler(seed=seed)``), so any objective runs. Configurations
    already completed, failed, pruned or running in another thread are not proposed again;
    nor are candidates outside the distributions the objective has asked for (an objective
    sampling a subset of the algorithms). Thread-safe for ``study.optimize(n_jobs=...)``.
    Single-objective studies only (a multi-objective one goes to the fallback, with a
    warning).

    Args:
        dataset_or_metafeatures: the dataset (anything :func:`~automl_meta.load_dataset`
            accepts) or its meta-features (then pass ``task``).
        task: ``"classification"`` or ``"regression"`` (needed with meta-features).
        learner: a fitted :class:`~automl_meta.metalearners.KNNLearner` (default: the one
            :func:`~automl_meta.recommend` uses for ``db``).
        db: where the knowledge comes from (as for :func:`~automl_meta.recommend`).
        n_warm: how many recommendations come first.
        recommendations: those recommendations (default: ``knn``'s top ``n_warm``, with
            earlier runs on the same data first when the learner comes from ``db``).
        n_local: perturbations of the study's best trials among the candidates (0: the
            meta-db's configurations only).
        seed: seeds the perturbations and the default fallback.
        fallback: the sampler for parameters the proposal does not answer.
        temperature, noise_prior, residual_scale: see :class:`TransferModel`.

    Example:
        >>> sampler = TransferSampler("sklearn:iris", seed=0)  # doctest: +SKIP
        >>> study = optuna.create_study(direction="maximize", sampler=sampler)  # doctest: +SKIP
        >>> study.optimize(lambda t: evaluate(suggest(t, "classification"), ds).score, 50)
        ... # doctest: +SKIP
    """

    def __init__(self, dataset_or_metafeatures: Any = None, *, task: str | None = None,
                 learner: KNNLearner | None = None, db: Any = None, n_warm: int = N_WARM,
                 recommendations: Sequence[Recommendation | dict[str, Any]] | None = None,
                 n_local: int = N_LOCAL, seed: int | None = None,
                 fallback: BaseSampler | None = None, temperature: float = TEMPERATURE,
                 noise_prior: float = NOISE_PRIOR,
                 residual_scale: float = RESIDUAL_SCALE) -> None:
        if n_warm < 0 or n_local < 0:
            raise ConfigurationError(f"n_warm={n_warm!r} and n_local={n_local!r} must be >= 0.")
        metafeatures, task = _metafeatures(dataset_or_metafeatures, task)
        recommender = None
        if learner is None:
            recommender = local_recommender(db)
            knn = recommender.learner("knn")
            if not isinstance(knn, KNNLearner):
                raise ConfigurationError(f"The meta-db's 'knn' learner is a "
                                         f"{type(knn).__name__}, expected a KNNLearner.")
            learner = knn
        if recommendations is None:
            recommendations = ([] if n_warm == 0 else
                               recommender.recommend(metafeatures, task, k=n_warm,
                                                     strategy="knn")
                               if recommender is not None else
                               learner.recommend(metafeatures, task, k=n_warm))
        self.task = task
        self.model = TransferModel(learner, metafeatures, task, temperature, noise_prior,
                                   residual_scale=residual_scale)
        self.warm: list[dict[str, Any]] = []
        for rec in list(recommendations)[:n_warm]:
            try:
                self.warm.append(validate_config(
                    rec.config if isinstance(rec, Recommendation) else dict(rec), task))
            except ConfigurationError:  # an algorithm this process's space lacks
                continue
        self.n_local = n_local
        self.fallback = fallback or TPESampler(seed=seed, n_startup_trials=5)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._assigned: dict[int, dict[str, Any] | None] = {}
        self._warned_multi_objective = False

    # -- Optuna's contract -------------------------------------------------------------
    def infer_relative_search_space(self, study: optuna.Study,
                                    trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        proposal = self._proposal_for(study, trial, param_name, param_distribution)
        if proposal is not None and param_name in proposal:
            value = proposal[param_name]
            if _contains(param_distribution, value):
                return value
        return self.fallback.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.fallback.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Any) -> None:
        with self._lock:
            self._assigned.pop(trial.number, None)  # the study holds its parameters now
        self.fallback.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self.fallback.reseed_rng()

    # -- proposals -----------------------------------------------------------------------
    def _proposal_for(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                      distribution: BaseDistribution) -> dict[str, Any] | None:
        with self._lock:
            if trial.number not in self._assigned:
                asked = {param_name: distribution}
                config = self.propose(study, asked, exclude_trial=trial.number)
                self._assigned[trial.number] = (None if config is None
                                                else config_to_trial_params(config))
            return self._assigned[trial.number]

    def propose(self, study: optuna.Study,
                asked: Mapping[str, BaseDistribution] | None = None,
                exclude_trial: int | None = None) -> dict[str, Any] | None:
        """The next configuration for ``study`` (``None``: nothing to propose, or a
        multi-objective study); ``asked`` adds distributions to those the study's trials
        were asked with."""
        if len(study.directions) > 1:
            if not self._warned_multi_objective:
                self._warned_multi_objective = True
                warnings.warn("TransferSampler guides single-objective studies only; this "
                              "one's trials go to the fallback sampler.", AutoMLMetaWarning,
                              stacklevel=4)
            return None
        sign = -1.0 if study.direction == StudyDirection.MINIMIZE else 1.0
        configs: list[dict[str, Any]] = []
        values: list[float] = []
        taken: set[str] = set()
        distributions: dict[str, BaseDistribution] = {}
        for frozen in study.get_trials(deepcopy=False):
            distributions.update(frozen.distributions)
            if frozen.number == exclude_trial:
                continue
            if frozen.state in _UNFINISHED:
                assigned = self._assigned.get(frozen.number)
                params = assigned if assigned is not None else frozen.params
            else:
                params = frozen.params
            config = self._config_of(params)
            if config is None:
                continue
            taken.add(config_hash(config))
            value = frozen.value if frozen.state == TrialState.COMPLETE else None
            if value is not None and math.isfinite(value):
                configs.append(config)
                values.append(sign * float(value))
        distributions.update(asked or {})
        for config in self.warm:
            if config_hash(config) not in taken and _allowed(config, distributions):
                return config
        candidates = [c for c, h in zip(self.model.configs, self.model.hashes, strict=True)
                      if h not in taken and _allowed(c, distributions)]
        candidates += [c for c in self._local(configs, values)
                       if config_hash(c) not in taken and _allowed(c, distributions)]
        if not candidates:
            return None
        scores = self.model.acquisition(candidates, configs, values)
        best = int(np.argmax(scores))
        return candidates[best] if np.isfinite(scores[best]) else None

    def _config_of(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        if ALGORITHM_PARAM not in params:
            return None
        try:
            return validate_config(trial_params_to_config(dict(params)), self.task)
        except (ConfigurationError, TypeError, KeyError):
            return None

    def _local(self, configs: list[dict[str, Any]], values: list[float]
               ) -> list[dict[str, Any]]:
        """``n_local`` random steps from the study's best ``LOCAL_BEST`` trials."""
        if not self.n_local or not configs:
            return []
        best = np.argsort(values)[::-1][:LOCAL_BEST]
        out = []
        for i in range(self.n_local):
            config = configs[int(best[i % len(best)])]
            out.append(_perturb(config, self.task, self._rng))
        return out


def _perturb(config: dict[str, Any], task: str, rng: np.random.Generator) -> dict[str, Any]:
    """One random step from ``config``: each numeric parameter moves by ``LOCAL_STEP`` of its
    (log) range, each categorical one changes with probability 0.2."""
    algorithm = get_algorithm(config["algorithm"], task)
    params = dict(config["params"])
    for param in algorithm.params:
        if param.name not in params:
            continue
        dist = param.distribution
        if isinstance(dist, CategoricalDistribution):
            if rng.random() < 0.2:
                params[param.name] = dist.choices[int(rng.integers(len(dist.choices)))]
        elif isinstance(dist, (FloatDistribution, IntDistribution)):
            params[param.name] = _step(params[param.name], dist, rng)
    return validate_config({"algorithm": algorithm.name, "params": params}, task)


def _step(value: Any, dist: FloatDistribution | IntDistribution,
          rng: np.random.Generator) -> Any:
    low, high = float(dist.low), float(dist.high)
    if high <= low:
        return value
    scale = (math.log, math.exp) if dist.log else (float, float)
    lo, hi = scale[0](low), scale[0](high)
    moved = scale[0](min(max(float(value), low), high)) + rng.normal(0.0, LOCAL_STEP) * (hi - lo)
    new = float(np.clip(scale[1](float(np.clip(moved, lo, hi))), low, high))
    if isinstance(dist, IntDistribution):
        step = dist.step or 1
        return int(min(max(low + round((new - low) / step) * step, low), high))
    return new


def _allowed(config: dict[str, Any], distributions: Mapping[str, BaseDistribution]) -> bool:
    """Whether every parameter of ``config`` fits the distribution asked under its name."""
    for name, value in config_to_trial_params(config).items():
        dist = distributions.get(name)
        if dist is not None and not _contains(dist, value):
            return False
    return True


def _metafeatures(dataset_or_metafeatures: Any, task: str | None) -> tuple[Any, str]:
    if isinstance(dataset_or_metafeatures, (Mapping, pd.Series)):
        if task is None:
            raise ConfigurationError("TransferSampler got meta-features without a task; "
                                     "pass task='classification' or task='regression'.")
        return dataset_or_metafeatures, task
    if dataset_or_metafeatures is None:
        raise ConfigurationError("TransferSampler needs the dataset or its meta-features "
                                 "(with task=...).")
    dataset = load_dataset(dataset_or_metafeatures, task=task)
    return extract_metafeatures(dataset), dataset.task
