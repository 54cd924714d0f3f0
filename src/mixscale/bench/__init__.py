"""The benchmark harness: strategies × seeds on a simulator → regret-vs-cost traces, speedups, plots.

:func:`run` (``harness.py``) is the entry point; :func:`mixscale.bench.plot.plot_regret` draws its result.
"""

from mixscale.bench.harness import BenchResult, Speedup, checkpoints, regret_of, run, run_one

__all__ = ["BenchResult", "Speedup", "checkpoints", "regret_of", "run", "run_one"]
