"""Any Python callable as an objective: ``fn(mixture, scale, steps) -> float | dict``.

The dict may carry one value (``{"value": v, "curve": [(step, v), ...]}``) or several named metrics, flat
(``{"loss:code": 1.2, "loss:books": 2.0}``) or nested (``{"metrics": {...}, "curves": {"loss:code": [...]}}``);
every metric reported is kept in :attr:`~mixscale.objective.Observation.metrics` (and so stored by studies), and the
value optimized is the one named by ``metric`` or the :class:`~mixscale.scalarization.Scalarization` given as
``metric={"loss:code": 0.5, "loss:books": 0.5}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from mixscale.errors import ValidationError
from mixscale.objective import CostSpec, Metric, Observation, dense_optimum, make_cost
from mixscale.scalarization import Scalarization, metric_direction, metrics_of
from mixscale.space import Config, Space

_RESERVED = ("value", "curve", "curves", "metrics", "info")


class FunctionObjective:
    """Wrap a plain callable ``fn(mixture: dict[str, float], scale: str, steps: int) -> float``.

    ``fn`` may instead return a mapping ``{"value": float, "curve": [(step, value), ...]}`` or several metrics
    (see the module docstring). ``metric`` names the value optimized, or is a weight table /
    :class:`~mixscale.scalarization.Scalarization`; ``minimize`` defaults to the metric name's direction (``loss*``
    minimized, ``accuracy*`` maximized, anything else minimized). If ``fn`` accepts a ``seed`` keyword it receives
    the query's seed. ``cost`` is any :func:`make_cost` specification.

    For benchmarking, the noise-free target value of a mixture is ``truth(mixture)`` when given, else
    ``fn(mixture, *space.target)``; the optimum is found by dense search (:func:`dense_optimum`) unless
    ``optimum=(mixture, value)`` is supplied.
    """

    def __init__(
        self,
        space: Space,
        fn: Callable[..., Any],
        cost: CostSpec = None,
        minimize: bool | None = None,
        metric: str | Mapping[str, float] | Scalarization = "value",
        truth: Callable[[dict[str, float]], float] | None = None,
        optimum: tuple[Sequence[float] | Mapping[str, float], float] | None = None,
    ) -> None:
        if not callable(fn):
            raise ValidationError("fn", "must be callable")
        self.space = space
        self.scalarization: Scalarization | None = None
        if isinstance(metric, str):
            if minimize is None:
                try:
                    minimize = metric_direction(metric)
                except ValidationError:
                    minimize = True
            self.metric = Metric(metric, bool(minimize))
        else:
            self.scalarization = Scalarization.from_spec(metric)
            if minimize is False:
                raise ValidationError("minimize", "a weighted objective is always minimized (weights carry directions)")
            self.metric = Metric(self.scalarization.name, True)
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
        value, curve, metrics, curves = parse_result(out, self.metric.name, self.scalarization)
        return Observation(value, self.cost(config.scale, config.steps), curve, metrics=metrics, curves=curves)

    def target_value(self, mixtures: np.ndarray) -> np.ndarray:
        mixtures = np.atleast_2d(mixtures)
        if self._truth is not None:
            return np.array([float(self._truth(self.space.mixture_dict(w))) for w in mixtures])
        scale, steps = self.space.target
        out = []
        for w in mixtures:
            v = self._fn(self.space.mixture_dict(w), scale, steps)
            out.append(parse_result(v, self.metric.name, self.scalarization)[0])
        return np.array(out)

    def describe(self) -> dict[str, Any]:
        if self.scalarization is None:
            return {}
        return {"scalarization": self.scalarization.to_dict(), "formula": self.scalarization.describe()}

    def optimum(self) -> tuple[np.ndarray, float]:
        if self._optimum is None:
            self._optimum = dense_optimum(self, n=2000)
        return self._optimum


def parse_result(
    out: Any, metric: str, scalarization: Scalarization | None = None
) -> tuple[float, tuple[tuple[int, float], ...] | None, dict[str, float], dict[str, tuple]]:
    """``(value, curve, metrics, curves)`` of what an evaluation returned: a number or a mapping (module docstring).

    The value is ``scalarization(metrics)`` when given, else ``metrics[metric]``, else the mapping's ``"value"``;
    the curve of a scalarized value is the scalarization of the metrics' curves at the steps they all share.
    """
    if not isinstance(out, Mapping):
        try:
            return float(out), None, {}, {}
        except (TypeError, ValueError):
            raise ValidationError(
                "objective.value", f"the callable returned {out!r}, not a number or mapping"
            ) from None
    metrics = metrics_of(out.get("metrics") or {}, "objective.metrics")
    flat = {
        k: v for k, v in out.items() if k not in _RESERVED and isinstance(v, int | float) and not isinstance(v, bool)
    }
    metrics.update(metrics_of(flat, "objective"))
    curves: dict[str, tuple] = {}
    for k, c in (out.get("curves") or {}).items():
        if c:
            curves[str(k)] = tuple((int(s), float(v)) for s, v in c)
    curve = None
    if scalarization is not None:
        value = scalarization.value(metrics)
        if all(m in curves for m in scalarization.metrics):
            steps = sorted(set.intersection(*(set(s for s, _ in curves[m]) for m in scalarization.metrics)))
            by = {m: dict(curves[m]) for m in scalarization.metrics}
            curve = tuple((s, scalarization.value({m: by[m][s] for m in by})) for s in steps) or None
    elif metric in metrics:
        value = metrics[metric]
        curve = curves.get(metric)
    elif "value" in out:
        value = out["value"]
    else:
        raise ValidationError(
            "objective.value", f"the callable returned a mapping without 'value' or {metric!r} (keys: {sorted(out)})"
        )
    if curve is None and out.get("curve") is not None:
        curve = tuple((int(s), float(v)) for s, v in out["curve"])
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValidationError("objective.value", f"must be a number, got {value!r}") from None
    return value, curve, metrics, curves
