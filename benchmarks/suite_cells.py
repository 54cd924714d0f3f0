"""Which of the suite's "at or below every baseline" cells do the seeds settle? From per-seed final regrets.

Usage: ``.venv/bin/python benchmarks/suite_cells.py docs/benchmark/small-design/finals.csv [--method mfms:default]``

Issue 11's first bar asks ``mfms``'s median final regret to be at or below every baseline's on every family and
budget. A cell where it is above may be a real deficit or a coin flip of the seeds. For every (family, budget,
baseline) where the method's median is above the baseline's, this prints both medians and a 90 % percentile
bootstrap interval of their difference (the two strategies' seeds resampled independently, 2,000 draws, generator
seeded with 0); the cell is *settled* when the interval lies above 0. Input: a CSV with columns ``family, seed,
budget, strategy, regret`` (one row per final regret, as ``benchmarks/mfms_ablation.py`` writes them).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

BASELINES = ("random", "hyperband", "mfbo", "regmix", "mfms-paper")


def deficits(finals: pd.DataFrame, method: str, n_boot: int = 2000, level: float = 0.9) -> pd.DataFrame:
    """One row per (family, budget, baseline) where ``method``'s median final regret is above the baseline's."""
    rng = np.random.default_rng(0)
    alpha = (1 - level) / 2
    rows = []
    for (fam, budget), g in finals.groupby(["family", "budget"], sort=True):
        m = g.loc[g["strategy"] == method, "regret"].to_numpy(float)
        for base in BASELINES:
            b = g.loc[g["strategy"] == base, "regret"].to_numpy(float)
            if not (len(m) and len(b)) or np.median(m) <= np.median(b):
                continue
            draws = np.median(rng.choice(m, (n_boot, len(m))), 1) - np.median(rng.choice(b, (n_boot, len(b))), 1)
            lo, hi = np.quantile(draws, [alpha, 1 - alpha])
            rows.append(
                {
                    "family": fam,
                    "budget": budget,
                    "baseline": base,
                    "method median": round(float(np.median(m)), 4),
                    "baseline median": round(float(np.median(b)), 4),
                    "difference 90 %": f"[{lo:.4f}, {hi:.4f}]",
                    "settled": bool(lo > 0),
                }
            )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("finals", help="CSV of per-seed final regrets")
    parser.add_argument("--method", default="mfms:default")
    args = parser.parse_args()
    finals = pd.read_csv(args.finals)
    table = deficits(finals, args.method)
    seeds = finals.groupby(["family", "budget", "strategy"]).size().min()
    print(f"{args.method} above a baseline's median ({seeds}+ seeds per cell):")
    print(table.to_string(index=False) if len(table) else "none")
    if len(table):
        summary = table.groupby("budget")["settled"].agg(["sum", "count"])
        for budget, row in summary.iterrows():
            print(f"budget {budget}: {row['sum']} of {row['count']} such (cell, baseline) pairs settled by these seeds")


if __name__ == "__main__":
    main()
