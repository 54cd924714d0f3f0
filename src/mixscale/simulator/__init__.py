"""Simulators: objectives that answer queries in milliseconds, for benchmarking strategies.

* ``fitted`` (default): a model fitted to mixscale's own pre-training runs (`runs.parquet` shipped in
  ``mixscale/simulator/data``) or to any runs table passed as ``runs=``;
* ``replay``: the recorded values of a runs table, only for configurations that were run;
* ``analytic``: the documented synthetic law of data mixing × scaling (``simulator/analytic.py``).

The fitted simulator's model families live in ``simulator/families/`` (``poly``, ``mlp``, ``gbm``, ``mixlaw``,
``gp``), chosen per table by cross-validation by run (``simulator/regression.py``); ``simulator/synth.py`` writes
wide synthetic runs tables from a known law (``mixscale simulator synth``) to test them on.
"""

from mixscale.simulator.analytic import AnalyticSimulator
from mixscale.simulator.fitted import FittedSimulator, ReplaySimulator

__all__ = ["AnalyticSimulator", "FittedSimulator", "ReplaySimulator", "load", "NAMES"]

NAMES = ("fitted", "replay", "analytic")


def load(name: str = "fitted", **kwargs):
    """A simulator objective by name (``fitted``, ``replay`` or ``analytic``); ``metric=None`` picks its default."""
    from mixscale.errors import ValidationError

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if name == "analytic":
        return AnalyticSimulator(**kwargs)
    if name == "fitted":
        return FittedSimulator(**kwargs)
    if name == "replay":
        kwargs.pop("noise", None)  # replay answers recorded values: there is no noise to scale
        return ReplaySimulator(**kwargs)
    raise ValidationError("simulator", f"unknown simulator {name!r} (known: {', '.join(NAMES)})")
