"""A fitted :class:`~automl_meta.metalearners.neural.NeuralLearner` on its device: each
task's network (rebuilt from the saved arrays when first used), its candidate pool encoded
once, and queries turned into tensors there.

Torch is imported when a runtime is first needed, not when this module is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from automl_meta.errors import ArtifactError, ConfigurationError
from automl_meta.metalearners._encoding import encode_configs, fitted_algorithms
from automl_meta.space import config_hash

if TYPE_CHECKING:
    import torch

    from automl_meta.metalearners.neural.learner import NeuralLearner


def task_runtime(learner: NeuralLearner, task: str) -> dict[str, Any]:
    """The task's ``net`` and ``device`` (the network rebuilt from the saved arrays on first
    use) and its encoded candidate ``pool`` with the ``pool_hashes``, cached."""
    import torch

    from automl_meta.metalearners.neural.model import SurrogateNet
    from automl_meta.space.torch_mlp import resolve_device

    runtime = learner._runtime.setdefault(task, {})
    if "net" not in runtime:
        device = resolve_device(learner.device)
        info = learner.tasks[task]
        net = SurrogateNet(info["n_features"], info["n_config"], info["n_algorithms"],
                           learner.hidden, learner.depth, learner.embedding, learner.members)
        prefix = f"{task}."
        state = {k[len(prefix):]: torch.from_numpy(np.array(v))
                 for k, v in learner._arrays.items() if k.startswith(prefix)}
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise ArtifactError(f"The saved neural learner's {task} weights do not match "
                                f"its configuration: {exc}") from exc
        runtime.update(net=net.to(device).eval(), device=device)
    if "pool" not in runtime:
        info = learner.tasks[task]
        encoded = encode_configs(info["candidates"], task, fitted_algorithms(info, task))
        runtime["pool"] = torch.as_tensor(encoded, device=runtime["device"])
        runtime["pool_hashes"] = [config_hash(c) for c in info["candidates"]]
    return runtime


def features(learner: NeuralLearner, task: str,
             metafeatures: Mapping[str, float] | pd.Series) -> torch.Tensor:
    """The dataset's scaled meta-features ``(F,)`` on the task's device."""
    import torch

    if not isinstance(metafeatures, (Mapping, pd.Series)):
        raise ConfigurationError("metafeatures must be a mapping of name -> value; got "
                                 f"{type(metafeatures).__name__}.")
    query = learner.task_scaler(task).transform_mapping(metafeatures).astype(np.float32)[0]
    return torch.as_tensor(query, device=task_runtime(learner, task)["device"])


def encode(learner: NeuralLearner, task: str, configs: Sequence[dict[str, Any]]
           ) -> torch.Tensor:
    """The configurations encoded ``(n, P)`` on the task's device."""
    import torch

    device = task_runtime(learner, task)["device"]
    names = fitted_algorithms(learner.tasks[task], task)
    return torch.as_tensor(encode_configs(list(configs), task, names), device=device)
