"""Does ``mfms`` keep its edge when a token cap binds? Speedups on the fitted simulator, unconstrained vs capped.

Usage: ``.venv/bin/python benchmarks/constrained.py [--seeds 10] [--budget 3] [--out docs/benchmark/constrained]``

The cap: the domain the unconstrained optimum uses most gets ``tokens`` such that, at ``max_epochs = 1`` and the
target run's planned tokens, its weight is at most half its optimal weight (a binding token-availability
constraint). Both problems run ``random``, ``mfbo`` and ``mfms`` on the same seeds; regret is measured against each
problem's own optimum (the constrained optimum by dense search inside the feasible set). Printed: median final
regret, the speedups of ``mfms`` over ``random`` and ``mfbo`` on both problems, and the constrained/unconstrained
ratio of each speedup with a paired 90 % bootstrap interval over seeds (:func:`mixscale.bench.speedup_ratio`): at 10
seeds that interval spans more than an order of magnitude, so the point ratio alone says little. Traces are saved
per seed under ``--out`` (``*.parquet``), so an interrupted run resumes; the summary goes to ``summary.json``
(``summary-<n>seeds.json`` for other than 10 seeds, so that ``--seeds 40`` on the same directory keeps both).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from mixscale import bench, simulator
from mixscale.objectives.constrained import ConstrainedObjective

STRATEGIES = ("random", "mfbo", "mfms")


def capped(objective) -> tuple[ConstrainedObjective, str, float]:
    space = objective.space
    w_opt, _ = objective.optimum()
    i = int(np.argmax(w_opt))
    domain, cap = space.domains[i], float(w_opt[i]) / 2
    scale, steps = space.target
    planned = space.scale(scale).tokens_per_step
    target_tokens = float(planned) * steps if planned else 1.0
    return (
        ConstrainedObjective(
            objective, tokens={domain: cap * target_tokens}, max_epochs=1, target_tokens=target_tokens
        ),
        domain,
        cap,
    )


def run(objective, name: str, seeds, budget: float, out: Path, compute: bool = True) -> bench.BenchResult:
    frames = []
    for seed in seeds:
        path = out / f"{name}-seed{seed}.parquet"
        if not path.exists() and not compute:
            continue
        if not path.exists():
            res = bench.run(objective, STRATEGIES, seeds=[seed], budget=budget, workers=1)
            res.traces.to_parquet(path)
            print(f"{name} seed {seed} done", flush=True)
        frames.append(pd.read_parquet(path))
    return bench.BenchResult(pd.concat(frames), budget, objective.metric.name, objective.optimum()[1])


def null_check(results: dict[str, bench.BenchResult], seeds: list[int]) -> dict:
    """How far a 10-seed speedup moves when nothing changes: each problem's seeds cut into disjoint blocks of 10,
    ``mfms``'s speedup per block, and the ratio between every two blocks — what "capped / unconstrained" would read if
    the cap changed nothing. Printed and returned."""
    blocks = [seeds[i : i + 10] for i in range(0, len(seeds) - 9, 10)]
    out = {}
    print(f"\nthe same problem against itself: {len(blocks)} disjoint blocks of 10 seeds")
    for problem, res in results.items():
        cut = [bench.BenchResult(res.traces[res.traces["seed"].isin(b)], res.budget, res.metric, res.optimum)
               for b in blocks]  # fmt: skip
        for b in ("random", "mfbo"):
            per_block = [c.speedup(b, "mfms").median for c in cut]
            pairs = [bench.speedup_ratio(x, y, b, "mfms", n_boot=0)[0] for x, y in itertools.combinations(cut, 2)]
            within = sum(abs(r - 1) <= 0.3 for r in pairs)
            out[f"{problem} mfms vs {b}"] = {"per block": per_block, "pairwise ratios": pairs, "within 30 %": within}
            print(
                f"{problem:>13} mfms vs {b:>6}: per block {' '.join(f'{x:.2f}x' for x in per_block)}; "
                f"block / block within 30 % in {within} of {len(pairs)} pairs"
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmark/constrained"))
    parser.add_argument("--only", choices=["unconstrained", "capped"], help="run one problem's seeds and stop")
    parser.add_argument("--reverse", action="store_true", help="seeds in reverse order (a second process)")
    parser.add_argument(
        "--summarize", action="store_true", help="no new runs: compare on the seeds both problems have so far"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    plain = simulator.load("fitted")
    cons, domain, cap = capped(plain)
    w_plain, v_plain = plain.optimum()
    w_cons, v_cons = cons.optimum()
    print(f"cap: {domain} <= {cap:.3f} (half its optimal weight {2 * cap:.3f})")
    print(f"unconstrained optimum {v_plain:.4f} at {np.round(w_plain, 3).tolist()}")
    print(f"constrained optimum   {v_cons:.4f} at {np.round(w_cons, 3).tolist()}", flush=True)

    seeds = list(range(args.seeds))[:: -1 if args.reverse else 1]
    if args.only:  # e.g. the two problems in two processes
        run(*((plain, "plain") if args.only == "unconstrained" else (cons, "capped")), seeds, args.budget, args.out)
        return
    if args.summarize:
        done = [s for s in seeds if all((args.out / f"{n}-seed{s}.parquet").exists() for n in ("plain", "capped"))]
        print(f"summarizing the {len(done)} seeds both problems have: {done}")
        seeds = done
    results = {"unconstrained": run(plain, "plain", seeds, args.budget, args.out, not args.summarize)}
    results["capped"] = run(cons, "capped", seeds, args.budget, args.out, not args.summarize)
    rows, summary = [], {"cap": {"domain": domain, "max_weight": cap}, "seeds": seeds, "budget": args.budget}
    for problem, res in results.items():
        final = res.final()
        row = {"problem": problem, "optimum": res.optimum}
        for s in STRATEGIES:
            row[f"{s} final regret"] = round(float(final.loc[s].median_regret), 4)
        for b in ("random", "mfbo"):
            sp = res.speedup(b, "mfms")
            row[f"mfms vs {b}"] = str(sp)
            summary[f"{problem} mfms vs {b}"] = sp.median
        rows.append(row)
    for b in ("random", "mfbo"):
        # paired bootstrap over seeds (both problems ran the same ones); a 0x unconstrained speedup gives inf
        ratio, lo, hi = bench.speedup_ratio(results["capped"], results["unconstrained"], b, "mfms", n_boot=1000)
        summary[f"ratio vs {b}"] = ratio
        summary[f"ratio vs {b} 90% interval"] = [lo, hi]
        print(
            f"mfms vs {b}: capped / unconstrained speedup = {ratio:.2f}, 90 % bootstrap interval [{lo:.2f}, {hi:.2f}]"
            f" (within 30 %: {abs(ratio - 1) <= 0.3}; the interval inside [0.7, 1.3]: {0.7 <= lo and hi <= 1.3})"
        )
    print(f"\nfitted simulator, {len(seeds)} seeds {seeds}, budget {args.budget:g} target runs")
    print(pd.DataFrame(rows).to_string(index=False))
    if len(seeds) >= 20:
        summary["same problem, disjoint 10-seed blocks"] = null_check(results, seeds)
    name = "summary.json" if len(seeds) == 10 else f"summary-{len(seeds)}seeds.json"  # the 10 seeds, or more
    (args.out / name).write_text(json.dumps({**summary, "table": rows}, indent=2, default=float))


if __name__ == "__main__":
    main()
