"""``NeuralLearner``: the optimisation-based meta-learner (FSBO-style deep-kernel GP).

Importing this module does not import torch (so ``import automl_meta`` stays light and the
learner can sit in the strategy registry); torch is imported when a learner is fitted, loaded
onto a device or asked for advice.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from automl_meta.errors import ArtifactError, ConfigurationError
from automl_meta.metalearners._base import (
    MetaLearner,
    Recommendation,
    check_k,
)
from automl_meta.metalearners._encoding import FeatureScaler, encode_configs
from automl_meta.metalearners._knowledge import MetaKnowledge
from automl_meta.metalearners.knn import KNNLearner

if TYPE_CHECKING:
    import torch

    from automl_meta.metalearners.neural.adapt import Memory
    from automl_meta.metalearners.neural.model import SurrogateNet

Observation = tuple[dict[str, Any], float | None]
_NET_KEYS = ("hidden", "depth", "embedding", "members")
_TRAIN_KEYS = ("steps", "batch_size", "max_support", "n_query", "learning_rate",
               "weight_decay", "time_budget")
_OTHER_KEYS = ("calibration", "finetune_steps", "finetune_lr", "xi", "extra_candidates",
               "memory_weight", "device", "threads", "random_state")
_MEMORY = "memory."  # prefix of the kNN memory's arrays in the saved file


class NeuralLearner(MetaLearner):
    """A surrogate meta-trained across past datasets and fine-tuned on the new one.

    Per task, a deep-kernel Gaussian process (see ``neural.model``): an ensemble of small
    MLPs over ``[scaled meta-features ; configuration encoding]`` gives the zero-shot mean
    (its disagreement part of the uncertainty), an MLP over the configuration the kernel's
    embedding. For the configurations past datasets ran, the GP's prior mean blends in
    what a kNN memory of those datasets predicts (``memory_weight``). It is meta-trained
    on episodes of past searches (``neural.train``); on a new dataset, :meth:`recommend`
    ranks the candidate pool by the zero-shot mean and :meth:`propose` fine-tunes a copy on
    the trials observed so far, conditions on them and picks by expected improvement
    (``neural.adapt``).

    The candidate pool is the meta-db's configurations of the task plus
    ``extra_candidates`` sampled from the space.

    The defaults of ``memory_weight`` (0.7) and ``xi`` (0.1) were chosen by the simulated
    leave-one-family-out search of ``benchmarks/neural.py`` on the shipped meta-db, among
    {0.3, 0.5, 0.7} and {0, 0.05, 0.1, 0.2} (see ``benchmarks/RESULTS.md``).

    Args:
        hidden, depth, embedding: width and number of hidden layers, embedding size.
        members: size of the ensemble behind the zero-shot mean.
        steps, batch_size: meta-training steps per task and episodes per step.
        max_support, n_query: largest support set and query size of an episode.
        learning_rate, weight_decay: AdamW settings of meta-training.
        time_budget: optional cap in seconds on the whole meta-training (split over tasks).
        calibration: fraction of the datasets (whole families) held out of the first
            training stage to calibrate how far the GP trusts the mean network (0: none).
        finetune_steps, finetune_lr: Adam steps and rate of the per-dataset fine-tuning.
        xi: expected-improvement margin on the scale of the observed scores normalised
            within themselves (larger explores more).
        extra_candidates: configurations sampled from the space into the candidate pool.
        memory_weight: share of the kNN memory (a ``KNNLearner`` fitted on the same
            meta-db) in the GP's prior mean, for the configurations past datasets ran; the
            rest is the network's zero-shot mean (0: the network alone). See
            ``neural.adapt.Memory``.
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda"``.
        threads: at most this many CPU threads while the learner computes (``None``: torch's
            setting); one is fastest for these small networks.
        random_state: seed of initialisation, episodes and pool (reproducible on CPU).
        progress: rich progress bar while meta-training (``None``: when on a terminal).

    Example:
        >>> learner = NeuralLearner(steps=500).fit(knowledge)  # doctest: +SKIP
        >>> trials = [(config, 0.81)]  # doctest: +SKIP
        >>> learner.propose(metafeatures, "classification", trials, k=1)  # doctest: +SKIP
    """

    name = "neural"

    def __init__(self, hidden: int = 64, depth: int = 2, embedding: int = 16, members: int = 5,
                 steps: int = 2000, batch_size: int = 16, max_support: int = 32,
                 n_query: int = 32, learning_rate: float = 5e-3, weight_decay: float = 1e-4,
                 time_budget: float | None = None, calibration: float = 0.2,
                 finetune_steps: int = 10, finetune_lr: float = 1e-3, xi: float = 0.1,
                 extra_candidates: int = 300, memory_weight: float = 0.7,
                 device: str = "auto", threads: int | None = 1, random_state: int = 0,
                 progress: bool | None = None) -> None:
        self.hidden = hidden
        self.depth = depth
        self.embedding = embedding
        self.members = members
        self.steps = steps
        self.batch_size = batch_size
        self.max_support = max_support
        self.n_query = n_query
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.time_budget = time_budget
        self.calibration = calibration
        self.finetune_steps = finetune_steps
        self.finetune_lr = finetune_lr
        self.xi = xi
        self.extra_candidates = extra_candidates
        self.memory_weight = memory_weight
        self.device = device
        self.threads = threads
        self.random_state = random_state
        self.progress = progress
        self.tasks: dict[str, dict[str, Any]] = {}
        self._arrays: dict[str, np.ndarray] = {}
        self._runtime: dict[str, dict[str, Any]] = {}
        self._memory: KNNLearner | None = None

    # -- fitting ------------------------------------------------------------------------

    def fit(self, knowledge: MetaKnowledge) -> NeuralLearner:
        """Meta-train one surrogate per task of ``knowledge``; returns ``self``."""
        import torch

        from automl_meta.metalearners.neural.model import SurrogateNet, cpu_threads
        from automl_meta.metalearners.neural.train import (
            TaskTensors,
            TrainSettings,
            holdout_families,
            meta_train,
        )
        from automl_meta.space import algorithms
        from automl_meta.space.torch_mlp import resolve_device

        self._check_params()
        self.forget_scalers()
        device = resolve_device(self.device)
        tasks = [t for t, m in knowledge.matrices.items() if m.datasets]
        settings = TrainSettings(**{key: getattr(self, key) for key in _TRAIN_KEYS})
        if self.time_budget is not None and tasks:
            settings.time_budget = self.time_budget / len(tasks)
        self.tasks, self._arrays, self._runtime = {}, {}, {}
        self._memory = KNNLearner().fit(knowledge) if self.memory_weight > 0 else None
        for offset, task in enumerate(tasks):
            matrix = knowledge.matrices[task]
            frame = knowledge.metafeatures.loc[matrix.datasets]
            scaler = FeatureScaler().fit(frame)
            configs = [knowledge.config(c) for c in matrix.configs]
            holdout = holdout_families(knowledge.datasets.loc[matrix.datasets, "family"],
                                       self.calibration, self.random_state + offset)
            data = TaskTensors.build(scaler.transform(frame), encode_configs(configs, task),
                                     matrix.normalised, device, self.members,
                                     self.random_state + offset, holdout)
            if data.n_datasets == 0:
                continue
            sizes = {"n_features": len(scaler.columns), "n_config": data.configs.shape[1],
                     "n_algorithms": len(algorithms(task))}
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.random_state + offset)
                net = SurrogateNet(**sizes, hidden=self.hidden, depth=self.depth,
                                   embedding=self.embedding, members=self.members)
            net.to(device)
            with cpu_threads(device, self.threads):
                report = meta_train(net, data, settings, seed=self.random_state + offset,
                                    progress=self.progress, description=f"neural ({task})")
            extra = self._extra_candidates(task, configs)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # never-evaluated columns
                history = np.nanmean(matrix.normalised, axis=0)
            self.tasks[task] = {
                "scaler": scaler.to_json(),
                **sizes,
                "n_datasets": data.n_datasets,
                "candidates": configs + extra,
                "history": [float(x) if np.isfinite(x) else None for x in history]
                + [None] * len(extra),
                "training": {"steps": report.steps, "seconds": round(report.seconds, 3),
                             "device": device.type,
                             "final_loss": report.losses[-1] if report.losses else None},
            }
            self._runtime[task] = {"net": net, "device": device}
        return self

    def _check_params(self) -> None:
        for key in ("hidden", "depth", "embedding", "members", "steps", "batch_size",
                    "n_query"):
            value = getattr(self, key)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ConfigurationError(f"{key}={value!r} must be a positive integer.")
        weight = self.memory_weight
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
                or not 0 <= weight <= 1:
            raise ConfigurationError(
                f"memory_weight={self.memory_weight!r} must be a share in [0, 1].")
        if not 0 <= self.calibration < 1:
            raise ConfigurationError(
                f"calibration={self.calibration!r} must be a fraction in [0, 1).")
        if self.max_support < 0 or self.finetune_steps < 0 or self.extra_candidates < 0:
            raise ConfigurationError(
                f"max_support={self.max_support!r}, finetune_steps={self.finetune_steps!r} "
                f"and extra_candidates={self.extra_candidates!r} must be >= 0.")
        if not isinstance(self.device, str):
            raise ConfigurationError(f"device={self.device!r} must be 'auto', 'cpu' or 'cuda'.")

    def _extra_candidates(self, task: str, known: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from automl_meta.space import algorithms, config_hash, sample_configs

        per_algorithm = -(-self.extra_candidates // len(algorithms(task)))
        if per_algorithm <= 0:
            return []
        seen = {config_hash(c) for c in known}
        return [c for c in sample_configs(task, per_algorithm, seed=self.random_state + 7919,
                                          include_defaults=False)
                if config_hash(c) not in seen]

    # -- the fitted surrogate on a device -------------------------------------------------

    def _task_runtime(self, task: str) -> dict[str, Any]:
        """The task's network (rebuilt from the saved arrays on first use) and cached pool."""
        import torch

        from automl_meta.metalearners.neural.model import SurrogateNet
        from automl_meta.space import config_hash
        from automl_meta.space.torch_mlp import resolve_device

        runtime = self._runtime.setdefault(task, {})
        if "net" not in runtime:
            device = resolve_device(self.device)
            info = self.tasks[task]
            net = SurrogateNet(info["n_features"], info["n_config"], info["n_algorithms"],
                               self.hidden, self.depth, self.embedding, self.members)
            prefix = f"{task}."
            state = {k[len(prefix):]: torch.from_numpy(np.array(v))
                     for k, v in self._arrays.items() if k.startswith(prefix)}
            try:
                net.load_state_dict(state)
            except RuntimeError as exc:
                raise ArtifactError(f"The saved neural learner's {task} weights do not match "
                                    f"its configuration: {exc}") from exc
            runtime.update(net=net.to(device).eval(), device=device)
        if "pool" not in runtime:
            info = self.tasks[task]
            encoded = encode_configs(info["candidates"], task)
            runtime["pool"] = torch.as_tensor(encoded, device=runtime["device"])
            runtime["pool_hashes"] = [config_hash(c) for c in info["candidates"]]
        return runtime

    def _features(self, task: str, metafeatures: Mapping[str, float] | pd.Series) -> torch.Tensor:
        """The dataset's scaled meta-features ``(F,)`` on the task's device."""
        import torch

        if not isinstance(metafeatures, (Mapping, pd.Series)):
            raise ConfigurationError("metafeatures must be a mapping of name -> value; got "
                                     f"{type(metafeatures).__name__}.")
        query = self.task_scaler(task).transform_mapping(metafeatures).astype(np.float32)[0]
        return torch.as_tensor(query, device=self._task_runtime(task)["device"])

    def _encode(self, task: str, configs: Sequence[dict[str, Any]]) -> torch.Tensor:
        import torch

        device = self._task_runtime(task)["device"]
        return torch.as_tensor(encode_configs(list(configs), task), device=device)

    def _check_fitted(self) -> None:
        if not self.tasks:
            raise ConfigurationError("This NeuralLearner is not fitted; call fit(knowledge) "
                                     "or NeuralLearner.load(path) first.")

    # -- advice ---------------------------------------------------------------------------

    def predict(self, metafeatures: Mapping[str, float] | pd.Series, task: str,
                configs: Sequence[dict[str, Any]],
                observed: Sequence[Observation] = ()) -> tuple[np.ndarray, np.ndarray]:
        """Predicted score and its standard deviation for each configuration.

        Without observations the mean is the zero-shot normalised score (1 = the best known
        configuration of the dataset); with observations it is the posterior after
        fine-tuning, on the scale of the observed scores normalised within themselves
        (1 = the best observed so far).
        """
        from automl_meta.metalearners.neural.adapt import predict
        from automl_meta.metalearners.neural.model import cpu_threads
        from automl_meta.space import config_hash

        self._check_fitted()
        if task not in self.tasks:
            raise ConfigurationError(f"The neural learner knows no {task} datasets.")
        with cpu_threads(self._task_runtime(task)["device"], self.threads):
            features = self._features(task, metafeatures)
            candidates = self._encode(task, configs)
            net, tried, scores, memory = self._condition(
                features, metafeatures, task, observed, configs,
                [config_hash(config) for config in configs], candidates)
            if tried is None:
                return self._zero_shot(net, features, candidates, memory)
            mu, sd = predict(net, features, tried, scores, candidates, memory=memory)
        return mu.cpu().numpy().astype(float), sd.cpu().numpy().astype(float)

    def _condition(self, features: torch.Tensor,
                   metafeatures: Mapping[str, float] | pd.Series, task: str,
                   observed: Sequence[Observation], candidates: Sequence[dict[str, Any]],
                   hashes: Sequence[str], encoded: torch.Tensor,
                   ) -> tuple[Any, torch.Tensor | None, Any, Memory | None]:
        """Everything a prediction for the ``candidates`` (with their hashes and encodings)
        conditions on: the network fine-tuned on ``observed``, their configurations encoded
        and their normalised scores (``None`` twice without observations), and the kNN
        memory's predictions (:meth:`_recall`), with the observed configurations encoded
        once for both."""
        tried = self._encode(task, [config for config, _ in observed]) if observed else None
        memory = self._recall(features, metafeatures, task, observed, tried, candidates,
                              hashes, encoded)
        net, scores = self._adapted(features, task, observed, tried, memory)
        return net, tried, scores, memory

    def _recall(self, features: torch.Tensor, metafeatures: Mapping[str, float] | pd.Series,
                task: str, observed: Sequence[Observation], tried: torch.Tensor | None,
                candidates: Sequence[dict[str, Any]], hashes: Sequence[str],
                encoded: torch.Tensor) -> Memory | None:
        """What the kNN memory predicts for the ``observed`` configurations (encoded as
        ``tried``) and for the ``candidates`` (with their hashes and encodings); ``None``
        without a memory.

        A configuration the meta-db never ran (one sampled from the space) gets the
        network's mean plus the memory's average correction of it on the same algorithm's
        known configurations: blending only the known ones would shift them alone, and
        rank the unknown ones by the network's bias instead of their merit.
        """
        import torch

        from automl_meta.metalearners.neural.adapt import Memory
        from automl_meta.space import config_hash

        if self._memory is None or self.memory_weight <= 0:
            return None
        known = self._memory.predicted_scores(metafeatures, task)
        configs = [*(config for config, _ in observed), *candidates]
        points = encoded if tried is None else torch.cat([tried, encoded])
        with torch.no_grad():  # fine-tuning never changes the network's mean
            network = self._task_runtime(task)["net"](features[None], points[None])[0][0]
        remembered = np.array([known.get(key, math.nan) for key in
                               [*(config_hash(config) for config, _ in observed), *hashes]])
        filled = fill_by_algorithm(remembered, network.cpu().numpy().astype(float),
                                   [config["algorithm"] for config in configs])
        as_tensor = torch.as_tensor(filled, dtype=torch.float32, device=encoded.device)
        return Memory(self.memory_weight, as_tensor[:len(observed)], as_tensor[len(observed):])

    def _zero_shot(self, net: SurrogateNet, features: torch.Tensor, configs: torch.Tensor,
                   memory: Memory | None) -> tuple[np.ndarray, np.ndarray]:
        import torch

        from automl_meta.metalearners.neural.adapt import mean_and_embedding
        from automl_meta.metalearners.neural.model import prior_variance

        with torch.no_grad():
            mean, emb = mean_and_embedding(net, features, configs,
                                           memory.candidates if memory else None,
                                           self.memory_weight)
            sd = (prior_variance(net, mean, emb) + net.hyper()["noise"]).sqrt()
        return mean[0].cpu().numpy().astype(float), sd[0].cpu().numpy().astype(float)

    def _adapted(self, features: torch.Tensor, task: str, observed: Sequence[Observation],
                 tried: torch.Tensor | None, memory: Memory | None) -> tuple[Any, Any]:
        """The network fine-tuned on ``observed`` (its configurations encoded as ``tried``)
        and their normalised scores (``None`` without observations)."""
        import torch

        from automl_meta.metalearners.neural.adapt import fine_tune, normalise_observed

        net = self._task_runtime(task)["net"]
        if tried is None:
            return net, None
        raw = [_as_score(score) for _, score in observed]
        scores = normalise_observed(torch.tensor(raw, dtype=torch.float32,
                                                 device=tried.device))
        tuned = fine_tune(net, features, tried, scores, self.finetune_steps, self.finetune_lr,
                          memory)
        return tuned, scores

    def recommend(self, metafeatures: Mapping[str, float] | pd.Series, task: str,
                  k: int = 10) -> list[Recommendation]:
        """The ``k`` candidates with the best zero-shot predicted score."""
        return self.propose(metafeatures, task, (), k)

    def propose(self, metafeatures: Mapping[str, float] | pd.Series, task: str,
                observed: Sequence[Observation] = (), k: int = 1,
                candidates: Sequence[dict[str, Any]] | None = None,
                exclude: Iterable[dict[str, Any]] = ()) -> list[Recommendation]:
        """The next ``k`` configurations to try on a dataset, given its trials so far.

        Args:
            metafeatures: the dataset's meta-features.
            task: ``"classification"`` or ``"regression"``.
            observed: ``(configuration, score)`` of the trials so far, raw or normalised
                (higher is better; ``None``/NaN for a failed trial). Scores are normalised
                within this set, so any affine scale works.
            k: how many configurations (a batch is spread by a kriging believer).
            candidates: the configurations to choose from (default: the learner's pool).
            exclude: configurations never to propose, though not observed (a trial that
                failed, or one still running).

        An observed configuration is never proposed again. Without observations the
        candidates are ranked by predicted score, as :meth:`recommend` does.
        """
        from automl_meta.metalearners.neural.adapt import propose_indices
        from automl_meta.metalearners.neural.model import cpu_threads
        from automl_meta.space import config_hash

        k = check_k(k)
        self._check_fitted()
        if task not in self.tasks:
            return []
        info = self.tasks[task]
        runtime = self._task_runtime(task)
        if candidates is None:
            pool, encoded, hashes = info["candidates"], runtime["pool"], runtime["pool_hashes"]
            history: list[float | None] = info["history"]
        else:
            pool, hashes = list(candidates), [config_hash(c) for c in candidates]
            encoded, history = self._encode(task, pool), [None] * len(pool)
        seen = {config_hash(config) for config, _ in observed}
        seen.update(config_hash(config) for config in exclude)
        free, unique = [], set()
        for index, key in enumerate(hashes):
            if key not in seen and key not in unique:
                unique.add(key)
                free.append(index)
        if not free:
            return []
        with cpu_threads(runtime["device"], self.threads):
            features = self._features(task, metafeatures)
            choices = encoded[free]
            net, tried, scores, memory = self._condition(
                features, metafeatures, task, observed, [pool[i] for i in free],
                [hashes[i] for i in free], choices)
            if tried is None:
                mean, sd = self._zero_shot(net, features, choices, memory)
                order = np.argsort(-mean, kind="stable")[:k]
                picks = [(int(i), float(mean[i]), float(sd[i]), None) for i in order]
            else:
                picks = propose_indices(net, features, tried, scores, choices, k, self.xi,
                                        memory)
        out = []
        for rank, (position, mu, sd_, ei) in enumerate(picks, start=1):
            index = free[position]
            config = pool[index]
            out.append(Recommendation(
                config["algorithm"], dict(config.get("params", {})), mu, self.name,
                _why(mu, sd_, ei, len(observed), info["n_datasets"], task, history[index],
                     memory is not None),
                rank=rank, details={"std": sd_, "expected_improvement": ei,
                                    "observed": len(observed)}))
        return out

    # -- persistence ----------------------------------------------------------------------

    def _params(self) -> dict[str, Any]:
        params = {key: getattr(self, key) for key in (*_NET_KEYS, *_TRAIN_KEYS, *_OTHER_KEYS)}
        # the weights run anywhere: weights trained on a GPU must still load on a laptop
        # (``load(path, device=...)`` chooses otherwise)
        params["device"] = "auto"
        return params

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays = {key: value for key, value in self._arrays.items()
                  if not key.startswith(_MEMORY)}
        for task, runtime in self._runtime.items():
            if "net" in runtime:
                for key, value in runtime["net"].state_dict().items():
                    arrays[f"{task}.{key}"] = value.detach().cpu().numpy().astype(np.float32)
        state: dict[str, Any] = {"params": self._params(), "tasks": self.tasks}
        if self._memory is not None:
            state["memory"], memory_arrays = self._memory._state()
            arrays.update({_MEMORY + key: value for key, value in memory_arrays.items()})
        return state, arrays

    @classmethod
    def _from_state(cls, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> MetaLearner:
        # learners saved before the memory existed load without it: the network alone
        learner = cls(**{"memory_weight": 0.0, **state["params"]})
        learner.tasks = state["tasks"]
        learner._arrays = {key: value for key, value in arrays.items()
                           if not key.startswith(_MEMORY)}
        if "memory" in state:
            memory = KNNLearner._from_state(state["memory"], {
                key[len(_MEMORY):]: value for key, value in arrays.items()
                if key.startswith(_MEMORY)})
            learner._memory = memory if isinstance(memory, KNNLearner) else None
        return learner

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> NeuralLearner:  # type: ignore[override]
        """Load a learner saved by :meth:`save` (JSON + safetensors), optionally onto another
        ``device`` than the one it was saved with."""
        learner = MetaLearner.load(path)
        if not isinstance(learner, NeuralLearner):
            raise ArtifactError(f"{path} holds a {learner.name!r} learner, not a neural one.")
        if device is not None:
            learner.device = device
        return learner


def fill_by_algorithm(remembered: np.ndarray, network: np.ndarray,
                      algorithms: Sequence[str]) -> np.ndarray:
    """``remembered`` with each NaN replaced by the ``network`` value plus the mean gap
    (remembered - network) over the known points of the same algorithm (of all known
    points when the algorithm has none; nothing known at all: the network's values).

    Example:
        >>> fill_by_algorithm(np.array([0.8, np.nan, np.nan]), np.array([0.9, 0.7, 0.5]),
        ...                   ["svm", "svm", "knn"]).round(2).tolist()
        [0.8, 0.6, 0.4]
    """
    gap = remembered - network
    finite = np.isfinite(gap)
    overall = float(gap[finite].mean()) if finite.any() else 0.0
    names = np.asarray(algorithms, dtype=object)
    filled = remembered.copy()
    for name in set(algorithms):
        same = names == name
        known = gap[same & finite]
        offset = float(known.mean()) if len(known) else overall
        filled[same & ~finite] = network[same & ~finite] + offset
    return filled


def _as_score(score: Any) -> float:
    try:
        value = float(score)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan


def _why(mu: float, sd: float, ei: float | None, n_observed: int, n_datasets: int, task: str,
         history: float | None, remembers: bool) -> str:
    if ei is None:
        past = (f"; it averaged {history:.3f} over the past datasets" if history is not None
                else "; a configuration sampled from the space")
        memory = ", and its kNN memory of them" if remembers and history is not None else ""
        return (f"neural meta-learner (meta-trained on {n_datasets} past {task} "
                f"datasets{memory}) predicts {mu:.3f} of the best known score for a dataset "
                f"with these meta-features{past}")
    return (f"after fine-tuning on {n_observed} observed trials, the neural meta-learner "
            f"predicts {mu:.3f} ± {sd:.3f} relative to the best trial so far (= 1); "
            f"expected improvement {ei:.4f}")
