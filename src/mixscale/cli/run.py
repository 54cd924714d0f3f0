"""``mixscale benchmark`` (strategies × seeds on a simulator) and ``mixscale optimize`` (run a study file)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mixscale.cli._common import boundary as _boundary
from mixscale.cli._common import console
from mixscale.cli._common import split as _split
from mixscale.cli.tables import print_results, print_suite
from mixscale.errors import ValidationError


def _number(name: str, value: float | None, positive: bool = True) -> None:
    """A numeric option must be finite and positive (``positive``) or non-negative."""
    if value is None:
        return
    if not math.isfinite(value) or (value <= 0 if positive else value < 0):
        raise ValidationError(
            name, f"must be a finite {'positive' if positive else 'non-negative'} number, got {value}"
        )


@_boundary
def benchmark(
    simulator: str = typer.Option(
        None, help="Simulator: fitted (default; to mixscale's own pre-training runs) or analytic (synthetic law)."
    ),
    metric: str = typer.Option(
        None, help="Simulator metric (default: loss:avg for fitted, loss:c4 for analytic; e.g. loss:code)."
    ),
    runs: Path = typer.Option(None, help="Runs table for the fitted simulator (default: the shipped runs)."),
    strategies: str = typer.Option(
        "random,hyperband,mfbo,regmix,mfms-paper,mfms", help="Comma-separated strategy names."
    ),
    seeds: int = typer.Option(
        None,
        help="Number of seeds per strategy (default 20; 5 with --suite). Fewer seeds cannot tell which way a "
        "speedup goes: with 3, the fitted-simulator speedups flipped below 1; with 10, the two halves of 20 "
        "seeds disagreed at budget 3.",
    ),
    seed_start: int = typer.Option(0, help="First seed: the run uses seeds N .. N+seeds-1."),
    budget: float = typer.Option(
        None,
        help="Budget per run in target-run units (1.0 = one full target run; default 1, what a team that can "
        "afford one target run spends; 10 with --suite, where the runs are also judged at 1 and 3).",
    ),
    workers: int = typer.Option(2, help="Parallel worker processes (one torch thread each)."),
    noise: float = typer.Option(None, help="Seed-noise multiplier of the simulator (default 1; 0 = deterministic)."),
    suite: bool = typer.Option(
        False,
        "--suite",
        help="Run the problem suite (every family of mixscale.bench.suite()) instead of one simulator.",
    ),
    families: str = typer.Option(None, help="With --suite: comma-separated family names (default: all)."),
    report_only: bool = typer.Option(
        False,
        "--report-only",
        help="With --suite: run nothing; report the seeds whose runs are all saved under --out (an interrupted run).",
    ),
    out: Path = typer.Option(
        None, help="Output directory (default results/benchmark; docs/benchmark/suite with --suite)."
    ),
) -> None:
    """Run strategies × seeds on a simulator (or on the problem suite); print final regret and speedups, save
    traces and plots."""
    from mixscale import strategies as registry

    names = _split(strategies)
    if not names:
        raise ValidationError("strategies", "name at least one strategy")
    for n in names:
        if n not in registry.REGISTRY:
            raise ValidationError("strategies", f"unknown strategy {n!r} (known: {', '.join(registry.REGISTRY)})")
    _number("budget", budget)
    _number("noise", noise, positive=False)
    if seeds is not None and seeds < 1:
        raise ValidationError("seeds", f"must be at least 1, got {seeds}")
    if seed_start < 0:
        raise ValidationError("seed-start", f"must be >= 0, got {seed_start}")
    if workers < 1:
        raise ValidationError("workers", f"must be at least 1, got {workers}")
    seed_list = list(range(seed_start, seed_start + (seeds or (5 if suite else 20))))
    if suite:
        for opt, value in (("simulator", simulator), ("metric", metric), ("runs", runs), ("noise", noise)):
            if value is not None:
                raise ValidationError(opt, "--suite runs every family with its own simulator, metric and noise")
        _run_suite(names, seed_list, budget, workers, families, out or Path("docs/benchmark/suite"), report_only)
        return
    if families is not None or report_only:
        raise ValidationError("families" if families is not None else "report-only", "only with --suite")
    simulator = simulator or "fitted"
    if runs is not None and simulator != "fitted":
        raise ValidationError("runs", "only the fitted simulator takes a runs table")
    _run_single(names, seed_list, budget or 1.0, workers, simulator, metric, runs, 1.0 if noise is None else noise, out)


def _progress(total: int) -> Progress:
    return Progress(
        TextColumn("[bold]benchmark"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _run_single(names, seed_list, budget, workers, simulator, metric, runs, noise, out) -> None:
    from mixscale import bench
    from mixscale import simulator as simulators
    from mixscale.bench.plot import plot_regret

    objective = simulators.load(simulator, metric=metric, noise=noise, runs=runs)
    out = out or Path("results/benchmark")
    with _progress(len(names) * len(seed_list)) as progress:
        task = progress.add_task("", total=len(names) * len(seed_list))

        def tick(strategy: str, seed: int) -> None:
            progress.update(task, advance=1, description=f"{strategy} seed {seed}")

        result = bench.run(objective, names, seeds=seed_list, budget=budget, workers=workers, progress=tick)
    result.meta.update({"simulator": simulator, "noise": noise, "command": " ".join(sys.argv)})
    result.save(out)
    plot_regret(result, out / "regret.png")
    print_results(result, names)
    console.print(f"saved {out}/traces.parquet, summary.json, regret.png")


def _run_suite(names, seed_list, budget, workers, families, out: Path, report_only: bool) -> None:
    from mixscale.bench.suite import BUDGETS, collect_suite, describe, family_names, run_suite, save_suite

    fams = _split(families) if families is not None else family_names()
    if not fams:
        raise ValidationError("families", "name at least one family")
    for f in fams:
        describe(f)
    top = budget or max(BUDGETS)
    budgets = sorted({b for b in BUDGETS if b < top} | {top})
    total = len(fams) * len(names) * len(seed_list)
    if report_only:
        result = collect_suite(out, fams, names, seed_list, budgets)
        missing = sorted(set(seed_list) - set(result.seeds))
        if missing:
            console.print(f"seeds {missing} are incomplete under {out}/runs and left out", highlight=False)
        save_suite(result, out, command=" ".join(["mixscale", *sys.argv[1:]]))
        print_suite(result, names)
        return
    with _progress(total) as progress:
        task = progress.add_task("", total=total)

        def tick(fam: str, strategy: str, seed: int) -> None:
            progress.update(task, advance=1, description=f"{fam} {strategy} seed {seed}")

        result = run_suite(fams, names, seed_list, budgets, workers=workers, out=out, progress=tick)
    save_suite(result, out, command=" ".join(["mixscale", *sys.argv[1:]]))
    print_suite(result, names)
    console.print(f"saved {out}/suite.json and <family>.json / .png per family (runs under {out}/runs/)")


@_boundary
def optimize(
    config: Path = typer.Argument(..., help="Study file (.toml / .yaml)."),
    budget: float | None = typer.Option(None, help="Override the study's budget."),
    storage: str | None = typer.Option(
        None,
        envvar="MIXSCALE_STORAGE",
        help="Database URL (sqlite:///study.db, postgresql+psycopg://...): the study is saved there, and a study "
        "of the same name that already exists is resumed. Default: in memory, nothing saved.",
    ),
    name: str | None = typer.Option(None, help="Study name in the storage (default: the file's 'name', or its stem)."),
    workers: int | None = typer.Option(
        None, min=1, help="Trials run at once (default 1; with --ray: the cluster's CPUs)."
    ),
    ray: str | None = typer.Option(
        None, "--ray", help="Run trials as Ray tasks: 'local' for a local Ray, or a cluster address (auto, host:6379)."
    ),
    timeout: float | None = typer.Option(None, help="Seconds per trial attempt; a trial past it is killed."),
    retries: int = typer.Option(1, min=0, help="Retries of a failed trial attempt before it is recorded failed."),
    deterministic: bool = typer.Option(
        False, help="Tell results in trial order, so that proposals do not depend on which worker finished first."
    ),
    warm_start: list[str] = typer.Option(
        [],
        "--warm-start",
        help="Earlier runs to start from, never charged (repeatable): a runs table (.parquet / .csv) or an earlier "
        "study as STORAGE_URL#NAME. Added to the study file's [warm_start]; used only when the study is created.",
    ),
    max_failures: int | None = typer.Option(
        None,
        min=1,
        help="Stop with an error after this many trials in a row failed (default: the file's max_failures, or 3).",
    ),
) -> None:
    """Run (or resume) one study from a TOML/YAML file: live progress, each query, the final recommendation."""
    from mixscale.objective import check_budget
    from mixscale.study import studyfile
    from mixscale.study.executors import LocalExecutor, RayExecutor
    from mixscale.study.storage import Storage
    from mixscale.study.study import check_name, create_study
    from mixscale.study.warm_start import uncovered_note

    # Everything is validated before the storage is opened: a rejected command writes nothing.
    spec = studyfile.load(config)
    if budget is not None:
        spec.budget = check_budget(budget)
    if timeout is not None and not timeout > 0:
        raise ValidationError("timeout", f"must be positive, got {timeout}")
    if max_failures is not None:
        spec.max_failures = max_failures
    study_name = check_name(name or spec.name or config.stem)
    objective = spec.objective
    store = Storage(storage or "sqlite:///:memory:")
    resuming = study_name in store.study_names()
    description = {"type": spec.description.get("type", "simulator"), **spec.description, "file": str(config)}
    study = create_study(
        objective,
        storage=store,
        name=study_name,
        strategy=spec.strategy,
        seed=spec.seed,
        strategy_options=spec.strategy_options,
        description=description,
        load_if_exists=True,
        warm_start=[*spec.warm_start, *warm_start] or None,
    )
    if resuming:
        trials = study.trials
        done = sum(t.state == "complete" for t in trials)
        rerun = sum(t.state in ("running", "pending") for t in trials)
        console.print(f"resuming study {study_name!r} in {store.url}: {done} complete, {rerun} to (re-)run")
    else:
        report = study.objective_description.get("warm_start")
        if report:
            reasons = {}
            for item in report.get("skipped", []):
                key = item["reason"].split(":")[0]
                reasons[key] = reasons.get(key, 0) + 1
            why = "; ".join(f"{n}× {r}" for r, n in reasons.items())
            console.print(
                f"warm start: {report['used']} runs used ({report.get('provenance_changed', 0)} with changed "
                f"provenance), {report.get('n_skipped', 0)} skipped{f' ({why})' if why else ''}",
                highlight=False,
            )
            if report.get("uncovered"):
                console.print(f"warm start: {uncovered_note(report['uncovered'])}", highlight=False)
        for cfg in spec.initial:
            study.enqueue(cfg)
    if ray is not None:
        executor = RayExecutor(address=None if ray == "local" else ray, workers=workers)
    else:
        executor = LocalExecutor(workers or 1)
    metric = objective.metric.name
    domains = objective.space.domains
    console.print(f"domains: {', '.join(domains)}; target {objective.space.target}", highlight=False)
    if objective.space.constrained:
        region = Table(title="feasible region (per-domain weight range)")
        for col in ("domain", "min", "max"):
            region.add_column(col, justify="left" if col == "domain" else "right")
        for d, (lo, hi) in objective.space.feasible_region().items():
            region.add_row(d, f"{lo:.4f}", f"{hi:.4f}")
        console.print(region)
    console.print(
        f"study {study_name!r}: {spec.strategy} on {metric}, budget {spec.budget:g} target runs", highlight=False
    )

    with Progress(
        TextColumn("[bold]{task.fields[name]}"),
        BarColumn(),
        TextColumn("{task.completed:.3g}/{task.total:.3g} target runs"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=spec.budget, name=study_name)

        def show(p) -> None:
            rec = ""
            if p.recommendation is not None:
                top = sorted(p.recommendation.mixture.items(), key=lambda kv: -kv[1])[:3]
                rec = " | rec " + " ".join(f"{d} {w:.2f}" for d, w in top)
            status = f"running {p.running} · done {p.complete} · failed {p.failed}{rec}"
            progress.update(task, completed=min(p.spent, spec.budget), description=status)
            t = p.trial
            if t is None:
                return
            mix = " ".join(f"{t.config.mixture[d]:.2f}" for d in domains)
            if p.event == "complete":
                console.print(
                    f"{t.number + 1:4d}  {t.config.scale:>6} {t.config.steps:>7}  [{mix}]  {t.value:.4f}  "
                    f"cost {t.cost:.4f}  spent {p.spent:.3f}",
                    highlight=False,
                )
            elif p.event in ("failed", "retry"):
                what = "failed" if p.event == "failed" else "will retry"
                console.print(f"{t.number + 1:4d}  [red]{what}[/]: {(t.error or '').splitlines()[0]}", highlight=False)

        try:
            study.optimize(
                objective,
                budget=spec.budget,
                executor=executor,
                timeout=timeout,
                max_retries=retries,
                deterministic=deterministic,
                callback=show,
                max_failures=spec.max_failures,
            )
        finally:
            executor.shutdown()
    trials = study.trials
    n = sum(t.state == "complete" and t.source != "warm_start" for t in trials)
    warm = sum(t.source == "warm_start" for t in trials)
    failed = sum(t.state == "failed" for t in trials)
    rec = study.recommendation
    if rec is None:
        console.print(f"no completed trials ({failed} failed): nothing to recommend")
        if storage is None:
            console.print("(the study was kept in memory; pass --storage sqlite:///study.db to keep it)")
        return
    also = f" (+ {warm} warm-start runs, free)" if warm else ""
    console.print(f"\n[bold]recommended mixture[/] after {n} queries{also}, {study.spent:.3f} target runs:")
    for d, v in rec.mixture.items():
        console.print(f"  {d:>16}: {v:.4f}")
    if rec.value is not None:
        unc = f" ± {rec.std:.4f}" if rec.std is not None else " (no uncertainty: best observed)"
        console.print(f"predicted {metric} at target: {rec.value:.4f}{unc}  \\[{rec.source}]", highlight=False)
    truth = getattr(objective, "target_value", None)
    if truth is not None and hasattr(objective, "optimum"):
        import numpy as np

        v = float(truth(np.array([[rec.mixture[d] for d in domains]]))[0])
        console.print(
            f"true target {metric} of the recommendation: {v:.4f} (best achievable {objective.optimum()[1]:.4f})"
        )
    if storage is None:
        console.print("(the study was kept in memory; pass --storage sqlite:///study.db to make it resumable)")
    else:
        console.print(f"saved in {store.url} as {study_name!r}; see: mixscale study show {study_name} --storage ...")
