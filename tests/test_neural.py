"""The neural meta-learner on hand-made meta-knowledge whose right answer is known.

Every dataset has one meta-feature ``u`` in [0, 1]; on it, a linear model's score peaks
where log C (scaled to [0, 1]) equals ``u`` and k-nearest-neighbours is mediocre. So a
learner that uses the meta-feature and the observed trials should go for the linear
configurations near the peak.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest

from automl_meta.errors import DeviceError
from automl_meta.metalearners import LEARNERS, MetaKnowledge, load_learner
from automl_meta.metalearners.neural import NeuralLearner
from automl_meta.space import config_hash, suggest

torch = pytest.importorskip("torch")
optuna.logging.set_verbosity(optuna.logging.WARNING)

TASK = "classification"
C_GRID = np.logspace(-4, 4, 24)
CONFIGS = ([{"algorithm": "linear", "params": {"C": float(c), "class_weight": None}}
            for c in C_GRID]
           + [{"algorithm": "knn", "params": {"n_neighbors": int(k), "weights": "uniform",
                                              "p": 2}} for k in (1, 3, 5, 9, 15, 25, 40, 50)])
SMALL = {"hidden": 32, "embedding": 8, "steps": 800, "learning_rate": 1e-2, "batch_size": 8,
         "max_support": 12, "n_query": 12, "extra_candidates": 0, "progress": False}


def true_scores(u: float) -> np.ndarray:
    """Score of every configuration of CONFIGS on a dataset with meta-feature ``u``."""
    position = (np.log10(C_GRID) + 4) / 8
    linear = 0.5 + 0.4 * np.exp(-((position - u) ** 2) / 0.08)
    knn = np.linspace(0.62, 0.55, 8)
    return np.concatenate([linear, knn])


def synthetic_tables(n_datasets: int = 14, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The tables of a meta-db on CONFIGS (ids as in a bundle)."""
    rng = np.random.default_rng(seed)
    config_rows = [{"id": i, "task": TASK, "algorithm": c["algorithm"],
                    "params_json": json.dumps(c["params"]), "hash": config_hash(c)}
                   for i, c in enumerate(CONFIGS)]
    datasets, features, evaluations = [], [], []
    for i, u in enumerate(np.linspace(0.1, 0.9, n_datasets)):
        datasets.append({"id": i, "name": f"d{i}", "fingerprint": f"fp{i}", "task": TASK,
                         "family": f"fam{i}", "source": "", "n_rows": 100, "n_features": 5,
                         "n_classes": 2, "created_at": ""})
        features += [{"dataset_id": i, "name": "u", "value": float(u)},
                     {"dataset_id": i, "name": "noise", "value": float(rng.normal())}]
        scores = true_scores(u) + rng.normal(0, 0.005, len(CONFIGS))
        evaluated = rng.random(len(CONFIGS)) < 0.9  # some cells never evaluated
        evaluations += [{"dataset_id": i, "config_id": j, "status": "ok", "score": float(s)}
                        for j, (s, e) in enumerate(zip(scores, evaluated, strict=True)) if e]
    return {"dataset": pd.DataFrame(datasets), "metafeature": pd.DataFrame(features),
            "config": pd.DataFrame(config_rows), "evaluation": pd.DataFrame(evaluations)}


def synthetic_knowledge(n_datasets: int = 14, seed: int = 0) -> MetaKnowledge:
    return MetaKnowledge.from_tables([synthetic_tables(n_datasets, seed)])


@pytest.fixture(scope="module")
def knowledge() -> MetaKnowledge:
    return synthetic_knowledge()


@pytest.fixture(scope="module")
def learner(knowledge: MetaKnowledge) -> NeuralLearner:
    return NeuralLearner(**SMALL, device="cpu", random_state=0).fit(knowledge)


def query(u: float) -> dict[str, float]:
    return {"u": u, "noise": 0.0}


def test_import_automl_meta_does_not_import_torch() -> None:
    code = ("import sys, automl_meta, automl_meta.metalearners, automl_meta.metalearners.neural; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_neural_is_a_registered_strategy() -> None:
    assert LEARNERS["neural"] is NeuralLearner


def test_meta_training_reduces_the_query_loss(knowledge: MetaKnowledge) -> None:
    from automl_meta.metalearners._encoding import FeatureScaler, encode_configs
    from automl_meta.metalearners.neural.model import SurrogateNet, cpu_threads
    from automl_meta.metalearners.neural.train import (
        TaskTensors,
        TrainSettings,
        meta_train,
        validation_loss,
    )

    matrix = knowledge.matrix(TASK)
    frame = knowledge.metafeatures.loc[matrix.datasets]
    configs = encode_configs([knowledge.config(c) for c in matrix.configs], TASK)
    scaler = FeatureScaler().fit(frame)
    data = TaskTensors.build(scaler.transform(frame), configs, matrix.normalised,
                             torch.device("cpu"))
    torch.manual_seed(0)
    net = SurrogateNet(len(scaler.columns), configs.shape[1], n_algorithms=7, hidden=32,
                       embedding=8)
    settings = TrainSettings(steps=300, batch_size=8, max_support=12, n_query=12,
                             learning_rate=1e-2)
    with cpu_threads(torch.device("cpu"), 1):
        before = validation_loss(net, data, settings)
        report = meta_train(net, data, settings, seed=0, progress=False)
        after = validation_loss(net, data, settings)
    assert report.steps == 300 and len(report.losses) == 6
    assert after < 0.5 * before, (before, after)


def test_fine_tuning_moves_predictions_toward_the_observations(
        learner: NeuralLearner) -> None:
    from automl_meta.metalearners.neural.adapt import fine_tune, normalise_observed
    from automl_meta.metalearners.neural.model import log_marginal_likelihood

    u = 0.3
    truth = true_scores(u)
    seen = [0, 5, 9, 14, 20, 26, 30]
    observed = [(CONFIGS[j], float(truth[j])) for j in seen]
    target = normalise_observed(torch.tensor(truth[seen], dtype=torch.float32)).numpy()
    zero_shot, _ = learner.predict(query(u), TASK, [CONFIGS[j] for j in seen])
    posterior, sd = learner.predict(query(u), TASK, [CONFIGS[j] for j in seen], observed)
    assert np.abs(posterior - target).mean() < 0.5 * np.abs(zero_shot - target).mean()
    assert np.all(sd > 0)

    # the gradient steps themselves raise the observations' marginal likelihood
    net = learner._task_runtime(TASK)["net"]
    features = learner._features(TASK, query(u))
    tried = learner._encode(TASK, [c for c, _ in observed])
    scores = torch.tensor(target)
    before = {name: value.clone() for name, value in net.state_dict().items()}
    tuned = fine_tune(net, features, tried, scores, steps=20, learning_rate=1e-2)
    assert tuned is not net

    def lml(model: torch.nn.Module) -> float:
        with torch.no_grad():
            mean, emb, _ = model(features[None], tried[None])
            mask = torch.ones(1, len(scores), dtype=torch.bool)
            return float(log_marginal_likelihood(model, emb, mean, scores[None], mask))

    assert lml(tuned) > lml(net)
    after = tuned.state_dict()
    # the meta-learned weights stay as they were; the copy adapts its kernel, not its mean
    assert all(torch.equal(value, net.state_dict()[name]) for name, value in before.items())
    assert all(torch.equal(after[name], value) for name, value in before.items()
               if name.startswith("mean_net."))
    assert not torch.equal(after["embed_net.0.weight"], before["embed_net.0.weight"])


def test_propose_skips_observed_and_goes_for_the_better_region(learner: NeuralLearner) -> None:
    u = 0.7
    truth = true_scores(u)
    # a few trials far from the peak (it sits near the 17th linear configuration)
    seen = [0, 3, 6, 24, 28, 31]
    observed = [(CONFIGS[j], float(truth[j])) for j in seen]
    recs = learner.propose(query(u), TASK, observed, k=5, candidates=CONFIGS)
    assert len(recs) == 5
    proposed = [CONFIGS.index(r.config) for r in recs]
    assert not set(proposed) & set(seen)
    assert len(set(proposed)) == 5
    assert recs[0].algorithm == "linear"
    assert truth[proposed[0]] >= np.sort(truth)[-6]  # among the six best of 32
    assert recs[0].details["expected_improvement"] > 0
    # raw scores on another scale (an affine map of the same scores) change nothing
    shifted = [(c, 100 * s - 30) for c, s in observed]
    again = learner.propose(query(u), TASK, shifted, k=1, candidates=CONFIGS)
    assert again[0].config == recs[0].config
    # with every candidate observed there is nothing left to propose
    everything = [(c, float(s)) for c, s in zip(CONFIGS, truth, strict=True)]
    assert learner.propose(query(u), TASK, everything, k=3, candidates=CONFIGS) == []


def test_recommend_ranks_by_the_zero_shot_mean(learner: NeuralLearner) -> None:
    for u in (0.2, 0.8):
        recs = learner.recommend(query(u), TASK, k=3)
        assert [r.rank for r in recs] == [1, 2, 3]
        scores = [r.predicted_score for r in recs]
        assert scores == sorted(scores, reverse=True)
        best = CONFIGS.index(recs[0].config)
        assert true_scores(u)[best] >= np.sort(true_scores(u))[-4], (u, recs[0].config)
        assert "neural" in recs[0].why and "past classification datasets" in recs[0].why
    assert learner.recommend(query(0.5), "regression", k=3) == []


def test_failed_trials_count_as_the_worst(learner: NeuralLearner) -> None:
    observed = [(CONFIGS[0], 0.6), (CONFIGS[5], None), (CONFIGS[10], float("nan")),
                (CONFIGS[15], 0.8)]
    recs = learner.propose(query(0.5), TASK, observed, k=2, candidates=CONFIGS)
    assert len(recs) == 2 and all(math.isfinite(r.predicted_score) for r in recs)


def test_save_load_round_trip_gives_identical_predictions(learner: NeuralLearner,
                                                          tmp_path: Path) -> None:
    path = learner.save(tmp_path)
    assert path.name == "neural.json" and (tmp_path / "neural.safetensors").is_file()
    assert not list(tmp_path.glob("*.pkl"))
    observed = [(CONFIGS[j], float(true_scores(0.4)[j])) for j in (1, 8, 12, 27)]
    for loaded in (NeuralLearner.load(path, device="cpu"), load_learner(path)):
        assert isinstance(loaded, NeuralLearner)
        for seen in ((), observed):
            want = learner.predict(query(0.4), TASK, CONFIGS, seen)
            got = loaded.predict(query(0.4), TASK, CONFIGS, seen)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
        assert ([r.config for r in loaded.propose(query(0.4), TASK, observed, k=3)]
                == [r.config for r in learner.propose(query(0.4), TASK, observed, k=3)])


def test_seeds_are_reproducible_on_cpu(knowledge: MetaKnowledge) -> None:
    quick = {**SMALL, "steps": 60, "device": "cpu"}
    first = NeuralLearner(**quick, random_state=0).fit(knowledge)
    again = NeuralLearner(**quick, random_state=0).fit(knowledge)
    other = NeuralLearner(**quick, random_state=1).fit(knowledge)
    weights, same, different = (learner._state()[1] for learner in (first, again, other))
    assert weights.keys() == same.keys() == different.keys() and len(weights) > 10
    # (the kNN memory's score matrix has NaN where a dataset never ran a configuration)
    assert all(np.array_equal(weights[name], same[name], equal_nan=True) for name in weights)
    assert not all(np.array_equal(weights[name], different[name]) for name in weights)
    observed = [(CONFIGS[j], float(true_scores(0.6)[j])) for j in (2, 11, 25)]
    for seen in ((), observed):
        want = first.predict(query(0.6), TASK, CONFIGS, seen)[0]
        np.testing.assert_array_equal(again.predict(query(0.6), TASK, CONFIGS, seen)[0], want)
        assert not np.array_equal(other.predict(query(0.6), TASK, CONFIGS, seen)[0], want)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error(knowledge: MetaKnowledge,
                                            learner: NeuralLearner, tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match="device='cuda'"):
        NeuralLearner(**SMALL, device="cuda").fit(knowledge)
    loaded = NeuralLearner.load(learner.save(tmp_path), device="cuda")
    with pytest.raises(DeviceError, match="no CUDA"):
        loaded.recommend(query(0.5), TASK, k=1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_and_proposals(knowledge: MetaKnowledge, learner: NeuralLearner,
                                     tmp_path: Path) -> None:
    on_gpu = NeuralLearner(**SMALL, device="cuda", random_state=0).fit(knowledge)
    net = on_gpu._task_runtime(TASK)["net"]
    assert next(net.parameters()).device.type == "cuda"
    assert on_gpu.tasks[TASK]["training"]["device"] == "cuda"
    observed = [(CONFIGS[j], float(true_scores(0.5)[j])) for j in (2, 9, 30)]
    recs = on_gpu.propose(query(0.5), TASK, observed, k=2, candidates=CONFIGS)
    assert len(recs) == 2 and all(math.isfinite(r.predicted_score) for r in recs)
    study = optuna.create_study(direction="maximize",
                                sampler=neural_sampler(on_gpu, 0.5, n_startup=4, seed=0))
    study.optimize(lookup_objective(0.5), n_trials=4)
    assert all(c in CONFIGS for c in configs_of(study))
    # CPU-trained weights load onto the GPU ("auto") and predict the same there
    on_auto = NeuralLearner.load(learner.save(tmp_path), device="auto")
    assert on_auto._task_runtime(TASK)["device"].type == "cuda"
    for seen in ((), observed):
        np.testing.assert_allclose(on_auto.predict(query(0.5), TASK, CONFIGS, seen)[0],
                                   learner.predict(query(0.5), TASK, CONFIGS, seen)[0],
                                   atol=1e-3)


def test_the_knn_memory_blends_into_the_zero_shot_mean(learner: NeuralLearner,
                                                         tmp_path: Path) -> None:
    from automl_meta.space import sample_configs

    unseen = [c for c in sample_configs(TASK, 3, seed=3, include_defaults=False)
              if c["algorithm"] in ("linear", "knn", "random_forest")]
    pool = CONFIGS + unseen
    memory = learner._memory
    assert memory is not None
    remembered = memory.predicted_scores(query(0.3), TASK)
    assert set(remembered) <= {config_hash(c) for c in CONFIGS} and len(remembered) > 20
    network_only = NeuralLearner.load(learner.save(tmp_path), device="cpu")
    network_only.memory_weight = 0.0
    blended, _ = learner.predict(query(0.3), TASK, pool)
    alone, _ = network_only.predict(query(0.3), TASK, pool)
    weight = learner.memory_weight
    known = np.array([config_hash(c) in remembered for c in pool])
    gaps = {name: [remembered[config_hash(c)] - alone[i] for i, c in enumerate(pool)
                   if known[i] and c["algorithm"] == name] for name in ("linear", "knn")}
    gaps["random_forest"] = [g for values in gaps.values() for g in values]  # none known
    for i, config in enumerate(pool):
        # known: the blend; unknown: the network moved by the memory's mean correction of
        # the same algorithm (of every algorithm when the memory knows none of it)
        target = (remembered[config_hash(config)] if known[i]
                  else alone[i] + np.mean(gaps[config["algorithm"]]))
        want = (1 - weight) * alone[i] + weight * target
        assert blended[i] == pytest.approx(want, abs=1e-5), config
    assert not known[len(CONFIGS):].any() and any(c["algorithm"] == "random_forest"
                                                  for c in unseen)
    # the memory knows this dataset's neighbours: its best guess is near the peak
    best = max(remembered, key=remembered.__getitem__)
    peak = int(np.argmax(true_scores(0.3)))
    assert abs([config_hash(c) for c in CONFIGS].index(best) - peak) <= 2


def test_a_learner_saved_without_a_memory_loads_as_the_network_alone(
        learner: NeuralLearner, tmp_path: Path) -> None:
    path = learner.save(tmp_path)
    document = json.loads(path.read_text())
    state = document["state"]
    assert "memory" in state and state["params"]["memory_weight"] == learner.memory_weight
    del state["memory"], state["params"]["memory_weight"]
    path.write_text(json.dumps(document))
    old = NeuralLearner.load(path, device="cpu")
    assert old.memory_weight == 0.0 and old._memory is None
    no_memory = NeuralLearner.load(learner.save(tmp_path / "again"), device="cpu")
    no_memory.memory_weight = 0.0
    np.testing.assert_array_equal(old.predict(query(0.5), TASK, CONFIGS)[0],
                                  no_memory.predict(query(0.5), TASK, CONFIGS)[0])


def test_time_budget_cuts_meta_training_short(knowledge: MetaKnowledge) -> None:
    planned = SMALL["steps"] + 200 + SMALL["steps"] // 2  # the three stages
    quick = NeuralLearner(**SMALL, device="cpu", time_budget=1e-3).fit(knowledge)
    assert quick.tasks[TASK]["training"]["steps"] < planned / 2


def test_invalid_parameters_name_the_parameter(knowledge: MetaKnowledge) -> None:
    from automl_meta.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="steps"):
        NeuralLearner(steps=0).fit(knowledge)
    for weight in (1.5, "0.5", None):
        with pytest.raises(ConfigurationError, match="memory_weight"):
            NeuralLearner(memory_weight=weight).fit(knowledge)
    with pytest.raises(ConfigurationError, match="not fitted"):
        NeuralLearner().recommend(query(0.5), TASK, k=1)


# -- MetaSampler(strategy="neural") ----------------------------------------------------------


def lookup_objective(u: float, sign: float = 1.0, names: tuple[str, ...] = ("linear", "knn"),
                     reject: Any = None) -> Any:
    """An objective over the space whose score is CONFIGS' table on a dataset with
    meta-feature ``u`` (the fallback's configurations off the table: the linear formula, or
    knn's worst); ``reject(config)`` may raise to fail or prune the trial."""
    table = {config_hash(c): float(s) for c, s in zip(CONFIGS, true_scores(u), strict=True)}

    def objective(trial: optuna.Trial) -> float:
        config = suggest(trial, TASK, list(names))
        if reject is not None:
            reject(config)
        score = table.get(config_hash(config))
        if score is None and config["algorithm"] == "linear":
            position = (math.log10(config["params"]["C"]) + 4) / 8
            score = 0.5 + 0.4 * math.exp(-((position - u) ** 2) / 0.08)
        return sign * (0.55 if score is None else score)

    return objective


def neural_sampler(learner: NeuralLearner, u: float, n_startup: int, **kwargs: Any) -> Any:
    from automl_meta import MetaSampler

    return MetaSampler(query(u), task=TASK, n_startup=n_startup, strategy="neural",
                       learner=learner, **kwargs)


def configs_of(study: optuna.Study) -> list[dict[str, Any]]:
    from automl_meta.space import trial_params_to_config

    return [trial_params_to_config(t.params) for t in study.trials]


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


SHIPPED = Path(__file__).resolve().parents[1] / "meta_db"
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


# -- automl-meta db train-neural ---------------------------------------------------------------


def synthetic_store(path: Path, n_datasets: int) -> Path:
    """A SQLite meta-db holding ``synthetic_tables``."""
    from automl_meta.metadb import MetaDB

    tables = synthetic_tables(n_datasets)
    db = MetaDB(path)
    ids = {int(row.id): db.add_dataset(row.name, row.fingerprint, TASK, 100, 5, 2)
           for row in tables["dataset"].itertuples()}
    config_ids = db.add_configs(TASK, CONFIGS)
    for dataset_id, group in tables["metafeature"].groupby("dataset_id"):
        db.add_metafeatures(ids[int(dataset_id)], dict(zip(group["name"], group["value"],
                                                           strict=True)), {}, "test")
    for dataset_id, group in tables["evaluation"].groupby("dataset_id"):
        db.add_evaluations(ids[int(dataset_id)], [
            {"config_id": config_ids[int(r.config_id)], "protocol": "cv3", "status": "ok",
             "score": r.score} for r in group.itertuples()])
    db.close()
    return path


def test_cli_train_neural_writes_a_reproducible_learner(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from automl_meta.cli import app

    store = synthetic_store(tmp_path / "small.sqlite", n_datasets=4)
    weights = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        result = CliRunner().invoke(app, ["db", "train-neural", "--db", str(store), "--steps",
                                          "20", "--seed", str(seed), "--device", "cpu",
                                          "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert "classification" in result.output and "saved to" in result.output
        loaded = NeuralLearner.load(tmp_path / name / "neural.json")
        assert list(loaded.tasks) == [TASK] and loaded.tasks[TASK]["n_datasets"] == 4
        assert loaded.device == "auto"  # trained on the CPU, loads where it is used
        assert loaded.recommend(query(0.5), TASK, k=2)[0].algorithm in ("linear", "knn")
        weights.append(loaded._arrays)
    assert all(np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(np.array_equal(weights[0][k], weights[2][k]) for k in weights[0])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cli_train_neural_on_missing_cuda_exits_2(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from automl_meta.cli import main

    monkeypatch.setattr(sys, "argv", ["automl-meta", "db", "train-neural", "--device", "cuda",
                                      "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    message = " ".join(capsys.readouterr().err.split())
    assert "no CUDA device" in message and "device='auto' or 'cpu'" in message
    assert not (tmp_path / "out").exists()
