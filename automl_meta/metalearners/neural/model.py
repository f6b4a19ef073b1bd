"""The surrogate: a deep-kernel Gaussian process over (meta-features, configuration).

Two kinds of small MLP:

- the *mean* ensemble ``m(x)`` (5 members, batched) reads ``[scaled meta-features ;
  configuration encoding]``: the zero-shot guess of the configuration's normalised score on a
  dataset with those meta-features (what :meth:`NeuralLearner.recommend` ranks by); where its
  members disagree, that guess is trusted less;
- the *embedding* network ``phi(c)`` reads the configuration; an RBF on it (plus an RBF
  with per-dimension length-scales on the encoding itself, and a shared term per
  algorithm) says how alike two configurations behave on the same dataset.

Given observations on a dataset, the prediction is the GP posterior with prior mean
``a0 * m(x) + b0`` and kernel ``rbf_ard(c, c') + rbf(phi, phi') + alg(c, c') + ens(x, x')
+ va * m m' + vb`` (+ noise). The ``va m m' + vb`` terms are a Gaussian prior over an unknown
slope and offset between ``m`` and the observed scores, integrated out: observed scores are
normalised only within the observed set (the best *known* score on a new dataset is
unknown), so their scale differs from ``m``'s and the posterior must not care. All GP
algebra runs in float32, batched over episodes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

JITTER = 1e-4
MIN_NOISE = 1e-4
QUANTILE_FLOOR = 0.1  # the meta-db's normalisation floor (its 10th percentile)


@contextmanager
def cpu_threads(device: torch.device, threads: int | None) -> Iterator[None]:
    """Run with at most ``threads`` intra-op CPU threads, restoring the setting after.

    The networks are small: on CPU, splitting each op over threads costs more than it
    saves, and on a machine whose cores are busy it is many times slower (measured 6 ms
    vs 140 ms per meta-training step on 2 loaded cores).
    """
    before = torch.get_num_threads()
    if device.type != "cpu" or threads is None or threads >= before:
        yield
        return
    torch.set_num_threads(max(int(threads), 1))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class SurrogateNet(nn.Module):
    """Mean ensemble over ``[meta-features ; configuration]``, embedding network over the
    configuration, and the GP's hyper-parameters.

    The zero-shot mean is the average of ``members`` small MLPs (a deep ensemble, batched
    as one tensor op), each trained on its own bootstrap of the past datasets. The kernel
    sums four parts, each with its own scale:

    - an RBF with one learned length-scale per configuration dimension: alike
      configurations score alike, a prior that holds even when the meta-db is small;
    - an RBF on the learned embedding: the correlations meta-training finds beyond that;
    - an algorithm term, shared by all configurations of one algorithm: how well an
      algorithm suits a new dataset is uncertain until one of its configurations is tried,
      and trying one tells about all of them;
    - the ensemble's disagreement, ``mean_e (m_e(x) - m(x)) (m_e(x') - m(x'))``: where the
      members disagree (a dataset unlike the past ones) the zero-shot mean is trusted less.

    The first ``n_algorithms`` columns of the configuration encoding must be the algorithm
    one-hot (as :func:`~automl_meta.metalearners._encoding.encode_configs` makes them).
    """

    def __init__(self, n_features: int, n_config: int, n_algorithms: int, hidden: int = 64,
                 depth: int = 2, embedding: int = 16, members: int = 5) -> None:
        super().__init__()
        self.n_features = n_features
        self.n_config = n_config
        self.n_algorithms = n_algorithms
        self.embedding = embedding
        self.members = members
        self.mean_net = EnsembleMLP(members, n_features, n_config, hidden, depth)
        self.embed_net = _mlp(n_config, hidden, depth, embedding)
        # unconstrained; softplus keeps scales positive
        self.raw_config_lengthscales = nn.Parameter(torch.full((n_config,), 0.5))
        self.raw_config_scale = nn.Parameter(torch.tensor(0.0))
        self.raw_embed_scale = nn.Parameter(torch.tensor(0.0))
        self.raw_embed_lengthscale = nn.Parameter(torch.tensor(1.0))
        self.raw_algorithm_scale = nn.Parameter(torch.tensor(-1.0))
        self.raw_ensemble_scale = nn.Parameter(torch.tensor(0.0))
        self.raw_noise = nn.Parameter(torch.tensor(-3.0))
        self.raw_slope_var = nn.Parameter(torch.tensor(0.0))
        self.raw_offset_var = nn.Parameter(torch.tensor(0.0))
        self.prior_slope = nn.Parameter(torch.tensor(1.0))
        self.prior_offset = nn.Parameter(torch.tensor(0.0))

    def forward(self, features: torch.Tensor,
                configs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Dataset meta-features ``(..., F)`` and configurations ``(..., n, P)`` to the
        ensemble mean ``(..., n)``, the kernel features ``(..., n, P + E + A + M)`` and each
        member's mean ``(M, ..., n)``.

        The kernel features are the configuration divided by its length-scales, the
        embedding divided by its length-scale, the algorithm one-hot and the members'
        deviations from their mean, so the kernel needs no other input.
        """
        softplus = nn.functional.softplus
        # normalised scores live in [0, 1]; bounding the guess keeps an unusual dataset's
        # meta-features from extrapolating it far outside (seen: -1 before the bound)
        members = torch.sigmoid(self.mean_net(features, configs))
        mean = members.mean(0)
        deviation = (members - mean).movedim(0, -1) / math.sqrt(self.members)
        scaled = configs / (softplus(self.raw_config_lengthscales) + 1e-3)
        embedded = self.embed_net(configs) / (softplus(self.raw_embed_lengthscale) + 1e-3)
        kernel_features = torch.cat(
            [scaled, embedded, configs[..., :self.n_algorithms], deviation], dim=-1)
        return mean, kernel_features, members

    def hyper(self) -> dict[str, torch.Tensor]:
        softplus = nn.functional.softplus
        return {"config_scale": softplus(self.raw_config_scale),
                "embed_scale": softplus(self.raw_embed_scale),
                "algorithm_scale": softplus(self.raw_algorithm_scale),
                "ensemble_scale": softplus(self.raw_ensemble_scale),
                "noise": softplus(self.raw_noise) + MIN_NOISE,
                "slope_var": softplus(self.raw_slope_var),
                "offset_var": softplus(self.raw_offset_var)}


class EnsembleMLP(nn.Module):
    """``members`` independent MLPs over ``[meta-features ; configuration]`` with one output,
    evaluated together by batched matmuls.

    The first layer is split into its meta-feature and configuration parts so the
    meta-features, the same for every configuration of a dataset, go through it once per
    dataset rather than once per configuration (the larger part of the work otherwise).
    """

    def __init__(self, members: int, n_features: int, n_config: int, hidden: int,
                 depth: int) -> None:
        super().__init__()
        widths = [n_features + n_config] + [hidden] * depth + [1]
        self.n_features = n_features
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
            bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default initialisation
            self.weights.append(nn.Parameter(
                torch.empty(members, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(
                torch.empty(members, 1, fan_out).uniform_(-bound, bound)))

    def forward(self, features: torch.Tensor, configs: torch.Tensor) -> torch.Tensor:
        """``(..., F)`` and ``(..., n, P)`` -> ``(members, ..., n)``."""
        lead, n = configs.shape[:-2], configs.shape[-2]
        first = self.weights[0]
        per_dataset = features.reshape(1, -1, features.shape[-1]) @ first[:, :self.n_features]
        per_config = configs.reshape(1, -1, configs.shape[-1]) @ first[:, self.n_features:]
        members = first.shape[0]
        hidden = (per_config.reshape(members, -1, n, first.shape[-1])
                  + per_dataset[:, :, None, :] + self.biases[0][:, :, None, :])
        hidden = nn.functional.silu(hidden.reshape(members, -1, first.shape[-1]))
        last = len(self.weights) - 1
        for index in range(1, len(self.weights)):
            hidden = torch.baddbmm(self.biases[index], hidden, self.weights[index])
            if index < last:
                hidden = nn.functional.silu(hidden)
        return hidden.reshape(members, *lead, n)


def _mlp(n_in: int, hidden: int, depth: int, n_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.SiLU()]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, n_out))


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # by expansion: cdist's backward is NaN at zero distance
    return ((a ** 2).sum(-1)[..., :, None] + (b ** 2).sum(-1)[..., None, :]
            - 2.0 * a @ b.transpose(-1, -2)).clamp_min(0.0)


def kernel(net: SurrogateNet, emb_a: torch.Tensor, mean_a: torch.Tensor,
           emb_b: torch.Tensor, mean_b: torch.Tensor) -> torch.Tensor:
    """Cross-covariance ``(..., A, B)`` between two sets of encoded points."""
    h = net.hyper()
    p = net.n_config
    e = p + net.embedding
    a = e + net.n_algorithms
    config = torch.exp(-0.5 * _squared_distances(emb_a[..., :p], emb_b[..., :p]))
    embedded = torch.exp(-0.5 * _squared_distances(emb_a[..., p:e], emb_b[..., p:e]))
    same_algorithm = emb_a[..., e:a] @ emb_b[..., e:a].transpose(-1, -2)
    disagreement = emb_a[..., a:] @ emb_b[..., a:].transpose(-1, -2)
    return (h["config_scale"] * config + h["embed_scale"] * embedded
            + h["algorithm_scale"] * same_algorithm + h["ensemble_scale"] * disagreement
            + h["slope_var"] * mean_a[..., :, None] * mean_b[..., None, :] + h["offset_var"])


def prior_variance(net: SurrogateNet, mean: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
    """``k(x, x)`` for each point (without the observation noise)."""
    h = net.hyper()
    disagreement = (emb[..., net.n_config + net.embedding + net.n_algorithms:] ** 2).sum(-1)
    return (h["config_scale"] + h["embed_scale"] + h["algorithm_scale"]
            + h["ensemble_scale"] * disagreement + h["slope_var"] * mean ** 2
            + h["offset_var"])


def prior_mean(net: SurrogateNet, mean: torch.Tensor) -> torch.Tensor:
    return net.prior_slope * mean + net.prior_offset


def _support_cholesky(net: SurrogateNet, emb: torch.Tensor, mean: torch.Tensor,
                      mask: torch.Tensor) -> torch.Tensor:
    """Cholesky factor of the support covariance; padded points become independent units so
    they neither move nor are moved by the real ones."""
    keep = mask.to(emb.dtype)
    cov = kernel(net, emb, mean, emb, mean) * keep[..., :, None] * keep[..., None, :]
    diagonal = (net.hyper()["noise"] + JITTER) * keep + (1.0 - keep)
    return torch.linalg.cholesky(cov + torch.diag_embed(diagonal))


def posterior(net: SurrogateNet, emb_s: torch.Tensor, mean_s: torch.Tensor, y_s: torch.Tensor,
              mask_s: torch.Tensor, emb_q: torch.Tensor, mean_q: torch.Tensor,
              noise: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance at the query points given the support: of a new observation
    (``noise=True``) or of the noise-free score.

    Shapes: ``emb (B, n, E)``, ``mean``/``y``/``mask`` ``(B, n)``; returns ``(B, Q)`` twice.
    """
    mu_q = prior_mean(net, mean_q)
    var_q = prior_variance(net, mean_q, emb_q) + (net.hyper()["noise"] if noise else 0.0)
    if emb_s.shape[-2] == 0:
        return mu_q, var_q
    chol = _support_cholesky(net, emb_s, mean_s, mask_s)
    keep = mask_s.to(emb_s.dtype)
    residual = ((y_s - prior_mean(net, mean_s)) * keep)[..., None]
    cross = kernel(net, emb_q, mean_q, emb_s, mean_s) * keep[..., None, :]
    weights = torch.cholesky_solve(residual, chol)
    solved = torch.linalg.solve_triangular(chol, cross.transpose(-1, -2), upper=False)
    mu = mu_q + (cross @ weights).squeeze(-1)
    var = (var_q - (solved ** 2).sum(-2)).clamp_min(MIN_NOISE if noise else 1e-8)
    return mu, var


def log_marginal_likelihood(net: SurrogateNet, emb: torch.Tensor, mean: torch.Tensor,
                            y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``log p(y)`` of the observed points under the GP prior, per batch row ``(B,)``."""
    chol = _support_cholesky(net, emb, mean, mask)
    keep = mask.to(emb.dtype)
    residual = ((y - prior_mean(net, mean)) * keep)[..., None]
    solved = torch.linalg.solve_triangular(chol, residual, upper=False).squeeze(-1)
    log_det = torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    return -0.5 * (solved ** 2).sum(-1) - log_det - 0.5 * keep.sum(-1) * math.log(2 * math.pi)


def blend_memory(mean: torch.Tensor, memory: torch.Tensor | None,
                 weight: float) -> torch.Tensor:
    """The prior mean: the network's ``mean``, blended with the kNN ``memory`` (same shape;
    NaN where it knows nothing) with ``weight`` where the memory knows the point."""
    if memory is None or weight <= 0:
        return mean
    blended = (1.0 - weight) * mean + weight * torch.nan_to_num(memory)
    return torch.where(torch.isfinite(memory), blended, mean)


def gaussian_nll(y: torch.Tensor, mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    return 0.5 * (torch.log(2 * math.pi * var) + (y - mu) ** 2 / var)


def renormalise(support: torch.Tensor, mask: torch.Tensor,
                query: torch.Tensor | None = None,
                query_cap: float = 2.0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Normalise scores within the observed set, as the meta-db does per dataset.

    Per row: ``(y - floor) / (best - floor)`` with ``floor`` the 10th percentile of the
    observed scores, clipped to [0, 1]; a failed evaluation (NaN) counts as 0; when all
    observed scores tie they are 1 and the scale stays that of the input. ``query`` scores
    (meta-training only) use the same map, clipped to ``[0, query_cap]``.
    """
    observed = torch.where(mask, support, torch.full_like(support, float("nan")))
    finite = mask & torch.isfinite(support)
    best = torch.where(finite, support, torch.full_like(support, -float("inf"))).amax(-1)
    floor = torch.nanquantile(torch.where(finite, observed, torch.nan), QUANTILE_FLOOR, dim=-1)
    spread = best - floor
    tied = ~(spread > 1e-9)  # also true for rows with nothing finite (NaN spread)
    spread = torch.where(tied, torch.ones_like(spread), spread)
    floor = torch.where(tied, torch.nan_to_num(best, neginf=0.0) - 1.0, floor)
    scaled = ((support - floor[..., None]) / spread[..., None]).clamp(0.0, 1.0)
    scaled = torch.where(finite, scaled, torch.zeros_like(scaled))
    if query is None:
        return scaled, None
    scaled_query = ((query - floor[..., None]) / spread[..., None]).clamp(0.0, query_cap)
    return scaled, torch.nan_to_num(scaled_query, nan=0.0)
