r"""Benchmark harness: strategies × seeds on one objective under a budget, scored by regret vs cost.

Definitions (``shared/DESIGN.md``):

* **Budget and cost** are in target-run units. A run stops before the query that would overspend the budget.
* **Recommendation regret** at cost :math:`c` is the true (noise-free) target metric of the mixture the strategy
  recommended at its last checkpoint at or before :math:`c`, minus the best achievable (dense search; sign flipped
  for maximized metrics). Scoring a recommendation is free. Recommendations are taken at log-spaced cost
  checkpoints, after the first query that crosses each one, and at the end of the run; before its first query a
  strategy has recommended nothing (regret :math:`+\infty`), so no method gets credit for a data-free default.
* **Speedup of A over B**: let :math:`r_B` be B's median (over seeds) regret at the full budget and :math:`c_B` the
  cost from which B's median trace stays at or below :math:`r_B`. For each seed :math:`s` of A, :math:`c_{A,s}` is
  the cost from which A's trace stays at or below :math:`r_B` until the budget ends (infinite if it ends above).
  The speedup is :math:`c_B / \mathrm{median}_s\, c_{A,s}` (the median of the per-seed ratios), with the
  interquartile range of those ratios; a seed that does not end below :math:`r_B` counts as speedup 0.
  "Reaches and stays" rather than "first touches": recommendation regret is not monotone, and a lucky early
  recommendation that is later abandoned should not count as having found a good mixture.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mixscale import strategies as _strategies
from mixscale.errors import ValidationError
from mixscale.objective import BenchmarkObjective, check_budget, over_budget


def checkpoints(budget: float, n: int = 48, first: float = 1e-3) -> np.ndarray:
    """Log-spaced cost checkpoints from ``first * budget`` to ``budget``."""
    return np.geomspace(first * budget, budget, n)


def regret_of(objective: BenchmarkObjective, mixture: dict[str, float], optimum_value: float) -> float:
    w = objective.space.validate_mixture(mixture)
    value = float(objective.target_value(w[None])[0])
    return value - optimum_value if objective.metric.minimize else optimum_value - value


def run_one(
    objective: BenchmarkObjective,
    strategy: str,
    seed: int,
    budget: float,
    options: dict[str, Any] | None = None,
    n_checkpoints: int = 48,
    grid: Sequence[float] | None = None,
) -> pd.DataFrame:
    """One (strategy, seed) run; returns its regret trace as rows (cost, queries, regret, mixture, ...).

    ``grid``, when given, replaces the ``n_checkpoints`` log-spaced recommendation checkpoints (the suite adds
    checkpoints just below each budget it judges, so that a cut at that budget sees the last recommendation).
    """
    _, opt_value = objective.optimum()
    strat = _strategies.create(
        strategy, objective.space, objective.cost, objective.metric.minimize, seed, **(options or {})
    )
    grid = checkpoints(budget, n_checkpoints) if grid is None else np.sort(np.asarray(grid, dtype=float))
    rows: list[dict[str, Any]] = []
    spent, n, next_cp, ask_time = 0.0, 0, 0, 0.0

    def record() -> None:
        rec = strat.recommend()
        regret = regret_of(objective, rec.mixture, opt_value) if n else np.inf  # nothing run, nothing known
        rows.append(
            {
                "strategy": strategy,
                "seed": seed,
                "cost": spent,
                "queries": n,
                "regret": regret,
                "predicted": rec.value,
                "predicted_std": rec.std,
                "mixture": json.dumps(rec.mixture),
                "ask_seconds": ask_time,
            }
        )

    while True:
        t0 = time.perf_counter()
        config = strat.ask()
        ask_time += time.perf_counter() - t0
        c = objective.cost(config.scale, config.steps)
        if over_budget(spent, c, budget):
            break
        obs = objective.evaluate(config, seed=int(np.random.SeedSequence([seed, n]).generate_state(1)[0]))
        strat.tell(config, obs)
        spent += c
        n += 1
        if next_cp < len(grid) and spent >= grid[next_cp]:
            while next_cp < len(grid) and spent >= grid[next_cp]:
                next_cp += 1
            record()
    if not rows or rows[-1]["queries"] != n:
        record()
    return pd.DataFrame(rows)


def _stays_below(regret: np.ndarray, target: float) -> np.ndarray:
    """True where the trace is at or below ``target`` from that cost to the end of the budget."""
    ok = regret <= target
    return np.flip(np.cumprod(np.flip(ok, axis=-1), axis=-1), axis=-1).astype(bool)


def cost_to_stay(costs: Sequence[float], regret: Sequence[float], target: float) -> float:
    """The first of ``costs`` from which ``regret`` stays at or below ``target`` to the end of the trace (inf when
    it ends above): "reaches and keeps", the cost a speedup divides."""
    stay = _stays_below(np.asarray(regret, dtype=float), target)
    return float(np.asarray(costs, dtype=float)[np.argmax(stay)]) if stay.size and stay[-1] else float("inf")


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _run_task(args: tuple) -> pd.DataFrame:
    return run_one(*args)


@dataclass
class Speedup:
    """Speedup of ``method`` over ``baseline`` with its interquartile range across the method's seeds and, when
    asked for, a bootstrap interval of the median (``lo``, ``hi``; ``nan`` otherwise)."""

    baseline: str
    method: str
    median: float
    q25: float
    q75: float
    target_regret: float
    baseline_cost: float
    reached: float  # fraction of the method's seeds that reached the target regret
    lo: float = float("nan")
    hi: float = float("nan")

    def __str__(self) -> str:
        return f"{self.median:.2f}x [{self.q25:.2f}, {self.q75:.2f}]"

    @property
    def settled(self) -> bool | None:
        """Whether the bootstrap interval lies on one side of 1 (``None`` without one)."""
        if np.isnan(self.lo):
            return None
        return bool(self.lo > 1.0 or self.hi < 1.0)


def _speedup_ratios(base: np.ndarray, method: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Per seed of the method (rows of ``method``), the speedup over the baseline whose seeds are the rows of
    ``base``; and the baseline's target regret (its median trace's final value) and the cost from which that trace
    stays there."""
    med_b = np.median(base, axis=0)
    target = float(med_b[-1])
    c_b = float(grid[np.argmax(_stays_below(med_b, target))])
    stay = _stays_below(method, target)
    reached = stay[:, -1]
    c_a = np.where(reached, grid[np.argmax(stay, axis=1)], np.inf)
    return np.where(reached, c_b / c_a, 0.0), target, c_b


@dataclass
class BenchResult:
    """Per-seed regret traces with the summaries the CLI prints (``table``, ``speedup``)."""

    traces: pd.DataFrame
    budget: float
    metric: str
    optimum: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def strategies(self) -> list[str]:
        return list(dict.fromkeys(self.traces["strategy"]))

    def regret_matrix(self, strategy: str, grid: np.ndarray) -> np.ndarray:
        """``(seeds, len(grid))`` step-function regret of each seed at each cost of ``grid``."""
        out = []
        for _, df in self.traces[self.traces["strategy"] == strategy].groupby("seed", sort=True):
            df = df.sort_values("cost", kind="stable")
            idx = np.searchsorted(df["cost"].to_numpy(), grid, side="right") - 1
            regret = df["regret"].to_numpy()[np.clip(idx, 0, None)]
            out.append(np.where(idx >= 0, regret, np.inf))  # nothing recommended before the first query
        return np.array(out)

    def grid(self, n: int = 400) -> np.ndarray:
        return np.geomspace(1e-4 * self.budget, self.budget, n)

    def speedup(self, baseline: str, method: str, n_boot: int = 0, level: float = 0.9) -> Speedup:
        """Median speedup over the method's seeds (the definition in ``DESIGN.md``), its IQR, and with ``n_boot > 0``
        (and two seeds or more) a ``level`` percentile-bootstrap interval of that median: the seeds of *both*
        strategies are resampled with replacement (the baseline's median trace, target regret and cost are
        recomputed in every draw; SciPy's ``stats.bootstrap``, generator seeded with 0, so the interval is
        reproducible). The IQR says how the method's seeds spread around one baseline target; the interval says how
        far the median itself could move with other seeds — an interval that contains 1 means these seeds do not
        settle which strategy is faster."""
        from scipy import stats

        grid = self.grid()
        base, meth = self.regret_matrix(baseline, grid), self.regret_matrix(method, grid)
        ratios, target, c_b = _speedup_ratios(base, meth, grid)
        with np.errstate(invalid="ignore"):
            q25, med, q75 = np.quantile(ratios, [0.25, 0.5, 0.75])
        lo = hi = float("nan")
        if n_boot > 0 and min(len(base), len(meth)) >= 2:  # one seed has no spread to resample

            def median_speedup(ib: np.ndarray, ia: np.ndarray) -> float:
                return float(np.median(_speedup_ratios(base[ib.astype(int)], meth[ia.astype(int)], grid)[0]))

            ci = stats.bootstrap(
                (np.arange(len(base)), np.arange(len(meth))),
                median_speedup,
                n_resamples=int(n_boot),
                confidence_level=level,
                method="percentile",
                vectorized=False,
                random_state=np.random.default_rng(0),
            ).confidence_interval
            lo, hi = float(ci.low), float(ci.high)
        reached = float((ratios > 0).mean())
        return Speedup(baseline, method, float(med), float(q25), float(q75), target, c_b, reached, lo, hi)

    def final(self) -> pd.DataFrame:
        """Final regret (median, IQR) and queries per strategy."""
        last = self.traces.sort_values("cost").groupby(["strategy", "seed"]).tail(1)
        g = last.groupby("strategy", sort=False)
        df = pd.DataFrame(
            {
                "median_regret": g["regret"].median(),
                "q25": g["regret"].quantile(0.25),
                "q75": g["regret"].quantile(0.75),
                "queries": g["queries"].median(),
                "ask_s_per_query": (g["ask_seconds"].sum() / g["queries"].sum()),
            }
        )
        return df.loc[self.strategies]

    def speedup_table(self, methods: Sequence[str], baselines: Sequence[str], n_boot: int = 1000) -> pd.DataFrame:
        """One row per (method, baseline): :meth:`speedup` with its 90 % bootstrap interval (``boot_lo``,
        ``boot_hi``, and :attr:`Speedup.settled`; ``n_boot=0`` skips it)."""
        rows = []
        for m in methods:
            for b in baselines:
                if m in self.strategies and b in self.strategies and m != b:
                    s = self.speedup(b, m, n_boot=n_boot)
                    rows.append(
                        {
                            "method": m,
                            "baseline": b,
                            "speedup": s.median,
                            "q25": s.q25,
                            "q75": s.q75,
                            "target_regret": s.target_regret,
                            "baseline_cost": s.baseline_cost,
                            "reached": s.reached,
                            "boot_lo": s.lo,
                            "boot_hi": s.hi,
                            "settled": s.settled,
                        }
                    )
        return pd.DataFrame(rows)

    def at_budget(self, budget: float) -> BenchResult:
        """The same runs cut at a smaller ``budget``: each seed keeps the recommendations recorded at costs
        ``<= budget`` (strategies are not told their budget, so this is the run a budget-``budget`` call would have
        made, judged at the last checkpoint at or before ``budget``). A seed with no record by then has regret inf."""
        if not (np.isfinite(budget) and 0 < budget <= self.budget * (1 + 1e-9)):
            raise ValidationError("budget", f"must be in (0, {self.budget:g}], got {budget!r}")
        kept = self.traces[self.traces["cost"] <= budget * (1 + 1e-9)]
        missing = []
        for (strategy, seed), _ in self.traces.groupby(["strategy", "seed"], sort=False):
            if not ((kept["strategy"] == strategy) & (kept["seed"] == seed)).any():
                missing.append({"strategy": strategy, "seed": seed, "cost": 0.0, "queries": 0, "regret": np.inf})
        traces = pd.concat([kept, pd.DataFrame(missing)], ignore_index=True) if missing else kept
        return BenchResult(traces.reset_index(drop=True), float(budget), self.metric, self.optimum, dict(self.meta))

    def save(self, directory: str | os.PathLike) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.traces.to_parquet(out / "traces.parquet", index=False)
        summary = {
            "budget": self.budget,
            "metric": self.metric,
            "optimum": self.optimum,
            "meta": self.meta,
            "final": self.final().reset_index(names="strategy").to_dict(orient="records"),
            "speedups": self.speedup_table(
                [s for s in ("mfms", "mfms-paper") if s in self.strategies], self.strategies
            ).to_dict(orient="records"),
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike) -> BenchResult:
        d = Path(directory)
        summary = json.loads((d / "summary.json").read_text())
        return cls(
            pd.read_parquet(d / "traces.parquet"),
            summary["budget"],
            summary["metric"],
            summary["optimum"],
            summary.get("meta", {}),
        )


def speedup_ratio(
    a: BenchResult,
    b: BenchResult,
    baseline: str,
    method: str = "mfms",
    n_boot: int = 1000,
    level: float = 0.9,
) -> tuple[float, float, float]:
    """``method``'s median speedup over ``baseline`` on ``a`` divided by the same on ``b`` (e.g. a constrained
    problem against the unconstrained one, a weighted sum against one metric), and a ``level`` percentile-bootstrap
    interval of that ratio. Each draw resamples seeds with replacement and recomputes both speedups from scratch (the
    baselines' median traces and targets included); when ``a`` and ``b`` ran the same seeds the draw is paired (the
    same seeds on both problems), otherwise independent. A speedup of 0 on both sides counts as a ratio of 1; 0 on
    ``b`` alone as infinity. Written out here because the ratio's spread, not its point value, says whether two
    speedups differ (SciPy's ``stats.bootstrap`` takes one statistic of resampled arrays, not of four paired
    trace matrices).

    Returns ``(ratio, lo, hi)``; ``n_boot=0`` gives ``nan`` bounds."""

    def ratio(sa: float, sb: float) -> float:
        if sb > 0:
            return sa / sb
        return 1.0 if sa == 0 else float("inf")

    point = ratio(a.speedup(baseline, method).median, b.speedup(baseline, method).median)
    if n_boot <= 0:
        return point, float("nan"), float("nan")

    mats = []
    for res in (a, b):
        grid = res.grid()
        mats.append((res.regret_matrix(baseline, grid), res.regret_matrix(method, grid), grid))

    def median_of(i: int, ib: np.ndarray, im: np.ndarray) -> float:
        base, meth, grid = mats[i]
        return float(np.median(_speedup_ratios(base[ib], meth[im], grid)[0]))

    def seeds(res: BenchResult, strategy: str) -> list:
        return sorted(set(res.traces.loc[res.traces["strategy"] == strategy, "seed"]))

    paired = all(seeds(a, s) == seeds(b, s) for s in (baseline, method))
    rng = np.random.default_rng(0)
    draws = np.empty(int(n_boot))
    for t in range(int(n_boot)):
        idx = [[rng.integers(0, len(m[j]), len(m[j])) for j in (0, 1)] for m in mats]
        if paired:
            idx[1] = idx[0]
        draws[t] = ratio(median_of(0, *idx[0]), median_of(1, *idx[1]))
    alpha = (1 - level) / 2
    lo, hi = np.quantile(draws, [alpha, 1 - alpha], method="inverted_cdf")
    return point, float(lo), float(hi)


def run(
    objective: BenchmarkObjective,
    strategies: Sequence[str] = ("random", "hyperband", "mfbo", "regmix", "mfms-paper", "mfms"),
    seeds: int | Sequence[int] = 5,
    budget: float = 10.0,
    workers: int = 1,
    strategy_options: dict[str, dict[str, Any]] | None = None,
    progress: Callable[[str, int], None] | None = None,
    n_checkpoints: int = 48,
) -> BenchResult:
    """Run every strategy on every seed; ``workers > 1`` runs (strategy, seed) pairs in parallel processes."""
    if not isinstance(objective, BenchmarkObjective):
        raise ValidationError("objective", "needs target_value() and optimum() to score regret")
    budget = check_budget(budget)
    for s in strategies:
        if s not in _strategies.REGISTRY:
            raise ValidationError("strategies", f"unknown strategy {s!r} (known: {', '.join(_strategies.REGISTRY)})")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise ValidationError("seeds", "need at least one seed")
    options = strategy_options or {}
    _, opt_value = objective.optimum()
    tasks = [
        (objective, s, seed, float(budget), options.get(s), n_checkpoints) for s in strategies for seed in seed_list
    ]
    frames = []
    if workers <= 1:
        for t in tasks:
            frames.append(run_one(*t))
            if progress:
                progress(t[1], t[2])
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_worker_init) as pool:
            for t, df in zip(tasks, pool.map(_run_task, tasks), strict=True):
                frames.append(df)
                if progress:
                    progress(t[1], t[2])
    traces = pd.concat(frames, ignore_index=True)
    meta = {"strategies": list(strategies), "seeds": seed_list, "objective": type(objective).__name__}
    return BenchResult(traces, float(budget), objective.metric.name, float(opt_value), meta)
