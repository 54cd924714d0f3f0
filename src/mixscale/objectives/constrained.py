"""Any objective with constraints on its mixture: the same training (or simulator), a smaller feasible set.

Objectives build their own :class:`~mixscale.space.Space` (a simulator's comes from its runs table), so a study
file's ``[constraints]`` table and the constrained benchmark wrap the objective instead of rebuilding it. The
wrapper forwards every query unchanged; only ``space`` (and so what strategies may ask) and ``optimum`` (the
constrained one, by :func:`~mixscale.objective.dense_optimum` inside the feasible set) differ.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mixscale.objective import Objective, Observation, dense_optimum
from mixscale.space import Config


class ConstrainedObjective:
    """``objective`` restricted to mixtures satisfying ``constraints`` (the keyword arguments of ``Space``)."""

    def __init__(self, objective: Objective, **constraints: Any) -> None:
        self.objective = objective
        self.space = objective.space.with_constraints(**constraints)
        self.metric = objective.metric
        self._optimum: tuple[np.ndarray, float] | None = None

    def evaluate(self, config: Config, seed: int | None = None) -> Observation:
        return self.objective.evaluate(config, seed=seed)

    def cost(self, scale: str, steps: int) -> float:
        return self.objective.cost(scale, steps)

    def target_value(self, mixtures: np.ndarray) -> np.ndarray:
        return self.objective.target_value(mixtures)

    def optimum(self) -> tuple[np.ndarray, float]:
        """The best *feasible* target mixture and its value."""
        if self._optimum is None:
            self._optimum = dense_optimum(self, n=20000)
        return self._optimum

    def describe(self) -> dict[str, Any]:
        describe = getattr(self.objective, "describe", None)
        inner = describe() if callable(describe) else {}
        return {**inner, "constraints": self.space.constraints.to_dict()}

    def __getattr__(self, name: str) -> Any:
        # Anything else (e.g. a simulator's runs table) is the wrapped objective's.
        if name == "objective":
            raise AttributeError(name)
        return getattr(self.objective, name)
