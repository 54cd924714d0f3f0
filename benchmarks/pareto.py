"""Two metrics on the fitted simulator: a Pareto study (``pareto``) against random search, and a weighted-sum
study (``mfms`` on a :class:`~mixscale.scalarization.Scalarization`) against the single-metric speedups.

Pareto part (``--part pareto``). The true target front of (``loss:code``, ``loss:books``) is found by dense search
(Dirichlet draws at two concentrations, vertices and edge midpoints, then local refinement of the front). A
strategy's front at cost ``c`` is the set of mixtures it would deploy then — ``pareto``: its recommended front;
``random``: the non-dominated *observed* target runs — scored by the **true** hypervolume of those mixtures
(reference point: the true front's nadir plus 10 % of its range), as a fraction of the true front's. Per seed we
record the cost from which each method's fraction stays ≥ ``--level`` (0.9) to the end of its budget; the ratio
``cost(pareto) / cost(random)`` per seed (10 seeds) is what the issue asks to be ≤ 1/3.

Weighted part (``--part weighted``). ``mfms`` and ``random`` on ``{"loss:code": 0.5, "loss:books": 0.5}``
(normalized by each metric's spread over the table's runs at the target scale) and on each single metric, with the
harness's speedup definition (``mixscale.bench``); the issue asks the weighted-sum speedup to be within 30 % of the
single-metric ones. Each ratio is printed with a paired 90 % bootstrap interval over seeds
(:func:`mixscale.bench.speedup_ratio`).

    PYTHONPATH=src python benchmarks/pareto.py --part pareto --seeds 10 --workers 2 --out docs/benchmark/pareto
    PYTHONPATH=src python benchmarks/pareto.py --part weighted --seeds 10 --workers 2 --out docs/benchmark/pareto

Results are appended per seed to ``OUT/<part>-seeds.jsonl`` (a rerun skips seeds already there) and summarized
in ``OUT/<part>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

METRICS = ("loss:code", "loss:books")


def _objective():
    from mixscale.objectives.multimetric import MultiMetricSimulator

    return MultiMetricSimulator("loss:avg")


def hypervolume(Y: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume dominated by the rows of ``Y`` (minimized) up to ``ref`` (BoTorch's exact algorithm)."""
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    Y = np.asarray(Y, float).reshape(-1, len(ref))
    Y = Y[(Y < ref).all(axis=1)]
    if not len(Y):
        return 0.0
    return float(Hypervolume(-torch.as_tensor(ref)).compute(-torch.as_tensor(Y)))


def true_front(objective, seed: int = 0, n: int = 40000) -> np.ndarray:
    """Dense search for the true target front of METRICS: its points' metric values, shape (p, 2)."""
    from mixscale import simplex
    from mixscale.strategies.pareto import non_dominated

    rng = np.random.default_rng(seed)
    k = objective.space.k
    eye = np.eye(k)
    edges = np.array([(eye[i] + eye[j]) / 2 for i in range(k) for j in range(i + 1, k)])
    W = np.vstack(
        [eye, edges, simplex.sample_dirichlet(rng, n // 2, k, 1.0), simplex.sample_dirichlet(rng, n // 2, k, 0.2)]
    )
    Y = objective.target_metrics(W, METRICS)
    for radius in (0.05, 0.02, 0.005):
        nd = np.flatnonzero(non_dominated(Y))
        local = np.vstack([simplex.perturb(rng, W[i], 40, radius) for i in nd])
        W, Y = np.vstack([W[nd], local]), np.vstack([Y[nd], objective.target_metrics(local, METRICS)])
    return Y[non_dominated(Y)]


def _stay_cost(costs: list[float], fracs: list[float], level: float) -> float:
    """The cost from which the fraction stays ≥ level to the end (inf if it ends below)."""
    from mixscale.bench.harness import cost_to_stay

    return cost_to_stay(costs, -np.asarray(fracs, dtype=float), -level)


def run_pareto_seed(
    seed: int, budget: float, random_budget: float, level: float, ref: list, hv_true: float, n_front: int, every: float
) -> dict:
    import torch

    torch.set_num_threads(1)
    from mixscale import strategies

    objective = _objective()
    space = objective.space
    ref = np.asarray(ref)

    def frac(mixtures) -> float:
        return hypervolume(objective.target_metrics(np.atleast_2d(mixtures), METRICS), ref) / hv_true

    out = {"seed": seed}
    # random: full target runs, front = non-dominated observed values
    from mixscale.strategies.pareto import non_dominated

    s = strategies.create("random", space, objective.cost, True, seed)
    W, Y, costs, fracs, spent = [], [], [], [], 0.0
    n = 0
    while spent + 1.0 <= random_budget + 1e-9:
        c = s.ask()
        obs = objective.evaluate(c, seed=int(np.random.SeedSequence([seed, n]).generate_state(1)[0]))
        s.tell(c, obs)
        n += 1
        spent += obs.cost
        W.append(space.validate_mixture(c.mixture))
        Y.append([obs.metrics[m] for m in METRICS])
        nd = non_dominated(np.array(Y))
        costs.append(spent)
        fracs.append(frac(np.array(W)[nd]))
    out["random"] = {"cost": costs, "fraction": fracs, "stay_cost": _stay_cost(costs, fracs, level)}
    # pareto: recommended front at every query after the design, and at the end
    s = strategies.create("pareto", space, objective.cost, True, seed, metrics=list(METRICS), n_front=n_front)
    costs, fracs, spent, n, next_cp = [], [], 0.0, 0, 0.0
    t0 = time.time()
    while True:
        c = s.ask()
        cost = objective.cost(c.scale, c.steps)
        if spent + cost > budget * (1 + 1e-9):
            break
        obs = objective.evaluate(c, seed=int(np.random.SeedSequence([seed, n]).generate_state(1)[0]))
        s.tell(c, obs)
        spent += cost
        n += 1
        if n >= s.n_init and spent >= next_cp:
            next_cp = spent + every
            front = s.recommend().front
            costs.append(spent)
            fracs.append(frac(np.array([space.validate_mixture(p.mixture) for p in front])))
    if not costs or costs[-1] != spent:
        costs.append(spent)
        fracs.append(frac(np.array([space.validate_mixture(p.mixture) for p in s.recommend().front])))
    out["pareto"] = {
        "cost": costs,
        "fraction": fracs,
        "stay_cost": _stay_cost(costs, fracs, level),
        "queries": n,
        "seconds": time.time() - t0,
    }
    return out


def part_pareto(args) -> dict:
    objective = _objective()
    front = true_front(objective)
    lo, hi = front.min(0), front.max(0)
    ref = hi + 0.1 * (hi - lo)
    hv_true = hypervolume(front, ref)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "pareto-seeds.jsonl"
    done = {json.loads(line)["seed"]: json.loads(line) for line in log.read_text().splitlines()} if log.exists() else {}
    todo = [s for s in range(args.seeds) if s not in done]
    print(f"true front: {len(front)} points, ref {ref.round(4).tolist()}, HV {hv_true:.5f}; running seeds {todo}")
    jobs = [
        (s, args.budget, args.random_budget, args.level, ref.tolist(), hv_true, args.n_front, args.every) for s in todo
    ]
    with ProcessPoolExecutor(max(1, args.workers)) as pool:
        for res in pool.map(run_pareto_seed, *zip(*jobs, strict=True)) if jobs else []:
            with log.open("a") as f:
                f.write(json.dumps(res) + "\n")
            done[res["seed"]] = res
            p, r = res["pareto"], res["random"]
            print(
                f"seed {res['seed']}: pareto {p['fraction'][-1]:.3f} of true HV at {p['cost'][-1]:.2f}, stays ≥ "
                f"{args.level} from {p['stay_cost']:.3g}; random {r['fraction'][-1]:.3f} at {r['cost'][-1]:.0f}, "
                f"from {r['stay_cost']:.3g}",
                flush=True,
            )
    seeds = [done[s] for s in sorted(done) if s < args.seeds]
    # random never reaching the level within its budget: its cost is > random_budget, so the ratio is < this bound
    ratios = [
        d["pareto"]["stay_cost"] / min(d["random"]["stay_cost"], args.random_budget)
        if d["pareto"]["stay_cost"] < 1e300
        else float("inf")
        for d in seeds
    ]
    censored = sum(1 for d in seeds if d["random"]["stay_cost"] == float("inf"))
    summary = {
        "command": " ".join(sys.argv),
        "metrics": METRICS,
        "level": args.level,
        "budget": args.budget,
        "random_budget": args.random_budget,
        "true_front_points": len(front),
        "reference_point": ref.tolist(),
        "true_hypervolume": hv_true,
        "seeds": len(seeds),
        "pareto_final_fraction_median": float(np.median([d["pareto"]["fraction"][-1] for d in seeds])),
        "random_final_fraction_median": float(np.median([d["random"]["fraction"][-1] for d in seeds])),
        "pareto_cost_to_level": [d["pareto"]["stay_cost"] for d in seeds],
        "random_cost_to_level": [d["random"]["stay_cost"] for d in seeds],
        "cost_ratio_per_seed (upper bound where random never reached the level)": ratios,
        "random_seeds_never_reaching_level": censored,
        "cost_ratio_median": float(np.median(ratios)) if ratios else None,
        "seeds_with_ratio_at_most_one_third": int(sum(r <= 1 / 3 for r in ratios)),
    }
    # the same comparison at lower levels, where both methods may get there within their budgets
    for lvl in (0.5, 0.6, 0.7):
        pc = [_stay_cost(d["pareto"]["cost"], d["pareto"]["fraction"], lvl) for d in seeds]
        rc = [_stay_cost(d["random"]["cost"], d["random"]["fraction"], lvl) for d in seeds]
        summary[f"level_{lvl}"] = {
            "pareto_cost_median": float(np.median(pc)),
            "random_cost_median": float(np.median(rc)),
            "pareto_seeds_reaching": int(sum(np.isfinite(pc))),
            "random_seeds_reaching": int(sum(np.isfinite(rc))),
        }
        print(
            f"level {lvl:.0%}: pareto reaches and keeps it in {int(sum(np.isfinite(pc)))}/{len(seeds)} seeds (median "
            f"cost {np.median(pc):.3g}), random in {int(sum(np.isfinite(rc)))}/{len(seeds)} (median cost "
            f"{np.median(rc):.3g} of at most {args.random_budget:g})"
        )
    (out / "pareto.json").write_text(json.dumps(summary, indent=1, default=str))
    _plot(seeds, args, out / "pareto.png")
    print(
        f"\n{len(seeds)} seeds: pareto reaches and keeps {args.level:.0%} of the true hypervolume at median cost "
        f"{np.median(summary['pareto_cost_to_level']):.3g}, random at {np.median(summary['random_cost_to_level']):.3g} "
        f"target runs; median cost ratio pareto/random {summary['cost_ratio_median']:.3g} (goal ≤ 0.333); "
        f"{summary['seeds_with_ratio_at_most_one_third']}/{len(seeds)} seeds ≤ 1/3 ({censored} random seeds never "
        f"reached the level within {args.random_budget:g} target runs: their ratio is an upper bound)"
    )
    return summary


def _plot(seeds: list[dict], args, path: Path) -> None:
    """Median (and IQR) fraction of the true hypervolume vs cost, log cost axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.geomspace(0.3, args.random_budget, 300)
    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=110)
    for name, color in (("pareto", "C1"), ("random", "C0")):
        rows = []
        for d in seeds:
            c, f = np.asarray(d[name]["cost"]), np.asarray(d[name]["fraction"])
            idx = np.searchsorted(c, grid, side="right") - 1
            rows.append(np.where((idx >= 0) & (grid <= c[-1] * 1.0001), f[np.maximum(idx, 0)], np.nan))
        R = np.array(rows)
        ok = np.isfinite(R).all(axis=0)
        med, lo, hi = (np.nanpercentile(R[:, ok], q, axis=0) for q in (50, 25, 75))
        ax.plot(grid[ok], med, c=color, label=f"{name} (median, IQR; {len(seeds)} seeds)")
        ax.fill_between(grid[ok], lo, hi, color=color, alpha=0.2, lw=0)
    ax.axhline(args.level, c="k", ls=":", lw=1, label=f"{args.level:.0%} of the true front")
    ax.set_xscale("log")
    ax.set_xlabel("cumulative cost (target-run units)")
    ax.set_ylabel("true hypervolume / true front's")
    ax.set_title(" vs ".join(METRICS) + " at the target (fitted simulator)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _weighted_task(label: str, spec, strategy: str, seed: int, budget: float) -> dict:
    import torch

    torch.set_num_threads(1)
    from mixscale import bench
    from mixscale.objectives.multimetric import MultiMetricSimulator

    df = bench.run_one(MultiMetricSimulator(spec), strategy, seed, budget)
    return {"problem": label, "strategy": strategy, "seed": seed, "rows": df.to_dict(orient="records")}


def part_weighted(args) -> dict:
    """Per (problem, strategy, seed) runs appended to ``OUT/weighted-runs.jsonl`` (a rerun skips those there), then
    the harness's speedups per problem from the same traces."""
    import pandas as pd

    from mixscale.bench import BenchResult, speedup_ratio
    from mixscale.objectives.multimetric import MultiMetricSimulator

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    problems = {"weighted": {"loss:code": 0.5, "loss:books": 0.5}}
    for m in args.single:
        problems[m] = m
    log = out / "weighted-runs.jsonl"
    done = {}
    if log.exists():
        for line in log.read_text().splitlines():
            d = json.loads(line)
            if d.get("budget") == args.wbudget:
                done[(d["problem"], d["strategy"], d["seed"])] = d
    todo = [
        (label, spec, strat, seed, args.wbudget)
        for seed in range(args.seeds)
        for label, spec in problems.items()
        for strat in ("random", "mfms")
        if (label, strat, seed) not in done
    ]
    print(f"weighted part: {len(done)} runs done, {len(todo)} to run", flush=True)
    with ProcessPoolExecutor(max(1, args.workers)) as pool:
        for res in pool.map(_weighted_task, *zip(*todo, strict=True)) if todo else []:
            res["budget"] = args.wbudget
            with log.open("a") as f:
                f.write(json.dumps(res, default=float) + "\n")
            done[(res["problem"], res["strategy"], res["seed"])] = res
            print(
                f"{res['problem']} {res['strategy']} seed {res['seed']}: final regret {res['rows'][-1]['regret']:.4f}",
                flush=True,
            )
    summary = {"command": " ".join(sys.argv), "seeds": args.seeds, "budget": args.wbudget, "problems": {}}
    results = {}
    for label, spec in problems.items():
        runs = [done[(label, st, s)] for s in range(args.seeds) for st in ("random", "mfms")]
        objective = MultiMetricSimulator(spec)
        traces = pd.DataFrame([r for run in runs for r in run["rows"]])
        res = BenchResult(traces, args.wbudget, objective.metric.name, float(objective.optimum()[1]))
        sp = res.speedup("random", "mfms")
        results[label] = res
        summary["problems"][label] = {
            "objective": objective.metric.name,
            "formula": objective.scalarization.describe() if objective.scalarization else label,
            "speedup_mfms_over_random": {"median": sp.median, "q25": sp.q25, "q75": sp.q75, "reached": sp.reached},
            "target_regret": sp.target_regret,
            "random_cost_to_target": sp.baseline_cost,
            "final": res.final().reset_index(names="strategy").to_dict(orient="records"),
        }
        print(
            f"{label}: mfms over random {sp} ({sp.reached:.0%} of seeds reach random's final regret "
            f"{sp.target_regret:.4f}, which random reaches at {sp.baseline_cost:.3g})",
            flush=True,
        )
    for label, p in summary["problems"].items():
        if label != "weighted":
            # paired bootstrap over seeds (every problem ran the same ones); a 0x single-metric speedup gives inf
            ratio, lo, hi = speedup_ratio(results["weighted"], results[label], "random", "mfms", n_boot=1000)
            p["weighted_over_this_speedup"] = ratio
            p["weighted_over_this_speedup_90"] = [lo, hi]
            print(
                f"weighted / {label} speedup ratio: {ratio:.2f}, 90 % bootstrap interval [{lo:.2f}, {hi:.2f}] "
                "(goal within 0.7–1.3)"
            )
    (out / "weighted.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["pareto", "weighted"], default="pareto")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=float, default=3.0, help="pareto budget, target runs")
    ap.add_argument("--random-budget", type=float, default=40.0, help="random search budget, target runs")
    ap.add_argument("--level", type=float, default=0.9)
    ap.add_argument("--n-front", type=int, default=32, help="points on the pareto strategy's recommended front")
    ap.add_argument("--every", type=float, default=0.25, help="score the front every this many target runs")
    ap.add_argument("--wbudget", type=float, default=3.0, help="weighted part budget, target runs")
    ap.add_argument("--single", nargs="*", default=["loss:code", "loss:books"])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default="docs/benchmark/pareto")
    args = ap.parse_args()
    (part_pareto if args.part == "pareto" else part_weighted)(args)


if __name__ == "__main__":
    main()
