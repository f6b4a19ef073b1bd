"""The ``db`` commands that fit meta-learners: ``train`` and ``train-neural``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from automl_meta.cli._common import DB_OPTION, console, open_db
from automl_meta.config import shipped_meta_db_dir
from automl_meta.errors import MetaDBError


def db_train(
    db: str | None = DB_OPTION,
    shipped: Path | None = typer.Option(None, "--shipped", help="Bundle to learn from "
                                        "(default: the shipped meta_db/)."),
    out: Path | None = typer.Option(None, "--out", help="Where to save the learners "
                                    "(default: <bundle>/learners)."),
    evaluate: bool = typer.Option(True, "--evaluate/--no-evaluate", help="Judge each "
                                  "learner leave-one-dataset-out and pick the auto strategy."),
    user_store: bool = typer.Option(False, "--user-store/--no-user-store", help="Also learn "
                                    "from the user store."),
) -> None:
    """Fit the meta-learners ({learners}) and choose the auto strategy."""
    from automl_meta.metalearners import load_knowledge  # numpy, pandas, optuna
    from automl_meta.metalearners._train import train_learners

    bundle = shipped or shipped_meta_db_dir()
    store: Any = False
    if db is not None or user_store:
        store = open_db(db)
    knowledge = load_knowledge(bundle, store, include_shipped=(bundle / "manifest.json")
                               .is_file())
    choice = train_learners(knowledge, out or bundle / "learners", evaluate=evaluate,
                            progress=True)
    console.print(f"trained on {choice['datasets']} datasets; auto strategy: {choice['auto']}")


def db_train_neural(
    db: str | None = typer.Option(None, "--db", help="Meta-database URL or SQLite path to "
                                  "learn from (default: the shipped bundle)."),
    shipped: Path | None = typer.Option(None, "--shipped", help="Bundle to learn from "
                                        "(default: the shipped meta_db/ when --db is not "
                                        "given; with --db, layered under it)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present, else CPU), "
                               "cpu or cuda."),
    seed: int = typer.Option(0, "--seed", help="Seed of initialisation, episodes and the "
                             "candidate pool (reproducible on CPU)."),
    steps: int = typer.Option(2000, "--steps", min=1, help="Meta-training steps per task, "
                              "each a batch of episodes."),
    time_budget: float | None = typer.Option(None, "--time-budget", help="Cap in seconds on "
                                             "the whole meta-training."),
    memory_weight: float = typer.Option(0.7, "--memory-weight", min=0.0, max=1.0,
                                        help="Share of the kNN memory in the prior mean, for "
                                        "configurations past datasets ran (0: the network "
                                        "alone)."),
    out: Path | None = typer.Option(None, "--out", help="Where to write neural.json and "
                                    "neural.safetensors (default: <bundle>/learners)."),
) -> None:
    """Retrain only the neural meta-learner (the other learners are left as they are)."""
    from automl_meta.metadb._learners import record_learner_checksums  # sqlalchemy
    from automl_meta.metalearners import load_knowledge  # numpy, pandas, optuna
    from automl_meta.metalearners.neural import NeuralLearner
    from automl_meta.space.torch_mlp import resolve_device

    resolved = resolve_device(device)  # a missing GPU fails before minutes of loading
    bundle = shipped or shipped_meta_db_dir()
    store: Any = False if db is None else open_db(db)
    knowledge = load_knowledge(bundle, store, include_shipped=db is None or shipped is not None)
    evaluated = sum(len(matrix.datasets) for matrix in knowledge.matrices.values())
    console.print(f"meta-training the neural learner on {resolved.type} "
                  f"({evaluated} evaluated datasets, {steps} steps per task)")
    learner = NeuralLearner(steps=steps, budget=time_budget, device=device,
                            memory_weight=memory_weight, random_state=seed,
                            progress=True).fit(knowledge)
    if not learner.tasks:
        raise MetaDBError("No task of this meta-database has an evaluated dataset with "
                          "meta-features, so there was nothing to learn from. Build or "
                          "import one first (`automl-meta db build` / `db import`).")
    path = learner.save(out or bundle / "learners")
    record_learner_checksums(path.parent)  # keep the bundle manifest's checksums current
    table = Table(title="neural meta-learner")
    for column in ("task", "datasets", "steps", "seconds", "final loss", "device"):
        table.add_column(column, justify="left" if column in ("task", "device") else "right")
    for task, info in learner.tasks.items():
        training = info["training"]
        loss = training["final_loss"]
        table.add_row(task, str(info["n_datasets"]), str(training["steps"]),
                      f"{training['seconds']:.1f}", "n/a" if loss is None else f"{loss:.4f}",
                      training["device"])
    console.print(table)
    console.print(f"saved to {path} and {path.with_suffix('.safetensors')}")
