"""Fine-tuning on a new dataset's observed trials, and choosing what to try next.

:func:`fine_tune` adapts a *copy* of the meta-learned network in a few Adam steps on the log
marginal likelihood of the observed (within-set normalised) scores; the GP then conditions on
those observations exactly. :func:`propose_indices` ranks a candidate pool by expected
improvement (of the noise-free score) over the best observation; for a batch (``k > 1``) each pick is added as a
pseudo-observation at its predicted mean ("kriging believer") so the batch spreads out.
"""

from __future__ import annotations

import copy
import math

import torch

from automl_meta.metalearners.neural.model import (
    SurrogateNet,
    log_marginal_likelihood,
    posterior,
    renormalise,
)

MIN_OBSERVATIONS_TO_TUNE = 3


def normalise_observed(scores: torch.Tensor) -> torch.Tensor:
    """Scores of the observed trials (raw or normalised; NaN = failed) normalised within the
    observed set, the way meta-training normalised its support sets."""
    mask = torch.ones_like(scores, dtype=torch.bool)
    return renormalise(scores[None], mask[None])[0][0]


def fine_tune(net: SurrogateNet, inputs: torch.Tensor, scores: torch.Tensor, steps: int,
              learning_rate: float) -> SurrogateNet:
    """A copy of ``net`` adapted to ``(inputs (n, d), normalised scores (n,))``.

    With fewer than ``MIN_OBSERVATIONS_TO_TUNE`` observations, or ``steps=0``, the
    meta-learned weights are returned unchanged (the GP conditioning alone adapts then).
    """
    if steps <= 0 or inputs.shape[0] < MIN_OBSERVATIONS_TO_TUNE:
        return net
    tuned = copy.deepcopy(net)
    tuned.train()
    optimiser = torch.optim.Adam(tuned.parameters(), lr=learning_rate)
    mask = torch.ones_like(scores, dtype=torch.bool)[None]
    for _ in range(steps):
        mean, emb = tuned(inputs)
        loss = -log_marginal_likelihood(tuned, emb[None], mean[None], scores[None], mask).sum()
        optimiser.zero_grad(set_to_none=True)
        (loss / inputs.shape[0]).backward()
        optimiser.step()
    tuned.eval()
    return tuned


def predict(net: SurrogateNet, observed_inputs: torch.Tensor, observed_scores: torch.Tensor,
            candidate_inputs: torch.Tensor,
            noise: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and standard deviation at the candidates given the observations (of
    a new observation, or with ``noise=False`` of the noise-free score)."""
    with torch.no_grad():
        mean_o, emb_o = net(observed_inputs)
        mean_c, emb_c = net(candidate_inputs)
        mask = torch.ones_like(observed_scores, dtype=torch.bool)
        mu, var = posterior(net, emb_o[None], mean_o[None], observed_scores[None], mask[None],
                            emb_c[None], mean_c[None], noise=noise)
    return mu[0], var[0].sqrt()


def expected_improvement(mu: torch.Tensor, sd: torch.Tensor, best: float,
                         xi: float = 0.0) -> torch.Tensor:
    """EI of maximisation over ``best`` (+ a margin ``xi``)."""
    gap = mu - best - xi
    z = gap / sd
    density = torch.exp(-0.5 * z ** 2) / math.sqrt(2 * math.pi)
    return gap * torch.special.ndtr(z) + sd * density


def propose_indices(net: SurrogateNet, observed_inputs: torch.Tensor,
                    observed_scores: torch.Tensor, candidate_inputs: torch.Tensor, k: int,
                    xi: float = 0.0) -> list[tuple[int, float, float, float]]:
    """The ``k`` candidates to try next: ``(index, mean, std, EI)`` each, best first."""
    inputs, scores = observed_inputs, observed_scores
    free = torch.ones(candidate_inputs.shape[0], dtype=torch.bool,
                      device=candidate_inputs.device)
    picks: list[tuple[int, float, float, float]] = []
    best = float(observed_scores.max())
    for _ in range(min(k, candidate_inputs.shape[0])):
        # the noise-free uncertainty: with the observation noise in it, EI keeps paying to
        # re-measure configurations just like those already tried
        mu, sd = predict(net, inputs, scores, candidate_inputs, noise=False)
        ei = expected_improvement(mu, sd, best, xi)
        ei = torch.where(free, ei, torch.full_like(ei, -float("inf")))
        index = int(torch.argmax(ei))
        picks.append((index, float(mu[index]), float(sd[index]), float(ei[index])))
        free[index] = False
        inputs = torch.cat([inputs, candidate_inputs[index:index + 1]])
        scores = torch.cat([scores, mu[index:index + 1]])
    return picks
