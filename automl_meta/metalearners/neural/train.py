"""Episodic meta-training of the surrogate across the datasets of one task.

An episode imitates one step of a search on a past dataset: draw the dataset, a *support* set
of its evaluated configurations (0 to ``max_support`` of them: what a search has observed so
far) and a *query* set (what it could try next). The support scores are normalised within the
support, exactly as :func:`~automl_meta.metalearners.neural.adapt.propose` will normalise the
trials of a new dataset; the GP conditions on them in closed form (the inner adaptation) and
the loss is the query's predictive negative log-likelihood, plus the mean head's squared error
on the dataset-normalised scores (what the zero-shot ranking relies on). A batch of episodes is
one set of tensor ops on the model's device; episode sampling happens on that device too, so
the loop never copies to the host except to show progress.
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

MIN_EVALUATED = 2
PROGRESS_EVERY = 50


@dataclass
class TaskTensors:
    """One task's meta-data on a device: ``features (D, F)``, ``configs (C, P)``,
    ``scores (D, C)`` normalised per dataset (0 where not evaluated) and ``evaluated``."""

    features: torch.Tensor
    configs: torch.Tensor
    scores: torch.Tensor
    evaluated: torch.Tensor

    @classmethod
    def build(cls, features: np.ndarray, configs: np.ndarray, normalised: np.ndarray,
              device: torch.device) -> TaskTensors:
        evaluated = np.isfinite(normalised)
        keep = evaluated.sum(axis=1) >= MIN_EVALUATED
        as_tensor = lambda a: torch.as_tensor(np.ascontiguousarray(a), device=device)  # noqa: E731
        return cls(as_tensor(features[keep].astype(np.float32)),
                   as_tensor(configs.astype(np.float32)),
                   as_tensor(np.nan_to_num(normalised[keep], nan=0.0).astype(np.float32)),
                   as_tensor(evaluated[keep]))

    @property
    def n_datasets(self) -> int:
        return int(self.features.shape[0])

    def inputs(self, rows: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
        """``[meta-features ; config encoding]`` for each (dataset row, config column) pair,
        ``rows (B,)`` and ``columns (B, n)`` -> ``(B, n, F + P)``."""
        feats = self.features[rows][:, None, :].expand(-1, columns.shape[1], -1)
        return torch.cat([feats, self.configs[columns]], dim=-1)


@dataclass
class TrainSettings:
    """Meta-training hyper-parameters (see :class:`NeuralLearner` for their meaning)."""

    steps: int = 2000
    batch_size: int = 16
    max_support: int = 32
    n_query: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    mean_loss_weight: float = 1.0
    time_budget: float | None = None
    amp: bool = True


@dataclass
class TrainReport:
    """What meta-training did: steps run, seconds, and the loss every ``PROGRESS_EVERY``."""

    steps: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)


@dataclass
class Episodes:
    """A batch of episodes: inputs ``(B, n, F + P)``, targets and masks; the first
    ``n_support`` points of each row are the support, the rest the query."""

    inputs: torch.Tensor
    scores: torch.Tensor
    mask: torch.Tensor
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
    return Episodes(data.inputs(rows, columns), data.scores[rows].gather(1, columns),
                    data.evaluated[rows].gather(1, columns), min(n_support, n - 1))


def episode_loss(net: SurrogateNet, episodes: Episodes, mean_loss_weight: float = 1.0,
                 autocast: bool = False) -> torch.Tensor:
    """Query NLL given the support (when there is one) + the mean head's squared error."""
    with torch.autocast(episodes.inputs.device.type, dtype=torch.bfloat16, enabled=autocast):
        mean, emb = net(episodes.inputs)
    mean, emb = mean.float(), emb.float()
    s = episodes.n_support
    mask = episodes.mask.to(mean.dtype)
    mse = ((mean - episodes.scores) ** 2 * mask).sum() / mask.sum().clamp_min(1.0)
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


def meta_train(net: SurrogateNet, data: TaskTensors, settings: TrainSettings, seed: int = 0,
               progress: bool | None = None, description: str = "meta-training") -> TrainReport:
    """Train ``net`` in place on episodes from ``data``; reproducible on CPU for a seed."""
    device = data.scores.device
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    rng = np.random.default_rng(seed)
    sizes = support_sizes(settings, data.configs.shape[0], rng, settings.steps)
    optimiser = torch.optim.AdamW(net.parameters(), lr=settings.learning_rate,
                                  weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(settings.steps, 1))
    autocast = settings.amp and device.type == "cuda" and torch.cuda.is_bf16_supported()
    report = TrainReport()
    started = time.perf_counter()
    running = torch.zeros((), device=device)
    show = sys.stderr.isatty() if progress is None else progress
    bar = _progress_bar(show, description, settings.steps)
    net.train()
    for step in range(settings.steps):
        episodes = sample_episodes(data, settings.batch_size, int(sizes[step]), settings.n_query,
                                   generator)
        loss = episode_loss(net, episodes, settings.mean_loss_weight, autocast)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        optimiser.step()
        schedule.step()
        running = running + loss.detach()
        report.steps = step + 1
        if report.steps % PROGRESS_EVERY == 0:
            report.losses.append(float(running) / PROGRESS_EVERY)  # the only host sync
            running.zero_()
            if bar is not None:
                bar.update(PROGRESS_EVERY, loss=report.losses[-1])
            if (settings.time_budget is not None
                    and time.perf_counter() - started > settings.time_budget):
                break
    if bar is not None:
        bar.close()
    net.eval()
    report.seconds = time.perf_counter() - started
    return report


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


def _progress_bar(show: bool, description: str, total: int) -> _ProgressBar | None:
    return _ProgressBar(description, total) if show else None


class _ProgressBar:
    """A rich progress bar that shows the running loss."""

    def __init__(self, description: str, total: int) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                  TextColumn("loss {task.fields[loss]:.3f}"),
                                  TimeRemainingColumn(), transient=True)
        self._task = self._progress.add_task(description, total=total, loss=float("nan"))
        self._progress.start()

    def update(self, advance: int, loss: float) -> None:
        self._progress.update(self._task, advance=advance, loss=loss)

    def close(self) -> None:
        self._progress.stop()
