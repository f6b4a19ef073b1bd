"""recommend(), the growing memory, and the Optuna integration, on a small real meta-db."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import optuna
import pytest

from automl_meta import MetaSampler, load_dataset, recommend, record_evaluations, warm_start
from automl_meta.errors import ConfigurationError
from automl_meta.evaluation import evaluate
from automl_meta.metadb import BuildSettings, MetaDB, build
from automl_meta.space import ALGORITHM_PARAM, config_to_trial_params, suggest

PMLB = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "pmlb"
NAMES = ["analcatdata_aids", "analcatdata_asbestos", "analcatdata_bankruptcy",
         "analcatdata_cyyoung8092", "1096_FacultySalaries", "1027_ESL", "192_vineyard",
         "228_elusage"]
SETTINGS = BuildSettings(configs_per_algorithm=2, protocol="cv2", max_rows=150, chunk_size=50,
                         algorithms=("linear", "knn", "hist_gb"))

pytestmark = pytest.mark.skipif(not PMLB.is_dir(), reason=f"needs the PMLB datasets at {PMLB}")
optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> MetaDB:
    directory = tmp_path_factory.mktemp("metadb")
    db = MetaDB(directory / "user.sqlite")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build(db, [PMLB / f"{n}.tsv.gz" for n in NAMES], SETTINGS, jobs=1, progress=False)
    return db


@pytest.fixture(autouse=True)
def no_shipped_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOML_META_SHIPPED", str(tmp_path / "no-bundle"))


def test_recommend_returns_ranked_explained_configurations(store: MetaDB) -> None:
    recs = recommend(PMLB / "analcatdata_aids.tsv.gz", k=6, db=store, strategy="knn")
    assert [r.rank for r in recs] == [1, 2, 3, 4, 5, 6]
    assert all(r.strategy == "knn" for r in recs)
    # the store ran the grid on this very data: its best three runs first, then knn's picks
    assert all("your earlier runs on this data" in r.why for r in recs[:3])
    assert all("nearest past datasets" in r.why for r in recs[3:])
    assert len({str(r.config) for r in recs}) == 6
    assert recs[0].predicted_score >= recs[-1].predicted_score
    assert {r.algorithm for r in recs} <= {"linear", "knn", "hist_gb"}
    portfolio = recommend(PMLB / "1027_ESL.tsv.gz", k=2, db=store, strategy="portfolio")
    assert len(portfolio) == 2 and all(r.strategy == "portfolio" for r in portfolio)


def test_recommend_accepts_precomputed_metafeatures(store: MetaDB) -> None:
    from automl_meta.metafeatures import extract_metafeatures

    features = extract_metafeatures(load_dataset(PMLB / "192_vineyard.tsv.gz"))
    recs = recommend(metafeatures=features, task="regression", k=2, db=store)
    assert len(recs) == 2 and recs[0].details["seconds"] < 5
    with pytest.raises(ConfigurationError, match="task="):
        recommend(metafeatures=features, db=store)
    with pytest.raises(ConfigurationError, match="strategy"):
        recommend(metafeatures=features, task="regression", db=store, strategy="magic")


def test_memory_grows_a_recorded_dataset_informs_its_near_copy(store: MetaDB) -> None:
    dataset = load_dataset("sklearn:breast_cancer")
    unusual = {"algorithm": "knn", "params": {"n_neighbors": 37, "weights": "distance", "p": 1}}
    result = evaluate(unusual, dataset, protocol="cv2", time_limit=60)
    assert result.ok
    record_evaluations(store, dataset, [result])
    copy = dataset.X.copy()
    copy.iloc[:, 0] = copy.iloc[:, 0] * (1 + 1e-3)
    near_copy = load_dataset((copy, dataset.y), task="classification")
    recs = recommend(near_copy, k=3, db=store, strategy="knn")
    assert recs[0].config == unusual
    assert "breast_cancer" in recs[0].why


def test_warm_start_enqueues_what_space_suggest_receives(store: MetaDB, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(direction="maximize", storage=storage, study_name="s")
    recs = warm_start(study, PMLB / "analcatdata_aids.tsv.gz", n=3, db=store)
    warm_start(study, PMLB / "analcatdata_aids.tsv.gz", n=3, db=store)  # no duplicates
    seen = []

    def objective(trial: optuna.Trial) -> float:
        seen.append(suggest(trial, "classification"))
        return 0.5

    study.optimize(objective, n_trials=5)
    assert seen[:3] == [r.config for r in recs]
    assert sum(1 for t in study.trials if "automl_meta_warm_start" in t.user_attrs) == 3


def test_warm_start_with_foreign_names_is_never_silently_ignored(store: MetaDB) -> None:
    study = optuna.create_study(direction="maximize")
    warm_start(study, PMLB / "analcatdata_aids.tsv.gz", n=2, db=store)

    def objective(trial: optuna.Trial) -> float:
        return trial.suggest_float("C", 1e-3, 1.0, log=True)

    with pytest.raises(ConfigurationError, match="warm start would be ignored"):
        study.optimize(objective, n_trials=1)
    other = optuna.create_study(direction="maximize")
    other.optimize(objective, n_trials=2)
    with pytest.raises(ConfigurationError, match="param_map"):
        warm_start(other, PMLB / "analcatdata_aids.tsv.gz", n=2, db=store)
    mapped = optuna.create_study(direction="maximize")
    warm_start(mapped, PMLB / "analcatdata_aids.tsv.gz", n=2, db=store,
               param_map=lambda config: {"C": 0.5})
    mapped.optimize(objective, n_trials=2)
    assert mapped.trials[0].params == {"C": 0.5}


def test_meta_sampler_proposes_recommendations_then_hands_over(store: MetaDB) -> None:
    data = PMLB / "analcatdata_aids.tsv.gz"
    recs = recommend(data, k=3, db=store)

    def objective(trial: optuna.Trial) -> float:
        config = suggest(trial, "classification", ["linear", "knn", "hist_gb"])
        return float(len(str(config)) % 7)

    runs = []
    for _ in range(2):
        sampler = MetaSampler(data, n_startup=3, seed=1, db=store)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(objective, n_trials=8)
        runs.append([t.params for t in study.trials])
    assert runs[0][:3] == [config_to_trial_params(r.config) for r in recs]
    assert runs[0] == runs[1]  # seeded: the hand-over to TPE is reproducible

    threaded = optuna.create_study(direction="maximize",
                                   sampler=MetaSampler(data, n_startup=3, seed=1, db=store))
    threaded.optimize(objective, n_trials=8, n_jobs=2)
    proposals = [config_to_trial_params(r.config) for r in recs]
    taken = [t.params for t in threaded.trials if t.params in proposals]
    # every proposal was taken (TPE may later draw one of them again by itself)
    assert all(p in taken for p in proposals) and all(ALGORITHM_PARAM in p for p in taken)
    assert np.isfinite([t.value for t in threaded.trials]).all()


def test_a_ready_recommender_is_used_as_given(store: MetaDB, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark harness advises from learners fitted without a held-out family: the
    Recommender it passes as ``db`` must be used, never taken for a store path."""
    from automl_meta.advice._recommend import get_recommender
    from automl_meta.metafeatures import extract_metafeatures

    ready = get_recommender(store)
    monkeypatch.chdir(tmp_path)
    assert get_recommender(ready) is ready
    metafeatures = extract_metafeatures(load_dataset("sklearn:iris"))
    recs = recommend(metafeatures=metafeatures, task="classification", k=2, db=ready)
    assert [r.config for r in recs] == [
        r.config for r in ready.recommend(metafeatures, "classification", k=2)]
    assert list(tmp_path.iterdir()) == []  # no store was created from the object's repr
