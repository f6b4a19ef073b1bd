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

import numpy as np
import optuna
import pytest

from automl_meta.errors import DeviceError
from automl_meta.metalearners import LEARNERS, MetaKnowledge, load_learner
from automl_meta.metalearners.neural import NeuralLearner
from automl_meta.space import config_hash
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
    names = sorted({knowledge.config(c)["algorithm"] for c in matrix.configs})
    configs = encode_configs([knowledge.config(c) for c in matrix.configs], TASK, names)
    scaler = FeatureScaler().fit(frame)
    data = TaskTensors.build(scaler.transform(frame), configs, matrix.normalised,
                             torch.device("cpu"))
    torch.manual_seed(0)
    net = SurrogateNet(len(scaler.columns), configs.shape[1], n_algorithms=len(names),
                       hidden=32, embedding=8)
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
    quick = NeuralLearner(**SMALL, device="cpu", budget=1e-3).fit(knowledge)
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
