"""The ``benchmark`` command: methods (ours and peers) compared under one protocol."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from automl_meta._support import lifecycle as _lifecycle
from automl_meta.cli._common import console


def benchmark(
    data_dir: list[Path] = typer.Argument(..., help="One or more directories of datasets "
                                          "(CSV/TSV/Parquet/ARFF; the task from an index.csv "
                                          "beside them, else inferred)."),
    methods: str | None = typer.Option(None, "--methods", help="Comma-separated methods "
                                       "(default: all but tpe_seconds and the AutoGluon "
                                       "peers): hgb_default, random, tpe, tpe_seconds, "
                                       "flaml_zeroshot, flaml_automl, autogluon, "
                                       "autogluon_best (their own environment: "
                                       "$AUTOML_META_AUTOGLUON_PYTHON), recommend_top1, "
                                       "warm_tpe, meta_sampler, neural, fit, and the "
                                       "LightGBM-only searches under LightGBM's own names, "
                                       "lgbm_tpe and lgbm_warm_tpe (held against it)."),
    budgets: str = typer.Option("1,5,10,20,50", "--budgets", help="Trial budgets of the "
                                "search methods (one result per budget from one run)."),
    seconds: float = typer.Option(30.0, "--seconds", help="Time budget of fit, flaml_automl, "
                                  "the AutoGluon peers and tpe_seconds."),
    max_rows: int = typer.Option(5000, "--max-rows", help="Rows kept per dataset (seeded, "
                                 "stratified for classification)."),
    out: Path = typer.Option(Path("benchmark-results"), "--out", "-o", help="Output "
                             "directory; an existing run there is resumed."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Datasets run at once."),
    db: str | None = typer.Option(None, "--db", help="A meta-database store to learn from "
                                  "besides the shipped bundle (only read; default: the "
                                  "shipped bundle alone)."),
    seed: int = typer.Option(0, "--seed", help="Seed of rows, split, folds and samplers."),
    trial_seconds: float | None = typer.Option(None, "--trial-seconds", help="Time limit of "
                                               "one trial (default: --seconds)."),
    datasets: str | None = typer.Option(None, "--datasets", help="Only these comma-separated "
                                        "dataset names of DATA_DIR."),
    report_only: bool = typer.Option(False, "--report-only", help="Only rewrite summary.json, "
                                     "report.md and the plots from the results in --out."),
) -> None:
    """Benchmark methods (ours and peers) on directories of datasets under one protocol."""
    from automl_meta.harness import run_benchmark, write_outputs

    if report_only:
        summary = write_outputs(out)
    else:
        try:
            budget_list = [int(b) for b in budgets.split(",") if b.strip()]
        except ValueError as exc:
            raise typer.BadParameter(f"--budgets must be whole numbers such as 1,5,20; got "
                                     f"{budgets!r}.") from exc
        _lifecycle.note_kept(f"every method that finished is in {out / 'results.jsonl'}; "
                             "rerun the same command to resume")
        summary = run_benchmark(
            data_dir, out, methods=methods.split(",") if methods else None,
            budgets=budget_list, seconds=seconds, max_rows=max_rows, jobs=jobs, db=db,
            seed=seed, trial_seconds=trial_seconds,
            datasets=[d.strip() for d in datasets.split(",") if d.strip()] if datasets
            else None, command="automl-meta " + " ".join(sys.argv[1:]))
    table = Table(title=f"Benchmark ({len(summary['datasets'])} datasets): best mean rank first")
    for column in ("entry", "datasets", "failed", "skipped", "mean normalised", "mean rank"):
        table.add_column(column, justify="left" if column == "entry" else "right")
    for label in summary["order"]:
        e = summary["entries"][label]
        table.add_row(label, str(e["datasets"]), str(e["failed"]), str(e["skipped"]),
                      "" if e["mean_normalised"] is None else f"{e['mean_normalised']:.3f}",
                      "" if e["mean_rank"] is None else f"{e['mean_rank']:.2f}")
    console.print(table)
    console.print(f"results, summary.json, report.md and plots in {out}")
