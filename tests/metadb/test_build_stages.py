"""A build in stages (first configurations of each algorithm first) and at a second fidelity."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from automl_meta.metadb import BuildSettings, MetaDB, build
from automl_meta.metalearners._knowledge import MetaKnowledge
from tests.metadb._helpers import FAST, _paths, requires_pmlb

pytestmark = requires_pmlb


def _evaluated(db: MetaDB, protocol: str) -> dict[str, set[int]]:
    """Per algorithm, the grid positions evaluated under ``protocol``."""
    ev = db.table("evaluation")
    ev = ev[ev["protocol"] == protocol]
    configs = db.table("config").set_index("id")
    out: dict[str, set[int]] = {}
    for task in ("classification", "regression"):
        grid = db.grid(FAST.grid_name(task))
        for config_id in set(ev["config_id"]) & set(grid):
            name = f"{task}/{configs.loc[config_id, 'algorithm']}"
            out.setdefault(name, set()).add(grid.index(config_id))
    return out


def test_a_staged_build_takes_each_algorithms_first_configurations_then_the_rest(
        tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "meta.sqlite")
    build(db, _paths(), replace(FAST, per_algorithm=1), jobs=1, progress=False)
    first = _evaluated(db, "cv2:s0")
    assert set(first) == {f"{t}/{a}" for t in ("classification", "regression")
                          for a in ("linear", "knn")}
    configs = db.table("config").set_index("id")
    for task in ("classification", "regression"):
        grid = db.grid(FAST.grid_name(task))
        # one configuration per algorithm: the first of each in the grid, its default
        firsts = {configs.loc[c, "algorithm"]: i for i, c in reversed(list(enumerate(grid)))}
        assert {name.split("/")[1]: positions for name, positions in first.items()
                if name.startswith(task)} == {a: {i} for a, i in firsts.items()}
    assert len(db.table("evaluation")) == 4  # 2 datasets x 2 algorithms x 1 configuration

    rest = build(db, _paths(), FAST, jobs=1, progress=False)
    grid_total = sum(len(db.grid(FAST.grid_name(t))) for t in ("classification", "regression"))
    assert rest["missing_before"] == grid_total - 4
    assert len(db.table("evaluation")) == grid_total


def test_a_second_fidelity_is_stored_apart_and_never_overwrites_the_base(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "meta.sqlite")
    build(db, _paths(), FAST, jobs=1, progress=False)
    base = db.table("evaluation").copy()
    larger = replace(FAST, max_rows=2000, per_algorithm=1)
    assert larger.protocol_key == "cv2:s0:r2000"
    totals = build(db, _paths(), larger, jobs=1, progress=False)
    assert totals["ok"] + totals["failed"] == 4
    ev = db.table("evaluation")
    assert set(ev["protocol"]) == {"cv2:s0", "cv2:s0:r2000"}
    kept = ev[ev["protocol"] == "cv2:s0"].sort_values(["dataset_id", "config_id"])
    assert kept["score"].tolist() == base.sort_values(["dataset_id", "config_id"])[
        "score"].tolist()

    stats = db.stats()
    ok = ev[ev["status"] == "ok"]
    assert stats["evaluations_by_protocol"] == ev["protocol"].value_counts().to_dict()
    assert stats["algorithms_per_task"] == {"classification": 2, "regression": 2}
    assert sum(sum(c.values()) for c in stats["ok_evaluations_per_task"].values()) == len(ok)

    tables = {name: db.table(name) for name in ("dataset", "metafeature", "config", "evaluation")}
    knowledge = MetaKnowledge.from_tables([tables])
    assert len(knowledge.runs) == int((base["status"] == "ok").sum())
    assert set(knowledge.larger_runs["rows"]) == {2000}
    assert len(knowledge.larger_runs) == int(
        (ev[ev["protocol"] == "cv2:s0:r2000"]["status"] == "ok").sum())
    assert len(knowledge.without(fingerprints=set(knowledge.datasets.index[:1])).larger_runs) \
        < len(knowledge.larger_runs)


def test_a_minimum_row_count_leaves_the_small_datasets_out(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "meta.sqlite")
    totals = build(db, _paths(), replace(FAST, min_rows=10**6), jobs=1, progress=False)
    assert totals["missing_before"] == 0 and db.stats()["datasets"] == 0
    assert BuildSettings(max_rows=1000).protocol_key == "cv3:s0"


def test_a_retired_parameter_is_dropped_from_stored_configurations(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "meta.sqlite")
    old = {"algorithm": "catboost", "params": {"depth": 6, "bagging_temperature": 1.5}}
    new = {"algorithm": "catboost", "params": {"depth": 6}}
    first, second = db.add_configs("classification", [old, new])
    assert first == second
    assert db.table("config")["params_json"].tolist() == ['{"depth": 6}']


def test_a_store_written_before_a_parameter_retired_is_rewritten_in_place(
        tmp_path: Path) -> None:
    import json

    from sqlalchemy import insert

    from automl_meta.metadb import _schema as s

    db = MetaDB(tmp_path / "meta.sqlite")
    with db.engine.begin() as conn:  # as an older release stored it
        conn.execute(insert(s.config).values(
            task="classification", algorithm="catboost", hash="old",
            params_json=json.dumps({"bagging_temperature": 1.5, "depth": 6})))
    [config_id] = db.table("config")["id"].tolist()
    assert db.drop_retired_params() == 1
    assert db.drop_retired_params() == 0
    assert db.add_configs("classification", [{"algorithm": "catboost",
                                              "params": {"depth": 6}}]) == [config_id]
