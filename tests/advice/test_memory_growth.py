"""The memory grows without corrupting anyone's advice (issue #21).

Two failures seen by a new user, reproduced on the shipped meta-db plus a user store:

1. four recorded searches (configurations no grid ran, the best at the top of each) made
   one of their tuned configurations everyone's first pick, with a ``why`` of "n/a";
   asked again about one of the four, its own best run was not first;
2. three datasets recorded without meta-features, each with one SVM evaluation scoring 0,
   made that SVM the first pick for every classification dataset.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from automl_meta import load_dataset, recommend
from automl_meta.config import shipped_meta_db_dir
from automl_meta.evaluation import Evaluation
from automl_meta.metadb import MetaDB
from automl_meta.metadb._record import record_evaluations
from automl_meta.metafeatures import extract_metafeatures
from automl_meta.metalearners import load_knowledge
from automl_meta.space import default_config, sample_configs

pytestmark = pytest.mark.skipif(not (shipped_meta_db_dir() / "manifest.json").is_file(),
                                reason="needs the shipped meta_db/")

SEARCHED = ("sklearn:iris", "sklearn:wine", "sklearn:breast_cancer", "sklearn:digits")
N_PROBES = 8


def _key(config: dict) -> str:
    return json.dumps(config, sort_keys=True)


def _probes() -> list[tuple[str, pd.Series]]:
    """Meta-features of shipped classification datasets nobody recorded anything about."""
    knowledge = load_knowledge(user_db=False)
    datasets = knowledge.datasets[knowledge.datasets["task"] == "classification"]
    # by name, then file: a PMLB dataset and its raw ARFF twin may share a name
    ordered = datasets.sort_values(["name", "source"])
    chosen = ordered.iloc[:: max(1, len(ordered) // N_PROBES)].iloc[:N_PROBES]
    return [(f"{row['name']} ({row['source']})", knowledge.metafeatures.loc[fingerprint])
            for fingerprint, row in chosen.iterrows()]


def _firsts(store: MetaDB, probes: list[tuple[str, pd.Series]], k: int = 3) -> dict[str, list]:
    return {name: recommend(metafeatures=mf, task="classification", k=k, db=store)
            for name, mf in probes}


def _record_search(store: MetaDB, source: str, seed: int) -> tuple[dict, float]:
    """What a 20-trial search on ``source`` records: configurations no grid ran, the best
    scoring near the top of the scale. Returns its best configuration and score."""
    dataset = load_dataset(source)
    rng = np.random.default_rng(seed)
    configs = sample_configs("classification", 5, seed=1000 + seed, include_defaults=False)
    chosen = [configs[i] for i in rng.choice(len(configs), 20, replace=False)]
    scores = np.sort(rng.uniform(0.80, 0.95, len(chosen)))[::-1]
    evaluations = [Evaluation(c, "cv3", "ok", task="classification",
                              metrics={"balanced_accuracy": float(s)})
                   for c, s in zip(chosen, scores, strict=True)]
    record_evaluations(store, dataset, evaluations, extract_metafeatures(dataset))
    return chosen[0], float(scores[0])


@pytest.fixture
def store(tmp_path: Path) -> MetaDB:
    return MetaDB(tmp_path / "user.sqlite")


def test_four_recorded_searches_change_no_one_elses_first_pick_and_lead_on_their_data(
        store: MetaDB) -> None:
    probes = _probes()
    before = _firsts(store, probes)
    bests = [_record_search(store, source, seed) for seed, source in enumerate(SEARCHED)]
    searched = {_key(config) for config, _ in bests}
    after = _firsts(store, probes)
    for name, _ in probes:
        assert _key(after[name][0].config) == _key(before[name][0].config), name
        assert not {_key(r.config) for r in after[name]} & searched, name
        assert all("n/a" not in r.why for r in after[name]), name
    # the same data asked again starts from its own best run, and says so
    for (config, score), source in zip(bests, SEARCHED, strict=True):
        first = recommend(source, k=3, db=store)[0]
        assert first.config == config, source
        assert "your earlier runs on this data" in first.why and f"{score:.3f}" in first.why


def test_single_zero_scores_without_metafeatures_are_nobodys_first_pick(
        store: MetaDB) -> None:
    probes = _probes()
    before = _firsts(store, probes, k=1)
    svm = default_config("svm", "classification")
    rng = np.random.default_rng(0)
    for i in range(3):
        frame = pd.DataFrame(rng.normal(size=(30, 3)), columns=["a", "b", "c"])
        frame["target"] = np.arange(30) % 2
        junk = load_dataset(frame, target="target", task="classification")
        zero = Evaluation(svm, "cv3", "ok", task="classification",
                          metrics={"balanced_accuracy": 0.0})
        record_evaluations(store, junk, [zero], metafeatures={} if i < 2 else None)
    stats = store.stats()
    assert stats["datasets"] == 3 and stats["datasets_with_metafeatures"] == 1
    after = _firsts(store, probes, k=1)
    for name, _ in probes:
        assert _key(after[name][0].config) == _key(before[name][0].config), name
