"""The ``mixscale`` command: ``benchmark`` strategies on a simulator, ``optimize`` a study file.

Bad input (unknown strategy, invalid mixture, malformed study file, ...) prints one line naming the field and
exits with code 2.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mixscale.errors import ValidationError

app = typer.Typer(help="Data-mixture optimization for LLM pre-training.", no_args_is_help=True, add_completion=False)
console = Console()


def _boundary(fn):
    """Turn a ValidationError into a one-line message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValidationError as exc:
            Console(stderr=True).print(f"[bold red]error[/]: {exc.field}: {exc.message}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@app.command()
@_boundary
def benchmark(
    simulator: str = typer.Option("analytic", help="Simulator objective to benchmark on."),
    metric: str = typer.Option("loss:c4", help="Simulator metric (e.g. loss:c4, loss:avg, loss:arxiv, accuracy)."),
    strategies: str = typer.Option(
        "random,hyperband,mfbo,regmix,mfms-paper,mfms", help="Comma-separated strategy names."
    ),
    seeds: int = typer.Option(3, min=1, help="Number of seeds (0..N-1) per strategy."),
    budget: float = typer.Option(3.0, help="Budget per run in target-run units (1.0 = one full target run)."),
    workers: int = typer.Option(2, min=1, help="Parallel worker processes (one torch thread each)."),
    noise: float = typer.Option(1.0, help="Seed-noise multiplier of the simulator (0 = deterministic)."),
    out: Path = typer.Option(Path("results/benchmark"), help="Output directory (traces, summary, PNG)."),
) -> None:
    """Run strategies × seeds on a simulator; print final regret and speedups, save traces and a plot."""
    from mixscale import bench
    from mixscale import simulator as simulators
    from mixscale import strategies as registry
    from mixscale.report import plot_regret

    names = _split(strategies)
    if not names:
        raise ValidationError("strategies", "name at least one strategy")
    for n in names:
        if n not in registry.REGISTRY:
            raise ValidationError("strategies", f"unknown strategy {n!r} (known: {', '.join(registry.REGISTRY)})")
    if not budget > 0:
        raise ValidationError("budget", f"must be positive, got {budget}")
    objective = simulators.load(simulator, metric=metric, noise=noise)
    total = len(names) * seeds
    with Progress(
        TextColumn("[bold]benchmark"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("", total=total)

        def tick(strategy: str, seed: int) -> None:
            progress.update(task, advance=1, description=f"{strategy} seed {seed}")

        result = bench.run(objective, names, seeds=seeds, budget=budget, workers=workers, progress=tick)
    result.meta.update({"simulator": simulator, "noise": noise, "command": " ".join(sys.argv)})
    result.save(out)
    plot_regret(result, out / "regret.png")
    _print_results(result, names)
    console.print(f"saved {out}/traces.parquet, summary.json, regret.png")


def _print_results(result, names: list[str]) -> None:
    from mixscale.strategies import BASELINES

    final = result.final()
    t = Table(
        title=f"Final recommendation regret ({result.metric}, budget {result.budget:g}, optimum {result.optimum:.4f})"
    )
    for col in ("strategy", "median regret", "IQR", "queries", "ask s/query"):
        t.add_column(col, justify="right" if col != "strategy" else "left")
    for name, row in final.iterrows():
        t.add_row(
            name,
            f"{row.median_regret:.4g}",
            f"[{row.q25:.4g}, {row.q75:.4g}]",
            f"{row.queries:.0f}",
            f"{row.ask_s_per_query:.3f}",
        )
    console.print(t)
    methods = [m for m in ("mfms", "mfms-paper") if m in names]
    baselines = [b for b in BASELINES if b in names]
    if methods and baselines:
        table = result.speedup_table(methods, baselines)
        t = Table(
            title="Speedup = cost the baseline needs to reach its final median regret / cost the method needs "
            "(median over seeds [IQR])"
        )
        t.add_column("method")
        for b in baselines:
            t.add_column(f"vs {b}", justify="right")
        for m in methods:
            cells = []
            for b in baselines:
                r = table[(table.method == m) & (table.baseline == b)].iloc[0]
                cells.append(f"{r.speedup:.2f}x [{r.q25:.2f}, {r.q75:.2f}]")
            t.add_row(m, *cells)
        console.print(t)


@app.command()
@_boundary
def optimize(
    config: Path = typer.Argument(..., help="Study file (.toml / .yaml)."),
    budget: float | None = typer.Option(None, help="Override the study's budget."),
) -> None:
    """Run one study from a TOML/YAML file: print each query and the final recommendation."""
    from mixscale import strategies, studyfile

    study = studyfile.load(config)
    if budget is not None:
        if not budget > 0:
            raise ValidationError("budget", f"must be positive, got {budget}")
        study.budget = budget
    objective = study.objective
    strat = strategies.create(
        study.strategy,
        objective.space,
        objective.cost,
        objective.metric.minimize,
        study.seed,
        **study.strategy_options,
    )
    spent, n = 0.0, 0
    table = Table(title=f"{study.strategy} on {objective.metric.name} (budget {study.budget:g} target runs)")
    for col in ("#", "scale", "steps", "mixture", objective.metric.name, "cost", "spent"):
        table.add_column(col)
    console.print(f"domains: {', '.join(objective.space.domains)}; target {objective.space.target}")
    initial = list(study.initial)
    while True:
        cfg = initial.pop(0) if initial else strat.ask()
        c = objective.cost(cfg.scale, cfg.steps)
        if spent + c > study.budget * (1 + 1e-9):
            break
        obs = objective.evaluate(cfg, seed=study.seed * 100003 + n)
        strat.tell(cfg, obs)
        spent += c
        n += 1
        mix = " ".join(f"{v:.2f}" for v in cfg.mixture.values())
        console.print(
            f"{n:4d}  {cfg.scale:>6} {cfg.steps:>7}  [{mix}]  {obs.value:.4f}  cost {c:.4f}  spent {spent:.3f}",
            highlight=False,
        )
    rec = strat.recommend()
    console.print(f"\n[bold]recommended mixture[/] after {n} queries, {spent:.3f} target runs:")
    for d, v in rec.mixture.items():
        console.print(f"  {d:>16}: {v:.4f}")
    if rec.value is not None:
        unc = f" ± {rec.std:.4f}" if rec.std is not None else " (no uncertainty: best observed)"
        console.print(f"predicted {objective.metric.name} at target: {rec.value:.4f}{unc}  [{rec.source}]")
    truth = getattr(objective, "target_value", None)
    if truth is not None and hasattr(objective, "optimum"):
        import numpy as np

        v = float(truth(np.array([list(rec.mixture.values())]))[0])
        console.print(
            f"true target {objective.metric.name} of the recommendation: {v:.4f} "
            f"(best achievable {objective.optimum()[1]:.4f})"
        )


def _mount_subcommands() -> None:
    from mixscale.exchangeable.cli import app as exchangeable_app

    app.add_typer(exchangeable_app, name="exchangeable", help="Exchangeable sequence models (seed paper 2).")

    from mixscale.train.cli import corpus_app, sweep_command, train_command

    app.add_typer(corpus_app, name="corpus")
    app.command("train")(train_command)
    app.command("sweep")(sweep_command)


_mount_subcommands()


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
