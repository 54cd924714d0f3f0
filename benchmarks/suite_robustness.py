"""The suite's robustness table from saved per-family summaries, when the families were run at different times.

Usage: ``.venv/bin/python benchmarks/suite_robustness.py docs/benchmark/suite [MORE_DIRS ...]``

``mixscale benchmark --suite`` prints the robustness table (:meth:`mixscale.bench.suite.SuiteResult.robustness`)
from its saved runs. A family added later is run on its own (``--families NAME --out DIR``); this script joins the
``<family>.json`` summaries of every directory given (a later directory's summary of the same family wins) and
prints, per judged budget, the same table: on each family a strategy's median final regret over the best strategy's
median, with regrets within 1 % of the uniform mixture's regret counted as equal; the worst family per strategy and
the geometric mean over families. It also counts the families on which ``mfms`` is at or below every baseline.
Only summaries are read, so the per-run traces need not be kept.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from mixscale.bench.harness import regret_of
from mixscale.bench.suite import RATIO_FLOOR, family, family_names


def summaries(dirs: list[str]) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for d in dirs:
        for path in sorted(Path(d).glob("*.json")):
            data = json.loads(path.read_text())
            if isinstance(data, dict) and "family" in data and "budgets" in data:
                found[data["family"]] = data
    return found


def uniform_regret(name: str) -> float:
    objective = family(name, 0)
    _, best = objective.optimum()
    uniform = dict(zip(objective.space.domains, objective.space.uniform_mixture(), strict=True))
    return abs(regret_of(objective, uniform, best))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+")
    parser.add_argument("--method", default="mfms")
    args = parser.parse_args()
    found = summaries(args.dirs)
    names = [n for n in family_names() if n in found]
    seeds = {n: len(found[n]["seeds"]) for n in names}
    print(f"{len(names)} families; seeds per family: {sorted(set(seeds.values()))}")
    eps = pd.Series({n: RATIO_FLOOR * uniform_regret(n) for n in names})
    budgets = sorted({b for n in names for b in found[n]["budgets"]}, key=float)
    for b in budgets:
        regret = pd.DataFrame(
            {n: {r["strategy"]: r["median_regret"] for r in found[n]["budgets"][b]["final"]} for n in names}
        ).T
        ratio = regret.add(eps, axis=0).div(regret.min(axis=1) + eps, axis=0)
        table = pd.DataFrame(
            {"worst": ratio.max(axis=0), "family": ratio.idxmax(axis=0), "geomean": np.exp(np.log(ratio).mean(axis=0))}
        )
        print(f"\nbudget {b} target runs")
        print(table.round(2).to_string())
        if args.method in regret:
            others = regret.drop(columns=[args.method]).min(axis=1)
            at_or_below = regret[args.method] <= others
            print(f"{args.method} at or below every baseline on {int(at_or_below.sum())} of {len(names)} families")


if __name__ == "__main__":
    main()
