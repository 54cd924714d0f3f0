"""`mixscale simulator fit|findings|synth`: choose and check a simulator fit; re-measure findings; synthetic tables."""

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

DEFAULT_METHODS = "poly,mlp,gbm,mixlaw,gp"


def _score_table(method: str, table, score: float, counts) -> Table:
    metrics = list(dict.fromkeys(m for _, m in table.columns))
    shown = metrics if len(metrics) <= 8 else (["loss:avg"] if "loss:avg" in metrics else metrics[:1])
    t = Table(title=f"{method}: held-out R² / Spearman ρ of final values (selection score {score:.3f})")
    t.add_column("scale")
    t.add_column("runs", justify="right")
    for m in shown:
        t.add_column(m.removeprefix("loss:"), justify="right")
    if len(shown) < len(metrics):
        t.add_column(f"mean of {len(metrics)} metrics", justify="right")
    for scale, row in table.iterrows():
        cells = [f"{row[('r2', m)]:.3f} / {row[('spearman', m)]:.3f}" for m in shown]
        if len(shown) < len(metrics):
            cells.append(
                f"{np.nanmean(row['r2'].to_numpy(float)):.3f} / {np.nanmean(row['spearman'].to_numpy(float)):.3f}"
            )
        t.add_row(scale, str(counts[scale]), *cells)
    return t


@app.command("fit")
@_boundary
def fit_command(
    runs: Path = typer.Argument(None, help="Runs table (.parquet or .csv); default: the shipped runs."),
    methods: str = typer.Option(DEFAULT_METHODS, help="Model families to compare (comma-separated)."),
    folds: int = typer.Option(5, help="Cross-validation folds (by run)."),
    seed: int = typer.Option(0, help="Seed of the fold assignment."),
    ensemble: bool = typer.Option(True, help="Also score the mean of the best two families."),
    store: bool = typer.Option(True, help="Store the choice for the fitted simulator of this table (user cache)."),
) -> None:
    """Cross-validate model families (folds hold out whole runs); print R² and Spearman per scale, and the choice.

    The choice maximizes ½ (R² + Spearman ρ) at the largest scale, averaged over metrics. With --store
    `FittedSimulator(runs=...)` (and `--runs` of the benchmark and study commands) reuses it.
    """
    from mixscale.errors import ValidationError
    from mixscale.runs import unit_of
    from mixscale.simulator import regression as fitting
    from mixscale.simulator.fitted import fingerprint, load_runs, seed_noise, store_choice

    df = load_runs(runs)
    names = _split(methods)
    bad = [m for m in names if m not in fitting.METHODS]
    if bad or not names:
        raise ValidationError("methods", f"unknown method {bad[0] if bad else ''!r}; known: {list(fitting.METHODS)}")
    if folds < 2:
        raise ValidationError("folds", "must be at least 2")
    n_runs = df["run_id"].nunique()
    console.print(
        f"{n_runs} runs, {len(df)} curve points, {df['scale'].nunique()} scales, "
        f"{len(fitting.metric_columns(df))} metrics in {unit_of(df).replace('_', ' ')}; "
        f"{folds}-fold cross-validation by run"
    )
    counts = df[df["step"] == df["max_steps"]].groupby("scale")["run_id"].nunique()
    best, scores, _ = fitting.choose(
        df, names, folds, seed, ensemble=ensemble,
        progress=lambda m, table, score: console.print(_score_table(m, table, score, counts)),
    )  # fmt: skip
    console.print(
        f"chosen method: [bold]{best}[/] (selection score {scores[best]:.3f}: ½ (R² + ρ) at the largest scale)"
    )
    if store:
        key = fingerprint(df)
        store_choice(key, best, scores)
        console.print(f"stored as the fitted simulator's choice for this table ({key})")
    metric = "loss:avg" if "loss:avg" in df.columns else fitting.metric_columns(df)[0]
    a, b = seed_noise(df, metric)
    if np.isfinite(a):
        console.print(f"seed noise of {metric}: σ(N) = exp({a:.3f} {b:+.3f}·ln N)")


@app.command("synth")
@_boundary
def synth_command(
    out: Path = typer.Option(..., help="Where to write the table (.parquet or .csv)."),
    domains: int = typer.Option(17, help="Number of domains."),
    scales: str = typer.Option(
        "xs:2e7:1e9:800,m:1.5e8:8e9:250,l:1e9:2.5e10:64", help="Ladder as name:params:tokens:runs, comma-separated."
    ),
    seed: int = typer.Option(0, help="Seed of the law and of the runs."),
    noise: float = typer.Option(0.005, help="Seed noise at N = 1e7 (nats per token)."),
    curve_points: int = typer.Option(1, help="Evaluations per run (1: final losses only)."),
) -> None:
    """Write a synthetic runs table from a known data-mixing × scaling law (`mixscale.simulator.synth`)."""
    from mixscale.errors import ValidationError
    from mixscale.simulator.synth import parse_scales, synth_table

    if out.suffix not in (".parquet", ".csv"):
        raise ValidationError("out", f"expected a .parquet or .csv path, got {out}")
    df, _ = synth_table(domains, parse_scales(scales), seed, noise, curve_points)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out, index=False) if out.suffix == ".parquet" else df.to_csv(out, index=False)
    sizes = ", ".join(f"{s}: {n}" for s, n in df.groupby("scale", sort=False)["run_id"].nunique().items())
    console.print(f"→ {out}: {domains} domains, runs per scale {sizes}; {len(df)} rows; losses in nats per token")


@app.command("findings")
@_boundary
def findings_command(
    runs: Path = typer.Argument(None, help="Runs table (.parquet or .csv); default: the shipped runs."),
    out: Path = typer.Option(Path("results/findings"), help="Folder for findings.json and the PNG figures."),
    method: str = typer.Option("poly", help="Model refitted by analyses (a) and (b): a family of `simulator fit`."),
    metric: str = typer.Option("loss:avg", help="Metric whose optimum is tracked across scales."),
) -> None:
    """Re-measure the seed paper's findings (a) scale augmentation, (b) partial runs, (c) optimum vs scale."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mixscale.errors import ValidationError
    from mixscale.simulator import findings
    from mixscale.simulator.fitted import FittedSimulator, load_runs
    from mixscale.simulator.regression import METHODS

    if method not in METHODS:
        raise ValidationError("method", f"must be one of {list(METHODS)}, got {method!r}")
    df = load_runs(runs)
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
