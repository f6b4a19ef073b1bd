"""Seconds per evaluation of the boosting algorithms, as the meta-db build runs them.

    python benchmarks/boosting_throughput.py [--datasets 7] [--per-algorithm 3]

Picks datasets at random (seed 0) from ../shared/datasets (PMLB and raw ARFF), samples
configurations of each boosting algorithm from the build's grid, and times
``evaluate(config, dataset.subsample(1000), protocol="cv3")`` like ``db build``; prints
the mean per algorithm, the input of the v3 build's CPU estimate in RESULTS.md.
"""

from __future__ import annotations

import argparse
import random
import time
import warnings
from pathlib import Path

from automl_meta import evaluate, load_dataset
from automl_meta.space import register_boosting, sample_configs

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
BOOSTING = ("lightgbm", "xgboost", "catboost")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", type=int, default=7)
    parser.add_argument("--per-algorithm", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    register_boosting()
    rng = random.Random(0)
    pmlb = sorted((SHARED / "pmlb").glob("*.tsv.gz"))
    raw = sorted((SHARED / "arff-collection").glob("*.arff.gz"))
    n_raw = args.datasets * 2 // 7
    paths = rng.sample(pmlb, args.datasets - n_raw) + rng.sample(raw, n_raw)
    seconds: dict[str, list[float]] = {name: [] for name in BOOSTING}
    for path in paths:
        dataset = load_dataset(path).subsample(1000, random_state=0)
        grid = sample_configs(dataset.task, 40, seed=0)
        for name in BOOSTING:
            for config in rng.sample([c for c in grid if c["algorithm"] == name],
                                     args.per_algorithm):
                started = time.perf_counter()
                result = evaluate(config, dataset, protocol="cv3", time_limit=60)
                seconds[name].append(time.perf_counter() - started)
                print(f"{path.name:40s} {name:9s} {result.status:8s} {seconds[name][-1]:6.2f} s",
                      flush=True)
    for name, values in seconds.items():
        print(f"{name}: mean {sum(values) / len(values):.2f} s over {len(values)} evaluations")


if __name__ == "__main__":
    main()
