"""ask() latency of ``mfms`` and ``mfms-paper`` at 25 / 100 / 200 observations, side by side in one run.

Usage: ``.venv/bin/python benchmarks/ask_latency.py [--threads 2] [--repeats 3]``

Each strategy is told the same observations (random mixtures at random grid fidelities of the analytic
simulator, with learning curves), then ``ask()`` is timed ``repeats`` times; the first call after new data
includes the GP refit, as in a real loop, so every timed call is preceded by one fresh ``tell``. Both strategies get
``n_init = min(20, observations - 1)`` so that every timed ask is a model-based one (mfms's default design of 6k runs
would otherwise still be running at 25 observations).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mixscale import strategies
from mixscale.simulator import AnalyticSimulator


def timed_asks(name: str, n_obs: int, repeats: int, seed: int = 0) -> list[float]:
    sim = AnalyticSimulator()
    rng = np.random.default_rng(seed)
    # Past the design phase (n_init observations, asked without a model), every ask fits the GP: time that.
    strat = strategies.create(name, sim.space, sim.cost, True, seed, n_init=min(20, n_obs - 1))
    fids = sim.space.fidelities()

    def tell_one(i: int) -> None:
        w = sim.space.sample_mixtures(rng, 1)[0]
        scale, steps = fids[int(rng.integers(len(fids) - 3))]
        config = strat._config(w, scale, steps)
        strat.tell(config, sim.evaluate(config, seed=i))

    for i in range(n_obs - 1):
        tell_one(i)
    times = []
    for r in range(repeats):
        tell_one(n_obs + r)  # new data: the next ask refits, as in a live study
        t0 = time.perf_counter()
        strat.ask()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads: {args.threads}; median of {args.repeats} asks (each after one new observation)")
    print(f"{'observations':>12} {'mfms [s]':>10} {'mfms-paper [s]':>15} {'paper / mfms':>13}")
    for n in (25, 100, 200):
        a = float(np.median(timed_asks("mfms", n, args.repeats)))
        b = float(np.median(timed_asks("mfms-paper", n, args.repeats)))
        print(f"{n:>12} {a:>10.3f} {b:>15.3f} {b / a:>13.2f}")


if __name__ == "__main__":
    main()
