"""Simulators: objectives that answer queries in milliseconds, for benchmarking strategies."""

from mixscale.simulator.analytic import AnalyticSimulator

__all__ = ["AnalyticSimulator", "load"]


def load(name: str = "analytic", **kwargs):
    """A simulator objective by name (``analytic``)."""
    from mixscale.errors import ValidationError

    if name == "analytic":
        return AnalyticSimulator(**kwargs)
    raise ValidationError("simulator", f"unknown simulator {name!r} (known: analytic)")
