"""What ``recommend`` reports beside each pick: the raw metric it is expected to reach (from
the neighbours' raw scores), and why it sits where it does (the neighbours it covers where
#1 is weaker); neither changes which configurations are recommended, nor their order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl_meta.advice import Recommender
from automl_meta.advice._explain import NEAREST, weighted_median
from automl_meta.metalearners import KNNLearner, MetaKnowledge, PortfolioLearner, TaskMatrix
from automl_meta.metalearners._knowledge import normalise
from automl_meta.space import config_hash, default_config

ALGORITHMS = ("random_forest", "knn", "linear", "hist_gb")
TASK = "classification"


def synthetic_knowledge(seed: int = 0) -> MetaKnowledge:
    """24 past datasets in two clusters of meta-features: random forest is best in the
    first, knn in the second; linear is middling everywhere, hist_gb a little worse."""
    rng = np.random.default_rng(seed)
    n = 24
    cluster = np.arange(n) % 2
    fingerprints = [f"fp{i:02d}" for i in range(n)]
    features = pd.DataFrame({"f1": cluster * 3.0 + rng.normal(0, 0.3, n),
                             "f2": rng.normal(0, 1.0, n), "f3": cluster + rng.normal(0, 0.1, n)},
                            index=pd.Index(fingerprints, name="fingerprint"))
    base = rng.uniform(0.6, 0.8, n)
    raw = np.column_stack([
        base + np.where(cluster == 0, 0.15, -0.05),  # random_forest
        base + np.where(cluster == 0, -0.05, 0.15),  # knn
        base + 0.05,  # linear
        base + 0.02 + rng.normal(0, 0.01, n),  # hist_gb
    ])
    configs = [default_config(a) for a in ALGORITHMS]
    keys = [f"{TASK}/{config_hash(c)}" for c in configs]
    datasets = pd.DataFrame({"name": [f"data{i:02d}" for i in range(n)],
                             "family": [f"data{i:02d}" for i in range(n)], "task": TASK},
                            index=pd.Index(fingerprints, name="fingerprint"))
    config_frame = pd.DataFrame({"task": TASK, "algorithm": [c["algorithm"] for c in configs],
                                 "params": [c["params"] for c in configs]},
                                index=pd.Index(keys, name="key"))
    matrix = TaskMatrix(TASK, fingerprints, keys, raw,
                        normalise(raw, np.ones_like(raw, dtype=bool)))
    return MetaKnowledge(datasets, features, config_frame, {TASK: matrix})


@pytest.fixture(scope="module")
def knowledge() -> MetaKnowledge:
    return synthetic_knowledge()


def query(knowledge: MetaKnowledge) -> pd.Series:
    """Meta-features between the clusters, nearer the first."""
    return pd.Series({"f1": 1.2, "f2": 0.0, "f3": 0.4})


def cell(knowledge: MetaKnowledge, values: str, name: str, config: dict) -> float:
    """The matrix's ``values`` ("raw" or "normalised") of dataset ``name`` and ``config``."""
    matrix = knowledge.matrices[TASK]
    names = knowledge.datasets.loc[matrix.datasets, "name"].tolist()
    column = matrix.configs.index(f"{TASK}/{config_hash(config)}")
    return float(getattr(matrix, values)[names.index(name), column])


def test_annotating_changes_neither_the_picks_nor_their_order(knowledge: MetaKnowledge) -> None:
    for strategy, learner in (("knn", KNNLearner(n_neighbors=8)), ("portfolio",
                                                                   PortfolioLearner())):
        fitted = learner.fit(knowledge)
        recommender = Recommender(knowledge, learners={"knn": KNNLearner(n_neighbors=8)
                                                       .fit(knowledge), strategy: fitted},
                                  recall=False)
        recs = recommender.recommend(query(knowledge), TASK, k=4, strategy=strategy)
        plain = fitted.recommend(query(knowledge), TASK, k=4)
        assert [r.config for r in recs] == [r.config for r in plain]
        assert [r.predicted_score for r in recs] == [r.predicted_score for r in plain]
        assert all(r.metric == "balanced_accuracy" and r.summary for r in recs)


def test_the_expected_metric_lies_within_the_neighbours_raw_scores(
        knowledge: MetaKnowledge) -> None:
    knn = KNNLearner(n_neighbors=8).fit(knowledge)
    recs = Recommender(knowledge, learners={"knn": knn}, recall=False).recommend(
        query(knowledge), TASK, k=4, strategy="knn")
    order, _ = knn.nearest_datasets(query(knowledge), TASK)
    nearest = [knowledge.datasets["name"].iloc[i] for i in order[:NEAREST]]
    for rec in recs:
        used = [d["name"] for d in rec.details["expected"]["datasets"]]
        assert used == nearest  # every dataset ran every configuration here
        raw = [cell(knowledge, "raw", name, rec.config) for name in used]
        assert min(raw) - 1e-6 <= rec.expected_metric <= max(raw) + 1e-6
        # the raw metric, not the normalised score (which is 1.0 at each dataset's best)
        assert rec.expected_metric < 0.99
        assert f"balanced_accuracy ≈ {rec.expected_metric:.3f}" in rec.why


def test_the_covering_reason_names_neighbours_where_the_first_pick_is_weaker(
        knowledge: MetaKnowledge) -> None:
    knn = KNNLearner(n_neighbors=8).fit(knowledge)
    recs = Recommender(knowledge, learners={"knn": knn}, recall=False).recommend(
        query(knowledge), TASK, k=3, strategy="knn")
    assert recs[0].summary == "best predicted score"
    # the two specialists: the second covers the cluster the first is weak in
    assert {recs[0].algorithm, recs[1].algorithm} == {"random_forest", "knn"}
    neighbours = set(recs[0].details["neighbours"])
    covers = recs[1].details["covers"]
    near = [c["dataset"] for c in covers if c["neighbour"]]
    assert near, "knn is best on the second cluster, which holds some of the neighbours"
    for name in near:
        assert name in neighbours
        assert (cell(knowledge, "normalised", name, recs[1].config)
                > cell(knowledge, "normalised", name, recs[0].config))
    assert recs[1].summary.startswith(f"covers {near[0]}")
    assert "hedge" in recs[1].why and near[0] in recs[1].why
    # the other cluster's datasets are exactly where the first pick is the weaker
    weak = set(knowledge.datasets["name"].iloc[1::2] if recs[0].algorithm == "random_forest"
               else knowledge.datasets["name"].iloc[::2])
    assert set(near) <= weak
    assert recs[2].summary.startswith("hedge")  # linear beats neither by MIN_GAIN anywhere


def test_a_score_ordered_strategy_says_so() -> None:
    from automl_meta.advice._explain import annotate
    from automl_meta.metalearners import Recommendation

    recs = [Recommendation("linear", {}, 0.9, "ranker", "a", rank=1,
                           details={"ordering": "score"}),
            Recommendation("knn", {}, 0.8, "ranker", "b", rank=2, details={"ordering": "score"})]
    annotate(recs, None, "regression")
    assert [r.summary for r in recs] == ["best predicted score", "next best predicted"]
    assert all(r.metric == "r2" and r.expected_metric is None for r in recs)
    assert "No expected r2: no past dataset of this task is known" in recs[0].why


def test_weighted_median_follows_the_weights() -> None:
    values = np.array([0.2, 0.9, -1e6])
    assert weighted_median(values, np.array([1.0, 5.0, 1.0])) == 0.9
    assert weighted_median(values, np.array([5.0, 1.0, 1.0])) == 0.2


def test_a_configuration_nobody_ran_is_placed_on_the_neighbours_scale(
        knowledge: MetaKnowledge) -> None:
    from automl_meta.advice._explain import Neighbourhood, annotate
    from automl_meta.metalearners import Recommendation

    knn = KNNLearner(n_neighbors=8).fit(knowledge)
    around = Neighbourhood.from_knn(knn, query(knowledge), TASK)
    new = Recommendation("knn", {"n_neighbors": 41, "weights": "uniform", "p": 1}, 0.5,
                         "ranker", "sampled", rank=1, details={"ordering": "score"})
    annotate([new], around, TASK)
    matrix = knowledge.matrices[TASK]
    names = knowledge.datasets.loc[matrix.datasets, "name"].tolist()
    used = new.details["expected"]["datasets"]
    assert len(used) == NEAREST
    for entry in used:
        row = matrix.raw[names.index(entry["name"])]
        floor, best = np.percentile(row, 10), row.max()  # how normalise() scales the row
        assert entry["score"] == pytest.approx(floor + 0.5 * (best - floor), abs=1e-4)
    scores = [entry["score"] for entry in used]
    assert min(scores) <= new.expected_metric <= max(scores)
    assert "no past dataset ran this configuration" in new.why
