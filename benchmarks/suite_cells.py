"""Which of the suite's "at or below every baseline" cells do the seeds settle? From per-seed final regrets.

Usage: ``.venv/bin/python benchmarks/suite_cells.py docs/benchmark/small-design/finals.csv [--method mfms:default]``
``[--winners]``

Issue 11's first bar asks ``mfms``'s median final regret to be at or below every baseline's on every family and
budget. A cell where it is above may be a real deficit or a coin flip of the seeds. For every (family, budget,
baseline) where the method's median is above the baseline's, this prints both medians and a 90 % percentile
bootstrap interval of their difference (the two strategies' seeds resampled independently, 2,000 draws, generator
seeded with 0); the cell is *settled* when the interval lies above 0. Input: a CSV with columns ``family, seed,
budget, strategy, regret`` (one row per final regret, as ``benchmarks/mfms_ablation.py`` writes them).

``--winners`` asks how reliably a cell's lowest median is the lowest at all: per (family, budget), the strategy with
the lowest median among the baselines and ``--method``, and the bootstrap probability that it is lowest again when the
seeds are resampled (one draw of seed indices shared by all strategies, since seed ``s`` is the same problem
instance for each; ties count as lowest). The product over cells is the probability, were the cells independent,
that every cell's winner wins its cell again on a fresh draw of as many seeds. It is optimistic (a winner's curse:
the observed winner is favoured by the very seeds that are resampled), so the true chance is lower.
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


def winners(finals: pd.DataFrame, method: str, n_boot: int = 2000) -> pd.DataFrame:
    """Per (family, budget): the strategy with the lowest median final regret and how often it is lowest again."""
    rng = np.random.default_rng(0)
    rows = []
    finals = finals[finals["strategy"].isin([*BASELINES, method])]
    for (fam, budget), g in finals.groupby(["family", "budget"], sort=True):
        table = g.pivot_table(index="seed", columns="strategy", values="regret").dropna()
        x = table.to_numpy(float)
        best = int(np.argmin(np.median(x, 0)))
        draws = np.median(x[rng.integers(0, len(x), (n_boot, len(x)))], axis=1)  # n_boot × strategies
        again = float(np.mean(draws[:, best] <= draws.min(1)))
        rows.append(
            {
                "family": fam,
                "budget": budget,
                "winner": table.columns[best],
                "its median": round(float(np.median(x[:, best])), 4),
                "seeds": len(x),
                "P(lowest again)": round(again, 3),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("finals", help="CSV of per-seed final regrets")
    parser.add_argument("--method", default="mfms:default")
    parser.add_argument("--winners", action="store_true", help="how reliably each cell's winner wins it")
    args = parser.parse_args()
    finals = pd.read_csv(args.finals)
    if args.winners:
        table = winners(finals, args.method)
        print(table.to_string(index=False))
        p = table["P(lowest again)"]
        print(
            f"{len(table)} cells; winner lowest again with P < 0.9 in {int((p < 0.9).sum())}, < 0.7 in "
            f"{int((p < 0.7).sum())}; product over cells {float(np.prod(p)):.2g}"
        )
        return
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
