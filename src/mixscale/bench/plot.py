"""Pictures of benchmark results: regret vs cost with interquartile bands."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mixscale.bench.harness import BenchResult  # noqa: E402


def plot_regret(
    result: BenchResult, path: str | os.PathLike, title: str | None = None, marks: tuple[float, ...] = ()
) -> None:
    """Median recommendation regret vs cumulative cost (log-log), one line and IQR band per strategy; a dotted
    vertical line at each cost of ``marks`` (the budgets a suite judges)."""
    grid = result.grid(300)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name in result.strategies:
        R = result.regret_matrix(name, grid)
        finite = R[np.isfinite(R)]
        floor = max(1e-6, 1e-3 * float(finite.max())) if finite.size else 1e-6
        with np.errstate(invalid="ignore"):
            q25, med, q75 = (np.maximum(np.quantile(R, q, axis=0), floor) for q in (0.25, 0.5, 0.75))
        q25, med, q75 = (np.where(np.isfinite(a), a, np.nan) for a in (q25, med, q75))
        (line,) = ax.plot(grid, med, label=f"{name} ({R.shape[0]} seeds)", lw=1.8)
        ax.fill_between(grid, q25, q75, color=line.get_color(), alpha=0.15, lw=0)
    for m in marks:
        ax.axvline(m, color="grey", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("cumulative cost (target-run units)")
    ax.set_ylabel(f"regret of recommendation ({result.metric})")
    ax.set_title(title or f"Recommendation regret vs cost, budget {result.budget:g}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
