"""Leave-one-dataset-out evaluation of meta-learners on the meta-database.

For each past dataset, every learner is fitted on all other datasets except the held-out
dataset's whole family (see DESIGN.md), asked for its top-k configurations, and scored by
the held-out dataset's stored scores of those configurations: regret@k is one minus the
best normalised score among the first k (0 = it found the best known configuration).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from automl_meta.metalearners._base import MetaLearner
from automl_meta.metalearners._knowledge import MetaKnowledge
from automl_meta.space import algorithms, config_hash, default_config

LODO_KS = (1, 3, 5, 10)


def _expected_random_regret(scores: np.ndarray, k: int) -> float:
    """Exact expected regret of k configurations drawn without replacement."""
    values = np.sort(np.nan_to_num(scores[np.isfinite(scores)], nan=0.0))
    n = len(values)
    if n == 0:
        return float("nan")
    k = min(k, n)
    # P(max of the sample is the i-th smallest) = C(i-1, k-1) / C(n, k)
    from math import comb

    total = comb(n, k)
    probabilities = np.array([comb(i, k - 1) / total for i in range(n)])
    return float(1.0 - (probabilities * values).sum())


def lodo_regret(knowledge: MetaKnowledge, learners: dict[str, Callable[[], MetaLearner]],
                ks: tuple[int, ...] = LODO_KS, max_datasets: int | None = None,
                progress: bool = False, grouped: dict[str, int] | None = None,
                judge: MetaKnowledge | None = None) -> pd.DataFrame:
    """One row per (held-out dataset, method): regret at each k.

    ``judge``, another meta-database's knowledge, scores the recommendations instead (by
    its stored scores of the same dataset, normalised over its configurations; a dataset it
    does not hold is left out), so that learners fitted on two meta-databases are judged on
    one scale: the larger one's, whose configurations include the smaller one's.

    Methods are the given learners plus ``random`` (exact expectation), ``best_default``
    (the default configuration with the best mean on the training datasets) and
    ``default:<algorithm>`` for each algorithm's default.

    A learner named in ``grouped`` (name -> K) is refitted once per group of families
    instead of once per family: the families are split into K groups, and a held-out
    dataset is judged by the fit without its whole group. That still never trains on the
    held-out dataset's family, only on fewer others, so it is a pessimistic shortcut for
    learners too slow to refit a hundred times.
    """
    grouped = grouped or {}
    families = sorted(knowledge.datasets["family"].unique())
    group_of = {f: i for i, f in enumerate(families)}
    rows: list[dict[str, Any]] = []
    fitted: dict[tuple[str, str], MetaLearner] = {}
    judge = judge or knowledge
    held_out = [(task, fp) for task, m in knowledge.matrices.items() for fp in m.datasets
                if task in judge.matrices and fp in judge.matrices[task].datasets]
    if max_datasets is not None:
        held_out = held_out[:max_datasets]
    iterator: Any = held_out
    if progress:
        from rich.progress import track

        iterator = track(held_out, description="leave-one-dataset-out")
    for task, fingerprint in iterator:
        matrix = judge.matrices[task]
        row_index = matrix.datasets.index(fingerprint)
        scores = matrix.normalised[row_index]
        by_hash = {key.split("/", 1)[1]: scores[j] for j, key in enumerate(matrix.configs)}
        family = knowledge.datasets.loc[fingerprint, "family"]
        train = None
        base = {"dataset": knowledge.datasets.loc[fingerprint, "name"], "task": task,
                "family": family}
        for name, factory in learners.items():
            if name in grouped:
                group = group_of[family] % grouped[name]
                key = (name, f"group{group}")
                if key not in fitted:
                    left_out = {f for f in families if group_of[f] % grouped[name] == group}
                    fitted[key] = factory().fit(knowledge.without(families=left_out))
            else:
                key = (name, family)
                if key not in fitted:
                    train = train or knowledge.without(families={family})
                    fitted[key] = factory().fit(train)
            recs = fitted[key].recommend(knowledge.metafeatures.loc[fingerprint], task,
                                         max(ks))
            got = [by_hash.get(config_hash(r.config), np.nan) for r in recs]
            rows.append({**base, "method": name, **_regrets(got, ks)})
        rows.append({**base, "method": "random",
                     **{f"regret@{k}": _expected_random_regret(scores, k) for k in ks}})
        train = train or knowledge.without(families={family})
        defaults = {a: by_hash[key] for a in algorithms(task)  # those the meta-db ran
                    if (key := config_hash(default_config(a, task))) in by_hash}
        for algorithm, value in defaults.items():
            rows.append({**base, "method": f"default:{algorithm}", **_regrets([value], ks)})
        best = _best_default(train, task)
        rows.append({**base, "method": "best_default",
                     **_regrets([defaults.get(best, np.nan)], ks)})
    return pd.DataFrame(rows)


def _regrets(values: list[float], ks: tuple[int, ...]) -> dict[str, float]:
    out = {}
    for k in ks:
        head = [v if np.isfinite(v) else 0.0 for v in values[:k]]
        out[f"regret@{k}"] = 1.0 - max(head) if head else 1.0
    return out


def _best_default(train: MetaKnowledge, task: str) -> str | None:
    matrix = train.matrices.get(task)
    if matrix is None:
        return None
    column = {key.split("/", 1)[1]: j for j, key in enumerate(matrix.configs)}
    means = {}
    for algorithm in algorithms(task):
        j = column.get(config_hash(default_config(algorithm, task)))
        if j is not None:
            means[algorithm] = float(np.nanmean(matrix.normalised[:, j]))
    return max(means, key=means.get) if means else None


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean regret per method (rows) and k (columns), best first."""
    columns = [c for c in results.columns if c.startswith("regret@")]
    return results.groupby("method")[columns].mean().sort_values(columns[0])
