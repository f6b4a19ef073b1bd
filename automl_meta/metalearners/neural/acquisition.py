"""How the neural learner picks the next configurations: among the candidates not yet
observed nor excluded, by the zero-shot mean when nothing is observed, else by expected
improvement after fine-tuning (a batch spread by a kriging believer, ``neural.adapt``);
each pick explained in words.

Torch is imported when something is proposed, not when this module is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from automl_meta.metalearners._base import Recommendation
from automl_meta.metalearners._sequential import Observation
from automl_meta.metalearners.neural.runtime import encode, features, task_runtime
from automl_meta.metalearners.neural.scoring import condition, zero_shot
from automl_meta.space import config_hash

if TYPE_CHECKING:
    from automl_meta.metalearners.neural.learner import NeuralLearner


def propose(learner: NeuralLearner, metafeatures: Mapping[str, float] | pd.Series, task: str,
            observed: Sequence[Observation], k: int,
            candidates: Sequence[dict[str, Any]] | None,
            exclude: Iterable[dict[str, Any]]) -> list[Recommendation]:
    """The next ``k`` configurations for a task ``learner`` knows (see
    :meth:`NeuralLearner.propose <automl_meta.metalearners.neural.NeuralLearner.propose>`)."""
    from automl_meta.metalearners.neural.adapt import propose_indices
    from automl_meta.metalearners.neural.model import cpu_threads

    info = learner.tasks[task]
    runtime = task_runtime(learner, task)
    if candidates is None:
        pool, encoded, hashes = info["candidates"], runtime["pool"], runtime["pool_hashes"]
        history: list[float | None] = info["history"]
    else:
        pool, hashes = list(candidates), [config_hash(c) for c in candidates]
        encoded, history = encode(learner, task, pool), [None] * len(pool)
    free = free_indices(hashes, [config for config, _ in observed], exclude)
    if not free:
        return []
    with cpu_threads(runtime["device"], learner.threads):
        query = features(learner, task, metafeatures)
        choices = encoded[free]
        net, tried, scores, memory = condition(
            learner, query, metafeatures, task, observed, [pool[i] for i in free],
            [hashes[i] for i in free], choices)
        if tried is None:
            mean, sd = zero_shot(learner, net, query, choices, memory)
            order = np.argsort(-mean, kind="stable")[:k]
            picks = [(int(i), float(mean[i]), float(sd[i]), None) for i in order]
        else:
            picks = propose_indices(net, query, tried, scores, choices, k, learner.xi, memory)
    out = []
    for rank, (position, mu, sd_, ei) in enumerate(picks, start=1):
        index = free[position]
        config = pool[index]
        out.append(Recommendation(
            config["algorithm"], dict(config.get("params", {})), mu, learner.name,
            why(mu, sd_, ei, len(observed), info["n_datasets"], task, history[index],
                memory is not None),
            rank=rank, details={"std": sd_, "expected_improvement": ei,
                                "observed": len(observed)}))
    return out


def free_indices(hashes: Sequence[str], observed: Iterable[dict[str, Any]],
                 exclude: Iterable[dict[str, Any]]) -> list[int]:
    """Positions of the first occurrence of each hash that is neither an ``observed`` nor
    an ``exclude`` configuration's.

    Example:
        >>> a, b = {"algorithm": "knn", "params": {}}, {"algorithm": "svm", "params": {}}
        >>> free_indices([config_hash(a), config_hash(b), config_hash(b)], [a], [])
        [1]
    """
    seen = {config_hash(config) for config in observed}
    seen.update(config_hash(config) for config in exclude)
    free, unique = [], set()
    for index, key in enumerate(hashes):
        if key not in seen and key not in unique:
            unique.add(key)
            free.append(index)
    return free


def why(mu: float, sd: float, ei: float | None, n_observed: int, n_datasets: int, task: str,
        history: float | None, remembers: bool) -> str:
    """A proposal's explanation: the zero-shot one (``ei`` is ``None``) or the fine-tuned
    one."""
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
