"""mixscale: choose an LLM pre-training data mixture by multi-fidelity, multi-scale Bayesian optimization.

The public surface (see ``shared/DESIGN.md``): :class:`Space`, :class:`Config`, the :class:`Objective` protocol,
:class:`FunctionObjective`, strategies by name (:func:`mixscale.strategies.create`) and the benchmark harness
(:func:`mixscale.bench.run`), and persistent studies (:func:`create_study`, :func:`load_study`; imported on first
use, since they pull in SQLAlchemy and the strategies).
"""

from mixscale._version import __version__
from mixscale.errors import ValidationError
from mixscale.objective import BenchmarkObjective, Metric, Objective, Observation
from mixscale.objectives.function import FunctionObjective
from mixscale.scalarization import Scalarization
from mixscale.space import Config, Scale, Space

__all__ = [
    "BenchmarkObjective",
    "Config",
    "FunctionObjective",
    "Metric",
    "Objective",
    "Observation",
    "Scalarization",
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
