"""The driver of :meth:`mixscale.study.Study.optimize`: keeps an executor busy, tells results, stores every event.

The loop sees the study only through :class:`Log`, the handful of transitions a lease holder may make; storage
performs them (one transaction each). Replay and proposals (:func:`replay`, :func:`propose`) are functions of the
stored event log, so a fresh process rebuilds exactly the strategy an uninterrupted one would have.

Determinism and resume
----------------------
The optimizer's state is never pickled. It is a deterministic function of the study's **event log**: every ask
(``Trial.ask_seq``), every end of a trial (``end_seq``: told when complete, dropped from the pending set when
failed or pruned) and every recommendation (``seq``), in one counter per study. Before each ask the strategy is
reseeded from ``(seed, trial number)`` and receives the configurations still pending, in trial order. On load, a
fresh strategy replays the log: the same asks (re-computed, and checked against the stored configurations), the
same tells and the same recommendations, in the same order, so model caches and warm starts end up exactly as in
the uninterrupted process. Trials that were running when the driver died are re-run with the same configuration
and evaluation seed; their result is told at the point where it arrives, as it would have been.

Pending points (parallel workers): :meth:`mixscale.strategies.Strategy.ask_pending`, a constant liar (each pending
query provisionally told the mean value seen at its fidelity) for model-based strategies; strategies whose asks
are independent draws or bracket slots need nothing.

With ``workers > 1`` the order in which results arrive depends on timing, and so do the proposals. With
``deterministic=True`` the driver removes that: results are told in trial order, and trial ``n`` is asked right
after trial ``n - workers`` is told, so the whole study is a function of the seed alone (deterministic trials
given), at the price of idle workers while an early, slow trial holds up the queue.

Budget: cost is committed when a trial is asked. A proposal that would take the committed cost past the budget is
stored as ``pruned`` (not run) and the study stops proposing; trials already running finish. Failed trials are
charged (the failure policy: :data:`~mixscale.study.trial.FAILED_CHARGE`, :data:`~mixscale.study.trial.MAX_FAILURES`).
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from mixscale.objective import Objective, Observation, over_budget
from mixscale.space import Config, Space
from mixscale.study.errors import TrialsFailingError
from mixscale.study.executors import Executor, Job, Outcome
from mixscale.study.storage import Storage
from mixscale.study.trial import (
    FAILED_CHARGE,
    MAX_FAILURES,
    Progress,
    RecommendationRecord,
    Trial,
    counts,
    eval_seed,
    spent,
)

if TYPE_CHECKING:  # strategies import torch; the worker processes that import this package need not
    from mixscale.strategies.base import Recommendation, Strategy


_MIX_TOL = 1e-9


class Log(Protocol):
    """What the loop may do to the study it drives (implemented by the lease holder, stored by storage)."""

    name: str
    heartbeat_every: float

    def trials(self) -> list[Trial]: ...
    def recommendation(self) -> Recommendation | None: ...
    def add(self, config: Config, source: str, state: str = "pending", error: str | None = None) -> Trial: ...
    def start(self, number: int, attempt: int) -> Trial: ...
    def complete(self, number: int, out: Outcome, rec: Recommendation, started: float | None) -> Trial: ...
    def fail(
        self, number: int, error: str, finished: float, retry: bool = False, charge: float | None = None
    ) -> Trial: ...
    def prune(self, number: int, reason: str) -> Trial: ...
    def heartbeat(self) -> None: ...


@dataclass
class StoredLog:
    """The lease holder's view of one study: the transitions :class:`Loop` may make,
    each stored by :class:`~mixscale.study.storage.Storage` in one transaction fenced by the lease."""

    storage: Storage
    study_id: int
    driver: str
    name: str

    @property
    def heartbeat_every(self) -> float:
        return min(5.0, self.storage.lease_ttl / 4)

    def trials(self) -> list[Trial]:
        return self.storage.trials(self.study_id)

    def recommendation(self) -> Recommendation | None:
        recs = self.storage.recommendations(self.study_id)
        return recs[-1].recommendation if recs else None

    def add(self, config: Config, source: str, state: str = "pending", error: str | None = None) -> Trial:
        return self.storage.add_trial(self.study_id, self.driver, config, source, state, error)

    def start(self, number: int, attempt: int) -> Trial:
        return self.storage.start_trial(self.study_id, self.driver, number, attempt)

    def complete(self, number: int, out: Outcome, rec: Recommendation, started: float | None) -> Trial:
        return self.storage.complete_trial(
            self.study_id,
            self.driver,
            number,
            value=out.value,
            cost=out.cost,
            curve=out.curve,
            info=out.info,
            finished=out.finished,
            recommendation=rec,
            started=out.started or started,
            worker=out.worker,
        )

    def fail(self, number: int, error: str, finished: float, retry: bool = False, charge: float | None = None) -> Trial:
        return self.storage.fail_attempt(self.study_id, self.driver, number, error, finished, retry, charge)

    def prune(self, number: int, reason: str) -> Trial:
        return self.storage.prune_trial(self.study_id, self.driver, number, reason)

    def heartbeat(self) -> None:
        self.storage.heartbeat(self.study_id, self.driver)


class Beat:
    """Calls ``beat`` at most every ``every`` seconds however often it is itself called."""

    def __init__(self, beat: Callable[[], None], every: float) -> None:
        self.beat, self.every, self.last = beat, every, time.monotonic()

    def __call__(self) -> None:
        if time.monotonic() - self.last >= self.every:
            self.beat()
            self.last = time.monotonic()


def propose(strategy: Strategy, seed: int, number: int, pending: list[Config]) -> Config:
    """Trial ``number``'s ask: the strategy reseeded from ``(seed, number)``, given the configurations pending."""
    strategy.reseed([seed, number])
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(eval_seed(seed, number))
    return strategy.ask_pending(pending)


def observation(t: Trial) -> Observation:
    return Observation(float(t.value), float(t.cost), t.curve, dict(t.info or {}))  # info: every metric, warm start


def replay(
    strategy: Strategy,
    seed: int,
    space: Space,
    trials: Sequence[Trial],
    recommendations: Sequence[RecommendationRecord],
    name: str = "",
    tick: Callable[[], None] | None = None,
) -> Strategy:
    """Drive a fresh ``strategy`` through the stored event log: the same asks (re-computed, and checked against
    the stored configurations), tells and recommendations, in the same order. ``tick`` is called after every
    event (the driver keeps its lease alive with it: a long replay must not look like a dead driver)."""
    events: list[tuple[int, int, object]] = []
    for t in trials:
        events.append((t.ask_seq, 0, t))
        if t.end_seq is not None:
            events.append((t.end_seq, 1, t))
    for r in recommendations:
        events.append((r.seq, 2, r))
    events.sort(key=lambda e: e[0])
    pending: dict[int, Config] = {}
    diverged: list[int] = []
    for _, kind, item in events:
        if kind == 0:
            if item.source == "strategy":
                asked = propose(strategy, seed, item.number, list(pending.values()))
                if not same_config(asked, item.config, space):
                    diverged.append(item.number)
            pending[item.number] = item.config
        elif kind == 1:
            config = pending.pop(item.number)
            if item.state == "complete":
                strategy.tell(config, observation(item))
        else:
            strategy.recommend()
        if tick is not None:
            tick()
    if diverged:
        warnings.warn(
            f"study {name!r}: replaying the strategy gave other proposals than stored for trials {diverged[:5]} (a "
            "strategy that is not deterministic across processes?); the stored trials are used as they are",
            RuntimeWarning,
            stacklevel=3,
        )
    return strategy


def same_config(a: Config, b: Config, space: Space) -> bool:
    if a.scale != b.scale or int(a.steps) != int(b.steps):
        return False
    return all(abs(float(a.mixture[d]) - float(b.mixture[d])) <= _MIX_TOL for d in space.domains)


@dataclass
class Loop:
    """One call of :meth:`Study.optimize`."""

    log: Log
    seed: int
    strategy: Strategy
    objective: Objective
    executor: Executor
    budget: float | None
    n_trials: int | None
    timeout: float | None
    max_retries: int
    deterministic: bool
    callback: Callable[[Progress], None] | None
    max_failures: int = MAX_FAILURES
    trials: dict[int, Trial] = field(default_factory=dict)
    failed_in_row: int = 0
    inflight: set[int] = field(default_factory=set)
    queue: list[int] = field(default_factory=list)
    buffer: dict[int, Outcome] = field(default_factory=dict)
    stop_asking: bool = False
    last_write: float = 0.0
    recommendation: Recommendation | None = None

    def run(self) -> None:
        self.trials = {t.number: t for t in self.log.trials()}
        self.recommendation = self.log.recommendation()
        self.queue = [n for n, t in sorted(self.trials.items()) if not t.ended]  # pending or lost running
        pruned = [t for t in self.trials.values() if t.state == "pruned" and t.source == "strategy"]
        if pruned:
            last = max(pruned, key=lambda t: t.number)
            self.stop_asking = not self._fits(last.config)
        self._notify("start")
        every = self.log.heartbeat_every
        while True:
            self._fill()
            if not self.inflight:
                if self.buffer:
                    raise RuntimeError(f"internal: results for trials {sorted(self.buffer)} could not be applied")
                break
            for out in self.executor.wait(timeout=every):
                self._handle(out)
            if time.time() - self.last_write > every:
                self.log.heartbeat()
                self.last_write = time.time()
        self._notify("done")

    # ---------------------------------------------------------------- helpers
    def _committed(self) -> float:
        """Cost charged so far plus the expected cost of trials not yet ended."""
        total = spent(self.trials.values())
        for t in self.trials.values():
            if not t.ended and (t.source == "strategy" or t.attempts > 0):
                total += self.objective.cost(t.config.scale, t.config.steps)
        return total

    def _frontier(self) -> int:
        """Number of leading trials (in trial order) that have ended."""
        n = 0
        while n in self.trials and self.trials[n].ended:
            n += 1
        return n

    def _stored(self, t: Trial) -> Trial:
        self.trials[t.number] = t
        self.last_write = time.time()
        return t

    def _fits(self, config: Config) -> bool:
        return not over_budget(self._committed(), self.objective.cost(config.scale, config.steps), self.budget)

    # ------------------------------------------------------------------- asks
    def _fill(self) -> None:
        while self.executor.workers - len(self.inflight) > 0:
            if self.queue:
                number = self.queue.pop(0)
                t = self.trials[number]
                if t.attempts == 0 and t.source == "enqueued" and not self._fits(t.config):
                    reason = "not run: it would take the committed cost past the budget"
                    self._stored(self.log.prune(number, reason))
                    self.stop_asking = True
                    self._notify("pruned", self.trials[number])
                    continue
                self._submit(number)
                continue
            if self.stop_asking:
                return
            warm = sum(1 for t in self.trials.values() if t.source == "warm_start")  # never counted
            if self.n_trials is not None and len(self.trials) - counts(self.trials.values())["pruned"] - warm >= (
                self.n_trials
            ):
                return
            number = len(self.trials)
            if self.deterministic and number >= self._frontier() + self.executor.workers:
                return
            self._ask(number)

    def _ask(self, number: int) -> None:
        pending = [t.config for n, t in sorted(self.trials.items()) if not t.ended]
        config = propose(self.strategy, self.seed, number, pending)
        if not self._fits(config):
            cost = self.objective.cost(config.scale, config.steps)
            reason = (
                f"not run: its cost {cost:.4g} would take the committed cost {self._committed():.4g} past the "
                f"budget {self.budget:g}"
            )
            t = self._stored(self.log.add(config, "strategy", state="pruned", error=reason))
            self.stop_asking = True
            self._notify("pruned", t)
            return
        t = self._stored(self.log.add(config, "strategy", state="running"))
        self._submit(t.number, started=True)

    def _submit(self, number: int, started: bool = False) -> None:
        t = self.trials[number]
        if not started:
            t = self._stored(self.log.start(number, t.attempts + 1))
        job = Job(
            number=number,
            attempt=t.attempts,
            mixture=dict(t.config.mixture),
            scale=t.config.scale,
            steps=int(t.config.steps),
            seed=t.eval_seed,
            timeout=self.timeout,
            run_name=f"{self.log.name}/trial-{number:05d}/attempt-{t.attempts}",
        )
        self.executor.submit(job)
        self.inflight.add(number)
        self._notify("started", t)

    # ---------------------------------------------------------------- results
    def _handle(self, out: Outcome) -> None:
        self.inflight.discard(out.number)
        t = self.trials[out.number]
        if not out.ok and t.failures + 1 <= self.max_retries:
            t = self._stored(self.log.fail(out.number, f"{out.kind}: {out.error}", out.finished, retry=True))
            self.queue.insert(0, out.number)
            self._notify("retry", t)
            return
        if not self.deterministic:
            self._apply(out)
            return
        self.buffer[out.number] = out
        while True:
            frontier = self._frontier()
            if frontier not in self.buffer:
                return
            self._apply(self.buffer.pop(frontier))
            self._fill()  # asks that wait for exactly this many told trials happen now, before the next tell

    def _apply(self, out: Outcome) -> None:
        t = self.trials[out.number]
        if out.ok:
            self.strategy.tell(t.config, Observation(out.value, out.cost, _curve(out.curve), dict(out.info or {})))
            self.recommendation = self.strategy.recommend()
            self._notify("complete", self._stored(self.log.complete(out.number, out, self.recommendation, None)))
            self.failed_in_row = 0
        else:
            charge = FAILED_CHARGE * self.objective.cost(t.config.scale, t.config.steps)
            t = self._stored(self.log.fail(out.number, f"{out.kind}: {out.error}", out.finished, charge=charge))
            self._notify("failed", t)
            self.failed_in_row += 1
            if self.failed_in_row >= self.max_failures:
                last = (t.error or "").splitlines()[0]
                raise TrialsFailingError(
                    f"stopped: {self.failed_in_row} trials in a row failed (max_failures {self.max_failures}); "
                    f"the last, trial {t.number}: {last}"
                )

    def _notify(self, event: str, trial: Trial | None = None) -> None:
        if self.callback is None:
            return
        c = counts(self.trials.values())
        self.callback(
            Progress(
                running=c["running"],
                pending=c["pending"],
                complete=c["complete"],
                failed=c["failed"],
                pruned=c["pruned"],
                spent=spent(self.trials.values()),
                committed=self._committed(),
                budget=self.budget,
                n_trials=self.n_trials,
                recommendation=self.recommendation,
                event=event,
                trial=trial,
            )
        )


def _curve(curve: list | None) -> tuple[tuple[int, float], ...] | None:
    return tuple((int(s), float(v)) for s, v in curve) if curve else None
