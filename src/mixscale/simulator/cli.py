"""`mixscale simulator fit RUNS`: held-out R² of every fit method, per metric and scale, and the chosen method."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from mixscale.cli import _boundary, _split

console = Console()
app = typer.Typer(help="Simulators fitted to runs tables.", no_args_is_help=True)


@app.command("fit")
@_boundary
def fit_command(
    runs: Path = typer.Argument(None, help="Runs table (.parquet or .csv); default: the shipped runs."),
    methods: str = typer.Option("mlp,poly", help="Fit methods to compare (comma-separated)."),
    folds: int = typer.Option(5, help="Cross-validation folds (by run)."),
    seed: int = typer.Option(0, help="Seed of the fold assignment."),
) -> None:
    """Cross-validate fit methods (folds hold out whole runs); print R² of final values per metric per scale."""
    from mixscale.errors import ValidationError
    from mixscale.simulator import fit as fitting
    from mixscale.simulator.fitted import _load, seed_noise

    df = _load(runs)
    names = _split(methods)
    bad = [m for m in names if m not in fitting.METHODS]
    if bad or not names:
        raise ValidationError("methods", f"unknown method {bad[0] if bad else ''!r}; known: {list(fitting.METHODS)}")
    if folds < 2:
        raise ValidationError("folds", "must be at least 2")
    n_runs = df["run_id"].nunique()
    console.print(
        f"{n_runs} runs, {len(df)} curve points, {df['scale'].nunique()} scales, metrics in bits per byte; "
        f"{folds}-fold cross-validation by run"
    )
    scores = {}
    for method in names:
        table = fitting.r2_table(fitting.cross_validate(df, method, folds, seed))
        scores[method] = float(np.nanmean(table.to_numpy()))
        t = Table(title=f"{method}: held-out R² of final values (mean {scores[method]:.3f})")
        t.add_column("scale")
        t.add_column("runs", justify="right")
        for m in table.columns:
            t.add_column(m.removeprefix("loss:"), justify="right")
        counts = df[df["step"] == df["max_steps"]].groupby("scale")["run_id"].nunique()
        for scale, row in table.iterrows():
            t.add_row(scale, str(counts[scale]), *(f"{v:.3f}" for v in row))
        console.print(t)
    best = max(scores, key=scores.get)
    console.print(f"chosen method: [bold]{best}[/] (mean held-out R² {scores[best]:.3f})")
    metric = "loss:avg" if "loss:avg" in df.columns else fitting.metric_columns(df)[0]
    a, b = seed_noise(df, metric)
    if np.isfinite(a):
        console.print(f"seed noise of {metric}: σ(N) = exp({a:.3f} {b:+.3f}·ln N)")
