"""Speed of our meta-feature extraction against pymfe, and on large synthetic frames.

1. On 10 PMLB classification datasets (three with more than 10,000 rows) times
   ``extract_metafeatures`` (all five groups, summary mean and sd; median of 3 runs) and
   pymfe's ``MFE(groups=<the same five>).fit(X, y).extract()`` in a child process. A
   pymfe run longer than 60 s is stopped and pymfe is timed again on a stratified
   subsample (5,000 rows, then 2,000), marked ``*``: its ratio is then a lower bound.
   Prints the times and the median ratio. Loading the data is not timed for either.
2. Times our extraction on synthetic 100,000 x 100 frames (classification, regression,
   and a mixed frame with categorical columns and missing values): the bar is 2 s each.

Run: ``python benchmarks/metafeatures.py [--skip-pymfe] [--skip-synthetic]``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from automl_meta.data import Dataset, load_dataset
from automl_meta.metafeatures import GROUPS, extract_metafeatures

PMLB = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "pmlb"
DATASETS = (
    "wine-recognition", "breast-cancer-wisconsin", "vehicle", "car-evaluation", "yeast",
    "segmentation", "spambase", "pendigits", "magic", "letter",
)
PYMFE_TIMEOUT = 60.0
PYMFE_FALLBACK_ROWS = (5000, 2000)
SPEED_BAR = 2.0


def time_ours(dataset: Dataset, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            extract_metafeatures(dataset, random_state=0)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _pymfe_child(path: str, rows: int | None, queue: mp.Queue) -> None:
    from pymfe.mfe import MFE

    warnings.simplefilter("ignore")
    dataset = load_dataset(path)
    if rows is not None:
        dataset = dataset.subsample(rows, random_state=0)
    X, y = dataset.X.to_numpy(dtype=float), dataset.y.to_numpy()
    start = time.perf_counter()
    MFE(groups=list(GROUPS), summary=["mean", "sd"], random_state=0).fit(
        X, y, suppress_warnings=True
    ).extract(suppress_warnings=True)
    queue.put(time.perf_counter() - start)


def time_pymfe(path: Path, n_rows: int) -> tuple[float, int]:
    """pymfe's seconds and the rows it ran on (fewer when the full run hit the timeout)."""
    context = mp.get_context("spawn")
    for rows in (None, *PYMFE_FALLBACK_ROWS):
        if rows is not None and rows >= n_rows:
            continue
        queue = context.Queue()
        child = context.Process(target=_pymfe_child, args=(str(path), rows, queue))
        child.start()
        child.join(PYMFE_TIMEOUT + 30)  # the child also loads the data and imports pymfe
        if child.is_alive():
            child.terminate()
            child.join()
            continue
        if not queue.empty():
            seconds = queue.get()
            if seconds <= PYMFE_TIMEOUT:
                return seconds, rows or n_rows
    return float("nan"), 0


def compare_pymfe(names: tuple[str, ...]) -> None:
    print(f"{'dataset':28s} {'rows':>7s} {'feat':>5s} {'ours s':>8s} {'pymfe s':>9s} "
          f"{'ratio':>7s}")
    ratios = []
    for name in names:
        path = PMLB / f"{name}.tsv.gz"
        dataset = load_dataset(path)
        ours = time_ours(dataset)
        theirs, rows = time_pymfe(path, dataset.n_rows)
        ratio = theirs / ours
        ratios.append(ratio)
        mark = "" if rows == dataset.n_rows else f"*{rows}"
        print(f"{name:28s} {dataset.n_rows:7d} {dataset.n_features:5d} {ours:8.3f} "
              f"{theirs:9.2f} {ratio:7.1f} {mark}", flush=True)
    valid = [r for r in ratios if not np.isnan(r)]
    print(f"median speed-up over pymfe: {statistics.median(valid):.1f}x "
          f"(* = pymfe timed on that many rows after passing {PYMFE_TIMEOUT:.0f} s)")


def synthetic(kind: str, n_rows: int = 100_000, n_cols: int = 100) -> Dataset:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(n_rows, n_cols))
    frame = pd.DataFrame(values, columns=[f"x{i}" for i in range(n_cols)])
    signal = values[:, 0] + values[:, 1] * values[:, 2] + rng.normal(size=n_rows)
    if kind == "regression":
        frame["target"] = signal
    elif kind == "mixed":
        for i in range(20):
            levels = np.array([f"v{j}" for j in range(3 + i % 8)])
            frame[f"x{i}"] = pd.Categorical(levels[rng.integers(0, levels.size, n_rows)])
        frame = frame.mask(rng.random(frame.shape) < 0.05)
        frame["target"] = pd.cut(signal, 10, labels=False)
    else:
        frame["target"] = (signal > 0).astype(int)
    task = "regression" if kind == "regression" else "classification"
    return load_dataset(frame, task=task, name=f"synthetic-{kind}")


def synthetic_speed() -> None:
    worst = 0.0
    for kind in ("classification", "regression", "mixed"):
        dataset = synthetic(kind)
        seconds = time_ours(dataset)
        worst = max(worst, seconds)
        print(f"synthetic {kind:15s} {dataset.n_rows} x {dataset.n_features}: {seconds:.2f} s",
              flush=True)
    verdict = "within" if worst <= SPEED_BAR else "OVER"
    print(f"max on 100,000 x 100: {worst:.2f} s ({verdict} the {SPEED_BAR:.0f} s bar)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-pymfe", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    args = parser.parse_args(argv)
    time_ours(load_dataset("sklearn:iris"), repeats=1)  # imports and first-call costs
    if not args.skip_synthetic:
        synthetic_speed()
    if not args.skip_pymfe:
        if not PMLB.is_dir():
            print(f"PMLB datasets not found at {PMLB}", file=sys.stderr)
            return 1
        compare_pymfe(tuple(args.datasets.split(",")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
