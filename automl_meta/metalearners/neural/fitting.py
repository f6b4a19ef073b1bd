"""Fitting a :class:`~automl_meta.metalearners.neural.NeuralLearner`: one surrogate
meta-trained per task (``neural.train``), its candidate pool, and the kNN memory.

Torch is imported when a learner is fitted, not when this module is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from automl_meta.errors import ConfigurationError
from automl_meta.metalearners._encoding import FeatureScaler, encode_configs
from automl_meta.metalearners._knowledge import MetaKnowledge
from automl_meta.metalearners.knn import KNNLearner
from automl_meta.metalearners.neural.state import TRAIN_KEYS
from automl_meta.space import algorithms, config_hash, sample_configs

if TYPE_CHECKING:
    from automl_meta.metalearners.neural.learner import NeuralLearner


def fit_tasks(learner: NeuralLearner, knowledge: MetaKnowledge) -> None:
    """Meta-train ``learner``'s surrogate of every task of ``knowledge`` with datasets,
    replacing what it knew."""
    import torch

    from automl_meta.metalearners.neural.model import SurrogateNet, cpu_threads
    from automl_meta.metalearners.neural.train import (
        TaskTensors,
        TrainSettings,
        meta_train,
    )
    from automl_meta.space.torch_mlp import resolve_device

    check_params(learner)
    learner.forget_scalers()
    device = resolve_device(learner.device)
    tasks = [t for t, m in knowledge.matrices.items() if m.datasets]
    settings = TrainSettings(**{key: getattr(learner, key) for key in TRAIN_KEYS})
    if learner.budget is not None and tasks:
        settings.budget = learner.budget / len(tasks)
    learner.tasks, learner._arrays, learner._runtime = {}, {}, {}
    learner._memory = KNNLearner().fit(knowledge) if learner.memory_weight > 0 else None
    for offset, task in enumerate(tasks):
        seed = learner.random_state + offset
        # meta-trained on the datasets that ran (most of) the grid (see whole_rows)
        matrix = knowledge.matrices[task].subset(knowledge.matrices[task].whole_rows())
        frame = knowledge.metafeatures.loc[matrix.datasets]
        scaler = FeatureScaler().fit(frame)
        configs = [knowledge.config(c) for c in matrix.configs]
        holdout = holdout_families(knowledge.datasets.loc[matrix.datasets, "family"],
                                   learner.calibration, seed)
        names = algorithms(task)
        data = TaskTensors.build(scaler.transform(frame), encode_configs(configs, task, names),
                                 matrix.normalised, device, learner.members, seed, holdout)
        if data.n_datasets == 0:
            continue
        sizes = {"n_features": len(scaler.columns), "n_config": data.configs.shape[1],
                 "n_algorithms": len(algorithms(task))}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = SurrogateNet(**sizes, hidden=learner.hidden, depth=learner.depth,
                               embedding=learner.embedding, members=learner.members)
        net.to(device)
        with cpu_threads(device, learner.threads):
            report = meta_train(net, data, settings, seed=seed, progress=learner.progress,
                                description=f"neural ({task})")
        extra = extra_candidates(learner, task, configs)
        history = matrix.config_prior([c["algorithm"] for c in configs])
        learner.tasks[task] = {
            "scaler": scaler.to_json(),
            **sizes,
            "n_datasets": data.n_datasets,
            "algorithms": names,
            "candidates": configs + extra,
            "history": [float(x) if np.isfinite(x) else None for x in history]
            + [None] * len(extra),
            "training": {"steps": report.steps, "seconds": round(report.seconds, 3),
                         "device": device.type,
                         "final_loss": report.losses[-1] if report.losses else None},
        }
        learner._runtime[task] = {"net": net, "device": device}


def check_params(learner: NeuralLearner) -> None:
    """Raise a ``ConfigurationError`` naming the first invalid parameter of ``learner``."""
    for key in ("hidden", "depth", "embedding", "members", "steps", "batch_size", "n_query"):
        value = getattr(learner, key)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ConfigurationError(f"{key}={value!r} must be a positive integer.")
    weight = learner.memory_weight
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
        raise ConfigurationError(
            f"memory_weight={learner.memory_weight!r} must be a share in [0, 1].")
    if not 0 <= learner.calibration < 1:
        raise ConfigurationError(
            f"calibration={learner.calibration!r} must be a fraction in [0, 1).")
    if learner.max_support < 0 or learner.finetune_steps < 0 or learner.extra_candidates < 0:
        raise ConfigurationError(
            f"max_support={learner.max_support!r}, finetune_steps={learner.finetune_steps!r} "
            f"and extra_candidates={learner.extra_candidates!r} must be >= 0.")
    if not isinstance(learner.device, str):
        raise ConfigurationError(
            f"device={learner.device!r} must be 'auto', 'cpu' or 'cuda'.")


def extra_candidates(learner: NeuralLearner, task: str,
                     known: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """About ``learner.extra_candidates`` configurations sampled from ``task``'s space (the
    same number per algorithm), none of them in ``known``."""
    per_algorithm = -(-learner.extra_candidates // len(algorithms(task)))
    if per_algorithm <= 0:
        return []
    seen = {config_hash(c) for c in known}
    return [c for c in sample_configs(task, per_algorithm, seed=learner.random_state + 7919,
                                      include_defaults=False)
            if config_hash(c) not in seen]


def holdout_families(families: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """Mark whole families, in a seeded random order, until ``fraction`` of the datasets are
    marked (at least one, and never all but one); nothing when there are under 5 datasets."""
    families = np.asarray(families, dtype=object)
    marked = np.zeros(len(families), dtype=bool)
    if fraction <= 0 or len(families) < 5:
        return marked
    unique = sorted(set(families))
    for family in np.random.default_rng(seed).permutation(len(unique)):
        if marked.mean() >= fraction:
            break
        candidate = marked | (families == unique[family])
        if (~candidate).sum() >= 2:
            marked = candidate
    return marked
