"""Tests of the meta-feature extractor (automl_meta.metafeatures)."""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from automl_meta.data import Dataset, load_dataset
from automl_meta.errors import AutoMLMetaWarning, ConfigurationError
from automl_meta.metafeatures import (
    EXTRACTOR_VERSION,
    GROUPS,
    MetaFeatures,
    extract_metafeatures,
    list_measures,
)
from automl_meta.metafeatures._registry import DEPENDENCIES, MEASURES, ROOT_DEPENDENCIES

DATA = Path(__file__).resolve().parents[3] / "shared" / "datasets"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"shared datasets not found at {DATA} (read-only data checkout)"
)


def make_dataset(n_rows: int = 300, task: str = "classification", seed: int = 0) -> Dataset:
    return load_dataset(make_frame(n_rows, task, seed), task=task)


def make_frame(n_rows: int = 300, task: str = "classification", seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(rng.normal(size=(n_rows, 4)), columns=["a", "b", "c", "d"])
    data["colour"] = pd.Categorical(rng.choice(["red", "green", "blue"], n_rows))
    signal = data["a"] + 0.5 * data["b"] + rng.normal(scale=0.5, size=n_rows)
    data["target"] = signal if task == "regression" else (signal > 0).astype(int)
    return data


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_public_constants() -> None:
    assert isinstance(EXTRACTOR_VERSION, str) and EXTRACTOR_VERSION
    assert GROUPS == ("general", "statistical", "info-theory", "landmarking", "model-based")


def test_at_least_60_base_measures_in_five_groups() -> None:
    names = list_measures()
    assert len(names) >= 60
    assert len(set(names)) == len(names)
    for group in GROUPS:
        assert list_measures([group]), group
    assert set(list_measures(["general"])) <= set(names)
    assert "class_ent" in list_measures("info-theory")


def test_every_declared_dependency_is_registered() -> None:
    known = set(DEPENDENCIES) | set(ROOT_DEPENDENCIES)
    for item in [*MEASURES.values(), *DEPENDENCIES.values()]:
        assert set(item.deps) <= known, item.name


def test_general_counts_use_the_full_data() -> None:
    mf = extract_metafeatures(make_dataset(n_rows=7000), groups=["general"])
    assert mf["nr_inst"] == 7000
    assert mf["nr_attr"] == 5 and mf["nr_num"] == 4 and mf["nr_cat"] == 1
    assert mf["nr_class"] == 2 and mf["nr_bin"] == 0
    assert mf["inst_to_attr"] == pytest.approx(7000 / 5)
    assert mf["cat_to_num"] == pytest.approx(1 / 4)
    assert mf["nr_missing"] == 0 and mf["freq_missing"] == 0


def test_class_entropy_of_a_balanced_binary_target_is_one_bit() -> None:
    data = make_frame(n_rows=200)
    data["target"] = np.tile([0, 1], 100)
    dataset = load_dataset(data, task="classification")
    mf = extract_metafeatures(dataset, groups=["info-theory", "general"])
    assert mf["class_ent"] == pytest.approx(1.0)  # pymfe uses log base 2
    assert mf["freq_class.mean"] == pytest.approx(0.5)
    assert mf["freq_class.sd"] == pytest.approx(0.0)


def test_summary_functions_follow_pymfe() -> None:
    data = make_frame(n_rows=60)
    data["target"] = np.repeat([0, 1, 2], [10, 20, 30])
    summary = ("mean", "sd", "min", "max", "median")
    dataset = load_dataset(data, task="classification")
    mf = extract_metafeatures(dataset, groups=["general"], summary=summary)
    freqs = np.array([10, 20, 30]) / 60
    assert mf["freq_class.sd"] == pytest.approx(np.std(freqs, ddof=1))
    assert mf["freq_class.min"] == pytest.approx(1 / 6)
    assert mf["freq_class.max"] == pytest.approx(0.5)
    assert mf["freq_class.median"] == pytest.approx(1 / 3)
    assert {f"freq_class.{s}" for s in summary} <= set(mf)


def test_same_random_state_gives_the_same_values() -> None:
    data = make_dataset(n_rows=2600)  # beyond the landmarking/model row cap: subsampled
    first = extract_metafeatures(data, random_state=3)
    second = extract_metafeatures(data, random_state=3)
    assert list(first) == list(second)
    assert all(same(first[name], second[name]) for name in first)


def test_names_do_not_depend_on_the_dataset() -> None:
    regression = extract_metafeatures(make_dataset(task="regression"))
    classification = extract_metafeatures(make_dataset(task="classification"))
    assert set(regression) == set(classification)
    assert math.isnan(regression["class_ent"]) and math.isnan(regression["nr_class"])
    assert math.isnan(regression["freq_class.mean"])
    # target-aware measures use the quantile-binned target for regression
    for name in ("mut_inf.mean", "one_nn.mean", "leaves", "can_cor.mean", "linear_discr.mean"):
        assert np.isfinite(regression[name]), name


def test_result_is_a_read_only_mapping_with_timings_and_groups() -> None:
    mf = extract_metafeatures(make_dataset(), groups=["general", "model-based"])
    assert isinstance(mf, MetaFeatures)
    with pytest.raises(TypeError):
        mf["nr_inst"] = 1.0  # type: ignore[index]
    assert set(mf.seconds) == set(mf) == set(mf.groups)
    assert all(seconds >= 0 for seconds in mf.seconds.values())
    assert mf.seconds["leaves_branch.mean"] == mf.seconds["leaves_branch.sd"]
    assert mf.groups["nr_inst"] == "general" and mf.groups["leaves"] == "model-based"
    series = mf.to_series()
    assert list(series.index) == sorted(mf)
    assert mf.to_dict() == dict(mf)


def test_a_failing_measure_is_nan_with_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(dataset: object) -> float:
        raise RuntimeError("boom")

    monkeypatch.setitem(MEASURES, "nr_inst", dataclasses.replace(MEASURES["nr_inst"], func=broken))
    with pytest.warns(AutoMLMetaWarning) as record:
        mf = extract_metafeatures(make_dataset(), groups=["general"])
    ours = [w for w in record if issubclass(w.category, AutoMLMetaWarning)]
    assert len(ours) == 1 and "nr_inst" in str(ours[0].message)
    assert math.isnan(mf["nr_inst"])
    assert mf["nr_attr"] == 5


def test_a_failing_dependency_is_reported_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**kwargs: object) -> None:
        raise ValueError("no tree today")

    broken_tree = dataclasses.replace(DEPENDENCIES["tree"], func=broken)
    monkeypatch.setitem(DEPENDENCIES, "tree", broken_tree)
    with pytest.warns(AutoMLMetaWarning) as record:
        mf = extract_metafeatures(make_dataset(), groups=["model-based"])
    ours = [w for w in record if issubclass(w.category, AutoMLMetaWarning)]
    assert len(ours) == 1 and "tree" in str(ours[0].message)
    assert all(math.isnan(value) for value in mf.values())


def test_not_applicable_measures_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", AutoMLMetaWarning)
        mf = extract_metafeatures(make_dataset(task="regression"))
    assert math.isnan(mf["class_ent"])


def test_unknown_group_or_summary_raises() -> None:
    with pytest.raises(ConfigurationError, match="landmarking"):
        extract_metafeatures(make_dataset(), groups=["landmarks"])
    with pytest.raises(ConfigurationError, match="general"):
        list_measures(["nope"])
    with pytest.raises(ConfigurationError, match="mean"):
        extract_metafeatures(make_dataset(), summary=("average",))
    with pytest.raises(ConfigurationError):
        extract_metafeatures(make_dataset(), random_state="seed")  # type: ignore[arg-type]


def test_constant_and_binary_columns() -> None:
    data = make_frame(n_rows=100)
    data["flag"] = np.tile([3.0, 7.0], 50)
    data["const"] = 1.0
    dataset = load_dataset(data, task="classification")
    with warnings.catch_warnings():
        warnings.simplefilter("error", AutoMLMetaWarning)
        mf = extract_metafeatures(dataset, groups=["general", "statistical", "info-theory"])
    assert mf["nr_bin"] == 1
    assert math.isnan(mf["cor.mean"])  # pymfe: a constant column has no correlation


@needs_data
@pytest.mark.parametrize("name", ["anneal", "labor", "autohorse"])
def test_raw_arff_with_categoricals_and_missing_values(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # loading warns about inferred tasks and columns
        dataset = load_dataset(DATA / "uci-arff" / f"{name}.arff")
    with warnings.catch_warnings():
        warnings.simplefilter("error", AutoMLMetaWarning)
        mf = extract_metafeatures(dataset)
    assert set(mf) == set(extract_metafeatures(make_dataset(), groups="all"))
    assert mf["nr_inst"] == dataset.n_rows
    assert mf["nr_cat"] == len(dataset.categorical) > 0
    assert mf["nr_missing"] == int(dataset.X.isna().to_numpy().sum())
    finite = [name for name, value in mf.items() if np.isfinite(value)]
    assert len(finite) >= 0.9 * len(mf)
    for measure in ("attr_ent.mean", "cor.mean", "one_nn.mean", "best_node.mean", "leaves"):
        assert np.isfinite(mf[measure]), measure


@needs_data
def test_missing_values_are_counted_on_labor() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = load_dataset(DATA / "uci-arff" / "labor.arff")
    mf = extract_metafeatures(dataset, groups=["general"])
    rows_with_missing = dataset.X.isna().any(axis=1).mean()
    assert mf["nr_missing"] > 0
    assert mf["freq_inst_missing"] == pytest.approx(rows_with_missing)
    assert mf["freq_missing"] == pytest.approx(mf["nr_missing"] / dataset.X.size)


@pytest.mark.slow
def test_large_frame_is_fast() -> None:
    import time

    rng = np.random.default_rng(1)
    values = rng.normal(size=(100_000, 100))
    data = pd.DataFrame(values, columns=[f"x{i}" for i in range(100)])
    data["target"] = (values[:, 0] + rng.normal(size=100_000) > 0).astype(int)
    dataset = load_dataset(data, task="classification")
    start = time.perf_counter()
    mf = extract_metafeatures(dataset)
    assert time.perf_counter() - start < 6.0  # 2 s on an idle 2-core machine; CI is noisy
    assert mf["nr_inst"] == 100_000


# pymfe agreement on a subset (the full comparison is benchmarks/metafeatures_agreement.py).
# Measures defined differently on purpose (see that script for the reasons):
DIFFERENT = {"can_cor", "w_lambda", "lh_trace", "roy_root", "sd_ratio", "worst_node", "elite_nn"}


@needs_data
@pytest.mark.parametrize("name", ["wine-recognition", "prnn_crabs"])
def test_agreement_with_pymfe(name: str) -> None:
    pytest.importorskip("pymfe")
    from pymfe.mfe import MFE

    dataset = load_dataset(DATA / "pmlb" / f"{name}.tsv.gz")
    ours = extract_metafeatures(dataset, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mfe = MFE(groups=list(GROUPS), summary=["mean", "sd"], random_state=0)
        mfe.fit(dataset.X.to_numpy(dtype=float), dataset.y.to_numpy(), suppress_warnings=True)
        names, values = mfe.extract(suppress_warnings=True)
    theirs = dict(zip(names, np.asarray(values, dtype=float), strict=True))
    shared = [n for n in set(ours) & set(theirs) if n.split(".")[0] not in DIFFERENT]
    assert len(shared) >= 90
    bad = [
        (n, ours[n], theirs[n])
        for n in shared
        if not np.isclose(ours[n], theirs[n], rtol=1e-6, atol=1e-12, equal_nan=True)
    ]
    assert not bad
