"""Which parts of ``mfms`` matter: its defaults against one change at a time, on problem-suite families.

Usage: ``.venv/bin/python benchmarks/mfms_ablation.py [--families anti-interior,fitted-avg] [--seeds 3]
[--budgets 1,3,10] [--workers 2] [--out results/mfms_ablation]`` (``--arms ""`` runs the baselines alone)

Arms (each a set of ``mfms`` options; everything else is the default):

* ``default`` — design of at most half a target run at the cheapest scale; signed rung loadings; the fit averaged
  with its "the target stands alone" twin and the "inverted" fit at prior odds 4 : 1 : 1; ensemble KG per cost
  over every fidelity.
* ``two-members`` — ``members=2`` at equal odds: the fit and its twin, without the "inverted" fit (the default
  before it was added).
* ``odds-211`` — prior odds 2 : 1 : 1 instead of 4 : 1 : 1.
* ``no-twin`` — ``members=1``: the fit alone (MAP hyperparameters, no transfer uncertainty in the acquisition).
* ``positive-ladder`` — ``rank=0``: the ladder kernel can only express positive correlation between rungs.
* ``cost-threshold`` — ``refine_min_cost=0.2``: after the design, only fidelities costing >= 0.2 target runs.
* ``big-design`` — ``design_cost=1``: the design may cost a whole target run (the previous default).
* ``small-design`` — ``design_cost=0.25``: a quarter of a target run, so that more goes to near-target probes early.
* ``tiny-design`` — ``design_cost=0.1``: how far the design must shrink before the top-only families win at one run.
* ``few-design`` — ``design_rate=3, design_cost=0.25``: half the design's runs at the default's step level (where
  ``small-design`` keeps the runs and halves their length).
* ``no-faces`` — ``face_weight=0``: the recommendation is the projected descent's end point, without the
  active-set search over faces (so no weight is set to exactly 0 unless the projection lands there).
* ``lcb1`` — ``recommend_kappa=1``: recommend the mixture with the lowest ``mean + 1·sd`` at the target.
* ``step-deviations`` — ``step_deviations=True``: the steps kernel gets a deviation per step level, so the full
  schedule's mixture effect is learned only from runs that reach it.
* ``overhead-0.1`` — ``fixed_cost=0.1``: the acquisition charges every query a tenth of a target run on top of its
  FLOPs, so that many cheap runs look less attractive (the budget itself is still charged by FLOPs).

Each (family, arm, seed) run is saved under ``--out`` as it finishes, so an interrupted ablation resumes. Printed:
per family and budget, each arm's median final regret over the seeds, and the baselines' (run once, same seeds) for
reference; then, because single runs of ``mfms`` are chaotic (a small change early sends a run elsewhere, so a
5-seed median moves by more than most changes do), each arm **paired** with ``default`` run by run: on how many
(family, seed) runs it ends lower and higher, and the geometric mean over families of the ratio of median final
regrets (each offset by 1e-3, so that families solved exactly do not dominate).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from mixscale.bench import run_suite

ARMS = {
    "default": {},
    "two-members": {"members": 2, "prior_odds": (1.0, 1.0, 1.0)},
    "odds-211": {"prior_odds": (2.0, 1.0, 1.0)},
    "no-twin": {"members": 1},
    "positive-ladder": {"rank": 0},
    "cost-threshold": {"refine_min_cost": 0.2},
    "big-design": {"design_cost": 1.0},
    "small-design": {"design_cost": 0.25},
    "tiny-design": {"design_cost": 0.1},
    "few-design": {"design_rate": 3, "design_cost": 0.25},
    "no-faces": {"face_weight": 0.0},
    "lcb1": {"recommend_kappa": 1.0},
    "overhead-0.1": {"fixed_cost": 0.1},
    "step-deviations": {"step_deviations": True},
}


def paired(finals: pd.DataFrame, arm: str, reference: str = "default", tol: float = 1e-4) -> dict:
    """``arm`` against ``reference`` run by run: ``finals`` has columns family, seed, budget, arm, regret."""
    both = finals[finals.arm.isin([arm, reference])].pivot_table(
        index=["budget", "family", "seed"], columns="arm", values="regret"
    )
    both = both.dropna()
    out = {}
    for budget, g in both.groupby(level="budget"):
        diff = g[arm] - g[reference]
        med = g.groupby(level="family").median()
        ratio = float(np.exp(np.mean(np.log((med[arm] + 1e-3) / (med[reference] + 1e-3)))))
        out[budget] = {
            "lower": int((diff < -tol).sum()),
            "higher": int((diff > tol).sum()),
            "runs": len(g),
            "ratio": ratio,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="anti-interior,top-only-interior,faithful-face,fitted-avg")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--baselines", default="random,mfbo,regmix")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budgets", default="1,3,10")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="results/mfms_ablation")
    args = parser.parse_args()
    families = args.families.split(",")
    budgets = tuple(float(b) for b in args.budgets.split(","))
    seeds = range(args.seeds)
    rows, finals = [], []
    base = [s for s in args.baselines.split(",") if s]
    if base:
        res = run_suite(families, base, seeds, budgets, args.workers, Path(args.out) / "baselines")
        for b in budgets:
            for fam, r in res.regrets(b).iterrows():
                for strat, v in r.items():
                    rows.append({"family": fam, "budget": b, "arm": strat, "median regret": v})
    for arm in [a for a in args.arms.split(",") if a]:  # --arms "": the baselines alone
        res = run_suite(
            families, ["mfms"], seeds, budgets, args.workers, Path(args.out) / arm, strategy_options={"mfms": ARMS[arm]}
        )
        for b in budgets:
            for fam, r in res.regrets(b).iterrows():
                rows.append({"family": fam, "budget": b, "arm": f"mfms:{arm}", "median regret": r["mfms"]})
            for fam in families:
                last = res.at(fam, b).traces.sort_values("cost").groupby("seed").tail(1)
                finals += [
                    {"family": fam, "seed": s, "budget": b, "arm": arm, "regret": v}
                    for s, v in zip(last.seed, last.regret, strict=True)
                ]
        print(f"done: {arm}", flush=True)
    table = pd.DataFrame(rows).pivot_table(index=["family", "budget"], columns="arm", values="median regret")
    print(f"\nmedian final regret over {args.seeds} seeds (suite families; same seeds for every column)")
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    finals = pd.DataFrame(finals)
    others = [a for a in args.arms.split(",") if a != "default"]
    if "default" in args.arms.split(",") and others:
        print("\npaired with default, run by run (lower / higher final regret; geometric mean of median ratios)")
        for arm in others:
            cells = paired(finals, arm)
            print(
                f"{arm:>16}: "
                + "; ".join(
                    f"budget {b:g}: {c['lower']} / {c['higher']} of {c['runs']}, ratio {c['ratio']:.3f}"
                    for b, c in cells.items()
                )
            )


if __name__ == "__main__":
    main()
