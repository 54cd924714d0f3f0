"""Study throughput with 1 vs 2 local workers, and the proposal overhead per trial as pending points grow.

Usage: ``.venv/bin/python benchmarks/study_throughput.py [--trials 16] [--delay 0.5] [--repeats 2]
[--storage URL] [--no-overhead]``

``--storage``: where the studies are stored: a temporary SQLite file per run (default) or a database URL, e.g.
``postgresql+psycopg://user:pw@127.0.0.1:5432/db`` (each run adds a study with a fresh name there).

1. **Throughput.** The same ``random`` study (analytic simulator) runs with ``LocalExecutor(1)`` and
   ``LocalExecutor(2)``, alternating, ``repeats`` times each, in fresh studies. Each trial sleeps ``delay``
   seconds before answering: it stands in for a training run on an accelerator, so the driver (asks, storage
   writes, scheduling) is what is measured, not how two busy CPU cores share work. Reported: trials/hour over the
   whole ``optimize`` call (worker start-up included) and in steady state (first trial start to last trial end,
   from the stored timings), and the 2-vs-1 ratio of each (2.0 would be perfect).
2. **Proposal overhead.** ``mfms`` told ``--observations`` analytic-simulator runs, then ``ask_pending`` with
   0, 1, 2, 4, 8, 16 pending queries (constant liar: each adds one provisional GP observation), median of
   ``repeats`` timed asks per row, each after a fresh ``tell`` so the GP refit is included as in a live study;
   rows are interleaved (round robin), so the history grows alike for every row.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

import mixscale
from mixscale.objectives.function import FunctionObjective
from mixscale.simulator import AnalyticSimulator
from mixscale.study.executors import LocalExecutor


@functools.cache
def _simulator() -> AnalyticSimulator:
    return AnalyticSimulator()


def _slow_simulator(mixture, scale, steps, seed=None, delay=0.5):
    time.sleep(delay)
    sim = _simulator()
    return sim.evaluate(sim.space.config(mixture, scale, steps), seed=seed).value


def throughput(trials: int, delay: float, workers: int, storage: str | None, folder: Path, tag: str):
    """(trials/hour over the whole call, trials/hour from first start to last finish)."""
    space = AnalyticSimulator().space
    objective = FunctionObjective(space, functools.partial(_slow_simulator, delay=delay))
    url = storage or f"sqlite:///{folder}/{tag}.db"
    name = f"{tag}-{uuid.uuid4().hex[:8]}"
    study = mixscale.create_study(objective, storage=url, name=name, strategy="random", seed=0)
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=trials, executor=LocalExecutor(workers))
    wall = time.perf_counter() - t0
    done = [t for t in study.trials if t.state == "complete"]
    assert len(done) == trials, "every trial should complete"
    busy = max(t.finished_at for t in done) - min(t.started_at for t in done)
    return 3600 * trials / wall, 3600 * trials / busy


def proposal_overhead(n_obs: int, pending_counts: list[int], repeats: int, threads: int) -> dict[int, float]:
    # Imported here, not at the top: worker processes start by importing this file, and torch costs seconds.
    import torch

    from mixscale import strategies

    torch.set_num_threads(threads)
    sim = AnalyticSimulator()
    rng = np.random.default_rng(0)
    strat = strategies.create("mfms", sim.space, sim.cost, True, 0)
    fids = sim.space.fidelities()

    def random_config():
        scale, steps = fids[int(rng.integers(len(fids) - 3))]
        return strat._config(sim.space.sample_mixtures(rng, 1)[0], scale, steps)

    for i in range(n_obs):
        c = random_config()
        strat.tell(c, sim.evaluate(c, seed=i))
    times: dict[int, list[float]] = {p: [] for p in pending_counts}
    for r in range(repeats):
        for p in pending_counts:  # round robin, so that load from other processes hits every row alike
            c = random_config()
            strat.tell(c, sim.evaluate(c, seed=10_000 + 100 * p + r))
            pending = [random_config() for _ in range(p)]
            t0 = time.perf_counter()
            strat.ask_pending(pending)
            times[p].append(time.perf_counter() - t0)
    return {p: statistics.median(v) for p, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--delay", type=float, default=0.5, help="seconds each trial 'trains'")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--observations", type=int, default=30)
    ap.add_argument("--pending", default="0,1,2,4,8,16")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the asks")
    ap.add_argument("--storage", default=None, help="database URL (default: a temporary SQLite file per run)")
    ap.add_argument("--no-overhead", action="store_true", help="skip the proposal-overhead table")
    args = ap.parse_args()

    rows: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for w in (1, 2):  # alternate, so that load from other processes hits both alike
                rows[w].append(throughput(args.trials, args.delay, w, args.storage, Path(tmp), f"w{w}-r{r}"))
    backend = "SQLite (temporary file)" if args.storage is None else args.storage.split(":")[0]
    print(
        f"\nThroughput on {backend}: {args.trials} random-strategy trials of {args.delay:g} s each, "
        f"median of {args.repeats}"
    )
    print("| workers | trials/hour (whole call) | trials/hour (steady state) |")
    print("|---|---|---|")
    med = {w: (statistics.median(a for a, _ in v), statistics.median(b for _, b in v)) for w, v in rows.items()}
    for w in (1, 2):
        print(f"| {w} | {med[w][0]:,.0f} | {med[w][1]:,.0f} |")
    print(f"| ratio 2/1 | {med[2][0] / med[1][0]:.2f}x | {med[2][1] / med[1][1]:.2f}x |")

    if args.no_overhead:
        return
    pending = [int(p) for p in args.pending.split(",")]
    overhead = proposal_overhead(args.observations, pending, args.repeats, args.threads)
    base = overhead[pending[0]]
    n = args.observations
    last = n + len(pending) * args.repeats
    print(f"\nProposal overhead: mfms ask_pending after {n} to {last} observations, median of {args.repeats}")
    print("| pending | ask [s] | vs no pending |")
    print("|---|---|---|")
    for p, t in overhead.items():
        print(f"| {p} | {t:.2f} | {t / base:.2f}x |")


if __name__ == "__main__":
    main()
