"""How much each fidelity says about the target, on a simulator's noise-free model.

Usage: ``.venv/bin/python benchmarks/fidelity_transfer.py [--simulator fitted|analytic | --family NAME |
--objective SPEC] [--n 4000]``

``--family`` takes any problem-suite family (``mixscale.bench.suite.family_names()``), e.g. ``fitted-avg-no-latex``;
on a constrained space the mixtures are drawn uniformly from its feasible set. ``--objective`` takes one metric of
the fitted simulator's runs table or a JSON weighting of several (``'{"loss:code": 0.5, "loss:books": 0.5}'``,
normalized as :class:`~mixscale.objectives.multimetric.MultiMetricSimulator` does), e.g. to compare how a weighted
sum and each of its parts transfer.

For ``n`` uniform mixtures, every fidelity (m, z) of the grid is compared with the target (m*, z*): its cost, the
Spearman rank correlation of its values with the target's, and the target regret of the mixture that is best at
that fidelity (the best of the same ``n``; what a perfect, noise-free search at that fidelity alone would deploy).
The last column is the target regret of the mean of its 1 % best mixtures. Regret of a uniform random mixture and of
the uniform mixture are printed for scale.

``--domain NAME`` adds two columns on what that one domain is worth at each fidelity: its mean weight among the 40
best mixtures there, and how much worse the best mixture without it (weight < 0.01) is than the best overall.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from mixscale import simplex, simulator
from mixscale.bench.suite import family
from mixscale.objectives.multimetric import MultiMetricSimulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator", default="fitted", choices=["fitted", "analytic"])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--family", default=None, help="a problem-suite family instead of --simulator")
    source.add_argument("--objective", default=None, help="a metric or a JSON weighting (fitted simulator)")
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--domain", default=None, help="also: what this domain is worth at each fidelity")
    args = parser.parse_args()

    if args.objective:
        sim = MultiMetricSimulator(args.objective)
    else:
        sim = family(args.family) if args.family else simulator.load(args.simulator)
    space = sim.space
    # a constrained family wraps its simulator (ConstrainedObjective): the rungs' values come from the simulator
    values_at = getattr(sim, "objective", sim).value_at
    sign = 1.0 if sim.metric.minimize else -1.0
    rng = np.random.default_rng(args.seed)
    W = space.sample_mixtures(rng, args.n) if space.constrained else simplex.sample_dirichlet(rng, args.n, space.k)
    _, best = sim.optimum()
    regret = sign * (sim.target_value(W) - best)
    top = max(1, args.n // 100)
    rows = []
    for scale, steps in space.fidelities():
        values = sign * values_at(W, scale, steps)
        order = np.argsort(values)
        worth = {}
        if args.domain:
            d = space.domains.index(args.domain)
            without = W[:, d] < 0.01
            worth = {
                f"{args.domain} among best 40": round(float(W[order[:40], d].mean()), 3),
                f"cost of no {args.domain}": round(float(values[without].min() - values[order[0]]), 4),
            }
        rows.append(
            {
                "scale": scale,
                "steps": steps,
                "cost": round(space.cost(scale, steps), 4),
                "spearman with target": round(float(spearmanr(values, regret).correlation), 3),
                "regret of its best": round(float(regret[order[0]]), 4),
                "regret of mean of its top 1%": round(
                    float(sign * (sim.target_value(W[order[:top]].mean(0)[None])[0] - best)), 4
                ),
                **worth,
            }
        )
    name = args.family or (f"fitted simulator, {args.objective}" if args.objective else f"{args.simulator} simulator")
    print(f"{name}, metric {sim.metric.name}, target {space.target}, {args.n} mixtures")
    print(f"regret of a uniform random mixture: median {np.median(regret):.4f}; uniform mixture: ", end="")
    print(f"{sign * (sim.target_value(space.uniform_mixture()[None])[0] - best):.4f}")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
