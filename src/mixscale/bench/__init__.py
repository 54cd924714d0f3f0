"""The benchmark harness: strategies × seeds on a simulator → regret-vs-cost traces, speedups, plots.

:func:`run` (``harness.py``) is the entry point; :func:`mixscale.bench.plot.plot_regret` draws its result.
:func:`suite` (``suite.py``) gives the problem families (generators in ``families.py``) and :func:`run_suite` judges
strategies on all of them at several budgets.
"""

from mixscale.bench.harness import BenchResult, Speedup, checkpoints, regret_of, run, run_one, speedup_ratio
from mixscale.bench.suite import run_suite, suite

__all__ = [
    "BenchResult",
    "Speedup",
    "checkpoints",
    "regret_of",
    "run",
    "run_one",
    "run_suite",
    "speedup_ratio",
    "suite",
]
