r"""Several named metrics at once: their directions, and a weighted sum the user can see and change.

Directions come from the metric's name: ``loss`` / ``loss:<domain>`` (and anything ending in ``perplexity``) are
minimized, ``accuracy`` / ``accuracy:<task>`` maximized; other names must be declared
(``directions={"my_score": "max"}``).

A :class:`Scalarization` turns a dict of metrics into one number that is **minimized**:

.. math::

    s(m) = \sum_i |\lambda_i|\, d_i\, \frac{m_i - c_i}{r_i},
    \qquad d_i = +1 \text{ (minimized)},\ -1 \text{ (maximized)},

with per-metric centre :math:`c_i` and spread :math:`r_i` (defaults 0 and 1). The magnitude of a weight is the
metric's importance and the direction is the metric's own: ``{"loss:code": 0.5, "accuracy:hellaswag": -0.2}`` and
``{"loss:code": 0.5, "accuracy:hellaswag": 0.2}`` both *raise* the accuracy; a negative weight on a minimized metric
(which would ask to raise a loss) is refused. :meth:`Scalarization.normalized` sets :math:`c_i, r_i` from
reference values (median and standard deviation per metric), so that a 0.5 weight on a loss that varies by 0.01
across mixtures and one on a loss that varies by 0.5 mean the same thing; :meth:`Scalarization.describe` prints the
exact formula a study optimizes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mixscale.errors import ValidationError

MINIMIZED_PREFIXES = ("loss", "perplexity", "ppl", "bpb", "error")
MAXIMIZED_PREFIXES = ("accuracy", "acc:", "score:")


def metric_direction(name: str, directions: Mapping[str, Any] | None = None) -> bool:
    """True when the metric ``name`` is minimized: declared in ``directions`` (``"min"``/``"max"`` or a bool
    ``minimize``), else from its name (``loss*`` minimized, ``accuracy*`` maximized)."""
    if directions and name in directions:
        d = directions[name]
        if isinstance(d, bool):
            return d
        if str(d).lower() in ("min", "minimize", "minimise"):
            return True
        if str(d).lower() in ("max", "maximize", "maximise"):
            return False
        raise ValidationError(f"directions.{name}", f"must be 'min' or 'max', got {d!r}")
    low = name.lower()
    if low.startswith(MINIMIZED_PREFIXES) or low.endswith("perplexity"):
        return True
    if low.startswith(MAXIMIZED_PREFIXES):
        return False
    raise ValidationError(
        f"directions.{name}", "cannot tell from its name whether it is minimized (loss*) or maximized (accuracy*)"
    )


def metrics_of(mapping: Mapping[str, Any], where: str = "metrics") -> dict[str, float]:
    """A validated ``{name: finite float}`` dict."""
    out = {}
    for k, v in mapping.items():
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise ValidationError(f"{where}.{k}", f"must be a number, got {v!r}") from None
        out[str(k)] = x
    return out


@dataclass(frozen=True)
class Scalarization:
    """A weighted sum of normalized metrics, minimized (see the module docstring for the formula)."""

    weights: Mapping[str, float]
    center: Mapping[str, float] = field(default_factory=dict)
    spread: Mapping[str, float] = field(default_factory=dict)
    directions: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.weights, Mapping) or not self.weights:
            raise ValidationError("objective", "a weighted objective needs a non-empty {metric: weight} table")
        weights = metrics_of(self.weights, "objective")
        for name, w in weights.items():
            minimize = metric_direction(name, self.directions)
            if not math.isfinite(w) or w == 0:
                raise ValidationError(f"objective.{name}", f"weight must be a finite non-zero number, got {w!r}")
            if minimize and w < 0:
                raise ValidationError(
                    f"objective.{name}", f"weight {w} would maximize a minimized metric (use a positive weight)"
                )
        for name, r in self.spread.items():
            if not (math.isfinite(float(r)) and float(r) > 0):
                raise ValidationError(f"normalization.{name}", f"spread must be > 0, got {r!r}")
        unknown = (set(self.center) | set(self.spread)) - set(weights)
        if unknown:
            raise ValidationError("normalization", f"metrics {sorted(unknown)} have no weight")
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "center", metrics_of(self.center, "normalization"))
        object.__setattr__(self, "spread", metrics_of(self.spread, "normalization"))

    # ------------------------------------------------------------------ reading
    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self.weights)

    def coefficient(self, name: str) -> float:
        """:math:`|\\lambda_i| d_i / r_i`: the slope of the scalarized value in metric ``name``."""
        sign = 1.0 if metric_direction(name, self.directions) else -1.0
        return abs(self.weights[name]) * sign / self.spread.get(name, 1.0)

    def value(self, metrics: Mapping[str, float]) -> float:
        """The scalarized (minimized) value of one evaluation's metrics."""
        missing = [m for m in self.weights if m not in metrics]
        if missing:
            raise ValidationError("objective", f"the evaluation did not report {missing[0]!r} (got {sorted(metrics)})")
        return float(sum(self.coefficient(m) * (float(metrics[m]) - self.center.get(m, 0.0)) for m in self.weights))

    def values(self, columns: Mapping[str, Sequence[float]]):
        """Vectorized :meth:`value` over equal-length columns (numpy arrays or lists)."""
        import numpy as np

        return sum(
            self.coefficient(m) * (np.asarray(columns[m], float) - self.center.get(m, 0.0)) for m in self.weights
        )

    @property
    def name(self) -> str:
        """A short label for tables and the study's metric name."""
        return "weighted(" + ", ".join(f"{m}: {w:g}" for m, w in self.weights.items()) + ")"

    def describe(self) -> str:
        """The formula, e.g. ``0.5·(loss:code − 1.23)/0.045 + 0.5·(loss:books − 2.1)/0.031  (minimized)``."""
        terms = []
        for m, w in self.weights.items():
            sign = "" if metric_direction(m, self.directions) else "−"
            c, r = self.center.get(m, 0.0), self.spread.get(m, 1.0)
            inner = m if c == 0 else f"({m} − {c:.4g})"
            terms.append(f"{sign}{abs(w):g}·{inner}" + ("" if r == 1.0 else f"/{r:.4g}"))
        return " + ".join(terms) + "  (minimized)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": dict(self.weights),
            "center": dict(self.center),
            "spread": dict(self.spread),
            "directions": {k: ("min" if metric_direction(k, self.directions) else "max") for k in self.weights},
        }

    @classmethod
    def from_spec(cls, spec: Any) -> Scalarization:
        """From a :class:`Scalarization`, ``{metric: weight}``, ``{"weights": ..., "center": ..., ...}`` or a JSON
        string of either."""
        if isinstance(spec, Scalarization):
            return spec
        if isinstance(spec, str):
            try:
                spec = json.loads(spec)
            except json.JSONDecodeError as exc:
                raise ValidationError("objective", f"not a JSON table of metric weights: {exc}") from None
        if not isinstance(spec, Mapping):
            raise ValidationError("objective", f"expected a table of metric weights, got {spec!r}")
        if "weights" in spec:
            extra = set(spec) - {"weights", "center", "spread", "directions"}
            if extra:
                raise ValidationError("objective", f"unknown keys {sorted(extra)}")
            return cls(
                spec["weights"],
                spec.get("center", {}) or {},
                spec.get("spread", {}) or {},
                spec.get("directions") or {},
            )
        return cls(spec)

    def normalized(self, reference: Mapping[str, Sequence[float]]) -> Scalarization:
        """The same weights with centre = median and spread = standard deviation of each metric's ``reference``
        values (e.g. the metric across mixtures at the target); metrics without reference keep theirs."""
        import numpy as np

        center, spread = dict(self.center), dict(self.spread)
        for m in self.weights:
            if m in reference and len(reference[m]) >= 2:
                x = np.asarray(reference[m], float)
                center[m] = float(np.median(x))
                sd = float(np.std(x))
                spread[m] = sd if sd > 0 else 1.0
        return Scalarization(self.weights, center, spread, self.directions)
