"""The contract checks of a meta-learner and of an algorithm, as plain functions.

``test_learner_contract.py`` and ``test_algorithm_contract.py`` run them over every
registered learner and algorithm; ``test_toy_extension.py`` runs the same functions on a toy
learner and a toy algorithm registered in the test. Each check asserts what the code relies
on, so a new extension that breaks the contract fails here rather than deep inside a search.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from automl_meta.errors import ConfigurationError
from automl_meta.metalearners import LEARNERS, MetaKnowledge, MetaLearner, load_learner
from automl_meta.space import Algorithm, config_hash, default_config, validate_config

TASKS = ("classification", "regression")

# Settings that make the slow shipped learners fit in seconds on the contract's knowledge; a
# learner not named here is built with its defaults.
FAST_SETTINGS: dict[str, dict[str, Any]] = {
    "ranker": {"max_iter": 20, "extra_candidates": 6},
    "neural": {"hidden": 16, "depth": 1, "embedding": 4, "members": 2, "steps": 20,
               "batch_size": 4, "max_support": 6, "n_query": 6, "extra_candidates": 5,
               "finetune_steps": 2, "device": "cpu", "progress": False},
}


# --- meta-knowledge whose answer is known --------------------------------------------------

def _configs(task: str) -> list[dict[str, Any]]:
    knn_1 = {"algorithm": "knn", "params": {"n_neighbors": 1, "weights": "uniform", "p": 1}}
    return [default_config(name, task) for name in ("knn", "random_forest", "linear")] + [knn_1]


def contract_tables(n_per_cluster: int = 6, seed: int = 0,
                    extra: dict[str, Any] | None = None) -> dict[str, pd.DataFrame]:
    """A meta-db of both tasks: on 'small' datasets knn wins, on 'large' ones the forest.

    ``extra`` adds one classification dataset (meta-features ``extra["metafeatures"]``) on
    which ``extra["config"]``, tried nowhere else, is the best.
    """
    rng = np.random.default_rng(seed)
    config_rows, datasets, features, evaluations = [], [], [], []
    ids: dict[tuple[str, str], int] = {}
    for task in TASKS:
        for config in _configs(task) + ([extra["config"]] if extra and task == TASKS[0]
                                        else []):
            ids[(task, config_hash(config))] = len(config_rows)
            config_rows.append({"id": len(config_rows), "task": task,
                                "algorithm": config["algorithm"],
                                "params_json": json.dumps(config["params"]),
                                "hash": config_hash(config)})
    for task in TASKS:
        for i in range(2 * n_per_cluster):
            small = i < n_per_cluster
            index = len(datasets)
            kind = "small" if small else "large"
            datasets.append({"id": index, "name": f"{task[:3]}_{kind}_{i}",
                             "fingerprint": f"fp{index}", "task": task, "family": f"fam{index}",
                             "source": "", "n_rows": 100 + i, "n_features": 5,
                             "n_classes": 2 if task == TASKS[0] else 0, "created_at": ""})
            log_rows = (2.0 if small else 5.0) + rng.normal(0, 0.2)
            for name, value in {"nr_inst": 10 ** log_rows, "noise": rng.normal(),
                                "attr_to_inst": rng.uniform(0.01, 0.02)}.items():
                features.append({"dataset_id": index, "name": name, "value": value})
            scores = [0.9, 0.7, 0.6, 0.5] if small else [0.6, 0.95, 0.7, 0.4]
            for config, score in zip(_configs(task), scores, strict=True):
                evaluations.append({"dataset_id": index,
                                    "config_id": ids[(task, config_hash(config))],
                                    "status": "ok", "score": score + rng.normal(0, 0.01)})
    if extra:
        index = len(datasets)
        datasets.append({"id": index, "name": "extra", "fingerprint": f"fp{index}",
                         "task": TASKS[0], "family": "extra", "source": "", "n_rows": 100,
                         "n_features": 5, "n_classes": 2, "created_at": ""})
        features += [{"dataset_id": index, "name": name, "value": value}
                     for name, value in extra["metafeatures"].items()]
        scored = [(extra["config"], 0.99)] + list(zip(_configs(TASKS[0]), [0.5, 0.5, 0.5, 0.5],
                                                       strict=True))
        evaluations += [{"dataset_id": index, "config_id": ids[(TASKS[0], config_hash(c))],
                         "status": "ok", "score": s} for c, s in scored]
    return {"dataset": pd.DataFrame(datasets), "metafeature": pd.DataFrame(features),
            "config": pd.DataFrame(config_rows), "evaluation": pd.DataFrame(evaluations)}


def contract_knowledge(**kwargs: Any) -> MetaKnowledge:
    return MetaKnowledge.from_tables([contract_tables(**kwargs)])


QUERIES = ({"nr_inst": 100.0, "noise": 0.0, "attr_to_inst": 0.015},
           {"nr_inst": 100_000.0, "noise": 0.0, "attr_to_inst": 0.015})
# a dataset unlike the others, on which a configuration no other dataset ran is the best
EXTRA = {"metafeatures": {"nr_inst": 1e8, "noise": 3.0, "attr_to_inst": 0.5},
         "config": {"algorithm": "linear", "params": {"C": 123.0, "class_weight": "balanced"}}}


# --- learners ------------------------------------------------------------------------------

def new_learner(cls: type[MetaLearner]) -> MetaLearner:
    """A new, unfitted learner of ``cls`` with the contract's fast settings."""
    return cls(**FAST_SETTINGS.get(cls.name, {}))


def skip_unless_requires(requires: tuple[str, ...]) -> None:
    missing = [name for name in requires if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")


def check_learner_traits(cls: type[MetaLearner]) -> None:
    """The class is registered under its name, its traits are what the registry's readers
    derive from, and every list that names strategies lists it."""
    from automl_meta.advice._recommend import STRATEGIES
    from automl_meta.harness.advice import SLOW_LEARNER_GROUPS
    from automl_meta.metalearners import register_learner
    from automl_meta.metalearners._train import lodo_factories, trained_learners
    from automl_meta.service.schemas import RecommendRequest, strategy_names

    assert LEARNERS[cls.name] is cls
    assert register_learner(cls) is cls  # registering again changes nothing
    assert list(LEARNERS).count(cls.name) == 1
    assert cls.name in STRATEGIES and cls.name in strategy_names()
    request = RecommendRequest.model_validate({"metafeatures": {}, "task": "regression",
                                               "strategy": cls.name})
    assert request.strategy == cls.name
    schema = RecommendRequest.model_json_schema()["properties"]["strategy"]
    assert cls.name in schema["enum"]
    factories = lodo_factories()
    if cls.lodo_judged:
        judged = factories[cls.name]()
        assert type(judged) is cls and judged is not factories[cls.name]()  # new each time
    else:
        assert cls.name not in factories
    assert SLOW_LEARNER_GROUPS.get(cls.name) == cls.lodo_groups
    assert (cls.name in {type(learner).name for learner in trained_learners()}) == cls.trained
    if cls.sequential:
        assert callable(getattr(cls, "propose", None))
    assert all(isinstance(r, str) and r for r in cls.requires)


def check_recommendations(learner: MetaLearner, knowledge: MetaKnowledge) -> None:
    """At most ``k`` distinct valid configurations, ranked 1..n, each with a readable why."""
    for task in knowledge.matrices:
        for query in QUERIES:
            for k in (1, 3, 50):
                recs = learner.recommend(query, task, k=k)
                assert 0 < len(recs) <= k, (task, k, len(recs))
                hashes = [config_hash(r.config) for r in recs]
                assert len(set(hashes)) == len(hashes), "a configuration recommended twice"
                for rank, rec in enumerate(recs, start=1):
                    assert validate_config(rec.config, task) == rec.config
                    assert rec.rank == rank and rec.strategy == learner.name
                    assert isinstance(rec.why, str) and rec.why.strip()
                    assert rec.predicted_score is None or np.isfinite(rec.predicted_score)
                    json.dumps(rec.to_dict(), default=str)  # the service sends it as JSON
    with pytest.raises(ConfigurationError, match="k=0"):
        learner.recommend(QUERIES[0], next(iter(knowledge.matrices)), k=0)


def _configs_of(learner: MetaLearner, knowledge: MetaKnowledge) -> list[list[dict[str, Any]]]:
    return [[r.config for r in learner.recommend(query, task, k=5)]
            for task in knowledge.matrices for query in QUERIES]


def check_save_load(learner: MetaLearner, knowledge: MetaKnowledge, directory: Path) -> None:
    """``save`` writes ``<name>.json`` (never a pickle); ``load_learner`` gives a learner of
    the same class with the same recommendations."""
    path = learner.save(directory)
    assert path == directory / f"{learner.name}.json"
    assert not [p for p in directory.iterdir() if p.suffix in (".pkl", ".pickle", ".joblib")]
    loaded = load_learner(path)
    assert type(loaded) is type(learner)
    assert _configs_of(loaded, knowledge) == _configs_of(learner, knowledge)


def check_refit_reflects_new_knowledge(cls: type[MetaLearner]) -> None:
    """A memory-based learner refitted on knowledge with one more dataset recommends, for
    that dataset, the configuration only it ran (and was the best on)."""
    if not cls.memory_based:
        return
    new = EXTRA["config"]
    before = new_learner(cls).fit(contract_knowledge())
    after = new_learner(cls).fit(contract_knowledge(extra=EXTRA))
    query = EXTRA["metafeatures"]
    assert new not in [r.config for r in before.recommend(query, TASKS[0], k=50)]
    assert new in [r.config for r in after.recommend(query, TASKS[0], k=3)]


def check_recommend_accepts_strategy(learner: MetaLearner, knowledge: MetaKnowledge) -> None:
    """``automl_meta.recommend(strategy=name)`` answers with this learner's advice."""
    from automl_meta import recommend
    from automl_meta.advice._recommend import Recommender

    source = Recommender(knowledge, learners={learner.name: learner})
    for task in knowledge.matrices:
        got = recommend(metafeatures=QUERIES[0], task=task, k=3, strategy=learner.name,
                        db=source)
        expected = learner.recommend(QUERIES[0], task, k=3)
        assert [r.config for r in got] == [r.config for r in expected]
        assert {r.strategy for r in got} == {learner.name}


# --- algorithms ----------------------------------------------------------------------------

def tiny_dataset(task: str, n: int = 60, seed: int = 0) -> Any:
    """Numeric columns with a missing value and a string categorical."""
    from automl_meta import load_dataset

    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                      "c": rng.choice(["x", "y", "z"], n)})
    X.loc[3, "a"] = np.nan
    y = (np.where(X["b"] > 0, "yes", "no") if task == "classification"
         else X["b"].to_numpy() * 2 + rng.normal(0, 0.1, n))
    return load_dataset((X, y), task=task, name=f"tiny_{task}")


def check_algorithm_declaration(algorithm: Algorithm) -> None:
    """The default configuration is valid, the declared packages import, ``preload`` is a
    part of ``requires``, and every declared saved type is an exact name of a class."""
    config = default_config(algorithm.name, algorithm.task)
    assert validate_config(config, algorithm.task) == config
    assert config["params"] == algorithm.default
    for package in algorithm.requires:  # installed (importing torch here would cost seconds)
        assert importlib.util.find_spec(package) is not None, package
    assert set(algorithm.preload) <= set(algorithm.requires)
    for name in algorithm.saved_types:
        module, _, attribute = name.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), attribute), type), name


def check_sampled_configs_build(algorithm: Algorithm, dataset: Any, n: int = 4) -> None:
    """Sampled configurations of the algorithm are valid and build a pipeline."""
    from automl_meta.space import build, sample_configs

    configs = [c for c in sample_configs(algorithm.task, n, seed=1)
               if c["algorithm"] == algorithm.name]
    # the default and up to n sampled (a small space may repeat itself)
    assert configs[0] == default_config(algorithm.name, algorithm.task)
    assert 1 < len(configs) <= n + 1
    assert len({config_hash(c) for c in configs}) == len(configs)
    for config in configs:
        assert validate_config(config, algorithm.task) == config
        pipeline = build(config, dataset)
        assert hasattr(pipeline, "fit") and hasattr(pipeline, "predict")


def fitted_model(algorithm: Algorithm, dataset: Any, params: dict[str, Any] | None = None
                 ) -> Any:
    """The algorithm's default pipeline (with ``params`` over it), fitted as a search does
    (a classifier learns label codes)."""
    from automl_meta.evaluation._engine import _learning_label_codes
    from automl_meta.space import build

    config = {"algorithm": algorithm.name, "params": {**algorithm.default, **(params or {})}}
    model = build(config, dataset)
    if algorithm.task == "classification":
        model = _learning_label_codes(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(dataset.X, dataset.y)


def check_fit_predict(model: Any, dataset: Any) -> np.ndarray:
    """Predictions for every row: known labels, or finite numbers."""
    predicted = np.asarray(model.predict(dataset.X))
    assert predicted.shape == (len(dataset.X),)
    if dataset.task == "classification":
        assert set(predicted.tolist()) <= set(np.asarray(dataset.y).tolist())
    else:
        assert np.all(np.isfinite(predicted.astype(float)))
    return predicted


def saved_names(data: bytes) -> set[str]:
    """Every ``module.class`` the nodes of a skops file name."""
    names, stack = set(), [json.loads(zipfile.ZipFile(io.BytesIO(data)).read("schema.json"))]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
            if "__loader__" in item and item["__loader__"] != "JsonNode":
                names.add(f"{item['__module__']}.{item['__class__']}")
    return names


def check_save_and_safe_load(algorithm: Algorithm, model: Any, dataset: Any,
                             directory: Path) -> None:
    """Saved with skops as ``fit --out`` saves, the model holds only the pipeline's fixed
    names and the algorithm's own declared ones, and loads through the safe loader with the
    same predictions. An algorithm that declares no saved types is one skops cannot hold."""
    import skops.io as sio

    from automl_meta._support.safe_skops import SAVED_MODEL, load_skops

    if not algorithm.saved_types:
        with pytest.raises(Exception):  # noqa: B017  (whatever skops raises for it)
            sio.dumps(model)
        return
    path = directory / f"{algorithm.task}.{algorithm.name}.skops"
    sio.dump(model, str(path))
    undeclared = (saved_names(path.read_bytes()) - SAVED_MODEL.fixed - SAVED_MODEL.functions
                  - set(algorithm.saved_types))
    assert not undeclared, f"{algorithm.name} saves names it does not declare: {undeclared}"
    loaded = load_skops(path, SAVED_MODEL, "")
    np.testing.assert_array_equal(np.asarray(loaded.predict(dataset.X)),
                                  np.asarray(model.predict(dataset.X)))
