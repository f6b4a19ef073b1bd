"""What the kNN memory of past datasets predicts, blended into the neural learner's prior
mean for the configurations past datasets ran (see ``neural.adapt.Memory``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from automl_meta.metalearners._sequential import Observation
from automl_meta.metalearners.neural.runtime import task_runtime
from automl_meta.space import config_hash

if TYPE_CHECKING:
    import torch

    from automl_meta.metalearners.neural.adapt import Memory
    from automl_meta.metalearners.neural.learner import NeuralLearner


def recall(learner: NeuralLearner, features: torch.Tensor,
           metafeatures: Mapping[str, float] | pd.Series, task: str,
           observed: Sequence[Observation], tried: torch.Tensor | None,
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

    if learner._memory is None or learner.memory_weight <= 0:
        return None
    known = learner._memory.predicted_scores(metafeatures, task)
    configs = [*(config for config, _ in observed), *candidates]
    points = encoded if tried is None else torch.cat([tried, encoded])
    with torch.no_grad():  # fine-tuning never changes the network's mean
        network = task_runtime(learner, task)["net"](features[None], points[None])[0][0]
    remembered = np.array([known.get(key, math.nan) for key in
                           [*(config_hash(config) for config, _ in observed), *hashes]])
    filled = fill_by_algorithm(remembered, network.cpu().numpy().astype(float),
                               [config["algorithm"] for config in configs])
    as_tensor = torch.as_tensor(filled, dtype=torch.float32, device=encoded.device)
    return Memory(learner.memory_weight, as_tensor[:len(observed)], as_tensor[len(observed):])


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
