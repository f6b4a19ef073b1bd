"""Latency of ``recommend()``: warm (learner loaded, meta-features precomputed) and cold.

    python benchmarks/recommend_latency.py [--data PATH] [--repeats 50]

*Warm*: the meta-learner is loaded and the meta-features are given; median and p99 of
``recommend(metafeatures=..., task=..., k=10)`` per strategy (bar: under 100 ms).
*Cold*: a fresh Python process calls ``recommend(path, k=10)`` on a 10,000-row dataset, so
the time includes reading the file, extracting the meta-features and loading the shipped
meta-db and learners (bar: under 2 s). The import of ``automl_meta`` itself is reported
separately. Baseline for the ratio: reading the same file with ``pandas.read_csv``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "pmlb" / "pendigits.tsv.gz"

COLD_SCRIPT = """
import json, sys, time
started = time.perf_counter()
import automl_meta
imported = time.perf_counter()
recs = automl_meta.recommend(sys.argv[1], k=10)
done = time.perf_counter()
import pandas as pd
t = time.perf_counter()
pd.read_csv(sys.argv[1], sep="\\t" if ".tsv" in sys.argv[1] else ",")
read = time.perf_counter() - t
print(json.dumps({"import": imported - started, "recommend": done - imported,
                  "read_csv": read, "top": recs[0].algorithm}))
"""


def warm(data: Path, repeats: int) -> dict[str, tuple[float, float]]:
    from automl_meta import extract_metafeatures, load_dataset, recommend

    dataset = load_dataset(data)
    metafeatures = extract_metafeatures(dataset)
    out = {}
    for strategy in ("auto", "knn", "portfolio", "ranker", "neural"):
        try:
            recommend(metafeatures=metafeatures, task=dataset.task, k=10, strategy=strategy)
        except Exception as exc:  # noqa: BLE001 - a missing learner is reported, not fatal
            print(f"{strategy}: unavailable ({exc})")
            continue
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            recommend(metafeatures=metafeatures, task=dataset.task, k=10, strategy=strategy)
            times.append(time.perf_counter() - started)
        times.sort()
        out[strategy] = (statistics.median(times), times[int(0.99 * (len(times) - 1))])
    return out


def cold(data: Path, repeats: int) -> list[dict[str, float]]:
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "AUTOML_META_DB": str(Path(tmp) / "user.sqlite")}
        for _ in range(repeats):
            output = subprocess.run([sys.executable, "-c", COLD_SCRIPT, str(data)], env=env,
                                    check=True, capture_output=True, text=True).stdout
            runs.append(json.loads(output.strip().splitlines()[-1]))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--cold-repeats", type=int, default=5)
    args = parser.parse_args()
    import warnings

    warnings.simplefilter("ignore")
    # a private empty user store, so no other process's writes invalidate the loaded learners
    os.environ["AUTOML_META_DB"] = str(Path(tempfile.mkdtemp()) / "user.sqlite")
    print(f"dataset: {args.data.name}")
    print("\n| strategy (warm, k=10) | median ms | p99 ms |\n|---|---:|---:|")
    for strategy, (median, p99) in warm(args.data, args.repeats).items():
        print(f"| {strategy} | {median * 1e3:.1f} | {p99 * 1e3:.1f} |")
    runs = cold(args.data, args.cold_repeats)
    median = {key: statistics.median(r[key] for r in runs)
              for key in ("import", "recommend", "read_csv")}
    print(f"\ncold, fresh process, median of {len(runs)}: import automl_meta "
          f"{median['import']:.2f} s; recommend(path) incl. reading, meta-features and "
          f"loading the meta-db {median['recommend']:.2f} s "
          f"({median['recommend'] / median['read_csv']:.0f}x a bare pandas.read_csv of "
          f"{median['read_csv'] * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
