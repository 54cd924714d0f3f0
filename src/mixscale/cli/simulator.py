"""`mixscale simulator fit RUNS`: held-out R² of every fit method, per metric and scale, and the chosen method."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from mixscale.cli._common import boundary as _boundary
from mixscale.cli._common import split as _split

console = Console(width=200)
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
    from mixscale.simulator import regression as fitting
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


@app.command("findings")
@_boundary
def findings_command(
    runs: Path = typer.Argument(None, help="Runs table (.parquet or .csv); default: the shipped runs."),
    out: Path = typer.Option(Path("results/findings"), help="Folder for findings.json and the PNG figures."),
    method: str = typer.Option("poly", help="Model refitted by analyses (a) and (b): poly or mlp."),
    metric: str = typer.Option("loss:avg", help="Metric whose optimum is tracked across scales."),
) -> None:
    """Re-measure the seed paper's findings (a) scale augmentation, (b) partial runs, (c) optimum vs scale."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mixscale.errors import ValidationError
    from mixscale.simulator import findings
    from mixscale.simulator.fitted import FittedSimulator, _load
    from mixscale.simulator.regression import METHODS

    if method not in METHODS:
        raise ValidationError("method", f"must be one of {list(METHODS)}, got {method!r}")
    df = _load(runs)
    if metric not in df.columns:
        raise ValidationError("metric", f"{metric!r} is not a column of the runs table")
    out.mkdir(parents=True, exist_ok=True)
    a = findings.scale_augmentation(df, method)
    b = findings.partial_runs(df, method)
    best, agree = findings.optimum_by_scale(df, metric, FittedSimulator(metric, runs=df).model)
    for title, frame in (
        ("(a) R² at the largest scale, adding smaller-scale runs", a),
        ("(b) R² at the largest scale, equal FLOPs", b),
        (f"(c) fitted optimum of {metric} per scale", best),
        ("(c) raw data: agreement of each scale's mixture ranking with the largest scale's", agree),
    ):
        console.print(f"[bold]{title}[/]")
        console.print(frame.to_string(float_format=lambda v: f"{v:.3f}"), highlight=False)
    (out / "findings.json").write_text(
        json.dumps(
            {
                "method": method,
                "scale_augmentation": a.to_dict("records"),
                "partial_runs": b.to_dict("records"),
                "optimum_by_scale": best.reset_index(names="scale").to_dict("records"),
                "rank_agreement": agree.reset_index(names="scale").to_dict("records"),
            },
            indent=1,
            default=lambda o: o.item() if getattr(o, "size", 1) == 1 and hasattr(o, "item") else str(o),
        )
    )
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for cap, g in a.groupby("largest-scale runs in training", sort=False):
        axes[0].plot(g["training set"], g[metric], marker="o", label=f"{cap} largest-scale mixtures")
    axes[0].set(title="(a) adding smaller scales", ylabel=f"held-out R² ({metric}, largest scale)", ylim=(-1, 1))
    axes[0].axhline(0, color="grey", lw=0.5)  # R² below -1 (a model worse than the mean) is clipped
    axes[0].legend(fontsize=8)
    axes[1].bar(b["budget spent as"], b[metric], color="tab:green")
    low = float(np.nanmin(b[metric]))
    axes[1].set(
        title="(b) equal FLOPs at the largest scale", ylabel=f"held-out R² ({metric})", ylim=(min(low, 0.9) - 0.05, 1)
    )
    wcols = [c for c in best.columns if c.startswith("w:")]
    bottom = np.zeros(len(best))
    for c in wcols:
        axes[2].bar(best.index, best[c], bottom=bottom, label=c[2:])
        bottom += best[c].to_numpy()
    axes[2].set(title=f"(c) fitted optimal mixture for {metric}", ylabel="weight", xlabel="scale")
    axes[2].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "findings.png", dpi=120)
    console.print(f"→ {out / 'findings.json'}, {out / 'findings.png'}")
