"""Does the memory grow well? Leave-one-family-out with simulated user histories (#21).

    python benchmarks/memory_growth.py [--seeds 0 1 2] [--histories 40] [--junk 10]

For each seed, ``--histories`` datasets of the shipped meta-db are chosen at random (the
selection is fixed by the seed before any result is seen). Their grid rows are hidden and
replaced by what a user's 20-trial TPE search on them would have recorded: Optuna's
``TPESampler`` (seeded) choosing among the dataset's grid configurations, each trial
recording that configuration's stored score, so the store holds 20 sparse evaluations
chosen around each dataset's best. ``--junk`` datasets with one evaluation of score 0 and
no meta-features are added as well.

Two questions, each answered against the same run without the histories and the junk:

1. *Other datasets.* Every other dataset is held out with its whole family; ``knn``,
   ``portfolio`` and ``ranker`` (refitted once per family; the ranker once per group of
   families) recommend 5 configurations from what is left; regret@k = 1 - the best
   normalised score (on the held-out dataset's full grid row) among the first k; only
   datasets that ran at least 95% of the grid are judged, so that every recommendation
   can be scored. Bar: the
   mean regret@1 and @5 must not rise. Per dataset: wins / ties / losses (|diff| <= 0.005
   is a tie) and the spread of the differences.
2. *Its own history.* For each of the history datasets, ``Recommender.recommend`` with
   that dataset's meta-features and fingerprint; regret of its own best = the normalised
   score (on its hidden full row) of its best recorded configuration minus that of the
   top-1 recommendation. Bar: at most 0.02 on every dataset.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl_meta.advice import Recommender
from automl_meta.config import shipped_meta_db_dir
from automl_meta.metadb._bundle import read_bundle_tables
from automl_meta.metalearners import (
    KNNLearner,
    MetaKnowledge,
    PortfolioLearner,
    RankerLearner,
)
from automl_meta.space import config_hash

TABLES = ("dataset", "metafeature", "config", "evaluation")
TRIALS = 20
KS = (1, 5)
TIE = 0.005
COMPLETE_ROW = 0.95  # share of the grid a held-out dataset must have run to be judged
RANKER_GROUPS = 10
LEARNERS = {"knn": KNNLearner, "portfolio": PortfolioLearner,
            "ranker": lambda: RankerLearner(max_iter=100, extra_candidates=0)}


def tpe_history(scores: pd.Series, seed: int) -> pd.Series:
    """The configurations (and stored scores) a 20-trial TPE search over them records."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    keys = list(scores.index)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    chosen: dict[int, float] = {}

    def objective(trial: Any) -> float:
        index = trial.suggest_categorical("config", list(range(len(keys))))
        value = float(scores.iloc[index])
        chosen[index] = value
        return value if np.isfinite(value) else float("nan")

    study.optimize(objective, n_trials=TRIALS)
    return pd.Series({keys[i]: v for i, v in chosen.items()})


def simulated_tables(shipped: dict[str, pd.DataFrame], seed: int, n_histories: int,
                     n_junk: int) -> tuple[list[dict[str, pd.DataFrame]],
                                           list[dict[str, pd.DataFrame]], list[str]]:
    """(tables with the histories, tables without them, fingerprints of the histories)."""
    rng = np.random.default_rng(seed)
    datasets = shipped["dataset"]
    evaluated = datasets[datasets["id"].isin(shipped["evaluation"]["dataset_id"])]
    described = evaluated[evaluated["id"].isin(shipped["metafeature"]["dataset_id"])]
    picked = described.iloc[rng.choice(len(described), n_histories, replace=False)]
    hidden = shipped["evaluation"]["dataset_id"].isin(picked["id"])
    base = {**shipped, "evaluation": shipped["evaluation"][~hidden]}
    rows = []
    for dataset_id in picked["id"]:
        ev = shipped["evaluation"][shipped["evaluation"]["dataset_id"] == dataset_id]
        scores = ev.set_index("config_id")["score"].where(ev.set_index("config_id")["status"]
                                                          == "ok")
        history = tpe_history(scores, seed=int(rng.integers(1 << 31)))
        for config_id, score in history.items():
            rows.append({"dataset_id": dataset_id, "config_id": config_id,
                         "status": "ok" if np.isfinite(score) else "error",
                         "score": score if np.isfinite(score) else np.nan})
    junk_ids = np.arange(n_junk) + int(datasets["id"].max()) + 1
    junk = pd.DataFrame({"id": junk_ids, "name": [f"junk-{i}" for i in range(n_junk)],
                         "fingerprint": [f"junk{seed}-{i:04d}" for i in range(n_junk)],
                         "task": "classification", "family": [f"junk-{i}" for i in
                                                               range(n_junk)]})
    junk = junk.reindex(columns=datasets.columns)
    junk_configs = rng.choice(shipped["config"].loc[shipped["config"]["task"] ==
                                                    "classification", "id"], n_junk)
    for dataset_id, config_id in zip(junk_ids, junk_configs, strict=True):
        rows.append({"dataset_id": dataset_id, "config_id": int(config_id), "status": "ok",
                     "score": 0.0})
    user = {"dataset": pd.concat([picked, junk], ignore_index=True),
            "metafeature": shipped["metafeature"][shipped["metafeature"]["dataset_id"]
                                                  .isin(picked["id"])],
            "config": shipped["config"],
            "evaluation": pd.DataFrame(rows).reindex(
                columns=shipped["evaluation"].columns)}
    return [base, user], [base], list(picked["fingerprint"])


def complete(full: MetaKnowledge, task: str, fingerprint: str) -> bool:
    """Whether the dataset's grid row is complete enough to score any recommendation (a
    configuration it never ran would count as 0 and blur the comparison)."""
    matrix = full.matrices[task]
    row = matrix.normalised[matrix.datasets.index(fingerprint)]
    return bool(np.isfinite(row[matrix.anchors]).mean() >= COMPLETE_ROW)


def regrets(recs: list[Any], by_hash: dict[str, float]) -> dict[int, float]:
    got = [by_hash.get(config_hash(r.config), 0.0) for r in recs]
    got = [g if np.isfinite(g) else 0.0 for g in got]
    return {k: 1.0 - max(got[:k], default=0.0) for k in KS}


def held_out_regrets(knowledge: MetaKnowledge, full: MetaKnowledge,
                     held_out: list[tuple[str, str]]) -> pd.DataFrame:
    families = sorted(knowledge.datasets["family"].unique())
    group_of = {f: i % RANKER_GROUPS for i, f in enumerate(families)}
    fitted: dict[tuple[str, Any], Any] = {}
    rows = []
    for task, fingerprint in held_out:
        matrix = full.matrices[task]
        scores = matrix.normalised[matrix.datasets.index(fingerprint)]
        by_hash = {key.split("/", 1)[1]: scores[j] for j, key in enumerate(matrix.configs)}
        family = full.datasets.loc[fingerprint, "family"]
        for name, factory in LEARNERS.items():
            if name == "ranker":
                group = group_of.get(family, 0)
                key: tuple[str, Any] = (name, group)
                left_out = {f for f in families if group_of[f] == group} | {family}
            else:
                key, left_out = (name, family), {family}
            if key not in fitted:
                fitted[key] = factory().fit(knowledge.without(families=left_out))
            recs = fitted[key].recommend(full.metafeatures.loc[fingerprint], task, max(KS))
            rows.append({"dataset": fingerprint, "method": name, **{
                f"regret@{k}": v for k, v in regrets(recs, by_hash).items()}})
    return pd.DataFrame(rows)


def own_history_regrets(knowledge: MetaKnowledge, full: MetaKnowledge,
                        histories: list[str]) -> list[float]:
    recommender = Recommender(knowledge)
    out = []
    for fingerprint in histories:
        task = full.datasets.loc[fingerprint, "task"]
        matrix = full.matrices[task]
        scores = matrix.normalised[matrix.datasets.index(fingerprint)]
        by_key = dict(zip(matrix.configs, scores, strict=True))
        runs = knowledge.runs[knowledge.runs["fingerprint"] == fingerprint]
        own_best = float(by_key[runs.sort_values("score").iloc[-1]["config"]])
        recs = recommender.recommend(full.metafeatures.loc[fingerprint], task, k=1,
                                     fingerprint=fingerprint)
        top = by_key.get(f"{task}/{config_hash(recs[0].config)}", 0.0) if recs else 0.0
        out.append(own_best - float(np.nan_to_num(top)))
    return out


def compare(with_h: pd.DataFrame, without: pd.DataFrame) -> dict[str, Any]:
    merged = with_h.merge(without, on=["dataset", "method"], suffixes=("", "_base"))
    out: dict[str, Any] = {}
    for method, group in merged.groupby("method"):
        entry = {}
        for k in KS:
            diff = group[f"regret@{k}"] - group[f"regret@{k}_base"]
            entry[f"regret@{k}"] = {
                "with": round(float(group[f"regret@{k}"].mean()), 4),
                "without": round(float(group[f"regret@{k}_base"].mean()), 4),
                "wins": int((diff < -TIE).sum()), "ties": int((diff.abs() <= TIE).sum()),
                "losses": int((diff > TIE).sum()),
                "diff_sd": round(float(diff.std()), 4),
                "diff_q10_q90": [round(float(diff.quantile(0.1)), 4),
                                 round(float(diff.quantile(0.9)), 4)]}
        out[str(method)] = entry
    return out


def print_seed(seed: int, figures: dict[str, Any]) -> None:
    own = figures["own_history"]
    print(f"seed {seed}: {figures['held_out_datasets']} held-out datasets, "
          f"{figures['seconds']} s; own history: max regret@1 {own['max_regret@1']}, "
          f"mean {own['mean_regret@1']}, {own['over_0.02']} of {own['datasets']} over 0.02")
    print(f"  {'method':<10} {'k':>3} {'with':>7} {'without':>8} {'W/T/L':>10} "
          f"{'sd(diff)':>9} {'q10..q90(diff)':>16}")
    for method, entry in figures["others"].items():
        for name, x in entry.items():
            q10, q90 = x["diff_q10_q90"]
            print(f"  {method:<10} {name[7:]:>3} {x['with']:>7.4f} {x['without']:>8.4f} "
                  f"{x['wins']:>3}/{x['ties']:>3}/{x['losses']:<3} {x['diff_sd']:>9.4f} "
                  f"{q10:>+7.3f}..{q90:+.3f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--histories", type=int, default=40)
    parser.add_argument("--junk", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None, help="Write the figures as JSON.")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    shipped = read_bundle_tables(shipped_meta_db_dir())
    full = MetaKnowledge.from_tables([shipped], ["shipped"])
    report: dict[str, Any] = {}
    for seed in args.seeds:
        started = time.perf_counter()
        with_tables, without_tables, histories = simulated_tables(
            shipped, seed, args.histories, args.junk)
        with_h = MetaKnowledge.from_tables(with_tables, ["shipped", "user"])
        without = MetaKnowledge.from_tables(without_tables, ["shipped"])
        history_families = set(full.datasets.loc[histories, "family"])
        held_out = [(task, fp) for task, m in without.matrices.items() for fp in m.datasets
                    if full.datasets.loc[fp, "family"] not in history_families
                    and complete(full, task, fp)]
        figures = compare(held_out_regrets(with_h, full, held_out),
                          held_out_regrets(without, full, held_out))
        own = own_history_regrets(with_h, full, histories)
        report[f"seed {seed}"] = {
            "held_out_datasets": len(held_out), "others": figures,
            "own_history": {"datasets": len(own), "max_regret@1": round(max(own), 4),
                            "mean_regret@1": round(statistics.mean(own), 4),
                            "over_0.02": int(sum(r > 0.02 for r in own))},
            "seconds": round(time.perf_counter() - started, 1)}
        print_seed(seed, report[f"seed {seed}"])
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
