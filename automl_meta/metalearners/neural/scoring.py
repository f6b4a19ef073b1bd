"""The neural learner's predictions for candidate configurations: zero-shot, or after
fine-tuning on a dataset's observed trials and conditioning on them (``neural.adapt``),
with the kNN memory's predictions (``neural.recall``) in the prior mean.

Torch is imported when something is scored, not when this module is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from automl_meta.metalearners._sequential import Observation
from automl_meta.metalearners.neural.recall import recall
from automl_meta.metalearners.neural.runtime import encode, features, task_runtime
from automl_meta.space import config_hash

if TYPE_CHECKING:
    import torch

    from automl_meta.metalearners.neural.adapt import Memory
    from automl_meta.metalearners.neural.learner import NeuralLearner
    from automl_meta.metalearners.neural.model import SurrogateNet


def predict(learner: NeuralLearner, metafeatures: Mapping[str, float] | pd.Series, task: str,
            configs: Sequence[dict[str, Any]],
            observed: Sequence[Observation] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Predicted score and its standard deviation for each configuration (see
    :meth:`NeuralLearner.predict <automl_meta.metalearners.neural.NeuralLearner.predict>`)."""
    from automl_meta.metalearners.neural.adapt import predict as posterior
    from automl_meta.metalearners.neural.model import cpu_threads

    with cpu_threads(task_runtime(learner, task)["device"], learner.threads):
        query = features(learner, task, metafeatures)
        candidates = encode(learner, task, configs)
        net, tried, scores, memory = condition(
            learner, query, metafeatures, task, observed, configs,
            [config_hash(config) for config in configs], candidates)
        if tried is None:
            return zero_shot(learner, net, query, candidates, memory)
        mu, sd = posterior(net, query, tried, scores, candidates, memory=memory)
    return mu.cpu().numpy().astype(float), sd.cpu().numpy().astype(float)


def condition(learner: NeuralLearner, features: torch.Tensor,
              metafeatures: Mapping[str, float] | pd.Series, task: str,
              observed: Sequence[Observation], candidates: Sequence[dict[str, Any]],
              hashes: Sequence[str], encoded: torch.Tensor,
              ) -> tuple[Any, torch.Tensor | None, Any, Memory | None]:
    """Everything a prediction for the ``candidates`` (with their hashes and encodings)
    conditions on: the network fine-tuned on ``observed``, their configurations encoded
    and their normalised scores (``None`` twice without observations), and the kNN
    memory's predictions (``neural.recall``), with the observed configurations encoded
    once for both."""
    tried = encode(learner, task, [config for config, _ in observed]) if observed else None
    memory = recall(learner, features, metafeatures, task, observed, tried, candidates,
                    hashes, encoded)
    net, scores = adapted(learner, features, task, observed, tried, memory)
    return net, tried, scores, memory


def zero_shot(learner: NeuralLearner, net: SurrogateNet, features: torch.Tensor,
              configs: torch.Tensor, memory: Memory | None) -> tuple[np.ndarray, np.ndarray]:
    """The prior mean and standard deviation of the encoded ``configs``."""
    import torch

    from automl_meta.metalearners.neural.adapt import mean_and_embedding
    from automl_meta.metalearners.neural.model import prior_variance

    with torch.no_grad():
        mean, emb = mean_and_embedding(net, features, configs,
                                       memory.candidates if memory else None,
                                       learner.memory_weight)
        sd = (prior_variance(net, mean, emb) + net.hyper()["noise"]).sqrt()
    return mean[0].cpu().numpy().astype(float), sd[0].cpu().numpy().astype(float)


def adapted(learner: NeuralLearner, features: torch.Tensor, task: str,
            observed: Sequence[Observation], tried: torch.Tensor | None,
            memory: Memory | None) -> tuple[Any, Any]:
    """The network fine-tuned on ``observed`` (its configurations encoded as ``tried``)
    and their normalised scores (``None`` without observations)."""
    import torch

    from automl_meta.metalearners.neural.adapt import fine_tune, normalise_observed

    net = task_runtime(learner, task)["net"]
    if tried is None:
        return net, None
    raw = [as_score(score) for _, score in observed]
    scores = normalise_observed(torch.tensor(raw, dtype=torch.float32, device=tried.device))
    tuned = fine_tune(net, features, tried, scores, learner.finetune_steps,
                      learner.finetune_lr, memory)
    return tuned, scores


def as_score(score: Any) -> float:
    """``score`` as a float, NaN when it is missing or not a finite number.

    Example:
        >>> as_score(0.5), as_score(None), as_score("x")
        (0.5, nan, nan)
    """
    try:
        value = float(score)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan
