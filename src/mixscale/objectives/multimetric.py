"""The fitted simulator reporting every metric of its runs table, optimizing one of them or a weighted sum.

:class:`MultiMetricSimulator` wraps a :class:`~mixscale.simulator.fitted.FittedSimulator` (whose regression model
predicts all ``loss:<domain>`` / ``accuracy:*`` columns at once). Each evaluation reports every metric with its
learning curve (:attr:`~mixscale.objective.Observation.metrics`), all sharing one seed offset per run (a bad seed
is bad on every domain) scaled by that metric's fitted seed noise, plus a small independent jitter per point. The
value optimized is

* one metric (``objective="loss:code"``), or
* a :class:`~mixscale.scalarization.Scalarization` (``objective={"loss:code": 0.5, "loss:books": 0.5}``),
  normalized by default with each metric's median and standard deviation over the table's runs at the target
  scale (``normalize=False`` keeps raw units); :meth:`describe` shows the formula.

``target_metrics(mixtures)`` gives the noise-free target value of every metric (for Pareto fronts and their
hypervolume), ``target_value`` / ``optimum`` the scalarized ones (for regret).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mixscale import runs as runs_table
from mixscale.errors import ValidationError
from mixscale.objective import Metric, Observation, dense_optimum
from mixscale.scalarization import Scalarization, metric_direction
from mixscale.simulator.fitted import FittedSimulator, seed_noise
from mixscale.space import Config


class MultiMetricSimulator:
    """A benchmark objective reporting all metrics of a fitted simulator (see the module docstring)."""

    def __init__(
        self,
        objective: str | Mapping[str, float] | Scalarization = "loss:avg",
        simulator: FittedSimulator | None = None,
        normalize: bool = True,
        noise: float = 1.0,
        runs=None,
    ) -> None:
        self.simulator = simulator if simulator is not None else FittedSimulator(runs=runs, noise=noise)
        sim = self.simulator
        self.space = sim.space
        self.metrics: list[str] = list(sim.metrics)
        self.scalarization: Scalarization | None = None
        if isinstance(objective, str) and not objective.lstrip().startswith("{"):
            if objective not in self.metrics:
                raise ValidationError("objective", f"{objective!r} is not a metric of the runs table {self.metrics}")
            self.metric = Metric(objective, metric_direction(objective))
        else:
            scal = Scalarization.from_spec(objective)
            unknown = [m for m in scal.metrics if m not in self.metrics]
            if unknown:
                raise ValidationError(f"objective.{unknown[0]}", f"not a metric of the runs table {self.metrics}")
            if normalize and not scal.spread:
                scal = scal.normalized(self.reference_values())
            self.scalarization = scal
            self.metric = Metric(scal.name, True)
        sigma_ab = {m: seed_noise(sim.table, m) for m in self.metrics}
        self._sigma_ab = sigma_ab
        self._optimum: tuple[np.ndarray, float] | None = None

    # ------------------------------------------------------------------ helpers
    def reference_values(self) -> dict[str, np.ndarray]:
        """Each metric's final values over the table's runs at the target scale (the normalization reference)."""
        t = self.simulator.table
        final = t[(t["step"] == t["max_steps"]) & (t["scale"] == self.space.target[0])]
        if len(final) < 2:
            final = t[t["step"] == t["max_steps"]]
        return {m: final[m].to_numpy(float) for m in runs_table.metric_columns(t)}

    def _sigma(self, metric: str, scale: str) -> float:
        a, b = self._sigma_ab[metric]
        return self.simulator.noise * float(np.exp(a + b * np.log(self.space.scale(scale).params)))

    def _value(self, by_metric: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.scalarization is not None:
            return np.asarray(self.scalarization.values(by_metric), float)
        return np.asarray(by_metric[self.metric.name], float)

    # ------------------------------------------------------------------ the Objective protocol
    def cost(self, scale: str, steps: int) -> float:
        return self.space.cost(scale, steps)

    def evaluate(self, config: Config, seed: int | None = None) -> Observation:
        sim = self.simulator
        w = self.space.validate_mixture(config.mixture)
        z = int(config.steps)
        if z > max(self.space.steps):
            raise ValidationError("steps", f"{z} exceeds the longest schedule length in the runs")
        own = sim.eval_steps[config.scale] if z <= sim.schedules[config.scale] else []
        points = [int(t) for t in own if t <= z] or [z]
        if points[-1] != z:
            points.append(z)
        pred = sim.predict(w, config.scale, points)[:, 0, :]  # (points, metrics)
        rng = np.random.default_rng(seed)
        offset = rng.standard_normal()
        jitter = rng.standard_normal(pred.shape)
        curves: dict[str, np.ndarray] = {}
        for j, m in enumerate(self.metrics):
            s = self._sigma(m, config.scale)
            curves[m] = pred[:, j] + s * offset + 0.25 * s * jitter[:, j]
        values = self._value(curves)
        curve = tuple((int(t), float(v)) for t, v in zip(points, values, strict=True))
        return Observation(
            float(values[-1]),
            self.cost(config.scale, z),
            curve,
            metrics={m: float(c[-1]) for m, c in curves.items()},
            curves={m: tuple((int(t), float(v)) for t, v in zip(points, c, strict=True)) for m, c in curves.items()},
        )

    def target_metrics(self, mixtures: np.ndarray, metrics: Sequence[str] | None = None) -> np.ndarray:
        """Noise-free target values, shape ``(n, len(metrics))`` (all metrics by default)."""
        scale, steps = self.space.target
        pred = self.simulator.predict(np.atleast_2d(mixtures), scale, [steps])[0]
        names = self.metrics if metrics is None else list(metrics)
        return pred[:, [self.metrics.index(m) for m in names]]

    def value_at(self, mixtures: np.ndarray, scale: str, steps: int) -> np.ndarray:
        """Noise-free value optimized (the metric or the scalarization) of ``mixtures`` at ``(scale, steps)``."""
        pred = self.simulator.predict(np.atleast_2d(mixtures), scale, [int(steps)])[0]
        return self._value({m: pred[:, j] for j, m in enumerate(self.metrics)})

    def target_value(self, mixtures: np.ndarray) -> np.ndarray:
        return self.value_at(mixtures, *self.space.target)

    def optimum(self) -> tuple[np.ndarray, float]:
        if self._optimum is None:
            self._optimum = dense_optimum(self, n=20000)
        return self._optimum

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"simulator": "fitted", "metrics": list(self.metrics)}
        if self.scalarization is not None:
            d["scalarization"] = self.scalarization.to_dict()
            d["formula"] = self.scalarization.describe()
        return d
