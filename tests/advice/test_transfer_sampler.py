"""``TransferSampler`` (issue #22): the kNN warm start first, then the past datasets as
experts reweighted by the study's own trials, on a hand-made meta-db whose answer is known.

Two kinds of past datasets: ``near`` ones (meta-features like the query's) rank the
configurations one way, ``far`` ones another. The study's objective behaves like the far
ones, so a search that keeps using the past must move its weight to them."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest

from automl_meta.advice._transfer import TransferModel, TransferSampler
from automl_meta.metalearners import KNNLearner, MetaKnowledge
from automl_meta.space import (
    BOOSTING,
    config_hash,
    sample_configs,
    suggest,
    trial_params_to_config,
    validate_config,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

TASK = "classification"
# 28: the 7 algorithms before the boosting ones x (default + 3)
CONFIGS = [c for c in sample_configs(TASK, n_per_algorithm=3, seed=0)
           if c["algorithm"] not in {a.name for a in BOOSTING}]
N_PER_KIND = 8
_RNG = np.random.default_rng(0)
NEAR_SCORES = _RNG.uniform(0.5, 0.9, len(CONFIGS))
FAR_SCORES = _RNG.uniform(0.5, 0.9, len(CONFIGS))
QUERY = {"nr_inst": 100.0, "noise": 0.0, "attr_to_inst": 0.015}
COLUMN = {config_hash(c): j for j, c in enumerate(CONFIGS)}


def _knowledge() -> MetaKnowledge:
    rng = np.random.default_rng(1)
    datasets, features, evaluations = [], [], []
    config_rows = [{"id": i, "task": TASK, "algorithm": c["algorithm"],
                    "params_json": json.dumps(c["params"]), "hash": config_hash(c)}
                   for i, c in enumerate(CONFIGS)]
    for i in range(2 * N_PER_KIND):
        near = i < N_PER_KIND
        datasets.append({"id": i, "name": f"{'near' if near else 'far'}_{i}",
                         "fingerprint": f"fp{i}", "task": TASK, "family": f"fam{i}",
                         "source": "", "n_rows": 100 + i, "n_features": 5, "n_classes": 2,
                         "created_at": ""})
        log_rows = (2.0 if near else 5.0) + rng.normal(0, 0.1)
        for name, value in {"nr_inst": 10 ** log_rows, "noise": rng.normal(),
                            "attr_to_inst": rng.uniform(0.01, 0.02)}.items():
            features.append({"dataset_id": i, "name": name, "value": value})
        scores = NEAR_SCORES if near else FAR_SCORES
        for j, score in enumerate(scores):
            evaluations.append({"dataset_id": i, "config_id": j, "status": "ok",
                                "score": score + rng.normal(0, 0.005)})
    tables = {"dataset": pd.DataFrame(datasets), "metafeature": pd.DataFrame(features),
              "config": pd.DataFrame(config_rows), "evaluation": pd.DataFrame(evaluations)}
    return MetaKnowledge.from_tables([tables])


@pytest.fixture(scope="module")
def knn() -> KNNLearner:
    return KNNLearner(n_neighbors=4).fit(_knowledge())


def config_of(trial: optuna.trial.FrozenTrial | optuna.Trial) -> dict[str, Any]:
    return validate_config(trial_params_to_config(trial.params), TASK)


def far_objective(trial: optuna.Trial) -> float:
    """Scores like the far datasets on their configurations, 0.3 elsewhere."""
    config = suggest(trial, TASK)
    j = COLUMN.get(config_hash(validate_config(config, TASK)))
    return float(FAR_SCORES[j]) if j is not None else 0.3


def study_with(sampler: TransferSampler, direction: str = "maximize") -> optuna.Study:
    return optuna.create_study(direction=direction, sampler=sampler)


def names(learner: KNNLearner, posterior_weights: np.ndarray) -> dict[str, float]:
    """Total posterior weight of the near and the far datasets."""
    model_order = learner.nearest_datasets(QUERY, TASK)[0]
    kinds = [learner.tasks[TASK]["datasets"][i].split("_")[0] for i in model_order]
    return {kind: float(sum(w for w, k in zip(posterior_weights, kinds, strict=True)
                            if k == kind)) for kind in ("near", "far")}


def test_the_first_proposals_are_the_knn_recommendations(knn: KNNLearner) -> None:
    expected = [r.config for r in knn.recommend(QUERY, TASK, k=4)]
    study = study_with(TransferSampler(QUERY, task=TASK, learner=knn, n_warm=4, seed=0))
    study.optimize(far_objective, n_trials=6)
    configs = [config_of(t) for t in study.trials]
    assert configs[:4] == expected
    assert configs[4] not in expected and configs[5] not in expected


def test_later_proposals_are_distinct_valid_configurations(knn: KNNLearner) -> None:
    # the meta-db's configurations only: each once, then the fallback's (valid) draws
    study = study_with(TransferSampler(QUERY, task=TASK, learner=knn, n_warm=3, seed=0))
    study.optimize(far_objective, n_trials=len(CONFIGS) + 3)
    configs = [config_of(t) for t in study.trials]  # validate_config raises if one is not
    assert sorted(config_hash(c) for c in configs[:len(CONFIGS)]) == sorted(COLUMN)
    # with steps from the best trials among the candidates: some leave the grid
    stepping = study_with(TransferSampler(QUERY, task=TASK, learner=knn, n_warm=3,
                                          n_local=6, seed=0))
    stepping.optimize(far_objective, n_trials=20)
    hashes = [config_hash(config_of(t)) for t in stepping.trials]
    assert len(set(hashes)) == len(hashes)
    assert any(h not in COLUMN for h in hashes[3:])
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in stepping.trials)


def test_the_past_keeps_guiding_the_search_after_the_warm_start(knn: KNNLearner) -> None:
    """Warm-started with the near datasets' five best, the study's scores (which follow the
    far datasets) make the very next proposal the far datasets' best configuration, which
    the near datasets rank far down (a static kNN continuation would not reach it)."""
    best_far = CONFIGS[int(np.argmax(FAR_SCORES))]
    near_order = [CONFIGS[j] for j in np.argsort(-NEAR_SCORES)]
    assert near_order.index(best_far) >= 8
    warm = [c for c in near_order if c != best_far][:5]
    sampler = TransferSampler(QUERY, task=TASK, learner=knn, n_warm=5, seed=0,
                              recommendations=warm)
    study = study_with(sampler)
    study.optimize(far_objective, n_trials=6)
    configs = [config_of(t) for t in study.trials]
    assert configs[:5] == warm
    assert configs[5] == best_far


def test_the_meta_feature_prior_decays_as_trials_accumulate(knn: KNNLearner) -> None:
    model = TransferModel(knn, QUERY, TASK)
    prior = names(knn, model.prior)
    assert prior["near"] > 0.8  # the meta-features point to the near datasets
    order = np.argsort(-NEAR_SCORES)  # the near datasets' best first, as a warm start would
    far_share, spread = [], []
    for n in (0, 1, 3, 6, 12):
        configs = [CONFIGS[j] for j in order[:n]]
        posterior = model.posterior(configs, [float(FAR_SCORES[j]) for j in order[:n]])
        far_share.append(names(knn, posterior.weights)["far"])
        spread.append(posterior.effective_experts)
    assert far_share[0] == pytest.approx(1 - prior["near"])
    assert far_share[1] == pytest.approx(far_share[0])  # one value says nothing
    assert all(b > a for a, b in zip(far_share[1:], far_share[2:], strict=False))
    assert far_share[-1] > 0.95
    assert spread[-1] < spread[0]


def test_minimising_reads_the_values_negated(knn: KNNLearner) -> None:
    def run(direction: str) -> list[dict[str, Any]]:
        sign = 1.0 if direction == "maximize" else -1.0
        study = study_with(TransferSampler(QUERY, task=TASK, learner=knn, n_warm=3, seed=0),
                           direction)
        study.optimize(lambda t: sign * far_objective(t), n_trials=9)
        return [config_of(t) for t in study.trials]

    assert run("maximize") == run("minimize")


def test_two_threads_share_one_sampler_without_repeats(knn: KNNLearner) -> None:
    sampler = TransferSampler(QUERY, task=TASK, learner=knn, n_warm=4, seed=0)
    study = study_with(sampler)
    threads: set[int] = set()

    def objective(trial: optuna.Trial) -> float:
        threads.add(threading.get_ident())
        value = far_objective(trial)
        time.sleep(0.02)  # so that the two threads' trials overlap
        return value

    study.optimize(objective, n_trials=16, n_jobs=2)
    assert len(threads) == 2
    assert len(study.trials) == 16
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    hashes = [config_hash(config_of(t)) for t in study.trials]
    assert len(set(hashes)) == 16
    warm = {config_hash(r.config) for r in knn.recommend(QUERY, TASK, k=4)}
    assert warm <= set(hashes[:6])  # the two threads took the warm picks first


def test_unknown_parameters_go_to_the_fallback(knn: KNNLearner) -> None:
    sampler = TransferSampler(QUERY, task=TASK, learner=knn, n_warm=2, seed=0)
    first = knn.recommend(QUERY, TASK, k=1)[0].config

    def objective(trial: optuna.Trial) -> float:
        extra = trial.suggest_float("extra", 10.0, 20.0)
        config = suggest(trial, TASK)
        assert 10.0 <= extra <= 20.0
        return far_objective_of(config)

    study = study_with(sampler)
    study.optimize(objective, n_trials=4)
    assert config_of(study.trials[0]) == first  # our names still come from the proposal
    assert len({t.params["extra"] for t in study.trials}) == 4

    alien = study_with(TransferSampler(QUERY, task=TASK, learner=knn, n_warm=2, seed=0))
    alien.optimize(lambda t: t.suggest_float("x", -1.0, 1.0) ** 2, n_trials=4)
    assert all(-1.0 <= t.params["x"] <= 1.0 for t in alien.trials)


def test_only_the_algorithms_the_objective_asks_for_are_proposed(knn: KNNLearner) -> None:
    asked = [c for c in CONFIGS if c["algorithm"] in ("knn", "linear")]
    sampler = TransferSampler(QUERY, task=TASK, learner=knn, n_warm=3, seed=0)
    study = study_with(sampler)
    study.optimize(lambda t: far_objective_of(suggest(t, TASK, ["knn", "linear"])),
                   n_trials=len(asked) + 1)
    configs = [config_of(t) for t in study.trials]
    assert {c["algorithm"] for c in configs} <= {"knn", "linear"}
    # the meta-db's configurations of those algorithms, each once; then, with none left,
    # the fallback's draw
    assert sorted(config_hash(c) for c in configs[:-1]) == sorted(config_hash(c)
                                                                   for c in asked)
    assert config_hash(configs[-1]) not in COLUMN


def far_objective_of(config: dict[str, Any]) -> float:
    j = COLUMN.get(config_hash(validate_config(config, TASK)))
    return float(FAR_SCORES[j]) if j is not None else 0.3
