r"""The problem suite: strategies judged on many kinds of scale ladders, not on one simulator.

:func:`suite` returns the families by name, each a :class:`~mixscale.objective.BenchmarkObjective`:

* eight seeded synthetic ladders (:mod:`mixscale.bench.families`, generator and math in its docstring) spanning
  cross-scale transfer (faithful / optimum drifting with scale / anti-correlated at the small rungs / only the top
  rung informative), the optimum's place (vertex / edge / face with exact zeros / interior), seed noise (0, our
  measured level, twice it), minimized losses and maximized accuracies, k = 3 … 12 domains and 4 … 7 rungs with
  costs :math:`\propto 6 N D` (fixed tokens per step, or compute-optimal ladders with :math:`D \propto N`);
* the simulator fitted to our runs on three metrics (``loss:avg`` and two per-domain losses), the same simulator
  with one domain held at 0 (``fitted-avg-no-latex``: the six-domain problem a study that lacked ``latex`` faced,
  on whose face the cheap rungs rank mixtures at Spearman ≈ 0 against the target), and the analytic one.

The families describe what real ladders do; none is tuned to make a strategy win, and every strategy runs with the
same defaults on every family. :func:`run_suite` runs strategies × seeds × families once at the largest budget and
judges the same runs at every budget of :data:`BUDGETS` (strategies are not told their budget, so a run cut at cost
``B`` is the run a budget-``B`` call would have made; see :meth:`BenchResult.at_budget`). Each finished
(family, strategy, seed) run is saved as it completes, so an interrupted suite resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mixscale import strategies as _strategies
from mixscale.bench.families import LadderProblem, LadderSpec
from mixscale.bench.harness import BenchResult, checkpoints, regret_of, run_one
from mixscale.errors import ValidationError
from mixscale.objective import BenchmarkObjective

#: Budgets (target runs) at which every family is judged; the runs are made once, at the largest.
BUDGETS = (1.0, 3.0, 10.0)
#: Log-spaced recommendation checkpoints per run over three decades of the largest budget (19 % apart) ...
N_CHECKPOINTS = 40
#: ... plus these fractions of every judged budget, so that a cut at a budget is judged on (nearly) the last
#: recommendation before it: a recommendation is recorded after the first query that crosses each checkpoint.
NEAR_BUDGET = (0.95, 0.98, 0.99, 0.995, 1.0)
#: In :meth:`SuiteResult.robustness`, regrets below this fraction of the uniform mixture's regret count as equal.
RATIO_FLOOR = 0.01


def checkpoint_grid(budgets: Sequence[float]) -> np.ndarray:
    """Where a suite run records recommendations: log-spaced up to ``max(budgets)`` and dense just below each."""
    top = max(budgets)
    near = [b * f for b in budgets for f in NEAR_BUDGET]
    return np.unique(np.concatenate([checkpoints(top, N_CHECKPOINTS), near]))


LADDERS = (
    LadderSpec("faithful-vertex", "faithful", "vertex", 0.0, "loss", k=3, rungs=4, span=30),
    LadderSpec("faithful-face", "faithful", "face", 1.0, "loss", k=12, rungs=6, span=10, compute_optimal=True),
    LadderSpec("drift-edge", "drift", "edge", 1.0, "accuracy", k=5, rungs=5, span=50),
    LadderSpec("drift-interior", "drift", "interior", 2.0, "loss", k=8, rungs=7, span=10, compute_optimal=True),
    LadderSpec("anti-interior", "anti", "interior", 1.0, "accuracy", k=5, rungs=7, span=50),
    LadderSpec("anti-face", "anti", "face", 2.0, "loss", k=6, rungs=5, span=50),
    LadderSpec("top-only-interior", "top-only", "interior", 1.0, "loss", k=4, rungs=5, span=50),
    LadderSpec("top-only-vertex", "top-only", "vertex", 0.0, "accuracy", k=10, rungs=4, span=10, compute_optimal=True),
)
#: Families backed by mixscale's simulators: (name, simulator, metric, domain held at weight 0 or None).
SIMULATORS = (
    ("fitted-avg", "fitted", "loss:avg", None),
    ("fitted-code", "fitted", "loss:code", None),
    ("fitted-books", "fitted", "loss:books", None),
    ("fitted-avg-no-latex", "fitted", "loss:avg", "latex"),
    ("analytic-c4", "analytic", "loss:c4", None),
)


def family_names() -> list[str]:
    return [s.name for s in LADDERS] + [name for name, *_ in SIMULATORS]


def describe(name: str) -> str:
    """One line on a family's structure (for tables and docs)."""
    for s in LADDERS:
        if s.name == name:
            ladder = "D ∝ N" if s.compute_optimal else "fixed tokens/step"
            return (
                f"{s.transfer} transfer, {s.optimum} optimum, noise {s.noise:g}×, {s.metric}, k={s.k}, "
                f"{s.rungs} rungs over {s.span:g}× N ({ladder})"
            )
    for fname, sim, metric, held in SIMULATORS:
        if fname == name:
            return f"{sim} simulator, {metric}" + (f", {held} held at 0" if held else "")
    raise ValidationError("family", f"unknown family {name!r} (known: {', '.join(family_names())})")


def family(name: str, seed: int = 0) -> BenchmarkObjective:
    """One family's objective; ``seed`` draws the synthetic ladders (the simulators do not depend on it)."""
    for s in LADDERS:
        if s.name == name:
            return LadderProblem(s, seed)
    for fname, sim, metric, held in SIMULATORS:
        if fname == name:
            from mixscale import simulator
            from mixscale.objectives.constrained import ConstrainedObjective

            objective = simulator.load(sim, metric=metric)
            return ConstrainedObjective(objective, fixed={held: 0.0}) if held else objective
    raise ValidationError("family", f"unknown family {name!r} (known: {', '.join(family_names())})")


def suite(seed: int = 0, names: Sequence[str] | None = None) -> dict[str, BenchmarkObjective]:
    """The problem families by name (all of them, or ``names``), each a ``BenchmarkObjective``."""
    return {n: family(n, seed) for n in (names or family_names())}


@cache
def _cached_family(name: str, seed: int) -> BenchmarkObjective:
    obj = family(name, seed)
    obj.optimum()  # dense search for the simulators, once per process
    return obj


def _run_task(task: tuple) -> tuple[tuple, pd.DataFrame]:
    name, suite_seed, strategy, seed, budgets, options = task
    objective = _cached_family(name, suite_seed)
    t0 = time.process_time()
    df = run_one(objective, strategy, seed, max(budgets), options, grid=checkpoint_grid(budgets))
    return task, df.assign(run_cpu_seconds=time.process_time() - t0)


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _task_file(out: Path, task: tuple) -> Path:
    name, suite_seed, strategy, seed, budgets, _ = task
    tag = "-".join(f"{b:g}" for b in budgets)
    return out / "runs" / f"{name}.s{suite_seed}" / f"{strategy}.seed{seed}.b{tag}.parquet"


@dataclass
class SuiteResult:
    """Per-family :class:`BenchResult` (at the largest budget) and the cut-downs the suite judges."""

    results: dict[str, BenchResult]
    budgets: tuple[float, ...]
    seeds: list[int]

    def at(self, name: str, budget: float) -> BenchResult:
        return self.results[name].at_budget(budget)

    def regrets(self, budget: float) -> pd.DataFrame:
        """Median final regret: families × strategies."""
        return pd.DataFrame({n: self.at(n, budget).final()["median_regret"] for n in self.results}).T.rename_axis(
            "family"
        )

    def speedups(self, budget: float, method: str = "mfms") -> pd.DataFrame:
        """``method``'s median speedup over every other strategy: families × baselines."""
        rows = {}
        for n, res in self.results.items():
            r = res.at_budget(budget)
            rows[n] = {b: r.speedup(b, method).median for b in r.strategies if b != method}
        return pd.DataFrame(rows).T.rename_axis("family")

    def worst(self, budget: float, method: str = "mfms") -> str:
        """The family where ``method``'s smallest speedup over any baseline is lowest (ties: largest regret ratio)."""
        sp = self.speedups(budget, method)
        reg = self.regrets(budget)
        others = reg.drop(columns=[method])
        ratio = reg[method] / others.min(axis=1).replace(0, np.nan)
        key = pd.DataFrame({"speedup": sp.min(axis=1), "ratio": -ratio.fillna(np.inf)})
        return str(key.sort_values(["speedup", "ratio"]).index[0])

    def robustness(self, budget: float) -> pd.DataFrame:
        r"""Each strategy against the best one on every family, at ``budget``: strategies × (``worst``,
        ``family``, ``geomean``).

        With :math:`r_{s,f}` the median final regret of strategy :math:`s` on family :math:`f`,

        .. math::

            \rho_{s,f} = \frac{r_{s,f} + \epsilon_f}{\min_{s'} r_{s',f} + \epsilon_f}, \qquad
            \epsilon_f = 0.01\, r_f(\text{uniform mixture}),

        so 1 is "as good as the best strategy on this family" and regrets within 1 % of the uniform mixture's count
        as equal (an exact 0 would make every other ratio infinite). ``worst`` is :math:`\max_f \rho_{s,f}` and
        ``family`` its argmax (the family a strategy should be judged on), ``geomean`` the geometric mean over
        families. A strategy is only compared with the strategies run beside it."""
        reg = self.regrets(budget)
        eps = pd.Series({n: RATIO_FLOOR * abs(r.meta.get("uniform_regret", 0.0)) for n, r in self.results.items()})
        eps = eps.reindex(reg.index).fillna(0.0)
        ratio = reg.add(eps, axis=0).div(reg.min(axis=1) + eps, axis=0)
        return pd.DataFrame(
            {
                "worst": ratio.max(axis=0),
                "family": ratio.idxmax(axis=0),
                "geomean": np.exp(np.log(ratio).mean(axis=0)),
            }
        ).rename_axis("strategy")

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds of the runs per strategy, all families together (``nan`` for runs saved without it)."""
        total: dict[str, float] = {}
        for r in self.results.values():
            t = r.traces
            if "run_cpu_seconds" not in t:
                continue
            per_run = t.groupby(["strategy", "seed"], sort=False)["run_cpu_seconds"].first()
            for s, v in per_run.groupby(level=0).sum().items():
                total[s] = total.get(s, 0.0) + float(v)
        return total

    def summary(self, method: str = "mfms") -> dict[str, Any]:
        out: dict[str, Any] = {"seeds": self.seeds, "budgets": list(self.budgets), "families": {}}
        out["cpu_seconds"] = self.cpu_seconds()
        for b in self.budgets:
            for n in self.results:
                r = self.at(n, b)
                fam = out["families"].setdefault(n, {"structure": describe(n), "metric": r.metric, "budgets": {}})
                final = r.final().reset_index(names="strategy")
                speed = r.speedup_table([method], r.strategies) if method in r.strategies else pd.DataFrame()
                fam["budgets"][f"{b:g}"] = {
                    "final": _records(final),
                    "speedups": _records(speed),
                }
            if all(method in r.strategies for r in self.results.values()):
                out.setdefault("worst", {})[f"{b:g}"] = self.worst(b, method)
            rob = self.robustness(b).reset_index()
            out.setdefault("robustness", {})[f"{b:g}"] = _records(rob)
        return out


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    recs = df.to_dict(orient="records")
    for rec in recs:  # JSON has no inf / nan: write them as strings a reader can parse back with float()
        for key, v in rec.items():
            if isinstance(v, float) and not math.isfinite(v):
                rec[key] = str(v)
    return recs


def _checked(names, strategies, seeds, budgets) -> tuple[list[str], list[str], list[int], tuple[float, ...]]:
    names = list(names or family_names())
    for n in names:
        describe(n)
    for s in strategies:
        if s not in _strategies.REGISTRY:
            raise ValidationError("strategies", f"unknown strategy {s!r} (known: {', '.join(_strategies.REGISTRY)})")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValidationError("seeds", "need at least one seed")
    budgets = tuple(sorted(float(b) for b in budgets))
    if not budgets or not all(math.isfinite(b) and b > 0 for b in budgets):
        raise ValidationError("budgets", f"must be positive finite numbers, got {list(budgets)}")
    return names, list(strategies), seeds, budgets


def _tasks(names, strategies, seeds, budgets, suite_seed, options) -> list[tuple]:
    # seed by seed (an interrupted suite has whole seeds on every family), slow strategies first in each
    order = {s: i for i, s in enumerate(("mfms", "mfms-paper", "mfbo", "regmix", "hyperband", "random"))}
    return [
        (n, suite_seed, s, seed, budgets, (options or {}).get(s))
        for seed in seeds
        for s in sorted(strategies, key=lambda s: order.get(s, -1))
        for n in names
    ]


def _assemble(frames, names, strategies, seeds, budgets, suite_seed) -> SuiteResult:
    results = {}
    for n in names:
        obj = _cached_family(n, suite_seed)
        traces = pd.concat([frames[(n, suite_seed, s, seed)] for s in strategies for seed in seeds], ignore_index=True)
        optimum = float(obj.optimum()[1])
        uniform = regret_of(obj, obj.space.mixture_dict(obj.space.uniform_mixture()), optimum)
        meta = {
            "family": n,
            "structure": describe(n),
            "strategies": list(strategies),
            "seeds": seeds,
            "uniform_regret": uniform,
        }
        results[n] = BenchResult(traces, budgets[-1], obj.metric.name, optimum, meta)
    return SuiteResult(results, budgets, seeds)


def run_suite(
    names: Sequence[str] | None = None,
    strategies: Sequence[str] = ("random", "hyperband", "mfbo", "regmix", "mfms-paper", "mfms"),
    seeds: Sequence[int] = range(5),
    budgets: Sequence[float] = BUDGETS,
    workers: int = 1,
    out: str | os.PathLike | None = None,
    suite_seed: int = 0,
    strategy_options: dict[str, dict[str, Any]] | None = None,
    progress: Callable[[str, str, int], None] | None = None,
) -> SuiteResult:
    """Run every strategy × seed on every family at ``max(budgets)``; with ``out``, each run is saved under
    ``out/runs/`` as it finishes and runs already there are reused (resume)."""
    names, strategies, seeds, budgets = _checked(names, strategies, seeds, budgets)
    tasks = _tasks(names, strategies, seeds, budgets, suite_seed, strategy_options)
    out_dir = Path(out) if out is not None else None
    frames: dict[tuple, pd.DataFrame] = {}
    todo = []
    for t in tasks:
        f = _task_file(out_dir, t) if out_dir is not None else None
        if f is not None and f.exists():
            frames[t[:4]] = pd.read_parquet(f)
            if progress:
                progress(t[0], t[2], t[3])
        else:
            todo.append(t)

    def done(task: tuple, df: pd.DataFrame) -> None:
        frames[task[:4]] = df
        if out_dir is not None:
            f = _task_file(out_dir, task)
            f.parent.mkdir(parents=True, exist_ok=True)
            tmp = f.with_suffix(".tmp")
            df.to_parquet(tmp, index=False)
            tmp.replace(f)
        if progress:
            progress(task[0], task[2], task[3])

    if workers <= 1:
        for t in todo:
            done(*_run_task(t))
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_worker_init) as pool:
            futures = [pool.submit(_run_task, t) for t in todo]
            for fut in as_completed(futures):
                done(*fut.result())
    return _assemble(frames, names, strategies, seeds, budgets, suite_seed)


def collect_suite(
    out: str | os.PathLike,
    names: Sequence[str] | None = None,
    strategies: Sequence[str] = ("random", "hyperband", "mfbo", "regmix", "mfms-paper", "mfms"),
    seeds: Sequence[int] = range(5),
    budgets: Sequence[float] = BUDGETS,
    suite_seed: int = 0,
) -> SuiteResult:
    """The saved runs under ``out/runs/`` of the seeds (in order) for which every family × strategy run exists:
    the report of an interrupted suite, on whole seeds only."""
    names, strategies, seeds, budgets = _checked(names, strategies, seeds, budgets)
    frames: dict[tuple, pd.DataFrame] = {}
    complete = []
    for seed in seeds:
        tasks = _tasks(names, strategies, [seed], budgets, suite_seed, None)
        files = [_task_file(Path(out), t) for t in tasks]
        if not all(f.exists() for f in files):
            continue
        for t, f in zip(tasks, files, strict=True):
            frames[t[:4]] = pd.read_parquet(f)
        complete.append(seed)
    if not complete:
        raise ValidationError("out", f"no seed has every family × strategy run saved under {Path(out) / 'runs'}")
    return _assemble(frames, names, strategies, complete, budgets, suite_seed)


def save_suite(result: SuiteResult, out: str | os.PathLike, command: str = "") -> Path:
    """``out/suite.json`` (every family, budget and strategy) and ``out/<family>.json`` + ``.png`` per family."""
    from mixscale.bench.plot import plot_regret

    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    summary["command"] = command
    _write_json(d / "suite.json", summary)
    for n, r in result.results.items():
        fam = {"family": n, "seeds": result.seeds, "command": command, **summary["families"][n]}
        _write_json(d / f"{n}.json", fam)
        judged = ", ".join(f"{b:g}" for b in result.budgets)
        title = f"{n}: {len(result.seeds)} seeds, judged at budgets {judged}\n{describe(n)}"
        plot_regret(r, d / f"{n}.png", title=title, marks=result.budgets)
    return d


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)
