"""Strategies by name. Each is seedable and keeps the ask / tell / recommend contract of :class:`Strategy`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mixscale.errors import ValidationError
from mixscale.space import Space
from mixscale.strategies.base import Recommendation, Strategy
from mixscale.strategies.hyperband import Hyperband
from mixscale.strategies.mfbo import MultiFidelityBO
from mixscale.strategies.mfms import MFMS
from mixscale.strategies.mfms_paper import MFMSPaper
from mixscale.strategies.pareto import ParetoMFMS
from mixscale.strategies.random import RandomSearch
from mixscale.strategies.regmix import RegMix

REGISTRY: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (RandomSearch, Hyperband, MultiFidelityBO, RegMix, MFMSPaper, MFMS, ParetoMFMS)
}
DEFAULT = "mfms"
BASELINES = ("random", "hyperband", "mfbo", "regmix")

__all__ = ["REGISTRY", "DEFAULT", "BASELINES", "Recommendation", "Strategy", "create"]


def create(
    name: str,
    space: Space,
    cost: Callable[[str, int], float] | None = None,
    minimize: bool = True,
    seed: int = 0,
    **options: Any,
) -> Strategy:
    """A strategy by registry name."""
    try:
        cls = REGISTRY[name]
    except KeyError:
        raise ValidationError("strategy", f"unknown strategy {name!r} (known: {', '.join(REGISTRY)})") from None
    try:
        return cls(space, cost, minimize=minimize, seed=seed, **options)
    except TypeError as exc:
        raise ValidationError(f"strategy_options ({name})", str(exc)) from None
