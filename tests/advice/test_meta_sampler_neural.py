"""MetaSampler(strategy="neural") on the hand-made meta-knowledge of
tests/metalearners/_neural_synthetic.py, and end to end from the shipped meta_db/."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

from automl_meta.metalearners import MetaKnowledge
from automl_meta.metalearners.neural import NeuralLearner
from automl_meta.space import config_hash, suggest
from tests.metalearners._neural_synthetic import (
    CONFIGS,
    SMALL,
    TASK,
    configs_of,
    lookup_objective,
    neural_sampler,
    query,
    synthetic_knowledge,
    true_scores,
)

torch = pytest.importorskip("torch")
optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def knowledge() -> MetaKnowledge:
    return synthetic_knowledge()


@pytest.fixture(scope="module")
def learner(knowledge: MetaKnowledge) -> NeuralLearner:
    return NeuralLearner(**SMALL, device="cpu", random_state=0).fit(knowledge)


def test_meta_sampler_neural_proposes_by_fine_tuned_expected_improvement(
        learner: NeuralLearner) -> None:
    u = 0.7
    sampler = neural_sampler(learner, u, n_startup=6, seed=3)
    assert sampler.guide is not None and sampler.recommendations == []
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lookup_objective(u), n_trials=9)
    configs = configs_of(study)
    # the first trial takes the zero-shot best; every next one what propose() makes of the
    # completed trials so far
    assert configs[0] == learner.recommend(query(u), TASK, k=1)[0].config
    for n in range(1, 6):
        observed = [(configs[j], study.trials[j].value) for j in range(n)]
        assert configs[n] == learner.propose(query(u), TASK, observed, k=1)[0].config
    guided = {config_hash(c) for c in configs[:6]}
    assert len(guided) == 6 and guided <= {config_hash(c) for c in CONFIGS}
    truth = true_scores(u)
    assert max(t.value for t in study.trials[:6]) >= np.sort(truth)[-3]
    # then the fallback (TPE) takes over
    assert len(sampler._proposed) == 6
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


def test_meta_sampler_neural_is_reproducible_and_reads_the_direction(
        learner: NeuralLearner) -> None:
    runs = []
    for direction, sign in (("maximize", 1.0), ("maximize", 1.0), ("minimize", -1.0)):
        study = optuna.create_study(direction=direction,
                                    sampler=neural_sampler(learner, 0.4, n_startup=5, seed=7))
        study.optimize(lookup_objective(0.4, sign), n_trials=8)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]  # the TPE trials after the hand-over too
    assert runs[2][:5] == runs[0][:5]  # minimising minus the score is the same search


def test_meta_sampler_neural_ignores_failed_and_pruned_trials(learner: NeuralLearner) -> None:
    from optuna.trial import TrialState

    def reject(config: dict[str, Any]) -> None:
        if config["algorithm"] == "knn" and config["params"]["n_neighbors"] <= 5:
            raise optuna.TrialPruned()
        if config["algorithm"] == "linear" and config["params"]["C"] > 0.5:
            raise ValueError("diverged")

    u = 0.3
    study = optuna.create_study(direction="maximize",
                                sampler=neural_sampler(learner, u, n_startup=10, seed=0))
    study.optimize(lookup_objective(u, reject=reject), n_trials=10, catch=(ValueError,))
    states = [t.state for t in study.trials]
    assert {TrialState.FAIL, TrialState.PRUNED, TrialState.COMPLETE} <= set(states), states
    configs = configs_of(study)
    assert len({config_hash(c) for c in configs}) == 10  # nothing proposed twice
    for n in range(1, 10):
        completed = [(configs[j], study.trials[j].value) for j in range(n)
                     if states[j] == TrialState.COMPLETE]
        want = learner.propose(query(u), TASK, completed, k=1, exclude=configs[:n])
        assert configs[n] == want[0].config, n


def test_meta_sampler_neural_keeps_to_what_the_objective_asks(learner: NeuralLearner) -> None:
    from automl_meta.errors import ConfigurationError

    # an objective sampling knn only: after its first trial, only knn configurations
    study = optuna.create_study(direction="maximize",
                                sampler=neural_sampler(learner, 0.5, n_startup=5, seed=0))
    study.optimize(lookup_objective(0.5, names=("knn",)), n_trials=5)
    later = configs_of(study)[1:]
    assert all(c["algorithm"] == "knn" and c in CONFIGS for c in later)
    assert len({config_hash(c) for c in later}) == 4

    # other names: each parameter goes to the fallback
    other = optuna.create_study(direction="maximize",
                                sampler=neural_sampler(learner, 0.5, n_startup=3, seed=0))
    other.optimize(lambda trial: trial.suggest_float("alpha", 1e-3, 1.0, log=True), n_trials=4)
    assert all(set(t.params) == {"alpha"} and 1e-3 <= t.params["alpha"] <= 1.0
               for t in other.trials)

    # a mapping of names is inverted to read the trials back
    names = {"algorithm": "model", "linear__C": "C"}
    table = {config_hash(c): float(s) for c, s in zip(CONFIGS, true_scores(0.5), strict=True)}

    def renamed(trial: optuna.Trial) -> float:
        config = {"algorithm": trial.suggest_categorical("model", ["linear"]),
                  "params": {"C": trial.suggest_float("C", 1e-4, 1e4, log=True),
                             "class_weight": trial.suggest_categorical(
                                 "linear__class_weight", [None, "balanced"])}}
        return table.get(config_hash(config), 0.0)

    mapped = optuna.create_study(direction="maximize", sampler=neural_sampler(
        learner, 0.5, n_startup=3, seed=0, param_map=names))
    mapped.optimize(renamed, n_trials=3)
    configs = [{"algorithm": t.params["model"],
                "params": {"C": t.params["C"], "class_weight": t.params["linear__class_weight"]}}
               for t in mapped.trials]
    assert all(c in CONFIGS for c in configs)
    observed = [(configs[0], mapped.trials[0].value)]
    knn = [c for c in CONFIGS if c["algorithm"] == "knn"]  # the objective offers linear only
    assert configs[1] == learner.propose(query(0.5), TASK, observed, k=1,
                                         exclude=configs[:1] + knn)[0].config
    with pytest.raises(ConfigurationError, match="param_map"):
        neural_sampler(learner, 0.5, n_startup=3, param_map=lambda config: {})


def test_meta_sampler_neural_with_two_workers(learner: NeuralLearner) -> None:
    study = optuna.create_study(direction="maximize",
                                sampler=neural_sampler(learner, 0.6, n_startup=8, seed=0))
    study.optimize(lookup_objective(0.6), n_trials=8, n_jobs=2)
    configs = configs_of(study)
    assert len(configs) == 8 and all(c in CONFIGS for c in configs)
    assert len({config_hash(c) for c in configs}) == 8  # no proposal handed out twice
    assert all(math.isfinite(t.value) for t in study.trials)


SHIPPED = Path(__file__).resolve().parents[2] / "meta_db"
needs_shipped_neural = pytest.mark.skipif(
    not (SHIPPED / "learners" / "neural.json").is_file(),
    reason="needs the shipped meta_db/ with its neural learner")


@pytest.fixture
def hermetic_user_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AUTOML_META_DB", str(tmp_path / "user.sqlite"))
    return tmp_path


@needs_shipped_neural
def test_neural_end_to_end_from_the_shipped_meta_db(hermetic_user_store: Path) -> None:
    from automl_meta import MetaSampler, recommend
    from automl_meta.metalearners import load_knowledge

    knowledge = load_knowledge(SHIPPED, user_db=False)
    task = "classification"
    matrix = knowledge.matrix(task)
    row = matrix.normalised[0]
    columns = np.flatnonzero(np.isfinite(row))
    grid = [knowledge.config(matrix.configs[j]) for j in columns]
    table = {config_hash(c): float(row[j]) for c, j in zip(grid, columns, strict=True)}
    metafeatures = knowledge.metafeatures.loc[matrix.datasets[0]].to_dict()

    recs = recommend(metafeatures=metafeatures, task=task, k=3, strategy="neural")
    assert len(recs) == 3 and all(r.strategy == "neural" for r in recs)
    assert [r.rank for r in recs] == [1, 2, 3]

    def objective(trial: optuna.Trial) -> float:
        return table[config_hash(suggest(trial, task))]

    sampler = MetaSampler(metafeatures, task=task, n_startup=6, strategy="neural",
                          candidates=grid)
    assert isinstance(sampler.guide.learner, NeuralLearner)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=6, n_jobs=2)
    assert len({config_hash(c) for c in configs_of(study)}) == 6
    assert max(t.value for t in study.trials) >= np.median(list(table.values()))


def test_meta_sampler_neural_without_weights_warns_and_recommends(
        hermetic_user_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from automl_meta import MetaSampler
    from automl_meta.errors import AutoMLMetaWarning
    from automl_meta.metalearners import load_knowledge

    bundle = hermetic_user_store / "bundle"
    (bundle / "learners").mkdir(parents=True)
    for path in SHIPPED.glob("*"):
        if path.is_file():
            (bundle / path.name).symlink_to(path)
    for path in (SHIPPED / "learners").glob("*"):
        if not path.name.startswith("neural."):
            (bundle / "learners" / path.name).symlink_to(path)
    monkeypatch.setenv("AUTOML_META_SHIPPED", str(bundle))
    knowledge = load_knowledge(bundle, user_db=False)
    metafeatures = knowledge.metafeatures.loc[knowledge.matrix("regression").datasets[0]]
    with pytest.warns(AutoMLMetaWarning, match="no trained weights.*train-neural"):
        sampler = MetaSampler(metafeatures.to_dict(), task="regression", n_startup=3,
                              strategy="neural")
    assert sampler.guide is None
    auto = MetaSampler(metafeatures.to_dict(), task="regression", n_startup=3)
    assert len(sampler.recommendations) == 3
    assert ([r.config for r in sampler.recommendations]
            == [r.config for r in auto.recommendations])
