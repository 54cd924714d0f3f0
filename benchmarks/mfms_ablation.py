"""Which parts of ``mfms`` matter: its defaults against one change at a time, side by side in one run.

Usage: ``.venv/bin/python benchmarks/mfms_ablation.py [--seeds 10] [--simulator fitted|analytic] [--workers 2]``

Arms (each a set of ``mfms`` options; everything else is the default):

* ``default`` — Sobol design of 6k runs at the cheapest scale, full schedule; then KG per cost over fidelities that
  cost at least 0.2 target runs.
* ``all-fidelities`` — ``refine_min_cost=0``: after the design, KG per cost over every fidelity.
* ``short-design`` — the design at the cheapest fidelity (cheapest scale, *shortest* step level).
* ``small-design`` — ``n_init = 2k`` design runs instead of 6k.

Printed per arm: median final regret [IQR] and the speedup over ``random`` and ``mfbo`` (both run in the same call,
same seeds), using the harness's definitions (``mixscale.bench``).
"""

from __future__ import annotations

import argparse

import pandas as pd

from mixscale import bench, simulator


def arms(space) -> dict[str, dict]:
    cheapest = min(space.fidelities(), key=lambda f: space.cost(*f))
    return {
        "default": {},
        "all-fidelities": {"refine_min_cost": 0.0},
        "short-design": {"init_fidelity": cheapest},
        "small-design": {"n_init": 2 * space.k},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--simulator", default="fitted", choices=["fitted", "analytic"])
    parser.add_argument("--budget", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    objective = simulator.load(args.simulator)
    baselines = bench.run(objective, ["random", "mfbo"], seeds=args.seeds, budget=args.budget, workers=args.workers)
    rows = []
    for arm, options in arms(objective.space).items():
        result = bench.run(
            objective, ["mfms"], seeds=args.seeds, budget=args.budget, workers=args.workers,
            strategy_options={"mfms": options},
        )  # fmt: skip
        merged = bench.BenchResult(
            pd.concat([baselines.traces, result.traces]), baselines.budget, baselines.metric, baselines.optimum
        )
        final = merged.final().loc["mfms"]
        rows.append(
            {
                "arm": arm,
                "options": options or "-",
                "median final regret": f"{final.median_regret:.4f} [{final.q25:.4f}, {final.q75:.4f}]",
                "queries": int(final.queries),
                "vs random": str(merged.speedup("random", "mfms")),
                "vs mfbo": str(merged.speedup("mfbo", "mfms")),
            }
        )
        print(rows[-1], flush=True)
    print(f"\n{args.simulator} simulator, {args.seeds} seeds, budget {args.budget:g} target runs")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
