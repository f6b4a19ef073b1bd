"""Episodic meta-training of the surrogate across the datasets of one task.

An episode imitates one step of a search on a past dataset: draw the dataset, a *support* set
of its evaluated configurations (0 to ``max_support`` of them: what a search has observed so
far) and a *query* set (what it could try next). The support scores are normalised within the
support, exactly as :func:`~automl_meta.metalearners.neural.adapt.propose` will normalise the
trials of a new dataset; the GP conditions on them in closed form (the inner adaptation) and
the loss is the query's predictive negative log-likelihood, plus each ensemble member's
squared error on the dataset-normalised scores (what the zero-shot ranking relies on).

This is MAML in the form FSBO and neural processes use: the inner loop is exact Bayesian
conditioning rather than a few gradient steps, so the outer gradient is exact (no
first-order approximation) and costs one small Cholesky per episode; the gradient steps on a
new dataset's own trials come at proposal time (``adapt.fine_tune``). A batch of episodes is
one set of tensor ops on the model's device; episode sampling happens on that device too, so
the loop never copies to the host except to report the loss every ``PROGRESS_EVERY`` steps.
On CUDA the networks run under bfloat16 autocast; the GP algebra always in float32.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from automl_meta.metalearners.neural.model import (
    SurrogateNet,
    gaussian_nll,
    posterior,
    renormalise,
)
from automl_meta.metalearners.neural.progress import ProgressBar, progress_bar

MIN_EVALUATED = 2
BOOTSTRAP = 0.8
PROGRESS_EVERY = 50


@dataclass
class TaskTensors:
    """One task's meta-data on a device: ``features (D, F)``, ``configs (C, P)``,
    ``scores (D, C)`` normalised per dataset (0 where not evaluated) and ``evaluated``."""

    features: torch.Tensor
    configs: torch.Tensor
    scores: torch.Tensor
    evaluated: torch.Tensor
    bootstrap: torch.Tensor
    holdout: torch.Tensor | None = None

    @classmethod
    def build(cls, features: np.ndarray, configs: np.ndarray, normalised: np.ndarray,
              device: torch.device, members: int = 1, seed: int = 0,
              holdout: np.ndarray | None = None) -> TaskTensors:
        """Datasets with fewer than two evaluations are dropped. ``bootstrap (D, members)``
        says which datasets each ensemble member learns from (each in 4 of 5 on average,
        so members disagree where data is thin); ``holdout`` marks the datasets kept out of
        the first training stage (see :func:`meta_train`)."""
        evaluated = np.isfinite(normalised)
        keep = evaluated.sum(axis=1) >= MIN_EVALUATED
        bootstrap = np.random.default_rng(seed).random((int(keep.sum()), members)) < BOOTSTRAP
        if members == 1:
            bootstrap[:] = True
        as_tensor = lambda a: torch.as_tensor(np.ascontiguousarray(a), device=device)  # noqa: E731
        return cls(as_tensor(features[keep].astype(np.float32)),
                   as_tensor(configs.astype(np.float32)),
                   as_tensor(np.nan_to_num(normalised[keep], nan=0.0).astype(np.float32)),
                   as_tensor(evaluated[keep]), as_tensor(bootstrap),
                   None if holdout is None else as_tensor(np.asarray(holdout, bool)[keep]))

    def subset(self, rows: torch.Tensor) -> TaskTensors:
        return TaskTensors(self.features[rows], self.configs, self.scores[rows],
                           self.evaluated[rows], self.bootstrap[rows])

    @property
    def n_datasets(self) -> int:
        return int(self.features.shape[0])


@dataclass
class TrainSettings:
    """Meta-training hyper-parameters (see :class:`NeuralLearner` for their meaning)."""

    steps: int = 2000
    batch_size: int = 16
    max_support: int = 32
    n_query: int = 32
    learning_rate: float = 5e-3
    weight_decay: float = 1e-4
    mean_loss_weight: float = 1.0
    budget: float | None = None  # seconds
    amp: bool = True


@dataclass
class TrainReport:
    """What meta-training did: steps run, seconds, and the loss every ``PROGRESS_EVERY``."""

    steps: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)


@dataclass
class Episodes:
    """A batch of episodes: meta-features ``(B, F)``, configurations ``(B, n, P)``, their
    scores, masks and bootstrap memberships; the first ``n_support`` points of each row are
    the support, the rest the query."""

    features: torch.Tensor
    configs: torch.Tensor
    scores: torch.Tensor
    mask: torch.Tensor
    bootstrap: torch.Tensor
    n_support: int


def sample_episodes(data: TaskTensors, batch_size: int, n_support: int, n_query: int,
                    generator: torch.Generator) -> Episodes:
    """Draw ``batch_size`` episodes with the given support and query sizes (on device)."""
    device = data.scores.device
    n = min(n_support + n_query, data.configs.shape[0])
    rows = torch.randint(data.n_datasets, (batch_size,), generator=generator, device=device)
    keys = torch.rand((batch_size, data.configs.shape[0]), generator=generator, device=device)
    # evaluated cells first, in random order; a dataset with few evaluations pads with masked
    keys = torch.where(data.evaluated[rows], keys, keys - 2.0)
    columns = keys.topk(n, dim=1).indices
    return Episodes(data.features[rows], data.configs[columns],
                    data.scores[rows].gather(1, columns),
                    data.evaluated[rows].gather(1, columns), data.bootstrap[rows],
                    min(n_support, n - 1))


def episode_loss(net: SurrogateNet, episodes: Episodes, mean_loss_weight: float = 1.0,
                 autocast: bool = False) -> torch.Tensor:
    """Query NLL given the support (when there is one) + the squared error of each ensemble
    member on the datasets of its bootstrap."""
    with torch.autocast(episodes.configs.device.type, dtype=torch.bfloat16, enabled=autocast):
        mean, emb, members = net(episodes.features, episodes.configs)
    mean, emb, members = mean.float(), emb.float(), members.float()
    s = episodes.n_support
    mask = episodes.mask.to(mean.dtype)
    weight = mask * episodes.bootstrap.T.to(mean.dtype)[:, :, None]  # (M, B, n)
    mse = ((members - episodes.scores) ** 2 * weight).sum() / weight.sum().clamp_min(1.0)
    loss = mean_loss_weight * mse
    if s > 0:
        y_s, y_q = renormalise(episodes.scores[:, :s], episodes.mask[:, :s],
                               episodes.scores[:, s:])
        mu, var = posterior(net, emb[:, :s], mean[:, :s], y_s, episodes.mask[:, :s],
                            emb[:, s:], mean[:, s:])
        query_mask = mask[:, s:]
        nll = (gaussian_nll(y_q, mu, var) * query_mask).sum() / query_mask.sum().clamp_min(1.0)
        loss = loss + nll
    return loss


def support_sizes(settings: TrainSettings, n_configs: int, rng: np.random.Generator,
                  count: int) -> np.ndarray:
    """Support sizes of successive steps, log-uniform-ish so small supports (the start of a
    search, where the choice matters most) are as common as large ones."""
    top = max(min(settings.max_support, n_configs - 2), 0)
    sizes = np.floor(np.exp(rng.uniform(0.0, math.log(top + 2), size=count))).astype(int) - 1
    return np.clip(sizes, 0, top)


CALIBRATED = ("raw_config_scale", "raw_embed_scale", "raw_algorithm_scale",
              "raw_ensemble_scale", "raw_noise", "raw_slope_var", "raw_offset_var",
              "prior_slope", "prior_offset")


def meta_train(net: SurrogateNet, data: TaskTensors, settings: TrainSettings, seed: int = 0,
               progress: bool | None = None, description: str = "meta-training") -> TrainReport:
    """Train ``net`` in place on episodes from ``data``; reproducible on CPU for a seed.

    When ``data.holdout`` marks some datasets (whole families), training has three stages:

    1. everything is trained on the other datasets for ``settings.steps``;
    2. the GP's scalar hyper-parameters (how much to trust the mean network, the kernel's
       and the noise's scales) are fitted on episodes of the held-out datasets alone, the
       networks frozen: on datasets it has seen, the mean network is far more accurate than
       on a new one, and hyper-parameters fitted there would trust it blindly;
    3. the networks train on all datasets for ``settings.steps // 2``, those scalars frozen.
    """
    device = data.scores.device
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    rng = np.random.default_rng(seed)
    holdout = data.holdout
    staged = holdout is not None and bool(holdout.any()) and not bool(holdout.all())
    stages = ([(data.subset(~holdout), settings.steps, ()),
               (data.subset(holdout), CALIBRATION_STEPS, CALIBRATED),
               (data, settings.steps // 2, CALIBRATED)] if staged
              else [(data, settings.steps, ())])
    report = TrainReport()
    started = time.perf_counter()
    show = sys.stderr.isatty() if progress is None else progress
    bar = progress_bar(show, description, sum(steps for _, steps, _ in stages),
                        settings.batch_size)
    budget = settings.budget
    for index, (part, steps, names) in enumerate(stages):
        calibrating = index == 1
        chosen = [p for n, p in net.named_parameters() if (n in names) == calibrating]
        frozen = [p for n, p in net.named_parameters() if (n in names) != calibrating]
        for parameter in frozen:
            parameter.requires_grad_(False)
        deadline = None
        if budget is not None and not calibrating:
            deadline = started + budget * (0.6 if index == 0 and staged else 1.0)
        try:
            _train_stage(net, part, settings, chosen, steps, rng, generator, report, bar,
                         calibrating, deadline)
        finally:
            for parameter in frozen:
                parameter.requires_grad_(True)
    if bar is not None:
        bar.close()
    net.eval()
    report.seconds = time.perf_counter() - started
    return report


CALIBRATION_STEPS = 200
CALIBRATION_LR = 0.02


def _train_stage(net: SurrogateNet, data: TaskTensors, settings: TrainSettings,
                 parameters: list[torch.nn.Parameter], steps: int, rng: np.random.Generator,
                 generator: torch.Generator, report: TrainReport, bar: ProgressBar | None,
                 calibrating: bool, deadline: float | None) -> None:
    device = data.scores.device
    sizes = support_sizes(settings, data.configs.shape[0], rng, steps)
    if calibrating:
        # only conditioning on a support exercises the calibrated scalars
        sizes = np.maximum(sizes, 1)
        optimiser: torch.optim.Optimizer = torch.optim.Adam(parameters, lr=CALIBRATION_LR)
    else:
        optimiser = torch.optim.AdamW(parameters, lr=settings.learning_rate,
                                      weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(steps, 1))
    autocast = settings.amp and device.type == "cuda" and torch.cuda.is_bf16_supported()
    weight = 0.0 if calibrating else settings.mean_loss_weight
    running = torch.zeros((), device=device)
    net.train()
    for step in range(steps):
        episodes = sample_episodes(data, settings.batch_size, int(sizes[step]), settings.n_query,
                                   generator)
        loss = episode_loss(net, episodes, weight, autocast)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 10.0)
        optimiser.step()
        schedule.step()
        running = running + loss.detach()
        report.steps += 1
        if (step + 1) % PROGRESS_EVERY == 0:
            report.losses.append(float(running) / PROGRESS_EVERY)  # the only host sync
            running.zero_()
            if bar is not None:
                bar.update(PROGRESS_EVERY, loss=report.losses[-1])
            if deadline is not None and time.perf_counter() > deadline:
                break


def validation_loss(net: SurrogateNet, data: TaskTensors, settings: TrainSettings,
                    n_batches: int = 8, seed: int = 12345) -> float:
    """Mean episode loss on fixed episodes (support sizes spread over the training range)."""
    generator = torch.Generator(device=data.scores.device)
    generator.manual_seed(seed)
    sizes = np.linspace(0, max(min(settings.max_support, data.configs.shape[0] - 2), 0),
                        n_batches).astype(int)
    was_training = net.training
    net.eval()
    with torch.no_grad():
        total = sum(float(episode_loss(net, sample_episodes(
            data, settings.batch_size, int(s), settings.n_query, generator),
            settings.mean_loss_weight)) for s in sizes)
    net.train(was_training)
    return total / n_batches
