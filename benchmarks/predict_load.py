"""Benchmark: loading a saved model and predicting, against the unsafe habit (joblib).

Run from the project root::

    python benchmarks/predict_load.py [--repeats 7] [--rows 1000] [--algorithm linear]

The script builds its own model: a synthetic classification table (numeric and categorical
columns, a few missing values), the default configuration of ``--algorithm`` fitted on it
the way ``fit`` refits its best configuration (:func:`automl_meta.evaluation.fit_in_worker`),
written with :func:`automl_meta.automl.save_result` (``config.json`` + ``model.skops``) and,
for the baseline, the same fitted pipeline pickled with ``joblib.dump``. Each measurement is
a fresh Python process (wall time, interpreter start included) that loads the model and
predicts ``--rows`` rows read from a CSV file:

- *joblib* (baseline): ``joblib.load`` + ``pandas.read_csv`` + ``predict``;
- *load_model*: ``automl_meta.load_model(DIR).predict(rows.csv)`` (audited skops load, rows
  read and typed as in training);
- *CLI*: ``automl-meta predict DIR rows.csv --out predictions.csv``.

The three run interleaved, ``--repeats`` times each, and the median wall time counts, so
a busy machine slows all three alike; the CPU time (user + system) of each process is shown
too, being less disturbed by other work. The load_model process also reports whether it imported
torch (it must not for a model without the MLP).

Bar: each of load_model and the CLI at most 1.5x the joblib baseline. Prints a markdown
snippet for ``benchmarks/RESULTS.md``; exits 1 when a bar is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

MAX_RATIO = 1.5

JOBLIB_SCRIPT = """
import sys
import joblib, pandas as pd
model = joblib.load(sys.argv[1])
model.predict(pd.read_csv(sys.argv[2]))
"""

LOAD_MODEL_SCRIPT = """
import json, sys
from automl_meta import load_model
load_model(sys.argv[1]).predict(sys.argv[2])
print(json.dumps({"torch": "torch" in sys.modules}))
"""


def make_model(root: Path, algorithm: str, rows: int) -> tuple[Path, Path, Path]:
    """Fit ``algorithm``'s default configuration on a synthetic table; save it with
    ``save_result`` and with joblib. Returns (model directory, joblib file, rows CSV)."""
    import joblib
    import numpy as np
    import pandas as pd

    from automl_meta import load_dataset
    from automl_meta.automl import FitResult, save_result
    from automl_meta.evaluation import fit_in_worker
    from automl_meta.space import default_config

    rng = np.random.default_rng(0)
    n = 2 * rows
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(12)})
    frame["colour"] = rng.choice(["red", "green", "blue", "grey"], n)
    frame["city"] = rng.choice([f"city{i}" for i in range(20)], n)
    frame.loc[rng.choice(n, n // 50, replace=False), "x0"] = np.nan
    score = frame["x1"] + (frame["colour"] == "red") - 0.5 * frame["x2"]
    frame["label"] = np.where(score > score.median(), "yes", "no")
    train_csv, rows_csv = root / "train.csv", root / "rows.csv"
    frame.iloc[:rows].to_csv(train_csv, index=False)
    frame.iloc[rows:].drop(columns="label").to_csv(rows_csv, index=False)

    dataset = load_dataset(str(train_csv), target="label", task="classification")
    config = default_config(algorithm, dataset.task)
    model, status, error = fit_in_worker(config, dataset)
    if model is None:
        raise SystemExit(f"fitting {algorithm} failed ({status}): {error}")
    board = pd.DataFrame({"algorithm": [algorithm], "params": [config["params"]],
                          "status": ["ok"], "balanced_accuracy": [float("nan")],
                          "fit_seconds": [0.0], "wall_seconds": [0.0]})
    result = FitResult(model=model, leaderboard=board, study=None, best_config=config,
                       best_score=float("nan"), task=dataset.task, metric="balanced_accuracy",
                       seconds=0.0, ensemble=[(config, 1.0)], dataset="synthetic",
                       target="label", features=list(dataset.X.columns),
                       categorical=list(dataset.categorical), n_rows=dataset.n_rows)
    model_dir = root / "model"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_result(result, model_dir)
    if not (model_dir / "model.skops").is_file():
        raise SystemExit(f"{algorithm} cannot be saved with skops; choose another --algorithm.")
    joblib_file = root / "model.joblib"
    joblib.dump(model, joblib_file)
    return model_dir, joblib_file, rows_csv


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("automl-meta")
    if script.is_file():
        return [str(script)]
    found = shutil.which("automl-meta")
    if found is None:
        raise SystemExit("automl-meta is not installed in this environment (pip install -e .).")
    return [found]


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system) and stdout of one fresh process."""
    cpu, started = _cpu_of_children(), time.perf_counter()
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - started, _cpu_of_children() - cpu, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rows", type=int, default=1000, help="Rows predicted.")
    parser.add_argument("--algorithm", default="linear",
                        help="Algorithm of the space whose default configuration is saved.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # a private empty user store: nothing here reads or writes the user's
        env = {**os.environ, "AUTOML_META_DB": str(root / "user.sqlite")}
        os.environ.update(env)
        model_dir, joblib_file, rows_csv = make_model(root, args.algorithm, args.rows)
        commands = {
            "joblib": [sys.executable, "-c", JOBLIB_SCRIPT, str(joblib_file), str(rows_csv)],
            "load_model": [sys.executable, "-c", LOAD_MODEL_SCRIPT, str(model_dir),
                           str(rows_csv)],
            "cli": [*_cli(), "predict", str(model_dir), str(rows_csv),
                    "--out", str(root / "predictions.csv")],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        torch_imported = False
        for _ in range(args.repeats):
            for name, command in commands.items():
                seconds, cpu_seconds, stdout = _timed(command, env)
                times[name].append(seconds)
                cpu[name].append(cpu_seconds)
                if name == "load_model":
                    torch_imported |= json.loads(stdout.strip().splitlines()[-1])["torch"]

    median = {name: statistics.median(values) for name, values in times.items()}
    median_cpu = {name: statistics.median(values) for name, values in cpu.items()}
    ratio = {name: median[name] / median["joblib"] for name in ("load_model", "cli")}
    print(f"## Predict from a saved model (`python benchmarks/predict_load.py "
          f"--repeats {args.repeats} --rows {args.rows} --algorithm {args.algorithm}`)\n")
    print(f"{platform.machine()}, Python {platform.python_version()}, "
          f"{os.cpu_count()} cores; fresh process each, median of {args.repeats}, "
          f"interleaved; {args.rows:,} rows of 14 columns (2 categorical); default "
          f"`{args.algorithm}` configuration.\n")
    print("| path | median s | min s | max s | vs joblib | CPU s (median) | CPU vs joblib |\n"
          "|---|---:|---:|---:|---:|---:|---:|")
    labels = {"joblib": "joblib.load + read_csv + predict (baseline, unsafe)",
              "load_model": "load_model(DIR).predict(rows.csv)",
              "cli": "automl-meta predict DIR rows.csv --out F"}
    for name in commands:
        shown = "1.00x" if name == "joblib" else f"{ratio[name]:.2f}x"
        print(f"| {labels[name]} | {median[name]:.2f} | {min(times[name]):.2f} | "
              f"{max(times[name]):.2f} | {shown} | {median_cpu[name]:.2f} | "
              f"{median_cpu[name] / median_cpu['joblib']:.2f}x |")
    print(f"\ntorch imported by load_model + predict: {'yes' if torch_imported else 'no'}")
    missed = [name for name, value in ratio.items() if value > MAX_RATIO]
    if torch_imported and args.algorithm != "mlp":
        missed.append("no torch")
    print(f"bar: at most {MAX_RATIO}x joblib, no torch: "
          f"{'missed (' + ', '.join(missed) + ')' if missed else 'met'}")
    if missed:
        sys.exit(1)


if __name__ == "__main__":
    main()
