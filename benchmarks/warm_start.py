"""Warm start on the fitted simulator: one domain added to a study whose predecessor ran on the other six.

Per seed:

1. **predecessor**: ``mfms`` on the six-domain problem (the fitted simulator with the added domain at weight 0),
   budget ``--pre-budget`` target runs (default 3, the budget the cold study gets: a team's earlier study run to
   its end); its runs become a runs table (the documented schema);
2. **cold**: ``mfms`` on all seven domains from scratch, budget ``--budget`` (the harness's ``run_one``);
3. **warm**: ``mfms`` on all seven domains, told the predecessor's runs through
   :func:`mixscale.study.warm_start.collect` as a study's replay tells them (marked ``warm_start``, the new domain
   at weight 0, never charged), then run with budget ``--warm-budget``.

Regret is scored at the seven-domain target (``loss:avg``). The issue's goal: warm reaches the cold study's final
(median) regret at ≤ 40 % of the cold study's cost. Cold's cost is the cost from which its median trace stays at
or below its final median regret (the harness's definition); warm's, per seed, the cost from which its trace stays
there until its budget ends (inf when it ends above). The script also scores the first recommendation of ``mfms``
warm-started from the shipped runs table alone (before any new run) against the uniform mixture.

    PYTHONPATH=src python benchmarks/warm_start.py --seeds 10 --workers 2 --out docs/benchmark/warm_start_added

Per-seed results are appended to ``OUT/seeds.jsonl`` (a rerun skips seeds already there); summary
``OUT/summary.json``. The predecessor's and the cold study's runs do not depend on the warm strategy and are cached
per (seed, budget) under ``--cache`` (default ``OUT/cache``), so a changed warm strategy reruns only step 3 (delete
``seeds.jsonl`` first).
``--warm-options '{"name": value}'`` passes ``mfms`` options to the warm study only (e.g. to try a variant of the
warm-start model against the same predecessors and cold runs).

How much the seeds decide: the ratio's 90 % percentile-bootstrap interval (seeds resampled, each draw recomputing
the cold median trace, its final regret and its cost, and every warm seed's cost against that target); with 20 seeds
or more, the verdict on each disjoint block of 10 seeds, and the **null check** — the same criterion applied to the
cold study on one block against the cold study on another (a cold start "warm-starting" nothing), which a 10-seed
verdict should fail if it measures the warm start rather than which seeds were drawn.
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


class Restricted:
    """The fitted simulator on all domains but ``dropped`` (its weight is 0 in every query)."""

    def __init__(self, sim, dropped: str) -> None:
        from mixscale.objective import Metric
        from mixscale.space import Space

        self.sim, self.dropped = sim, dropped
        full = sim.space
        self.space = Space([d for d in full.domains if d != dropped], full.scales, full.steps, full.target)
        self.metric = Metric(sim.metric.name, sim.metric.minimize)

    def cost(self, scale: str, steps: int) -> float:
        return self.sim.cost(scale, steps)

    def evaluate(self, config, seed=None):
        from mixscale.space import Config

        return self.sim.evaluate(Config({**config.mixture, self.dropped: 0.0}, config.scale, config.steps), seed)


def _seed_of(seed: int, n: int) -> int:
    return int(np.random.SeedSequence([seed, n]).generate_state(1)[0])


def _runs_table(space, told: list, metric: str):
    """The predecessor's runs as a runs table (one row per learning-curve point)."""
    import pandas as pd

    rows = []
    for i, (config, obs) in enumerate(told):
        s = space.scale(config.scale)
        for step, value in obs.curve or [(config.steps, obs.value)]:
            rows.append(
                {
                    "run_id": f"pre-{i}", "scale": config.scale, "params": int(s.params),
                    "tokens_per_step": int(s.tokens_per_step), "step": int(step), "max_steps": int(config.steps),
                    "seed": i, **{f"w:{d}": float(config.mixture[d]) for d in space.domains}, metric: float(value),
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


def _trace(objective, strat, budget: float, seed: int, opt: float, offset: int = 0) -> dict:
    """Run ``strat`` for ``budget``; regret of its recommendation after every query (cost, regret lists)."""
    from mixscale.bench.harness import regret_of

    costs, regrets, spent, n = [], [], 0.0, 0
    while True:
        config = strat.ask()
        c = objective.cost(config.scale, config.steps)
        if spent + c > budget * (1 + 1e-9):
            break
        strat.tell(config, objective.evaluate(config, seed=_seed_of(seed, offset + n)))
        spent += c
        n += 1
        costs.append(spent)
        regrets.append(regret_of(objective, strat.recommend().mixture, opt))
    return {"cost": costs, "regret": regrets, "queries": n}


def _predecessor(sim, added: str, seed: int, budget: float, cache: Path | None) -> dict:
    """``mfms`` on the domains other than ``added``: its runs (config and observation) and its recommendation's
    regret at the full problem's target. Cached per (seed, budget) in ``cache`` (it does not depend on the warm
    strategy)."""
    from mixscale import strategies
    from mixscale.bench.harness import regret_of
    from mixscale.objective import Observation
    from mixscale.space import Config

    path = cache / f"predecessor-{added}-{seed}-{budget:g}.json" if cache else None
    if path and path.exists():
        d = json.loads(path.read_text())
    else:
        pre = Restricted(sim, added)
        s = strategies.create("mfms", pre.space, pre.cost, True, seed)
        told, spent, n = [], 0.0, 0
        while True:
            config = s.ask()
            c = pre.cost(config.scale, config.steps)
            if spent + c > budget * (1 + 1e-9):
                break
            obs = pre.evaluate(config, seed=_seed_of(seed + 1000, n))
            s.tell(config, obs)
            told.append(
                {"mixture": config.mixture, "scale": config.scale, "steps": config.steps, "value": obs.value,
                 "curve": obs.curve, "cost": c}
            )  # fmt: skip
            spent, n = spent + c, n + 1
        _, opt = sim.optimum()
        d = {"told": told, "regret": regret_of(sim, {**s.recommend().mixture, added: 0.0}, opt)}
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(d))
    d["runs"] = [
        (Config(t["mixture"], t["scale"], t["steps"]),
         Observation(t["value"], t["cost"], tuple(map(tuple, t["curve"])) if t["curve"] else None))
        for t in d["told"]
    ]  # fmt: skip
    return d


def _cold(sim, seed: int, budget: float, cache: Path | None) -> dict:
    """Cold ``mfms`` on every domain (the harness's ``run_one``), cached per (seed, budget) in ``cache``."""
    from mixscale.bench.harness import run_one

    path = cache / f"cold-{seed}-{budget:g}.json" if cache else None
    if path and path.exists():
        return json.loads(path.read_text())
    cold = run_one(sim, "mfms", seed, budget)
    d = {"cost": cold["cost"].tolist(), "regret": cold["regret"].tolist()}
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(d))
    return d


def run_seed(
    seed: int, added: str, pre_budget: float, budget: float, warm_budget: float, warm_options: dict, cache: str | None
) -> dict:
    import torch

    torch.set_num_threads(1)
    from mixscale import strategies
    from mixscale.bench.harness import regret_of
    from mixscale.simulator.fitted import FittedSimulator
    from mixscale.study.warm_start import collect, value_function

    sim = FittedSimulator("loss:avg")
    _, opt = sim.optimum()
    t0 = time.time()
    cache_dir = Path(cache) if cache else None
    # 1. cold start on seven domains
    cold = _cold(sim, seed, budget, cache_dir)
    # 2. predecessor on six domains
    pre = _predecessor(sim, added, seed, pre_budget, cache_dir)
    told = pre["runs"]
    # 3. warm start: the predecessor's runs as a runs table, mapped by the warm-start module, told as a study's replay
    # tells them (marked as warm-start runs, cost 0)
    value, required = value_function(sim)
    pre_space = Restricted(sim, added).space
    warm_runs = collect([_runs_table(pre_space, told, sim.metric.name)], sim.space, value, required)
    w = strategies.create("mfms", sim.space, sim.cost, True, seed, **warm_options)
    for run in warm_runs.used:
        w.tell(run.config, run.marked())
    first = w.recommend().mixture
    design = w._design_plan()[0] if w.uncovered_domains() else 0
    warm = _trace(sim, w, warm_budget, seed, opt)
    assert abs(w.spent - warm["cost"][-1]) < 1e-9 if warm["cost"] else True  # warm runs were never charged
    final = w.recommend().mixture
    return {
        "seed": seed,
        "added": added,
        "predecessor": {
            "cost": sum(t["cost"] for t in pre["told"]),
            "queries": len(told),
            "regret_of_its_recommendation": pre["regret"],
        },
        "cold": cold,
        "warm": {
            **warm,
            "used": len(warm_runs.used),
            "skipped": len(warm_runs.skipped),
            "design_runs": design,
            "first_regret": regret_of(sim, first, opt),
            "first_weight_of_added": first[added],
            "final_weight_of_added": final[added],
        },
        "seconds": time.time() - t0,
    }


def shipped_first_recommendation() -> dict:
    """mfms told the shipped runs table alone: regret of its first recommendation vs the uniform mixture's."""
    from mixscale import strategies
    from mixscale.bench.harness import regret_of
    from mixscale.simulator.fitted import FittedSimulator, shipped_runs_path
    from mixscale.study.warm_start import collect, value_function

    sim = FittedSimulator("loss:avg")
    _, opt = sim.optimum()
    value, required = value_function(sim)
    warm = collect([str(shipped_runs_path())], sim.space, value, required)
    s = strategies.create("mfms", sim.space, sim.cost, True, 0)
    t0 = time.time()
    for run in warm.used:
        s.tell(run.config, run.observation)
    rec = s.recommend()
    uniform = regret_of(sim, sim.space.mixture_dict(sim.space.uniform_mixture()), opt)
    return {
        "used": len(warm.used),
        "skipped": len(warm.skipped),
        "regret_first_recommendation": regret_of(sim, rec.mixture, opt),
        "regret_uniform": uniform,
        "predicted": rec.value,
        "predicted_std": rec.std,
        "mixture": rec.mixture,
        "seconds": time.time() - t0,
    }


GRID_POINTS = 601


def _step_trace(grid: np.ndarray, costs, regrets) -> np.ndarray:
    idx = np.searchsorted(np.asarray(costs), grid, side="right") - 1
    return np.where(idx >= 0, np.asarray(regrets)[np.maximum(idx, 0)], np.inf)


def verdict(cold: list[dict], warm: list[dict], budget: float) -> dict:
    """The issue's criterion for one set of seeds: the cold traces' median trace, its final regret (the target) and
    the cost from which it stays there; each warm trace's cost to reach and keep that target, over the cold cost."""
    from mixscale.bench.harness import cost_to_stay

    grid = np.linspace(0, budget, GRID_POINTS)
    median = np.median([_step_trace(grid, d["cost"], d["regret"]) for d in cold], axis=0)
    target = float(median[-1])
    cold_cost = cost_to_stay(grid, median, target)
    costs = [cost_to_stay(d["cost"], d["regret"], target) for d in warm]
    ratios = np.asarray(costs) / cold_cost
    return {
        "target": target,
        "cold_cost": cold_cost,
        "costs": costs,
        "ratios": ratios.tolist(),
        "median_ratio": float(np.median(ratios)),
        "at_most_0.4": int((ratios <= 0.4).sum()),
        "cold_median_trace": median,
        "grid": grid,
    }


def ratio_interval(seeds: list[dict], budget: float, n_boot: int = 1000, level: float = 0.9) -> tuple[float, float]:
    """Percentile-bootstrap interval of the median warm / cold cost ratio: seeds resampled (the same draw for the
    cold and the warm study, which share the seed), the whole criterion recomputed on every draw."""
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(n_boot):
        pick = [seeds[i] for i in rng.integers(0, len(seeds), len(seeds))]
        draws.append(verdict([d["cold"] for d in pick], [d["warm"] for d in pick], budget)["median_ratio"])
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")  # inf-safe
    return float(lo), float(hi)


def blocks_and_null(seeds: list[dict], budget: float) -> dict:
    """Per disjoint block of 10 seeds: the warm verdict; and every cold block judged against every other's target."""
    blocks = [seeds[i : i + 10] for i in range(0, len(seeds) - 9, 10)]
    out = {"blocks": [], "null": []}
    print(f"\n{len(blocks)} disjoint blocks of 10 seeds")
    for i, b in enumerate(blocks):
        v = verdict([d["cold"] for d in b], [d["warm"] for d in b], budget)
        out["blocks"].append(
            {
                "seeds": [d["seed"] for d in b],
                **{k: v[k] for k in ("target", "cold_cost", "median_ratio", "at_most_0.4")},
            }
        )
        print(
            f"  block {i} (seeds {b[0]['seed']}-{b[-1]['seed']}): cold final {v['target']:.4f} kept from "
            f"{v['cold_cost']:.3g}; warm ratio {v['median_ratio']:.3g}, {v['at_most_0.4']}/10 seeds <= 0.4"
        )
    for i, a in enumerate(blocks):
        for j, b in enumerate(blocks):
            if i != j:
                v = verdict([d["cold"] for d in a], [d["cold"] for d in b], budget)
                out["null"].append(
                    {"reference": i, "judged": j, "median_ratio": v["median_ratio"], "at_most_0.4": v["at_most_0.4"]}
                )
                print(
                    f"  null: cold on block {j} judged against cold on block {i} (final {v['target']:.4f}): ratio "
                    f"{v['median_ratio']:.3g}, {v['at_most_0.4']}/10 seeds <= 0.4 -> "
                    f"{'passes' if v['median_ratio'] <= 0.4 else 'fails'}"
                )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--added", default="latex", help="the domain the new study adds")
    ap.add_argument("--pre-budget", type=float, default=3.0, help="the predecessor's budget (target runs)")
    ap.add_argument("--budget", type=float, default=3.0, help="cold-start budget (target runs)")
    ap.add_argument("--warm-budget", type=float, default=2.0)
    ap.add_argument(
        "--warm-design", type=int, default=None, help="mfms's warm_design: design runs per new domain (default 6)"
    )
    ap.add_argument("--warm-options", default="{}", help="the warm study's mfms options as JSON")
    ap.add_argument("--cache", default=None, help="predecessor and cold runs cached here (default OUT/cache)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--skip-shipped", action="store_true")
    ap.add_argument("--only-shipped", action="store_true", help="only the shipped-runs-table first recommendation")
    ap.add_argument("--out", default="docs/benchmark/warm_start")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.only_shipped:
        shipped = {"command": " ".join(sys.argv), **shipped_first_recommendation()}
        (out / "shipped.json").write_text(json.dumps(shipped, indent=1, default=str))
        print(
            f"warm start from the shipped runs table ({shipped['used']} runs): first recommendation regret "
            f"{shipped['regret_first_recommendation']:.4f} vs uniform {shipped['regret_uniform']:.4f}"
        )
        return
    log = out / "seeds.jsonl"
    done = {json.loads(line)["seed"]: json.loads(line) for line in log.read_text().splitlines()} if log.exists() else {}
    todo = [s for s in range(args.seeds) if s not in done]
    cache = args.cache or str(out / "cache")
    warm_options = json.loads(args.warm_options)
    if args.warm_design is not None:
        warm_options["warm_design"] = int(args.warm_design)
    jobs = [(s, args.added, args.pre_budget, args.budget, args.warm_budget, warm_options, cache) for s in todo]
    with ProcessPoolExecutor(max(1, args.workers)) as pool:
        for res in pool.map(run_seed, *zip(*jobs, strict=True)) if jobs else []:
            with log.open("a") as f:
                f.write(json.dumps(res) + "\n")
            done[res["seed"]] = res
            print(
                f"seed {res['seed']}: cold final regret {res['cold']['regret'][-1]:.4f}; warm ({res['warm']['used']} "
                f"warm runs) first {res['warm']['first_regret']:.4f}, final {res['warm']['regret'][-1]:.4f} at "
                f"{res['warm']['cost'][-1]:.2f} (weight of {args.added} {res['warm']['final_weight_of_added']:.3f}, "
                f"design {res['warm']['design_runs']} runs); {res['seconds']:.0f} s",
                flush=True,
            )
    seeds = [done[s] for s in sorted(done) if s < args.seeds]
    from mixscale.simulator.fitted import FittedSimulator

    sim = FittedSimulator("loss:avg")
    optimum_weight = sim.optimum()[0][sim.space.domains.index(args.added)]
    v = verdict([d["cold"] for d in seeds], [d["warm"] for d in seeds], args.budget)
    target, cold_cost, warm_costs, ratios = v["target"], v["cold_cost"], v["costs"], v["ratios"]
    lo, hi = ratio_interval(seeds, args.budget)
    summary = {
        "command": " ".join(sys.argv),
        "added_domain": args.added,
        "warm_design": args.warm_design,
        "warm_options": json.loads(args.warm_options),
        "seeds": len(seeds),
        "budgets": {"predecessor": args.pre_budget, "cold": args.budget, "warm": args.warm_budget},
        "cold_final_median_regret": target,
        "cold_cost_to_final": cold_cost,
        "warm_cost_to_cold_final_per_seed": warm_costs,
        "warm_over_cold_cost_per_seed": ratios,
        "warm_over_cold_cost_median": v["median_ratio"],
        "warm_over_cold_cost_interval_90": [lo, hi],
        "seeds_at_most_0.4": v["at_most_0.4"],
        "cold_median_regret_at_warm_budget": float(
            v["cold_median_trace"][np.searchsorted(v["grid"], args.warm_budget, "right") - 1]
        ),
        "warm_final_regret_iqr": np.quantile([d["warm"]["regret"][-1] for d in seeds], [0.25, 0.75]).tolist(),
        "warm_first_regret_median": float(np.median([d["warm"]["first_regret"] for d in seeds])),
        "warm_final_regret_median": float(np.median([d["warm"]["regret"][-1] for d in seeds])),
        "warm_final_weight_of_added_median": float(np.median([d["warm"]["final_weight_of_added"] for d in seeds])),
        "optimum_weight_of_added": float(optimum_weight),
        "predecessor_regret_median": float(
            np.median([d["predecessor"]["regret_of_its_recommendation"] for d in seeds])
        ),
    }
    print(
        f"\n{len(seeds)} seeds, '{args.added}' added: cold reaches and keeps its final median regret {target:.4f} from "
        f"cost {cold_cost:.3g}; warm start (predecessor's runs free) from median {np.median(warm_costs):.3g} → "
        f"ratio {summary['warm_over_cold_cost_median']:.3g} [90 % bootstrap {lo:.3g}, {hi:.3g}] (goal ≤ 0.4), "
        f"{summary['seeds_at_most_0.4']}/"
        f"{len(seeds)} seeds ≤ 0.4; warm's first recommendation (no new run) median regret "
        f"{summary['warm_first_regret_median']:.4f}"
    )
    if len(seeds) >= 20:
        summary["disjoint 10-seed blocks"] = blocks_and_null(seeds, args.budget)
    if not args.skip_shipped:
        shipped = shipped_first_recommendation()
        summary["shipped_runs_table"] = shipped
        print(
            f"warm start from the shipped runs table ({shipped['used']} runs): first recommendation regret "
            f"{shipped['regret_first_recommendation']:.4f} vs uniform {shipped['regret_uniform']:.4f}"
        )
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    main()
