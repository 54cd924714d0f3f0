"""Re-read a stored study under another weighting of its metrics, without new runs.

Every trial stores every metric its evaluation reported (``info["metrics"]``, see
:class:`~mixscale.objective.Observation`), whatever the study optimized. :func:`reweigh` scores the completed
trials with a new :class:`~mixscale.scalarization.Scalarization` (normalized by the trials' own spread at the most
expensive fidelity they reached, unless the spec gives ``center`` / ``spread``) and, with ``refit``, tells them to a
fresh ``mfms`` model and returns its recommendation at the target under the new weighting.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mixscale import strategies as _strategies
from mixscale.errors import ValidationError
from mixscale.objective import Observation
from mixscale.scalarization import Scalarization
from mixscale.strategies.base import Recommendation


def reweigh(study, spec: Any, refit: bool = True, strategy: str = "mfms") -> tuple[Scalarization, pd.DataFrame, Any]:
    """``(scalarization, trials table with a "reweighted" column, recommendation or None)``."""
    scal = Scalarization.from_spec(spec)
    done = [t for t in study.trials if t.state == "complete"]
    if not done:
        raise ValidationError("study", f"study {study.name!r} has no completed trials to re-read")
    rows, lacking = [], []
    for t in done:
        metrics = dict((t.info or {}).get("metrics") or {})
        metrics.setdefault(study.metric.name, t.value)
        missing = [m for m in scal.metrics if m not in metrics]
        if missing:
            lacking.append((t.number, missing[0], sorted(metrics)))  # e.g. an objective that reports one metric
        else:
            rows.append((t, metrics))
    if not rows:
        number, name, stored = lacking[0]
        raise ValidationError(f"objective.{name}", f"no trial stored it (trial {number} stored {stored})")
    if not scal.spread:
        top = max(study.space.cost(t.config.scale, t.config.steps) for t, _ in rows)
        ref = [m for t, m in rows if study.space.cost(t.config.scale, t.config.steps) >= top - 1e-12]
        if len(ref) < 2:
            ref = [m for _, m in rows]
        scal = scal.normalized({name: [m[name] for m in ref] for name in scal.metrics})
    table = pd.DataFrame(
        [
            {
                "number": t.number,
                "source": t.source,
                "scale": t.config.scale,
                "steps": t.config.steps,
                "fidelity_cost": study.space.cost(t.config.scale, t.config.steps),
                **{f"w:{d}": t.config.mixture[d] for d in study.space.domains},
                **{name: m[name] for name in scal.metrics},
                "reweighted": scal.value(m),
            }
            for t, m in rows
        ]
    )
    rec: Recommendation | None = None
    if refit:
        strat = _strategies.create(strategy, study.space, None, True, study.seed, n_init=0)
        for t, m in rows:
            curves = (t.info or {}).get("metric_curves") or {}
            curve = None
            if all(name in curves for name in scal.metrics):
                by = {name: dict((int(s), float(v)) for s, v in curves[name]) for name in scal.metrics}
                steps = sorted(set.intersection(*(set(b) for b in by.values())))
                curve = tuple((s, scal.value({name: by[name][s] for name in by})) for s in steps) or None
            strat.tell(t.config, Observation(scal.value(m), float(t.cost or 0.0), curve))
        rec = strat.recommend()
    table.attrs["skipped"] = [n for n, _, _ in lacking]  # trials without every weighted metric
    return scal, table, rec
