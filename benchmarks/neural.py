"""The neural meta-learner against random search, TPE and kNN warm start + TPE.

Simulated search, leave-one-family-out: on a held-out dataset, each method picks, one trial
at a time, a configuration among the dataset's evaluated grid configurations; its stored
normalised score is then revealed. Regret after n trials is 1 - the best revealed score (0 =
the best configuration of the grid was found). Methods:

- ``random``: the exact expectation of n draws without replacement from the grid;
- ``tpe``: Optuna's TPESampler over the real search space (``space.suggest``); each sampled
  configuration is snapped to the nearest untried grid configuration of the same algorithm
  (Euclidean distance on the configuration encoding), the sampled trial is told FAIL and the
  snapped configuration is added with its score, so TPE models what was really evaluated.
  (A categorical over grid indices would throw away the parameters' structure and let TPE
  repeat itself: snapping is the fairer peer);
- ``knn+tpe``: ``KNNLearner`` top-5 first (what ``warm_start`` enqueues), then the same TPE;
- ``neural``: ``NeuralLearner.propose`` after each trial: the deep-kernel GP whose prior mean
  blends the network's zero-shot mean with the kNN memory (``memory_weight``), conditioned
  on the trials so far (``neural/no-ft``: the same learner without the gradient fine-tuning,
  the GP conditioning only; ``neural/no-memory``: the network's mean alone);
- ``knn+neural`` (with ``--knn-warm-neural W``): ``KNNLearner``'s top W, then the neural
  learner (what ``MetaSampler(strategy="neural", recommendations=...)`` does);
- ``transfer`` (in ``--methods``): ``automl_meta.advice._transfer.TransferSampler`` with the
  same kNN learner, its warm start the same top 5 as ``knn+tpe``, then the past datasets as
  calibrated experts reweighted by the study's trials (issue #22); run through Optuna with
  the same snapping as TPE, seeded like it (its perturbation candidates are random) and
  averaged over the same seeds. With it the report adds the issue's head-to-head pairs.

TPE starts after 5 random trials (``n_startup_trials=5``, as ``MetaSampler``'s fallback)
and both TPE methods are averaged over ``--tpe-seeds`` seeds. To keep it affordable the
neural learner is meta-trained once per fold of a grouped K-fold over dataset families, never
on the held-out dataset's family; kNN (cheap) is refitted per held-out family, and serves as
the neural learner's memory too.

Then the speed bars: meta-training on the whole meta-db, and one fine-tune-and-propose step
with 50 observed trials over the learner's full candidate pool.

Run from the project root::

    python benchmarks/neural.py                           # the shipped meta_db/ bundle
    python benchmarks/neural.py --plot benchmarks/neural_regret.png  # and the curves
    python benchmarks/neural.py --db /tmp/metadb.sqlite   # a meta-db store (copy it first)
    python benchmarks/neural.py --skip-speed --skip-neural --trials 50 \
        --checkpoints 5 10 25 50 --methods tpe knn+tpe transfer  # issue #22's comparison

Bars: mean regret at 5, 10 and 25 trials below every peer's; meta-training < 600 s; one
fine-tune-and-propose step with 50 observations < 200 ms.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

CHECKPOINTS = (5, 10, 25)
N_STARTUP = 5
KNN_WARM = 5


def load(args: argparse.Namespace) -> Any:
    from automl_meta.metadb import MetaDB
    from automl_meta.metalearners import load_knowledge

    if args.db is None:
        return load_knowledge()
    return load_knowledge(shipped=args.shipped or "/nonexistent", user_db=MetaDB(args.db),
                          include_shipped=args.shipped is not None)


def random_regret(values: np.ndarray, n: int) -> float:
    """Exact expected regret of the best of ``n`` distinct uniform draws."""
    ordered = np.sort(values)
    size = len(ordered)
    n = min(n, size)
    total = math.comb(size, n)
    weights = np.array([math.comb(i, n - 1) / total for i in range(size)])
    return float(1.0 - (weights * ordered).sum())


def curve(values: np.ndarray, picks: list[int], n_trials: int) -> list[float]:
    best, out = 0.0, []
    for step in range(n_trials):
        if step < len(picks):
            best = max(best, float(values[picks[step]]))
        out.append(1.0 - best)
    return out


def tpe_search(task: str, configs: list[dict[str, Any]], encoded: np.ndarray,
               values: np.ndarray, n_trials: int, seed: int,
               warm: list[int] | None = None) -> list[int]:
    """Grid indices TPE picks (after the ``warm`` ones), snapping as the docstring says."""
    import optuna

    return sampler_search(optuna.samplers.TPESampler(seed=seed, n_startup_trials=N_STARTUP),
                          task, configs, encoded, values, n_trials, warm)


def sampler_search(sampler: Any, task: str, configs: list[dict[str, Any]],
                   encoded: np.ndarray, values: np.ndarray, n_trials: int,
                   warm: list[int] | None = None) -> list[int]:
    """Grid indices an Optuna ``sampler`` picks (after the ``warm`` ones, added as completed
    trials), each sampled configuration snapped as the docstring says."""
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState, create_trial

    from automl_meta.metalearners._encoding import encode_configs
    from automl_meta.space import algorithms, config_to_trial_params, get_algorithm, suggest

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    names = algorithms(task)

    def record(index: int) -> None:
        config = configs[index]
        algorithm = get_algorithm(config["algorithm"], task)
        distributions = {"algorithm": CategoricalDistribution(names)}
        distributions.update({f"{algorithm.name}__{p.name}": p.distribution
                              for p in algorithm.params if p.name in config["params"]})
        study.add_trial(create_trial(params=config_to_trial_params(config),
                                     distributions=distributions, value=float(values[index])))

    picks = list(warm or [])[:n_trials]
    for index in picks:
        record(index)
    algos = np.array([c["algorithm"] for c in configs])
    while len(picks) < min(n_trials, len(configs)):
        trial = study.ask()
        sampled = suggest(trial, task)
        free = np.ones(len(configs), dtype=bool)
        free[picks] = False
        same = free & (algos == sampled["algorithm"])
        pool = np.flatnonzero(same if same.any() else free)
        distance = ((encoded[pool] - encode_configs([sampled], task)) ** 2).sum(axis=1)
        index = int(pool[np.argmin(distance)])
        study.tell(trial, state=TrialState.FAIL)
        record(index)
        picks.append(index)
    return picks


def transfer_search(knn: Any, metafeatures: pd.Series, task: str,
                    configs: list[dict[str, Any]], encoded: np.ndarray, values: np.ndarray,
                    n_trials: int, seed: int, warm: list[dict[str, Any]],
                    options: dict[str, Any] | None = None) -> list[int]:
    """Grid indices ``TransferSampler`` picks, warm-started by ``warm`` (kNN's top 5)."""
    from automl_meta.advice._transfer import TransferSampler

    sampler = TransferSampler(metafeatures, task=task, learner=knn, recommendations=warm,
                              n_warm=len(warm), seed=seed, **(options or {}))
    return sampler_search(sampler, task, configs, encoded, values, n_trials)


def neural_search(learner: Any, metafeatures: pd.Series, task: str,
                  configs: list[dict[str, Any]], values: np.ndarray, n_trials: int,
                  by_hash: dict[str, int], warm: list[int] | None = None) -> list[int]:
    from automl_meta.space import config_hash

    picks: list[int] = list(warm or [])[:n_trials]
    while len(picks) < min(n_trials, len(configs)):
        observed = [(configs[j], float(values[j])) for j in picks]
        rec = learner.propose(metafeatures, task, observed, k=1, candidates=configs)[0]
        picks.append(by_hash[config_hash(rec.config)])
    return picks


def neural_params(args: argparse.Namespace) -> dict[str, Any]:
    import json

    return {"steps": args.steps, "random_state": args.seed, **json.loads(args.neural)}


def simulate(knowledge: Any, args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, Any]]:
    import json

    from sklearn.model_selection import GroupKFold

    from automl_meta.metalearners import KNNLearner
    from automl_meta.metalearners._encoding import encode_configs
    from automl_meta.metalearners.neural import NeuralLearner
    from automl_meta.space import config_hash

    held_out = [(task, fp) for task, m in knowledge.matrices.items() for fp in m.datasets]
    if args.max_datasets:
        held_out = held_out[: args.max_datasets]
    families = knowledge.datasets.loc[[fp for _, fp in held_out], "family"].to_numpy()
    n_folds = min(args.folds, len(set(families)))
    folds = GroupKFold(n_splits=n_folds).split(np.zeros(len(held_out)), groups=families)
    rows: list[dict[str, Any]] = []
    fit_seconds: list[float] = []
    for fold, (_, test) in enumerate(folds):
        fold_families = set(families[test])
        train = knowledge.without(families=fold_families)
        started = time.perf_counter()
        learner = (None if args.skip_neural else
                   NeuralLearner(**neural_params(args), progress=False).fit(train))
        fit_seconds.append(time.perf_counter() - started)
        knn_by_family: dict[str, Any] = {}
        for position in test:
            task, fingerprint = held_out[position]
            matrix = knowledge.matrices[task]
            row = matrix.normalised[matrix.datasets.index(fingerprint)]
            columns = np.flatnonzero(np.isfinite(row))
            configs = [knowledge.config(matrix.configs[j]) for j in columns]
            values = row[columns]
            encoded = encode_configs(configs, task)
            by_hash = {config_hash(c): i for i, c in enumerate(configs)}
            mf = knowledge.metafeatures.loc[fingerprint]
            family = knowledge.datasets.loc[fingerprint, "family"]
            base = {"dataset": knowledge.datasets.loc[fingerprint, "name"], "task": task,
                    "family": family, "fold": fold, "n_grid": len(configs)}
            n = args.trials
            curves: dict[str, list[float]] = {
                "random": [random_regret(values, i + 1) for i in range(n)]}
            if family not in knn_by_family:
                knn_by_family[family] = KNNLearner().fit(knowledge.without(families={family}))
            recs = knn_by_family[family].recommend(mf, task, k=len(matrix.configs))
            warm = [by_hash[h] for h in (config_hash(r.config) for r in recs) if h in by_hash]
            if "tpe" in args.methods:
                curves["tpe"] = list(np.mean([curve(values, tpe_search(
                    task, configs, encoded, values, n, seed), n)
                    for seed in range(args.tpe_seeds)], axis=0))
            if "knn+tpe" in args.methods:
                curves["knn+tpe"] = list(np.mean([curve(values, tpe_search(
                    task, configs, encoded, values, n, seed, warm[:KNN_WARM]), n)
                    for seed in range(args.tpe_seeds)], axis=0))
            if "transfer" in args.methods:
                curves["transfer"] = list(np.mean([curve(values, transfer_search(
                    knn_by_family[family], mf, task, configs, encoded, values, n, seed,
                    [configs[i] for i in warm[:KNN_WARM]], json.loads(args.transfer)), n)
                    for seed in range(args.tpe_seeds)], axis=0))
            if learner is not None and task in learner.tasks:
                # the learner's kNN memory, like the kNN peer, knows every family but this one
                learner._memory = knn_by_family[family]
                curves["neural"] = curve(values, neural_search(
                    learner, mf, task, configs, values, n, by_hash), n)
                finetune_steps, learner.finetune_steps = learner.finetune_steps, 0
                curves["neural/no-ft"] = curve(values, neural_search(
                    learner, mf, task, configs, values, n, by_hash), n)
                learner.finetune_steps = finetune_steps
                memory_weight, learner.memory_weight = learner.memory_weight, 0.0
                curves["neural/no-memory"] = curve(values, neural_search(
                    learner, mf, task, configs, values, n, by_hash), n)
                learner.memory_weight = memory_weight
                if args.knn_warm_neural:
                    curves["knn+neural"] = curve(values, neural_search(
                        learner, mf, task, configs, values, n, by_hash,
                        warm[:args.knn_warm_neural]), n)
            for method, regrets in curves.items():
                rows.append({**base, "method": method,
                             **{f"regret@{i}": r for i, r in enumerate(regrets, start=1)}})
            if args.verbose:
                print(base["dataset"], {m: round(r[min(n, 10) - 1], 3)
                                        for m, r in curves.items()}, flush=True)
    return pd.DataFrame(rows), {"fold_fit_seconds": fit_seconds, "folds": n_folds,
                                "neural": not args.skip_neural}


def speed(knowledge: Any, args: argparse.Namespace) -> dict[str, Any]:
    from automl_meta.metalearners.neural import NeuralLearner

    started = time.perf_counter()
    learner = NeuralLearner(**neural_params(args)).fit(knowledge)
    total = time.perf_counter() - started
    timings = []
    for task, matrix in knowledge.matrices.items():
        if task not in learner.tasks:
            continue
        for row in range(min(len(matrix.datasets), 5)):
            columns = np.flatnonzero(np.isfinite(matrix.normalised[row]))[:50]
            observed = [(knowledge.config(matrix.configs[j]), float(matrix.normalised[row, j]))
                        for j in columns]
            mf = knowledge.metafeatures.loc[matrix.datasets[row]]
            learner.propose(mf, task, observed, k=1)  # warm the pool cache
            for _ in range(5):
                t = time.perf_counter()
                learner.propose(mf, task, observed, k=1)
                timings.append((time.perf_counter() - t) * 1000)
    return {
        "fit_seconds": total,
        "train_seconds": {t: i["training"]["seconds"] for t, i in learner.tasks.items()},
        "steps": {t: i["training"]["steps"] for t, i in learner.tasks.items()},
        "pool": {t: len(i["candidates"]) for t, i in learner.tasks.items()},
        "observed": 50,
        "propose_ms_median": statistics.median(timings) if timings else float("nan"),
        "propose_ms_p90": float(np.percentile(timings, 90)) if timings else float("nan"),
        "device": next(iter(learner.tasks.values()))["training"]["device"]
        if learner.tasks else "n/a",
    }


# the pairs (#22): (ours after, peer, peer after)
TRANSFER_PAIRS = ((5, "tpe", 20), (10, "tpe", 50), (50, "tpe", 50), (5, "knn+tpe", 5),
                  (10, "knn+tpe", 10), (25, "knn+tpe", 25), (50, "knn+tpe", 50))


def head_to_head(results: pd.DataFrame, ours: str, after: int, peer: str,
                 peer_after: int) -> tuple[int, int, int] | None:
    """Datasets where ``ours`` after ``after`` trials has lower / equal / higher regret than
    ``peer`` after ``peer_after`` (wins, ties, losses); ``None`` when not measured."""
    mine, theirs = f"regret@{after}", f"regret@{peer_after}"
    if mine not in results.columns or theirs not in results.columns:
        return None
    a = results[results["method"] == ours].set_index("dataset")[mine]
    b = results[results["method"] == peer].set_index("dataset")[theirs]
    a, b = a.align(b, join="inner")
    if not len(a):
        return None
    return (int((a < b - 1e-12).sum()), int(((a - b).abs() <= 1e-12).sum()),
            int((a > b + 1e-12).sum()))


def transfer_lines(results: pd.DataFrame) -> list[str]:
    lines = ["", "transfer head to head, datasets (wins / ties / losses; share of wins "
             "among the datasets where the two differ; issue #22's bar: >= 60%):", "",
             "| pair | wins | ties | losses | wins among differing |", "|---|---:|---:|---:|---:|"]
    for after, peer, peer_after in TRANSFER_PAIRS:
        counts = head_to_head(results, "transfer", after, peer, peer_after)
        if counts is None:
            continue
        wins, ties, losses = counts
        share = f"{wins / (wins + losses):.0%}" if wins + losses else "n/a"
        lines.append(f"| transfer@{after} vs {peer}@{peer_after} | {wins} | {ties} | "
                     f"{losses} | {share} |")
    return lines


def report(results: pd.DataFrame, extra: dict[str, Any], timing: dict[str, Any] | None,
           knowledge: Any, checkpoints: tuple[int, ...] = CHECKPOINTS) -> str:
    import torch

    from automl_meta.space.torch_mlp import resolve_device

    device = timing["device"] if timing else resolve_device("auto").type
    lines = [f"{time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, torch "
             f"{torch.__version__}, device {device}, {os.cpu_count()} CPU cores; "
             f"{sum(len(m.datasets) for m in knowledge.matrices.values())} evaluated datasets "
             f"({', '.join(f'{t}: {len(m.datasets)}' for t, m in knowledge.matrices.items())})."]
    if len(results):
        columns = [f"regret@{c}" for c in checkpoints if f"regret@{c}" in results.columns]
        summary = results.groupby("method")[columns].agg(["mean", "sem"])
        order = ["transfer", "neural", "neural/no-ft", "neural/no-memory", "knn+neural",
                 "knn+tpe", "tpe", "random"]
        training = (f"meta-training {statistics.mean(extra['fold_fit_seconds']):.0f} s per "
                    "fold" if extra.get("neural", True) else "no neural learner")
        lines += ["", f"Simulated search, {results['dataset'].nunique()} held-out datasets, "
                  f"{extra['folds']}-fold grouped by family ({training}); mean "
                  "normalised regret (± s.e.m.), lower is better:", "",
                  "| method | " + " | ".join(f"after {c[7:]}" for c in columns) + " |",
                  "|---|" + "---:|" * len(columns)]
        for method in [m for m in order if m in summary.index]:
            cells = [f"{summary.loc[method, (c, 'mean')]:.4f} ± "
                     f"{summary.loc[method, (c, 'sem')]:.4f}" for c in columns]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        wide = results.pivot_table(index="dataset", columns="method", values=columns)
        if "neural" in results["method"].unique():
            lines.append("")
            for peer in ("random", "tpe", "knn+tpe"):
                wins = [f"{c[7:]}: {int((wide[c]['neural'] < wide[c][peer] - 1e-12).sum())}/"
                        f"{int((wide[c]['neural'] > wide[c][peer] + 1e-12).sum())}"
                        for c in columns]
                lines.append(f"- neural vs {peer}, datasets better/worse: " + ", ".join(wins))
            means = results.groupby("method")[columns].mean()
            beaten = all(means.loc["neural", c] < means.loc[p, c] for c in columns
                         for p in ("random", "tpe", "knn+tpe") if p in means.index)
            lines.append(f"- regret bar (neural below every peer at every checkpoint): "
                         f"**{'pass' if beaten else 'FAIL'}**")
        if "transfer" in results["method"].unique():
            lines += transfer_lines(results)
    if timing:
        lines += ["", f"Speed: meta-training on the whole meta-db {timing['fit_seconds']:.1f} s "
                  f"(training loops {timing['train_seconds']}, steps {timing['steps']}; bar "
                  f"600 s: **{'pass' if timing['fit_seconds'] < 600 else 'FAIL'}**); one "
                  f"fine-tune-and-propose step with 50 observed trials over the pool "
                  f"({timing['pool']}) median {timing['propose_ms_median']:.1f} ms, p90 "
                  f"{timing['propose_ms_p90']:.1f} ms (bar 200 ms: "
                  f"**{'pass' if timing['propose_ms_p90'] < 200 else 'FAIL'}**)."]
    return "\n".join(lines)


def plot_curves(results: pd.DataFrame, path: str,
                checkpoints: tuple[int, ...] = CHECKPOINTS) -> None:
    """Mean normalised regret after each trial, one line per method (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [c for c in results.columns if c.startswith("regret@")]
    trials = [int(c[7:]) for c in steps]
    means = results.groupby("method")[steps].mean()
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for method in means.index:
        bold = method == "neural"
        axes.plot(trials, means.loc[method].to_numpy(), label=method,
                  linewidth=2.5 if bold else 1.2, color="black" if bold else None)
    axes.set(yscale="log", xlabel="trials", ylabel="mean normalised regret (log)",
             title=f"Simulated search, {results['dataset'].nunique()} held-out datasets")
    for checkpoint in checkpoints:
        axes.axvline(checkpoint, color="grey", linewidth=0.5, linestyle=":")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="a meta-db store (path or URL); default: the shipped "
                                     "meta_db/ bundle (plus the user store) via load_knowledge()")
    parser.add_argument("--shipped", help="also layer this bundle directory under --db")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=25)
    parser.add_argument("--tpe-seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2000, help="meta-training steps per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--neural", default="{}",
                        help='other NeuralLearner parameters as JSON, e.g. \'{"hidden": 128}\'')
    parser.add_argument("--methods", nargs="+", default=["tpe", "knn+tpe"],
                        help="peers to run besides random and neural (tpe, knn+tpe, "
                             "transfer)")
    parser.add_argument("--transfer", default="{}",
                        help='other TransferSampler parameters as JSON, e.g. \'{"n_local": 16}\'')
    parser.add_argument("--checkpoints", nargs="+", type=int, default=list(CHECKPOINTS),
                        help="trials after which the report gives the mean regret")
    parser.add_argument("--skip-neural", action="store_true",
                        help="no neural learner (no meta-training): the other methods only")
    parser.add_argument("--knn-warm-neural", type=int, default=0, metavar="W",
                        help="also run knn+neural: the kNN learner's top W, then neural")
    parser.add_argument("--max-datasets", type=int, default=0)
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--out", help="write the per-dataset regrets to this CSV")
    parser.add_argument("--plot", help="draw the mean regret curves into this PNG")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    knowledge = load(args)
    results, extra = (pd.DataFrame(), {}) if args.skip_search else simulate(knowledge, args)
    if args.out and len(results):
        results.to_csv(args.out, index=False)
    if args.plot and len(results):
        plot_curves(results, args.plot, tuple(args.checkpoints))
    timing = None if args.skip_speed else speed(knowledge, args)
    print(report(results, extra, timing, knowledge, tuple(args.checkpoints)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
