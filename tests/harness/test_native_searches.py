"""lgbm_tpe and lgbm_warm_tpe: TPE over LightGBM alone under its own parameter names, cold
and after ``warm_start(algorithm="lightgbm")``, scored like every other harness method."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
import pytest

from automl_meta.errors import AutoMLMetaWarning, ConfigurationError
from automl_meta.harness import harness, methods, searches
from automl_meta.harness.advice import MetaContext
from automl_meta.harness.prepare import prepare_dataset
from automl_meta.harness.report import write_report
from automl_meta.harness.results import RESULTS_FILE, read_results
from automl_meta.harness.settings import BenchmarkSettings
from automl_meta.harness.summary import summarise
from automl_meta.harness.trials import RunContext
from automl_meta.harness.versus import versus_tpe
from automl_meta.space import REGISTRY, config_hash
from tests.advice._knowledge import (
    LGBM_CONFIGS,
    LIGHTGBM,
    lightgbm_store,
    tiny_store,
)

pytest.importorskip("lightgbm")

BUDGETS = (2, 4)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Only the fixture stores advise (no user store, no shipped bundle), and the space is
    checked unchanged after each test."""
    monkeypatch.setenv("AUTOML_META_DB", str(tmp_path / "user-store" / "user.sqlite"))
    monkeypatch.setenv("AUTOML_META_SHIPPED", str(tmp_path / "no-shipped-bundle"))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    before = set(REGISTRY)
    yield
    assert set(REGISTRY) == before  # LightGBM never stays registered


@pytest.fixture(scope="module")
def lgbm_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of four tiny datasets that ran the three LightGBM configurations and two
    scikit-learn defaults."""
    return lightgbm_store(tmp_path_factory.mktemp("lgbm-store") / "store.sqlite")


@pytest.fixture(scope="module")
def no_lgbm_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose datasets ran linear, knn and random_forest only."""
    return tiny_store(tmp_path_factory.mktemp("plain-store") / "store.sqlite")


def _context(store: Path, shipped: Path) -> RunContext:
    """breast_cancer (150 rows) under the harness protocol, advised as the harness does."""
    meta = MetaContext.load(db=str(store), shipped=shipped)
    prepared = prepare_dataset("sklearn:breast_cancer", max_rows=150, seed=0)
    exclusion = meta.exclusion(prepared.name, prepared.fingerprint, prepared.task)
    settings = BenchmarkSettings(methods=("lgbm_tpe", "lgbm_warm_tpe"), budgets=BUDGETS,
                                 seconds=30.0)
    return RunContext(prepared, settings, meta.advice(exclusion, {"recommender"}))


def _assert_in_lightgbm_space(config: dict[str, Any]) -> None:
    assert config["algorithm"] == "lightgbm"
    with searches.lightgbm_registered():
        distributions = searches.lightgbm_distributions("classification")
    assert set(config["params"]) == set(distributions)
    for name, value in config["params"].items():
        distribution = distributions[name]
        assert distribution._contains(distribution.to_internal_repr(value)), (name, value)


def test_the_distributions_are_the_spaces_lightgbm_under_its_own_names() -> None:
    with searches.lightgbm_registered():
        assert ("classification", "lightgbm") in REGISTRY
        distributions = searches.lightgbm_distributions("regression")
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
        natives = [searches.suggest_lightgbm(study.ask(), "regression") for _ in range(20)]
        configs = [searches.config_from_native(n, "regression") for n in natives]
    assert distributions == {p.name: p.distribution for p in LIGHTGBM.params}
    assert distributions["num_leaves"] == optuna.distributions.IntDistribution(4, 256, log=True)
    for native, config in zip(natives, configs, strict=True):
        trial_names = set(native) - {"subsample_freq"}
        assert trial_names == set(distributions) and "algorithm" not in native
        assert ("subsample_freq" in native) == (native["subsample"] < 1.0)  # bagging on
        assert config == {"algorithm": "lightgbm", "params": {k: native[k] for k in trial_names}}
    with searches.lightgbm_registered(), pytest.raises(ConfigurationError, match="subsample"):
        searches.config_from_native({**natives[0], "subsample": 0.7, "subsample_freq": 0},
                                    "regression")


def test_cold_and_warm_sample_the_same_space_and_score_comparably(
        lgbm_store: Path, tmp_path: Path) -> None:
    context = _context(lgbm_store, tmp_path / "no-shipped-bundle")
    with searches.lightgbm_registered():
        cold = searches.lightgbm_trials(context, warm=False)
        warm = searches.lightgbm_trials(context, warm=True)
    assert cold.recommendations == [] and cold.aborted is None and warm.aborted is None
    assert len(cold.trials) == len(warm.trials) == max(BUDGETS)
    for trial in [*cold.trials, *warm.trials]:
        assert trial.ok and 0.0 <= trial.score <= 1.0
        _assert_in_lightgbm_space(trial.config or {})
    # the warm search's first trials are warm_start's LightGBM recommendations, in order
    recommended = [r.config for r in warm.recommendations]
    assert len(recommended) == len(LGBM_CONFIGS)
    assert sorted(map(config_hash, recommended)) == sorted(map(config_hash, LGBM_CONFIGS))
    assert [t.config for t in warm.trials[:len(recommended)]] == recommended
    assert warm.trials[len(recommended)].config not in recommended  # then TPE's own
    # scored by the harness's own cross-validation on the training part: the same
    # configuration, evaluated again without the cache, gets the same score
    with searches.lightgbm_registered():
        again = context.cross_validate(warm.trials[0].config or {}, cached=False)
    assert again.ok and again.score == pytest.approx(warm.trials[0].score, abs=1e-12)

    cold_outcomes = searches.lgbm_tpe_search(context)
    warm_outcomes = searches.lgbm_warm_tpe_search(context)
    for outcomes in (cold_outcomes, warm_outcomes):
        assert [o.budget for o in outcomes] == list(BUDGETS)
        assert all(o.status == "ok" and 0.0 <= (o.score or -1.0) <= 1.0 for o in outcomes)
        for outcome in outcomes:
            _assert_in_lightgbm_space(outcome.config or {})
            with searches.lightgbm_registered():
                assert outcome.score == context.test_score(outcome.config or {}).score
    best_warm = max(warm.trials[:BUDGETS[0]], key=lambda t: t.score)
    assert warm_outcomes[0].config == best_warm.config
    assert warm_outcomes[0].cv_score == best_warm.score
    assert {o.extra["warm_started"] for o in warm_outcomes} == {3}
    assert not any(o.extra["warm_start_default"] for o in warm_outcomes)
    assert "warm_started" not in cold_outcomes[0].extra


def test_warm_start_without_known_lightgbm_starts_from_its_default(
        no_lgbm_store: Path, tmp_path: Path) -> None:
    context = _context(no_lgbm_store, tmp_path / "no-shipped-bundle")
    with searches.lightgbm_registered(), pytest.warns(AutoMLMetaWarning, match="no evaluated"):
        run = searches.lightgbm_trials(context, warm=True)
    assert run.aborted is None and len(run.trials) == max(BUDGETS)
    assert [r.config for r in run.recommendations] == [default_config_of_lightgbm()]
    assert run.trials[0].config == default_config_of_lightgbm() and run.trials[0].ok
    for trial in run.trials:
        _assert_in_lightgbm_space(trial.config or {})
    with pytest.warns(AutoMLMetaWarning):
        outcomes = searches.lgbm_warm_tpe_search(context)
    assert all(o.status == "ok" for o in outcomes)
    assert all(o.extra["warm_start_default"] and o.extra["warm_started"] == 1
               for o in outcomes)


def default_config_of_lightgbm() -> dict[str, Any]:
    """What the space calls LightGBM's default (``default_config`` needs it registered)."""
    return {"algorithm": "lightgbm", "params": dict(LIGHTGBM.default)}


def test_they_are_asked_for_by_name_only() -> None:
    assert {"lgbm_tpe", "lgbm_warm_tpe"} <= methods.BY_NAME_ONLY
    assert not {"lgbm_tpe", "lgbm_warm_tpe"} & set(methods.DEFAULT_METHODS)
    assert methods.check_methods(["lgbm_warm_tpe", "lgbm_tpe"]) == ["lgbm_warm_tpe", "lgbm_tpe"]
    warm = methods.METHODS["lgbm_warm_tpe"]
    assert warm.ours and warm.needs == frozenset({"recommender"})
    assert warm.baseline == "lgbm_tpe" and methods.METHODS["warm_tpe"].baseline is None


def _row(case: str, method: str, budget: int, score: float) -> dict[str, Any]:
    return {"dataset": case, "task": "classification", "method": method, "budget": budget,
            "kind": "trials", "status": "ok", "score": score}


def _rows(with_lgbm_tpe: bool = True) -> list[dict[str, Any]]:
    rows = []
    curves = {"c1": (0.6, 0.9), "c2": (0.7, 0.7), "c3": (0.5, 0.6)}  # tpe / lgbm_tpe @5, @20
    warm_at_5 = {"c1": 0.8, "c2": 0.75, "c3": 0.65}
    for case, (five, twenty) in curves.items():
        rows += [_row(case, "tpe", 5, five), _row(case, "tpe", 20, twenty),
                 _row(case, "warm_tpe", 5, warm_at_5[case]),
                 _row(case, "lgbm_warm_tpe", 5, warm_at_5[case])]
        if with_lgbm_tpe:  # lgbm_tpe a little below tpe on every case
            rows += [_row(case, "lgbm_tpe", 5, five - 0.1),
                     _row(case, "lgbm_tpe", 20, twenty - 0.1)]
    return rows


def test_lgbm_warm_tpe_at_5_is_held_against_lgbm_tpe_at_20(tmp_path: Path) -> None:
    versus = versus_tpe(_rows())
    records = {(r["entry"], r["against"]): r for r in versus["head_to_head"]}
    # 0.8 < 0.8 (tie), 0.75 > 0.6, 0.65 > 0.5 against lgbm_tpe@20
    pair = records[("lgbm_warm_tpe@5", "lgbm_tpe@20")]
    assert (pair["wins"], pair["ties"], pair["losses"], pair["compared"]) == (2, 1, 0, "pair")
    assert ("lgbm_warm_tpe@5", "lgbm_tpe@5") in records
    assert not any(against.startswith("tpe@") for entry, against in records
                   if entry.startswith("lgbm_"))  # never against the whole space's TPE
    assert versus["own_baselines"] == {"lgbm_warm_tpe": "lgbm_tpe"}
    # warm_tpe's records are what they were without the LightGBM methods
    plain = [r for r in _rows() if not r["method"].startswith("lgbm_")]
    assert [r for r in versus["head_to_head"] if r["method"] == "warm_tpe"] == \
        versus_tpe(plain)["head_to_head"]
    assert "own_baselines" not in versus_tpe(plain)
    efficiency = next(r for r in versus["sample_efficiency"]
                      if r["entry"] == "lgbm_warm_tpe@5")
    assert efficiency["trials_to_match"] == {"c1": 20, "c2": None, "c3": None}
    # without lgbm_tpe in the run, lgbm_warm_tpe is compared with nothing
    alone = versus_tpe(_rows(with_lgbm_tpe=False))
    assert not [r for r in alone["head_to_head"] if r["method"] == "lgbm_warm_tpe"]
    rows = _rows()
    summary = {**summarise(rows), "versus_tpe": versus}
    write_report(tmp_path, rows, summary, {"max_rows": 5000, "seed": 0, "seconds": 30.0,
                                           "trial_seconds": 30.0, "folds": 3}, "cmd")
    report = (tmp_path / "report.md").read_text()
    assert "| lgbm_warm_tpe@5 | lgbm_tpe@20 | 3 | 2 | 1 | 0 | 100% of 2 |" in report
    assert "lgbm_warm_tpe is held against cold lgbm_tpe instead" in report


@pytest.mark.slow
def test_the_benchmark_runs_them_in_worker_processes(lgbm_store: Path,
                                                    tmp_path: Path) -> None:
    """``--jobs 2``: each dataset runs in a joblib worker, which registers LightGBM itself."""
    from sklearn.datasets import load_breast_cancer, load_wine

    data = tmp_path / "data"
    data.mkdir()
    for name, loader in (("cancer", load_breast_cancer), ("wine", load_wine)):
        loader(as_frame=True).frame.sample(120, random_state=0).to_csv(
            data / f"{name}.csv", index=False)
    out = tmp_path / "bench"
    summary = harness.run_benchmark(data, out, methods=["lgbm_tpe", "lgbm_warm_tpe"],
                                    budgets=[1, 3], seconds=30.0, jobs=2, db=str(lgbm_store),
                                    progress=False)
    rows = read_results(out / RESULTS_FILE)
    assert len(rows) == 2 * 2 * 2
    assert all(r["status"] == "ok" and r["config"]["algorithm"] == "lightgbm" for r in rows)
    assert all(math.isfinite(r["score"]) for r in rows)
    warm = [r for r in rows if r["method"] == "lgbm_warm_tpe"]
    assert all(r["warm_started"] == 3 and not r["warm_start_default"] for r in warm)
    assert {(r["entry"], r["against"]) for r in summary["versus_tpe"]["head_to_head"]} == {
        ("lgbm_warm_tpe@1", "lgbm_tpe@1"), ("lgbm_warm_tpe@3", "lgbm_tpe@3")}
