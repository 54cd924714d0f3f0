"""mixscale: choose an LLM pre-training data mixture by multi-fidelity, multi-scale Bayesian optimization.

The public surface (see ``shared/DESIGN.md``): :class:`Space`, :class:`Config`, the :class:`Objective` protocol,
:class:`FunctionObjective`, strategies by name (:func:`mixscale.strategies.create`) and the benchmark harness
(:func:`mixscale.bench.run`), and persistent studies (:func:`create_study`, :func:`load_study`; imported on first
use, since they pull in SQLAlchemy and the strategies).
"""

from mixscale.errors import ValidationError
from mixscale.objective import BenchmarkObjective, FunctionObjective, Metric, Objective, Observation
from mixscale.space import Config, Scale, Space

__version__ = "0.1.0"

__all__ = [
    "BenchmarkObjective",
    "Config",
    "FunctionObjective",
    "Metric",
    "Objective",
    "Observation",
    "Scale",
    "Space",
    "ValidationError",
    "__version__",
    "create_study",
    "load_study",
]


def __getattr__(name: str):
    if name in ("create_study", "load_study"):
        from mixscale import study

        return getattr(study, name)
    raise AttributeError(f"module 'mixscale' has no attribute {name!r}")
