"""Overhead of ``evaluate()`` against a bare scikit-learn ``cross_val_score``.

Both sides do the same work: the same pipeline (``space.build``), the same folds (the
scikit-learn splitter behind ``Protocol.splits``, checked fold by fold), the same single
metric (balanced accuracy) and one BLAS / OpenMP thread (``evaluate``'s worker limits itself
with threadpoolctl, so the baseline runs inside ``threadpoolctl.threadpool_limits(1)``).
``evaluate`` adds validation, the forked worker with its time and memory limits, and the
pipe back. Each side runs ``--repeats`` times in two alternating blocks (median reported),
after checking that both return the same score.

Run from the project root::

    python benchmarks/evaluation.py             # prints a table and a RESULTS.md snippet
    python benchmarks/evaluation.py --repeats 10 --algorithms linear knn

Target: a median overhead under 20 % on small data (500 to 3,000 rows).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

DATASETS = ("diabetes", "vehicle", "wine-quality-red", "segmentation")
ALGORITHMS = ("linear", "knn", "random_forest", "hist_gb")
TARGET = 0.20


def _default_root() -> Path:
    return Path(__file__).resolve().parents[2] / "shared" / "datasets" / "pmlb"


def _splitter(protocol: Any, dataset: Any) -> Any:
    """The scikit-learn splitter that yields ``protocol``'s folds of ``dataset``."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if protocol.kind != "cv":
        raise SystemExit("the benchmark compares cross-validation protocols only")
    stratified = dataset.task == "classification" and dataset.y.value_counts().min() >= 2
    kind = StratifiedKFold if stratified else KFold
    return kind(protocol.n_splits, shuffle=True, random_state=protocol.random_state)


def _cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (the evaluate() workers)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _baseline(config: dict[str, Any], dataset: Any, cv: Any) -> tuple[float, float, float]:
    from sklearn.model_selection import cross_val_score
    from threadpoolctl import threadpool_limits

    from automl_meta.space import build

    cpu, start = _cpu_seconds(), time.perf_counter()
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(build(config, dataset, random_state=0), dataset.X, dataset.y,
                                 cv=cv, scoring="balanced_accuracy", error_score="raise")
    return time.perf_counter() - start, _cpu_seconds() - cpu, float(scores.mean())


def _evaluated(config: dict[str, Any], dataset: Any,
               protocol: Any) -> tuple[float, float, float]:
    from automl_meta.evaluation import evaluate

    cpu, start = _cpu_seconds(), time.perf_counter()
    result = evaluate(config, dataset, protocol=protocol, metrics=("balanced_accuracy",),
                      random_state=0)
    elapsed, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    if not result.ok:
        raise RuntimeError(f"evaluate failed: {result.status} {result.error}")
    return elapsed, cpu, result.score


def run(root: Path, datasets: tuple[str, ...], algorithms: tuple[str, ...], repeats: int,
        protocol_key: str) -> list[dict[str, Any]]:
    from automl_meta.data import load_dataset
    from automl_meta.evaluation import Protocol
    from automl_meta.space import default_config

    protocol = Protocol.parse(protocol_key)
    rows: list[dict[str, Any]] = []
    for name in datasets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = load_dataset(root / f"{name}.tsv.gz")
        cv = _splitter(protocol, dataset)
        folds = [test.tolist() for _, test in cv.split(dataset.X, dataset.y)]
        if folds != [test.tolist() for _, test in protocol.splits(dataset)]:
            raise RuntimeError(f"{name}: the baseline's folds differ from evaluate()'s")
        for algorithm in algorithms:
            config = default_config(algorithm, dataset.task)
            # warm both paths once (imports, caches), untimed
            base_score = _baseline(config, dataset, cv)[2]
            eval_score = _evaluated(config, dataset, protocol)[2]
            if abs(base_score - eval_score) > 1e-9:
                raise RuntimeError(f"{name}/{algorithm}: evaluate scored {eval_score} but "
                                   f"cross_val_score {base_score}; not the same work")
            runs: dict[str, list[tuple[float, float, float]]] = {"base": [], "eval": []}
            # blocks B E B E of repeats/2 runs: slow drifts of the background load hit
            # both sides alike, and the medians ignore the one baseline per block that
            # runs right after an evaluate() (the parent pays for the fork afterwards too)
            for block in range(4):
                for _ in range(max(1, repeats // 2)):
                    if block % 2 == 0:
                        runs["base"].append(_baseline(config, dataset, cv))
                    else:
                        runs["eval"].append(_evaluated(config, dataset, protocol))
            wall = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
            cpu = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
            row = {
                "dataset": name, "rows": dataset.n_rows, "algorithm": algorithm,
                "baseline_ms": 1000 * wall["base"], "evaluate_ms": 1000 * wall["eval"],
                "overhead": wall["eval"] / wall["base"] - 1.0,
                "baseline_cpu_ms": 1000 * cpu["base"], "evaluate_cpu_ms": 1000 * cpu["eval"],
                "cpu_overhead": cpu["eval"] / cpu["base"] - 1.0,
                "extra_ms": 1000 * (wall["eval"] - wall["base"]), "score": eval_score,
            }
            rows.append(row)
            print(f"{name:>18} {dataset.n_rows:>5} {algorithm:>14}  wall "
                  f"{row['baseline_ms']:7.1f} -> {row['evaluate_ms']:7.1f} ms "
                  f"({100 * row['overhead']:+6.1f} %)  cpu {row['baseline_cpu_ms']:7.1f} -> "
                  f"{row['evaluate_cpu_ms']:7.1f} ms ({100 * row['cpu_overhead']:+6.1f} %)",
                  flush=True)
    return rows


def markdown(rows: list[dict[str, Any]], repeats: int, protocol_key: str) -> str:
    overheads = [r["overhead"] for r in rows]
    cpu_overheads = [r["cpu_overhead"] for r in rows]
    total = sum(r["evaluate_ms"] for r in rows) / sum(r["baseline_ms"] for r in rows) - 1.0
    median = statistics.median(overheads)
    extra = statistics.median(r["extra_ms"] for r in rows)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "## evaluate() overhead",
        "",
        f"`python benchmarks/evaluation.py` ({protocol_key}, balanced accuracy only, "
        f"median of {2 * max(1, repeats // 2)} runs per side in alternating blocks, both "
        "sides limited to one BLAS/OpenMP thread with threadpoolctl; Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, load average {load:.1f} at the "
        "end). CPU time counts the parent and its reaped workers.",
        "",
        "| dataset | rows | algorithm | cross_val_score ms | evaluate ms | wall overhead "
        "| CPU overhead |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['rows']} | {r['algorithm']} | "
                     f"{r['baseline_ms']:.1f} | {r['evaluate_ms']:.1f} | "
                     f"{100 * r['overhead']:+.1f} % | {100 * r['cpu_overhead']:+.1f} % |")
    verdict = "meets" if median < TARGET else "misses"
    lines += [
        "",
        f"Median wall overhead {100 * median:+.1f} % (CPU "
        f"{100 * statistics.median(cpu_overheads):+.1f} %, time-weighted wall "
        f"{100 * total:+.1f} %, worst {100 * max(overheads):+.1f} %); this {verdict} the "
        f"target of {100 * TARGET:.0f} %. The overhead is a roughly fixed cost per call "
        f"(median {extra:.0f} ms here: fork, the worker's first touch of its copy-on-write "
        "memory, thread limits, pipe, reaping), so it shrinks as fits get longer.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=_default_root(),
                        help="directory of PMLB .tsv.gz files")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS))
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--protocol", default="cv5")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        print(f"datasets not found at {args.root}; pass --root", file=sys.stderr)
        return 2
    rows = run(args.root, tuple(args.datasets), tuple(args.algorithms), args.repeats,
               args.protocol)
    print()
    print(markdown(rows, args.repeats, args.protocol))
    return 0


if __name__ == "__main__":
    sys.exit(main())
