"""automl-meta db train-neural, on a small SQLite meta-db of the hand-made meta-knowledge
of tests/metalearners/_neural_synthetic.py."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from automl_meta.metalearners.neural import NeuralLearner
from tests.metalearners._neural_synthetic import CONFIGS, TASK, query, synthetic_tables

torch = pytest.importorskip("torch")


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
    assert "no CUDA device" in message and "--device auto or --device cpu" in message
    assert "device='" not in message  # the CLI's terms, not Python's
    assert not (tmp_path / "out").exists()
