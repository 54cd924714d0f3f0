"""The tables ``mixscale benchmark`` prints: final regret and speedups of one benchmark, and the problem suite's
per-family regrets, robustness figures and worst families."""

from __future__ import annotations

import math

from rich.table import Table

from mixscale.cli._common import console


def seed_text(seeds: list[int]) -> str:
    span = f"{seeds[0]}..{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ",".join(map(str, seeds))
    return f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({span})"


def print_suite(result, names: list[str]) -> None:
    seeds = seed_text(result.seeds)
    cpu = result.cpu_seconds()
    if cpu:
        per = ", ".join(f"{s} {v:.0f}" for s, v in cpu.items())
        console.print(f"CPU seconds of the runs: {sum(cpu.values()):.0f} ({per})", highlight=False)
    for b in result.budgets:
        reg = result.regrets(b)
        t = Table(title=f"Median final regret at budget {b:g} target runs, {seeds} per strategy and family")
        t.add_column("family")
        for n in names:
            t.add_column(n, justify="right")
        for fam, row in reg.iterrows():
            best = row.min()
            t.add_row(fam, *(f"[bold]{row[n]:.3g}[/]" if row[n] == best else f"{row[n]:.3g}" for n in names))
        console.print(t)
        if len(names) > 1:
            print_robustness(result.robustness(b), b, seeds)
        if "mfms" not in names or len(names) < 2:
            continue
        sp = result.speedups(b)
        t = Table(
            title=f"mfms's median speedup at budget {b:g} ({seeds}; 0 = its median seed never reached and "
            "kept the baseline's final median regret)"
        )
        t.add_column("family")
        others = [n for n in names if n != "mfms"]
        for n in others:
            t.add_column(f"vs {n}", justify="right")
        for fam, row in sp.iterrows():
            t.add_row(fam, *(f"{row[n]:.2f}x" for n in others))
        console.print(t)
        worst = result.worst(b)
        console.print(f"[bold]worst family at budget {b:g}[/]: {worst}", highlight=False)
        print_results(result.at(worst, b), names)


def print_robustness(rob, budget: float, seeds: str) -> None:
    t = Table(
        title=f"Each strategy against the best one per family at budget {budget:g} ({seeds}): median regret ratio "
        "(1 = the best; regrets within 1 % of the uniform mixture's count as equal)"
    )
    for col in ("strategy", "worst family", "ratio there", "geometric mean over families"):
        t.add_column(col, justify="left" if col in ("strategy", "worst family") else "right")
    low = rob["worst"].min()
    for s, row in rob.iterrows():
        worst = f"{row['worst']:.2f}"
        t.add_row(s, row["family"], f"[bold]{worst}[/]" if row["worst"] == low else worst, f"{row['geomean']:.2f}")
    console.print(t)


def print_results(result, names: list[str]) -> None:
    from mixscale.strategies import BASELINES

    final = result.final()
    seeds = seed_text(sorted(set(int(s) for s in result.traces["seed"])))
    t = Table(
        title=f"Final recommendation regret ({result.metric}, budget {result.budget:g}, optimum {result.optimum:.4f}; "
        f"{seeds} per strategy)"
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
    baselines = [b for b in (*BASELINES, "mfms-paper") if b in names]
    if any(m != b for m in methods for b in baselines):
        table = result.speedup_table(methods, baselines)
        t = Table(
            title="Speedup = cost the baseline needs to reach its final median regret / cost the method needs "
            f"(median over {seeds} [IQR]; below it, the 90 % bootstrap interval of that median, seeds of both "
            "strategies resampled)"
        )
        t.add_column("method")
        for b in baselines:
            t.add_column(f"vs {b}", justify="right")
        for m in methods:
            cells = []
            for b in baselines:
                if b == m:
                    cells.append("—")
                    continue
                r = table[(table.method == m) & (table.baseline == b)].iloc[0]
                interval = "n/a (one seed)" if math.isnan(r.boot_lo) else f"{r.boot_lo:.2f}–{r.boot_hi:.2f}"
                cells.append(f"{r.speedup:.2f}x [{r.q25:.2f}, {r.q75:.2f}]\n90%: {interval}")
            t.add_row(m, *cells)
        console.print(t)
        if "mfms" in methods:
            rows = table[table.method == "mfms"]
            open_ = rows[rows.settled != True].baseline.tolist()  # noqa: E712 (None, no interval, is open too)
            if open_:
                console.print(
                    f"Not settled by these {seeds}: mfms vs {', '.join(open_)} (the 90 % interval contains 1: other "
                    "seeds could reverse the verdict; run more with --seeds, or others with --seed-start)."
                )
            else:
                console.print(f"Every mfms speedup's 90 % interval lies on one side of 1 with these {seeds}.")
