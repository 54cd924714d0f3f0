"""What strategies query: an :class:`Objective` maps a :class:`~mixscale.space.Config` to an :class:`Observation`.

An objective may be a simulator fitted from runs, real training, or any Python callable wrapped in
:class:`mixscale.objectives.function.FunctionObjective`. Objectives used for *benchmarking* also expose the
noise-free metric of a mixture at the target (:meth:`Objective.target_value`)
so that regret can be scored; scoring is free, queries are charged.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mixscale import simplex
from mixscale.errors import ValidationError
from mixscale.space import Config, Space


@dataclass(frozen=True)
class Metric:
    """The quantity being optimized: a name and its direction."""

    name: str
    minimize: bool = True

    def internal(self, value: float) -> float:
        """The value in the minimize direction (strategies always minimize internally)."""
        return value if self.minimize else -value

    def external(self, value: float) -> float:
        return value if self.minimize else -value


@dataclass(frozen=True)
class Observation:
    """Result of one query.

    ``value`` is the metric at the end of the run, ``cost`` the charge in target-run units and ``curve`` the
    learning curve up to the run's steps as ``((step, value), ...)`` pairs, when the trainer reports one.

    ``metrics`` holds *every* named metric the evaluation reported (``{"loss:code": 1.2, "accuracy:x": 0.3}``,
    each in its own direction, see :func:`mixscale.scalarization.metric_direction`) and ``curves`` their learning
    curves; ``value`` is the one the study optimizes (a metric or a :class:`~mixscale.scalarization.Scalarization`
    of them). Both are mirrored into ``info["metrics"]`` / ``info["metric_curves"]`` so that studies store them
    whatever the objective, and read back from there when an observation is rebuilt from storage.
    """

    value: float
    cost: float
    curve: tuple[tuple[int, float], ...] | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    curves: Mapping[str, tuple[tuple[int, float], ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        info = dict(self.info or {})
        metrics = {str(k): float(v) for k, v in (self.metrics or info.get("metrics") or {}).items()}
        curves = {
            str(k): tuple((int(s), float(v)) for s, v in c)
            for k, c in (self.curves or info.get("metric_curves") or {}).items()
            if c
        }
        if metrics:
            info["metrics"] = dict(metrics)
        if curves:
            info["metric_curves"] = {k: [list(p) for p in c] for k, c in curves.items()}
        object.__setattr__(self, "metrics", metrics)
        object.__setattr__(self, "curves", curves)
        object.__setattr__(self, "info", info)

    def metric(self, name: str) -> float:
        """The named metric (``ValidationError`` naming it when the evaluation did not report it)."""
        if name not in self.metrics:
            raise ValidationError("metrics", f"the evaluation did not report {name!r} (got {sorted(self.metrics)})")
        return self.metrics[name]

    def metric_curve(self, name: str) -> tuple[tuple[int, float], ...] | None:
        return self.curves.get(name)


@runtime_checkable
class Objective(Protocol):
    """Anything strategies can query. ``evaluate`` may be noisy; ``seed`` selects the training seed."""

    space: Space
    metric: Metric

    def evaluate(self, config: Config, seed: int | None = None) -> Observation: ...

    def cost(self, scale: str, steps: int) -> float: ...


@runtime_checkable
class BenchmarkObjective(Objective, Protocol):
    """An objective whose noise-free target metric is known, so regret can be scored."""

    def target_value(self, mixtures: np.ndarray) -> np.ndarray: ...

    def optimum(self) -> tuple[np.ndarray, float]: ...


CostSpec = Callable[[str, int], float] | Mapping[Any, float] | None


#: Relative slack of the budget rule: a budget of exactly N target runs admits N target runs despite float sums.
BUDGET_RTOL = 1e-9


def check_budget(budget: Any, name: str = "budget") -> float:
    """A budget in target-run units, validated where it enters (CLI, study file, API): a positive finite number."""
    if isinstance(budget, bool) or not isinstance(budget, numbers.Real) or not (math.isfinite(budget) and budget > 0):
        raise ValidationError(name, f"must be a positive finite number of target runs, got {budget!r}")
    return float(budget)


def over_budget(committed: float, cost: float, budget: float | None) -> bool:
    """The budget rule, the one place it is written: a query costing ``cost`` is not run when it would take the
    ``committed`` cost past ``budget`` (None: no budget)."""
    return budget is not None and committed + cost > budget * (1 + BUDGET_RTOL)


def make_cost(space: Space, cost: CostSpec) -> Callable[[str, int], float]:
    """Turn a cost specification into ``cost(scale, steps) -> target-run units``.

    Accepted forms:

    * ``None``: FLOPs cost from the space's ladder (``6 N T z``, normalized to the target).
    * a callable ``(scale, steps) -> float``: used as is (already in target-run units).
    * a table ``{(scale, steps): cost}`` covering the whole grid, normalized so the target costs 1.0.
    * per-step costs ``{scale: cost_per_step}``, multiplied by steps and normalized to the target.
    """
    if cost is None:
        if not space.has_flops:
            raise ValidationError(
                "cost", "the space's scales have no params/tokens_per_step; supply a cost function or table"
            )
        return space.cost
    if callable(cost):
        return cost
    if not isinstance(cost, Mapping) or not cost:
        raise ValidationError("cost", "must be None, a callable, or a non-empty mapping")
    table: dict[tuple[str, int], float] = {}
    if all(isinstance(key, tuple) for key in cost):
        for (scale, steps), c in cost.items():
            space.scale(scale)
            table[(scale, int(steps))] = _positive(c, f"cost[{scale!r}, {steps}]")
        missing = [f for f in space.fidelities() if f not in table]
        if missing:
            raise ValidationError("cost", f"table misses grid points, e.g. {missing[0]}")
        return _TableCost(table, table[space.target])
    per_step = {}
    for scale, c in cost.items():
        space.scale(scale)
        per_step[scale] = _positive(c, f"cost[{scale!r}]")
    missing_scales = [s for s in space.scale_names if s not in per_step]
    if missing_scales:
        raise ValidationError(f"cost[{missing_scales[0]!r}]", "missing per-step cost")
    tscale, tsteps = space.target
    return _PerStepCost(per_step, per_step[tscale] * tsteps)


# Cost functions are classes, not closures, so that objectives can be pickled to worker processes.
@dataclass(frozen=True)
class _TableCost:
    table: dict[tuple[str, int], float]
    norm: float

    def __call__(self, scale: str, steps: int) -> float:
        try:
            return self.table[(scale, int(steps))] / self.norm
        except KeyError:
            raise ValidationError("steps", f"({scale!r}, {steps}) is not in the cost table") from None


@dataclass(frozen=True)
class _PerStepCost:
    per_step: dict[str, float]
    norm: float

    def __call__(self, scale: str, steps: int) -> float:
        return self.per_step[scale] * float(steps) / self.norm


def _positive(value: Any, name: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValidationError(name, f"must be a number, got {value!r}") from None
    if not (math.isfinite(x) and x > 0):
        raise ValidationError(name, f"must be a positive finite number, got {value!r}")
    return x


def dense_optimum(objective: BenchmarkObjective, n: int = 20000, seed: int = 0) -> tuple[np.ndarray, float]:
    """Best target mixture by dense search: vertices, edge midpoints, ``n`` Dirichlet draws at two
    concentrations, then local refinement of the best few by shrinking random perturbations.

    On a constrained space the same search runs inside the feasible set (the points nearest the vertices and edge
    midpoints, uniform feasible draws, feasible perturbations), so the optimum is the constrained one."""
    space, metric = objective.space, objective.metric
    rng = np.random.default_rng(seed)
    k = space.k
    eye = np.eye(k)
    edges = np.array([(eye[i] + eye[j]) / 2 for i in range(k) for j in range(i + 1, k)])
    if space.constrained:
        pool = np.vstack(
            [
                space.project(np.vstack([eye, edges])),
                space.uniform_mixture()[None],
                space.sample_mixtures(rng, n // 2),
                space.sample_mixtures(rng, n - n // 2, alpha=0.3),
            ]
        )
    else:
        pool = np.vstack(
            [
                eye,
                edges,
                space.uniform_mixture()[None],
                simplex.sample_dirichlet(rng, n // 2, k, 1.0),
                simplex.sample_dirichlet(rng, n - n // 2, k, 0.3),
            ]
        )
    sign = 1.0 if metric.minimize else -1.0
    vals = sign * objective.target_value(pool)
    order = np.argsort(vals)[:5]
    best_w, best_v = pool[order[0]], vals[order[0]]
    for start in order:
        w, v = pool[start], vals[start]
        for radius in (0.1, 0.03, 0.01, 0.003):
            cand = space.perturb(rng, w, max(16, n // 200), radius)
            cv = sign * objective.target_value(cand)
            j = int(np.argmin(cv))
            if cv[j] < v:
                w, v = cand[j], cv[j]
        if v < best_v:
            best_w, best_v = w, v
    return best_w, float(sign * best_v)
