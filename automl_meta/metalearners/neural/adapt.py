"""Fine-tuning on a new dataset's observed trials, and choosing what to try next.

:func:`fine_tune` adapts a *copy* of the meta-learned network (its kernel part) in a few Adam
steps on the log marginal likelihood of the observed (within-set normalised) scores; the GP
then conditions on those observations exactly. :func:`propose_indices` ranks a candidate
pool by expected improvement (of the noise-free score) over the best observation; for a
batch (``k > 1``) each pick is added as a pseudo-observation at its predicted mean
("kriging believer") so the batch spreads out.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch

from automl_meta.metalearners.neural.model import (
    SurrogateNet,
    blend_memory,
    log_marginal_likelihood,
    posterior,
    renormalise,
)

MIN_OBSERVATIONS_TO_TUNE = 3
KEPT = ("mean_net.",)  # parameter prefixes fine-tuning leaves as meta-trained


@dataclass
class Memory:
    """What the kNN memory predicts for the points (normalised score; NaN leaves a point to
    the network alone), and its share of the GP's prior mean.

    The network's zero-shot mean generalises to any configuration; the memory's
    neighbour-weighted scores are sharper for the configurations past datasets really ran.
    Blended, they choose the first trials at least as well as the better of the two, and the
    GP's conditioning then corrects the blend with every observed trial (measured in
    ``benchmarks/neural.py``). ``NeuralLearner`` fills in the configurations the meta-db
    never ran (see its ``_recall``).
    """

    weight: float
    observed: torch.Tensor  # (n,) for the configurations tried
    candidates: torch.Tensor  # (c,) for the configurations to choose from

    def after_trying(self, index: int) -> Memory:
        """The memory once candidate ``index`` joins the observed points."""
        return Memory(self.weight, torch.cat([self.observed,
                                              self.candidates[index:index + 1]]),
                      self.candidates)


def mean_and_embedding(net: SurrogateNet, features: torch.Tensor, configs: torch.Tensor,
                       memory: torch.Tensor | None = None,
                       weight: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The prior mean ``(1, n)`` and the kernel's embedding of the ``configs (n, P)``: the
    network's zero-shot mean, blended with the ``memory`` scores ``(n,)`` where known."""
    mean, emb, _ = net(features[None], configs[None])
    return blend_memory(mean, None if memory is None else memory[None], weight), emb


def normalise_observed(scores: torch.Tensor) -> torch.Tensor:
    """Scores of the observed trials (raw or normalised; NaN = failed) normalised within the
    observed set, the way meta-training normalised its support sets."""
    mask = torch.ones_like(scores, dtype=torch.bool)
    return renormalise(scores[None], mask[None])[0][0]


def fine_tune(net: SurrogateNet, features: torch.Tensor, configs: torch.Tensor,
              scores: torch.Tensor, steps: int, learning_rate: float,
              memory: Memory | None = None) -> SurrogateNet:
    """A copy of ``net`` adapted to the observations on one dataset: its meta-features
    ``(F,)``, the configurations tried ``(n, P)`` and their normalised scores ``(n,)``.

    The embedding network and the GP's hyper-parameters adapt; the mean ensemble stays as
    meta-trained. It carries what the past datasets say about this one, and its members'
    disagreement is the uncertainty of that: fitted to a handful of trials it drifts and
    grows overconfident (measured: no better at 5 trials, worse at 10 and 25). The trials
    reach the mean through the GP's exact conditioning anyway.

    With fewer than ``MIN_OBSERVATIONS_TO_TUNE`` observations, or ``steps=0``, the
    meta-learned weights are returned unchanged (the GP conditioning alone adapts then).
    """
    if steps <= 0 or configs.shape[0] < MIN_OBSERVATIONS_TO_TUNE:
        return net
    tuned = copy.deepcopy(net)
    tuned.train()
    adapted = [p for name, p in tuned.named_parameters() if not name.startswith(KEPT)]
    optimiser = torch.optim.Adam(adapted, lr=learning_rate)
    mask = torch.ones_like(scores, dtype=torch.bool)[None]
    remembered, weight = (memory.observed, memory.weight) if memory else (None, 0.0)
    for _ in range(steps):
        mean, emb = mean_and_embedding(tuned, features, configs, remembered, weight)
        loss = -log_marginal_likelihood(tuned, emb, mean, scores[None], mask).sum()
        optimiser.zero_grad(set_to_none=True)
        (loss / configs.shape[0]).backward()
        optimiser.step()
    tuned.eval()
    return tuned


def predict(net: SurrogateNet, features: torch.Tensor, observed: torch.Tensor,
            scores: torch.Tensor, candidates: torch.Tensor, noise: bool = True,
            memory: Memory | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and standard deviation at the ``candidates (c, P)`` given the
    ``observed (n, P)`` configurations and their ``scores`` on the dataset with these
    meta-features: of a new observation, or with ``noise=False`` of the noise-free score."""
    weight = memory.weight if memory else 0.0
    with torch.no_grad():
        mean_o, emb_o = mean_and_embedding(net, features, observed,
                                           memory.observed if memory else None, weight)
        mean_c, emb_c = mean_and_embedding(net, features, candidates,
                                           memory.candidates if memory else None, weight)
        mask = torch.ones_like(scores, dtype=torch.bool)
        mu, var = posterior(net, emb_o, mean_o, scores[None], mask[None], emb_c, mean_c,
                            noise=noise)
    return mu[0], var[0].sqrt()


def expected_improvement(mu: torch.Tensor, sd: torch.Tensor, best: float,
                         xi: float = 0.0) -> torch.Tensor:
    """EI of maximisation over ``best`` (+ a margin ``xi``)."""
    gap = mu - best - xi
    z = gap / sd
    density = torch.exp(-0.5 * z ** 2) / math.sqrt(2 * math.pi)
    return gap * torch.special.ndtr(z) + sd * density


def propose_indices(net: SurrogateNet, features: torch.Tensor, observed: torch.Tensor,
                    scores: torch.Tensor, candidates: torch.Tensor, k: int,
                    xi: float = 0.0,
                    memory: Memory | None = None) -> list[tuple[int, float, float, float]]:
    """The ``k`` candidates to try next: ``(index, mean, std, EI)`` each, best first."""
    free = torch.ones(candidates.shape[0], dtype=torch.bool, device=candidates.device)
    picks: list[tuple[int, float, float, float]] = []
    best = float(scores.max())
    for _ in range(min(k, candidates.shape[0])):
        # the noise-free uncertainty: with the observation noise in it, EI keeps paying to
        # re-measure configurations just like those already tried
        mu, sd = predict(net, features, observed, scores, candidates, noise=False,
                         memory=memory)
        ei = expected_improvement(mu, sd, best, xi)
        ei = torch.where(free, ei, torch.full_like(ei, -float("inf")))
        index = int(torch.argmax(ei))
        picks.append((index, float(mu[index]), float(sd[index]), float(ei[index])))
        free[index] = False
        observed = torch.cat([observed, candidates[index:index + 1]])
        scores = torch.cat([scores, mu[index:index + 1]])
        memory = memory.after_trying(index) if memory else None
    return picks
