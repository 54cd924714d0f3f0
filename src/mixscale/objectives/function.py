"""Any Python callable as an objective: ``fn(mixture, scale, steps) -> float | dict``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from mixscale.errors import ValidationError
from mixscale.objective import CostSpec, Metric, Observation, dense_optimum, make_cost
from mixscale.space import Config, Space


class FunctionObjective:
    """Wrap a plain callable ``fn(mixture: dict[str, float], scale: str, steps: int) -> float``.

    ``fn`` may instead return a mapping ``{"value": float, "curve": [(step, value), ...]}``. If ``fn`` accepts a
    ``seed`` keyword it receives the query's seed. ``cost`` is any :func:`make_cost` specification.

    For benchmarking, the noise-free target value of a mixture is ``truth(mixture)`` when given, else
    ``fn(mixture, *space.target)``; the optimum is found by dense search (:func:`dense_optimum`) unless
    ``optimum=(mixture, value)`` is supplied.
    """

    def __init__(
        self,
        space: Space,
        fn: Callable[..., Any],
        cost: CostSpec = None,
        minimize: bool = True,
        metric: str = "value",
        truth: Callable[[dict[str, float]], float] | None = None,
        optimum: tuple[Sequence[float] | Mapping[str, float], float] | None = None,
    ) -> None:
        if not callable(fn):
            raise ValidationError("fn", "must be callable")
        self.space = space
        self.metric = Metric(metric, minimize)
        self._fn = fn
        self._cost = make_cost(space, cost)
        self._truth = truth
        self._optimum = None
        if optimum is not None:
            self._optimum = (space.validate_mixture(optimum[0], "optimum"), float(optimum[1]))
        try:
            import inspect

            self._takes_seed = "seed" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            self._takes_seed = False

    def cost(self, scale: str, steps: int) -> float:
        return float(self._cost(scale, steps))

    def evaluate(self, config: Config, seed: int | None = None) -> Observation:
        kwargs = {"seed": seed} if self._takes_seed else {}
        out = self._fn(dict(config.mixture), config.scale, int(config.steps), **kwargs)
        curve = None
        if isinstance(out, Mapping):
            if "value" not in out:
                raise ValidationError("objective.value", "the callable returned a mapping without 'value'")
            value = out["value"]
            if out.get("curve") is not None:
                curve = tuple((int(s), float(v)) for s, v in out["curve"])
        else:
            value = out
        return Observation(float(value), self.cost(config.scale, config.steps), curve)

    def target_value(self, mixtures: np.ndarray) -> np.ndarray:
        mixtures = np.atleast_2d(mixtures)
        if self._truth is not None:
            return np.array([float(self._truth(self.space.mixture_dict(w))) for w in mixtures])
        scale, steps = self.space.target
        out = []
        for w in mixtures:
            v = self._fn(self.space.mixture_dict(w), scale, steps)
            out.append(float(v["value"] if isinstance(v, Mapping) else v))
        return np.array(out)

    def optimum(self) -> tuple[np.ndarray, float]:
        if self._optimum is None:
            self._optimum = dense_optimum(self, n=2000)
        return self._optimum
