"""``mixscale study list|show|export|report``: read persisted studies (never needs the driver lease).

``--storage`` (or ``MIXSCALE_STORAGE``) is the database URL that ``mixscale optimize --storage`` wrote. Bad input
(an unknown study, a foreign or corrupt database, an unknown export format) prints one line and exits with code 2.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from mixscale.cli._common import boundary as _boundary
from mixscale.errors import ValidationError

app = typer.Typer(help="Inspect, export and report persisted studies.", no_args_is_help=True, add_completion=False)
console = Console()

STORAGE = typer.Option(..., "--storage", envvar="MIXSCALE_STORAGE", help="Database URL, e.g. sqlite:///study.db.")
NAME = typer.Argument(None, help="Study name (may be omitted when the storage holds one study).")


def _load(storage: str, name: str | None):
    from mixscale.study.storage import Storage
    from mixscale.study.study import load_study

    return load_study(name, Storage(storage, read_only=True))  # readers never create or write anything


def _driver_text(driver: str | None, heartbeat: float | None, ttl: float) -> str:
    if driver is None:
        return "idle"
    age = time.time() - (heartbeat or 0.0)
    return f"driven by {driver} ({age:.0f} s ago)" if age < ttl else f"stale lease of {driver}"


@app.command("list")
@_boundary
def list_studies(storage: str = STORAGE) -> None:
    """One line per study: strategy, trials by state, spent budget, driver."""
    from mixscale.study.storage import Storage
    from mixscale.study.trial import counts, spent

    store = Storage(storage, read_only=True)
    table = Table(title=f"studies in {store.url}")
    for col in ("name", "strategy", "seed", "metric", "complete", "running", "failed", "pruned", "spent", "driver"):
        table.add_column(col)
    for row in store.studies():
        trials = store.trials(row.id)
        n = counts(trials)
        table.add_row(
            row.name,
            row.strategy,
            str(row.seed),
            row.metric,
            str(n["complete"]),
            str(n["running"] + n["pending"]),
            str(n["failed"]),
            str(n["pruned"]),
            f"{spent(trials):.4g}",
            _driver_text(row.driver, row.heartbeat, store.lease_ttl),
        )
    console.print(table)


@app.command()
@_boundary
def show(
    name: str | None = NAME,
    storage: str = STORAGE,
    last: int = typer.Option(20, min=1, help="How many of the latest trials to list."),
    objective: str | None = typer.Option(
        None,
        "--objective",
        help='Re-read the study under another weighting of its stored metrics, e.g. \'{"loss:code": 0.5, '
        '"loss:books": 0.5}\' (JSON; refits mfms on the stored trials, no new runs).',
    ),
) -> None:
    """A study's settings, its latest trials (with failure reasons) and its current recommendation."""
    study = _load(storage, name)
    if objective is not None:
        _show_reweighted(study, objective, last)
        return
    driver, beat = study.driver
    direction = "minimized" if study.metric.minimize else "maximized"
    lease = _driver_text(driver, beat, study.storage.lease_ttl)
    console.print(
        f"[bold]{study.name}[/]: {study.strategy_name} (seed {study.seed}) on {study.metric.name}, {direction}; {lease}"
    )
    console.print(f"objective: {study.objective_description}", highlight=False)
    console.print(f"domains: {', '.join(study.space.domains)}; target {study.space.target}", highlight=False)
    trials = study.trials
    table = Table(title=f"trials ({len(trials)}; latest {min(last, len(trials))})")
    for col in ("#", "state", "scale", "steps", "mixture", study.metric.name, "cost", "attempts", "error"):
        table.add_column(col)
    for t in trials[-last:]:
        mix = " ".join(f"{t.config.mixture[d]:.2f}" for d in study.space.domains)
        error = (t.error or "").splitlines()[0][:60] if t.error else ""
        table.add_row(
            str(t.number),
            t.state,
            t.config.scale,
            str(t.config.steps),
            mix,
            "" if t.value is None else f"{t.value:.4f}",
            "" if t.cost is None else f"{t.cost:.4g}",
            str(t.attempts),
            error,
        )
    console.print(table)
    console.print(f"spent {study.spent:.4g} target runs")
    rec = study.recommendation
    if rec is None:
        console.print("no recommendation yet")
        return
    _print_recommendation(rec, "recommended mixture", study.metric.name)


@app.command()
@_boundary
def export(
    name: str | None = NAME,
    storage: str = STORAGE,
    out: Path = typer.Option(..., "--out", "-o", help="Output file: .csv or .parquet."),
    format: str | None = typer.Option(None, "--format", help="csv or parquet (default: from the file suffix)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
) -> None:
    """Every trial as a table row (configuration, value, curve as JSON, cost, timings, errors)."""
    fmt = format or out.suffix.lstrip(".").lower()
    if fmt not in ("csv", "parquet"):
        raise ValidationError("format", f"must be csv or parquet, got {fmt!r} (from {out.name})")
    if not out.parent.is_dir():
        raise ValidationError("out", f"directory {out.parent} does not exist")
    if out.is_dir() or (out.exists() and not force):
        raise ValidationError("out", f"{out} exists; pass --force to replace it (or pick another name)")
    df = _load(storage, name).trials_dataframe()
    tmp = out.with_name(f".{out.name}.tmp")
    if fmt == "csv":
        df.to_csv(tmp, index=False)
    else:
        df.to_parquet(tmp, index=False)
    os.replace(tmp, out)  # atomic: never a half-written export under the final name
    console.print(f"wrote {len(df)} trials to {out}")


@app.command()
@_boundary
def report(
    name: str | None = NAME,
    storage: str = STORAGE,
    out: Path = typer.Option(Path("results/study"), "--out", "-o", help="Output directory."),
) -> None:
    """Regret (or predicted value) vs cost and the recommended mixture as PNG, plus one self-contained HTML page."""
    from mixscale.study.report import write_report

    if out.exists() and not out.is_dir():
        raise ValidationError("out", f"{out} is a file; the report needs a directory")

    paths = write_report(_load(storage, name), out)
    console.print("wrote " + ", ".join(str(p) for p in paths.values()))


def _show_reweighted(study, spec: str, last: int) -> None:
    """``study show --objective``: the stored trials scored by another weighting, and mfms's recommendation."""
    from mixscale.study.reweigh import reweigh

    scal, df, rec = reweigh(study, spec)
    console.print(f"[bold]{study.name}[/] re-read under: {scal.describe()}", highlight=False)
    skipped = df.attrs.get("skipped", [])
    if skipped:
        console.print(f"{len(skipped)} trials did not store every weighted metric and are left out", highlight=False)
    top = df[df["fidelity_cost"] >= df["fidelity_cost"].max() - 1e-12].sort_values("reweighted").head(last)
    table = Table(title=f"best trials at the most expensive fidelity reached ({len(top)})")
    for col in ("#", "source", "scale", "steps", "mixture", *scal.metrics, "reweighted"):
        table.add_column(col)
    for _, r in top.iterrows():
        mix = " ".join(f"{r[f'w:{d}']:.2f}" for d in study.space.domains)
        metric_cells = [f"{r[m]:.4f}" for m in scal.metrics]
        table.add_row(
            str(r["number"]), r["source"], r["scale"], str(r["steps"]), mix, *metric_cells, f"{r['reweighted']:.4f}"
        )
    console.print(table)
    if rec is not None:
        _print_recommendation(rec, "recommended mixture under this weighting", "weighted value")


def _print_recommendation(rec, title: str, what: str) -> None:
    """A recommendation as ``study show`` prints it: the mixture, then its predicted value at the target."""
    console.print(f"[bold]{title}[/] ({rec.source}):")
    for d, v in rec.mixture.items():
        console.print(f"  {d:>16}: {v:.4f}")
    if rec.value is not None:
        unc = f" ± {rec.std:.4f}" if rec.std is not None else ""
        console.print(f"predicted {what} at target: {rec.value:.4f}{unc}")
