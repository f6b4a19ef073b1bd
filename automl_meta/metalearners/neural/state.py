"""Saving and loading a :class:`~automl_meta.metalearners.neural.NeuralLearner`: its
parameters, per-task information and kNN memory as JSON, its weights as named arrays.

Torch is not needed to read or write the state: a network is turned into arrays here and
rebuilt from them when first used (see ``neural.runtime``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from automl_meta.metalearners.knn import KNNLearner

if TYPE_CHECKING:
    from automl_meta.metalearners.neural.learner import NeuralLearner

NET_KEYS = ("hidden", "depth", "embedding", "members")
TRAIN_KEYS = ("steps", "batch_size", "max_support", "n_query", "learning_rate",
              "weight_decay", "budget")
OTHER_KEYS = ("calibration", "finetune_steps", "finetune_lr", "xi", "extra_candidates",
              "memory_weight", "device", "threads", "random_state")
MEMORY = "memory."  # prefix of the kNN memory's arrays in the saved file
_RENAMED = {"time_budget": "budget"}  # parameters saved under an older name


def params_of(learner: NeuralLearner) -> dict[str, Any]:
    """The constructor parameters to save (the device always ``"auto"``)."""
    params = {key: getattr(learner, key) for key in (*NET_KEYS, *TRAIN_KEYS, *OTHER_KEYS)}
    # the weights run anywhere: weights trained on a GPU must still load on a laptop
    # (``load(path, device=...)`` chooses otherwise)
    params["device"] = "auto"
    return params


def state_of(learner: NeuralLearner) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """JSON-able state and the arrays (network weights and the memory's) of ``learner``."""
    arrays = {key: value for key, value in learner._arrays.items()
              if not key.startswith(MEMORY)}
    for task, runtime in learner._runtime.items():
        if "net" in runtime:
            for key, value in runtime["net"].state_dict().items():
                arrays[f"{task}.{key}"] = value.detach().cpu().numpy().astype(np.float32)
    state: dict[str, Any] = {"params": params_of(learner), "tasks": learner.tasks}
    if learner._memory is not None:
        state["memory"], memory_arrays = learner._memory._state()
        arrays.update({MEMORY + key: value for key, value in memory_arrays.items()})
    return state, arrays


def restore(cls: type[NeuralLearner], state: dict[str, Any],
            arrays: dict[str, np.ndarray]) -> NeuralLearner:
    """The learner :func:`state_of` described (networks rebuilt when first used)."""
    params = {_RENAMED.get(key, key): value for key, value in state["params"].items()}
    # learners saved before the memory existed load without it: the network alone
    learner = cls(**{"memory_weight": 0.0, **params})
    learner.tasks = state["tasks"]
    learner._arrays = {key: value for key, value in arrays.items()
                       if not key.startswith(MEMORY)}
    if "memory" in state:
        memory = KNNLearner._from_state(state["memory"], {
            key[len(MEMORY):]: value for key, value in arrays.items()
            if key.startswith(MEMORY)})
        learner._memory = memory if isinstance(memory, KNNLearner) else None
    return learner
