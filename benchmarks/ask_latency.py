"""ask() latency of ``mfms`` and ``mfms-paper`` at 25 / 100 / 200 observations, side by side in one run.

Usage: ``.venv/bin/python benchmarks/ask_latency.py [--threads 2] [--repeats 3] [--observations 25,100,200]
[--variants mfms,full-fit,mfms-paper]``

Each strategy is told the same observations (random mixtures at random grid fidelities of the analytic
simulator, with learning curves), then ``ask()`` is timed ``repeats`` times; the first call after new data
includes the GP refit, as in a real loop, so every timed call is preceded by one fresh ``tell``; one untimed ask
comes first, so that every timed refit is warm-started from a previous fit, as in a live study. Both strategies get
``n_init = min(20, observations - 1)`` so that every timed ask is a model-based one (mfms's default design of 6k
runs would otherwise still be running at 25 observations).

Columns: wall-clock seconds and process CPU seconds (on a machine shared with other jobs the CPU time is the
steadier figure; with one thread it is what the wall clock reads on an idle machine), for ``mfms`` as shipped,
``mfms`` with ``fit_tol=None`` (the refit runs L-BFGS to scipy's default tolerance, i.e. nearly always all 40
iterations, as before issue 11's latency work) and ``mfms-paper``. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from mixscale import strategies
from mixscale.simulator import AnalyticSimulator

#: (label, strategy, options) timed side by side.
VARIANTS = (("mfms", "mfms", {}), ("full-fit", "mfms", {"fit_tol": None}), ("mfms-paper", "mfms-paper", {}))


def timed_asks(name: str, n_obs: int, repeats: int, seed: int = 0, **options) -> np.ndarray:
    """``(repeats, 2)``: wall-clock and CPU seconds of each timed ask."""
    sim = AnalyticSimulator()
    rng = np.random.default_rng(seed)
    # Past the design phase (n_init observations, asked without a model), every ask fits the GP: time that.
    strat = strategies.create(name, sim.space, sim.cost, True, seed, n_init=min(20, n_obs - 1), **options)
    fids = sim.space.fidelities()

    def tell_one(i: int) -> None:
        w = sim.space.sample_mixtures(rng, 1)[0]
        scale, steps = fids[int(rng.integers(len(fids) - 3))]
        config = strat._config(w, scale, steps)
        strat.tell(config, sim.evaluate(config, seed=i))

    for i in range(n_obs - 1):
        tell_one(i)
    strat.ask()  # untimed: in a live study every refit is warm-started from the previous ask's fit
    times = []
    for r in range(repeats):
        tell_one(n_obs + r)  # new data: the next ask refits, as in a live study
        t0, c0 = time.perf_counter(), time.process_time()
        strat.ask()
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    return np.array(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--observations", default="25,100,200", help="comma-separated observation counts")
    parser.add_argument(
        "--variants",
        default=",".join(v[0] for v in VARIANTS),
        help="comma-separated columns to time (default all; 'mfms' alone also runs against older source trees)",
    )
    args = parser.parse_args()
    chosen = [v for v in VARIANTS if v[0] in args.variants.split(",")]
    torch.set_num_threads(args.threads)
    print(f"torch threads: {args.threads}; median of {args.repeats} asks (each after one new observation)")
    print("load average (1, 5, 15 min) before: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    ratios = [label for label, _, _ in chosen[1:]] if chosen[0][0] == "mfms" else []
    head = "".join(f" {label + ' wall/cpu [s]':>24}" for label, _, _ in chosen)
    print(f"{'observations':>12}{head}" + "".join(f" {label + ' / mfms':>18}" for label in ratios))
    for n in (int(x) for x in args.observations.split(",")):
        med = [np.median(timed_asks(name, n, args.repeats, **opts), axis=0) for _, name, opts in chosen]
        cells = "".join(f" {m[0]:>14.3f} / {m[1]:<7.3f}" for m in med)
        print(f"{n:>12}{cells}" + "".join(f" {m[0] / med[0][0]:>18.2f}" for m in med[1 : 1 + len(ratios)]))
    print("load average (1, 5, 15 min) after: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
