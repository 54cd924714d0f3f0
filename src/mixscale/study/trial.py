"""What a study stores, as plain records: trials, recommendations, and the progress a running study reports.

The counts every reader needs (trials by state, the cost spent) are computed here and nowhere else, from records
or, inside a storage transaction, from the same definitions (:data:`CHARGED_STATES`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mixscale.space import Config

if TYPE_CHECKING:  # strategies import torch: a trial record (and a worker process) need not
    import pandas as pd

    from mixscale.strategies.base import Recommendation

#: Every state a trial can be in. ``pending``: waiting to run (enqueued, or an attempt to retry); ``running``;
#: ``complete`` (told to the strategy); ``failed`` (every attempt failed); ``pruned`` (not run: over budget).
STATES = ("pending", "running", "complete", "failed", "pruned")
#: States whose stored ``cost`` is charged to the budget: a failed trial is charged too (see :data:`FAILED_CHARGE`).
CHARGED_STATES = ("complete", "failed")
#: Failure policy: a trial that ends ``failed`` (every attempt failed) is charged this fraction of its expected cost,
#: so that a study whose trials keep failing still reaches its budget. 1.0: a failure is assumed to have used what
#: the run would have (a timeout did; an immediate crash did not, but the driver cannot tell them apart).
FAILED_CHARGE = 1.0
#: Failure policy: ``optimize`` stops with :class:`TrialsFailingError` after this many trials in a row end failed.
MAX_FAILURES = 3
#: Evaluation seed of trial ``n`` is ``seed * EVAL_SEED_STRIDE + n`` (as ``mixscale optimize`` always did).
EVAL_SEED_STRIDE = 100003


def eval_seed(study_seed: int, number: int) -> int:
    return int(study_seed) * EVAL_SEED_STRIDE + int(number)


@dataclass(frozen=True)
class Trial:
    """A stored trial (a snapshot; read :attr:`mixscale.study.Study.trials` again for fresh state)."""

    number: int
    state: str
    config: Config
    source: str
    eval_seed: int
    value: float | None
    curve: tuple[tuple[int, float], ...] | None
    cost: float | None
    info: dict[str, Any]
    error: str | None
    attempts: int
    failures: int
    ask_seq: int
    end_seq: int | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    duration: float | None
    worker: str | None

    @property
    def ended(self) -> bool:
        """Complete, failed or pruned: its place in the event log is fixed."""
        return self.end_seq is not None

    @property
    def charged(self) -> float:
        """What this trial costs the budget so far."""
        return float(self.cost or 0.0) if self.state in CHARGED_STATES else 0.0


@dataclass(frozen=True)
class RecommendationRecord:
    """A stored recommendation: after ``n_complete`` completed trials that cost ``spent`` target runs."""

    seq: int
    n_complete: int
    spent: float
    recommendation: Recommendation
    created_at: float


@dataclass(frozen=True)
class Progress:
    """What a running study reports to its callback after every event."""

    running: int
    pending: int
    complete: int
    failed: int
    pruned: int
    spent: float
    committed: float
    budget: float | None
    n_trials: int | None
    recommendation: Recommendation | None
    event: str
    trial: Trial | None = None


def counts(trials: Iterable[Trial]) -> dict[str, int]:
    """Number of trials in each of :data:`STATES`."""
    out = dict.fromkeys(STATES, 0)
    for t in trials:
        out[t.state] += 1
    return out


def spent(trials: Iterable[Trial]) -> float:
    """Cost charged to the budget: the sum of :attr:`Trial.charged`."""
    return float(sum(t.charged for t in trials))


def dataframe(trials: Iterable[Trial], domains: Sequence[str], metric: str) -> pd.DataFrame:
    """One row per trial: configuration (one ``w:<domain>`` column per domain), result, cost and the running
    ``spent`` in the order trials ended, timings, errors; ``curve`` and ``info`` as JSON."""
    import pandas as pd  # here: worker processes import this module and need no pandas

    rows = []
    total = 0.0
    for t in sorted(trials, key=lambda t: (t.end_seq is None, t.end_seq or 0, t.number)):
        total += t.charged
        row = {"number": t.number, "state": t.state, "source": t.source, "scale": t.config.scale,
               "steps": t.config.steps}  # fmt: skip
        row.update({f"w:{d}": float(t.config.mixture[d]) for d in domains})
        row.update(
            {
                metric: t.value,
                "cost": t.cost,
                "spent": total if t.charged else None,
                "attempts": t.attempts,
                "failures": t.failures,
                "error": t.error,
                "eval_seed": t.eval_seed,
                "created_at": t.created_at,
                "started_at": t.started_at,
                "finished_at": t.finished_at,
                "duration_s": t.duration,
                "worker": t.worker,
                "curve": None if t.curve is None else json.dumps([list(p) for p in t.curve]),
                "info": json.dumps(t.info, default=str) if t.info else None,
            }
        )
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df = df.sort_values("number").reset_index(drop=True)
    for col in ("created_at", "started_at", "finished_at"):
        df[col] = pd.to_datetime(df[col], unit="s", utc=True)
    return df
