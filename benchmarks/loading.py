"""Benchmark: ``load_dataset`` against a bare ``pandas.read_csv`` on the largest PMLB file.

Run from the project root::

    python benchmarks/loading.py [--repeats 3] [--path ../shared/datasets/pmlb/kddcup.tsv.gz]

Timing: both loaders run in this process, alternated, ``--repeats`` times each; the best
time of each counts (the least disturbed by other work on the machine). Memory: each loader
runs once in a fresh child process; the peak resident set size (``VmHWM``, or ``ru_maxrss``
off Linux) after the load minus the peak after the imports is its peak memory growth.

Bar: ``load_dataset`` at most 2.0x the time of ``read_csv``, and a peak below 1 GB.
Prints a markdown snippet for ``benchmarks/RESULTS.md``; exits 1 when a bar is missed.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_PATH = (
    Path(__file__).resolve().parents[2] / "shared" / "datasets" / "pmlb" / "kddcup.tsv.gz"
)
MAX_RATIO = 2.0
MAX_PEAK_MB = 1024.0


def _read_pandas(path: Path) -> Any:
    import pandas as pd

    return pd.read_csv(path, sep="\t")


def _read_automl_meta(path: Path) -> Any:
    from automl_meta import load_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a warning is not what is being measured
        return load_dataset(path)


LOADERS: dict[str, Callable[[Path], Any]] = {
    "pandas.read_csv": _read_pandas,
    "load_dataset": _read_automl_meta,
}


def _peak_rss_mb() -> float:
    """The peak resident set size of this process so far, in MB (MiB).

    On Linux this is ``VmHWM`` of ``/proc/self/status``: ``ru_maxrss`` survives ``exec``, so
    a child started from a parent holding a big frame would begin with the parent's peak.
    Elsewhere ``ru_maxrss`` (KiB on Linux, bytes on macOS) is the fallback.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _child(loader: str, path: Path) -> None:
    """Run in a fresh process: the peak RSS growth of one load, as JSON on stdout."""
    import pandas  # noqa: F401  (imports are part of the baseline, not of the load)

    import automl_meta.data  # noqa: F401

    baseline = _peak_rss_mb()
    result = LOADERS[loader](path)
    peak = _peak_rss_mb()
    shape = list(result.X.shape) if hasattr(result, "X") else list(result.shape)
    print(json.dumps({"baseline_mb": baseline, "peak_mb": peak, "shape": shape}))


def _measure_memory(loader: str, path: Path) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", loader, "--path", str(path)],
        capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _measure_time(path: Path, repeats: int) -> dict[str, float]:
    best = {name: float("inf") for name in LOADERS}
    for loader in LOADERS.values():  # warm-up: lazy imports and the file cache
        loader(path)
    for _ in range(repeats):
        for name, loader in LOADERS.items():
            start = time.perf_counter()
            loader(path)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=sorted(LOADERS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if args.child:
        _child(args.child, args.path)
        return 0
    if not args.path.is_file():
        print(f"No benchmark file at {args.path}; pass --path.", file=sys.stderr)
        return 2

    memory = {name: _measure_memory(name, args.path) for name in LOADERS}
    times = _measure_time(args.path, args.repeats)
    ratio = times["load_dataset"] / times["pandas.read_csv"]
    growth = {name: m["peak_mb"] - m["baseline_mb"] for name, m in memory.items()}
    ok = ratio <= MAX_RATIO and growth["load_dataset"] < MAX_PEAK_MB

    import pandas as pd

    rows, columns = memory["pandas.read_csv"]["shape"]
    print(f"file: {args.path} ({rows:,} rows x {columns} columns, "
          f"{args.path.stat().st_size / 1e6:.1f} MB on disk)")
    for name in LOADERS:
        print(f"  {name:<16} best of {args.repeats}: {times[name]:6.2f} s   "
              f"peak RSS growth: {growth[name]:7.1f} MB")
    print(f"  ratio load_dataset / read_csv: {ratio:.2f} (bar <= {MAX_RATIO})")
    print(f"  load_dataset peak: {growth['load_dataset']:.0f} MB (bar < {MAX_PEAK_MB:.0f} MB)")
    print(f"  {'PASS' if ok else 'FAIL'}")
    print()
    print("<!-- paste into benchmarks/RESULTS.md -->")
    print(f"### Loading `{args.path.name}` ({rows:,} x {columns})")
    print()
    print(f"{time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
          f"pandas {pd.__version__}, {platform.machine()}; `python benchmarks/loading.py`, "
          f"best of {args.repeats}, peak = max RSS growth in a fresh process.")
    print()
    print("| loader | time (s) | peak RSS growth (MB) |")
    print("|---|---:|---:|")
    for name in LOADERS:
        print(f"| `{name}` | {times[name]:.2f} | {growth[name]:.0f} |")
    print()
    print(f"Ratio {ratio:.2f} (bar <= {MAX_RATIO}); peak {growth['load_dataset']:.0f} MB "
          f"(bar < {MAX_PEAK_MB:.0f} MB): **{'pass' if ok else 'fail'}**.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
