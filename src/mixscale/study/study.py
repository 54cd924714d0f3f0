"""Studies: a strategy, an objective's space and every trial, persisted so that a search survives crashes.

.. code-block:: python

    import mixscale

    objective = mixscale.simulator.load("analytic")
    study = mixscale.create_study(objective, storage="sqlite:///study.db", name="c4", strategy="mfms", seed=0,
                                  load_if_exists=True)
    study.optimize(objective, budget=3.0, workers=2)       # kill it at any time; run it again to resume
    print(study.recommendation)

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
stored as ``pruned`` (not run) and the study stops proposing; trials already running finish. Failed trials are not
charged (their cost is unknown).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import func, select

from mixscale import strategies as _strategies
from mixscale.errors import ValidationError
from mixscale.objective import Metric, Objective, Observation
from mixscale.space import Config, Space
from mixscale.strategies.base import Recommendation, Strategy
from mixscale.study.executors import Executor, Job, LocalExecutor, Outcome
from mixscale.study.storage import (
    RecommendationRow,
    Storage,
    StudyRow,
    TrialRow,
    new_driver_id,
)

#: Evaluation seed of trial ``n`` is ``seed * EVAL_SEED_STRIDE + n`` (as ``mixscale optimize`` always did).
EVAL_SEED_STRIDE = 100003
_MIX_TOL = 1e-9


# ----------------------------------------------------------------------------- records
@dataclass(frozen=True)
class Trial:
    """A stored trial (a snapshot; read :attr:`Study.trials` again for fresh state)."""

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

    @classmethod
    def from_row(cls, r: TrialRow) -> Trial:
        curve = tuple((int(s), float(v)) for s, v in r.curve) if r.curve else None
        return cls(
            r.number,
            r.state,
            Config(dict(r.mixture), r.scale, int(r.steps)),
            r.source,
            r.eval_seed,
            r.value,
            curve,
            r.cost,
            dict(r.info or {}),
            r.error,
            r.attempts,
            r.failures,
            r.ask_seq,
            r.end_seq,
            r.created_at,
            r.started_at,
            r.finished_at,
            r.duration,
            r.worker,
        )


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


# ----------------------------------------------------------------------- descriptions
def space_to_dict(space: Space) -> dict[str, Any]:
    return {
        "domains": list(space.domains),
        "scales": [{"name": s.name, "params": s.params, "tokens_per_step": s.tokens_per_step} for s in space.scales],
        "steps": list(space.steps),
        "target": [space.target[0], space.target[1]],
    }


def space_from_dict(d: Mapping[str, Any]) -> Space:
    return Space(d["domains"], d["scales"], d["steps"], tuple(d["target"]))


def describe_objective(objective: Objective) -> dict[str, Any]:
    """What the study records about its objective: the class, the metric and the objective's own ``describe()``."""
    cls = type(objective)
    d: dict[str, Any] = {"class": f"{cls.__module__}.{cls.__qualname__}", "metric": objective.metric.name}
    describe = getattr(objective, "describe", None)
    if callable(describe):
        d.update(describe())
    return d


def _check_objective(objective: Objective) -> None:
    for attr in ("space", "metric", "evaluate", "cost"):
        if not hasattr(objective, attr):
            raise ValidationError("objective", f"{type(objective).__name__} has no {attr!r}: not an Objective")


# ------------------------------------------------------------------------- entry points
def create_study(
    objective: Objective,
    storage: str | Storage = "sqlite:///:memory:",
    name: str = "study",
    strategy: str = _strategies.DEFAULT,
    seed: int = 0,
    strategy_options: Mapping[str, Any] | None = None,
    description: Mapping[str, Any] | None = None,
    load_if_exists: bool = False,
) -> Study:
    """A new study in ``storage`` (a database URL), or the existing one of that name when ``load_if_exists``.

    The objective gives the space, the metric and its direction. An existing study is only loaded if the space,
    metric, strategy, seed and options all match what it was created with (else a :class:`ValidationError` names
    the field that differs); ``description`` (e.g. the study file's objective table) is stored for reports.
    """
    _check_objective(objective)
    store = storage if isinstance(storage, Storage) else Storage(storage)
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("name", f"study name must be a non-empty string, got {name!r}")
    if strategy not in _strategies.REGISTRY:
        known = ", ".join(_strategies.REGISTRY)
        raise ValidationError("strategy", f"unknown strategy {strategy!r} (known: {known})")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValidationError("seed", f"must be a non-negative integer, got {seed!r}")
    options = dict(strategy_options or {})
    # Fail now, not at the first ask, on options the strategy does not take.
    _strategies.create(strategy, objective.space, objective.cost, objective.metric.minimize, seed, **options)
    if name in store.study_names():
        if not load_if_exists:
            raise ValidationError("name", f"study {name!r} already exists in {store.url} (load it, or pick a name)")
        study = Study(store, store.study(name))
        study.check_compatible(objective, strategy=strategy, seed=seed, strategy_options=options)
        return study
    row = StudyRow(
        name=name,
        created_at=time.time(),
        space=space_to_dict(objective.space),
        objective=dict(description) if description is not None else describe_objective(objective),
        metric=objective.metric.name,
        minimize=bool(objective.metric.minimize),
        strategy=strategy,
        strategy_options=options,
        seed=int(seed),
        events=0,
    )
    return Study(store, store.create_study(row))


def load_study(name: str | None = None, storage: str | Storage = "sqlite:///study.db") -> Study:
    """The study ``name`` in ``storage`` (the only one there when ``name`` is None)."""
    store = storage if isinstance(storage, Storage) else Storage(storage)
    if name is None:
        names = store.study_names()
        if len(names) != 1:
            raise ValidationError("study", f"{store.url} holds {len(names)} studies ({', '.join(names)}); name one")
        name = names[0]
    return Study(store, store.study(name))


# ------------------------------------------------------------------------------ study
class Study:
    """A persisted study. Read it any time (:attr:`trials`, :attr:`recommendation`, :meth:`trials_dataframe`);
    drive it with :meth:`optimize` (or :meth:`ask` / :meth:`tell` by hand), one driver at a time."""

    def __init__(self, storage: Storage, row: StudyRow) -> None:
        self.storage = storage
        self._id = row.id
        self.name: str = row.name
        self.space: Space = space_from_dict(row.space)
        self.metric = Metric(row.metric, bool(row.minimize))
        self.strategy_name: str = row.strategy
        self.strategy_options: dict[str, Any] = dict(row.strategy_options or {})
        self.seed: int = int(row.seed)
        self.objective_description: dict[str, Any] = dict(row.objective or {})
        self.created_at: float = row.created_at
        self._driver: str | None = None
        self._strategy: Strategy | None = None
        self._strategy_cost: Callable[[str, int], float] | None = None

    def __repr__(self) -> str:
        return f"Study({self.name!r}, strategy={self.strategy_name!r}, seed={self.seed}, {self.storage.url})"

    # ---------------------------------------------------------------- reading
    @property
    def trials(self) -> list[Trial]:
        return [Trial.from_row(r) for r in self.storage.trials(self._id)]

    @property
    def recommendations(self) -> list[RecommendationRecord]:
        return [_rec_record(r) for r in self.storage.recommendations(self._id)]

    @property
    def recommendation(self) -> Recommendation | None:
        """The latest stored recommendation (None before the first completed trial)."""
        recs = self.storage.recommendations(self._id)
        return _rec_record(recs[-1]).recommendation if recs else None

    @property
    def spent(self) -> float:
        return float(sum(t.cost or 0.0 for t in self.trials if t.state == "complete"))

    @property
    def driver(self) -> tuple[str | None, float | None]:
        """The lease holder's id and its last heartbeat (None when no driver holds the study)."""
        row = self.storage.study(self.name)
        return row.driver, row.heartbeat

    def trials_dataframe(self) -> pd.DataFrame:
        """One row per trial: configuration (one ``w:<domain>`` column per domain), result, timings, errors."""
        rows = []
        spent = 0.0
        for t in sorted(self.trials, key=lambda t: (t.end_seq is None, t.end_seq or 0, t.number)):
            if t.state == "complete":
                spent += t.cost or 0.0
            row = {
                "number": t.number,
                "state": t.state,
                "source": t.source,
                "scale": t.config.scale,
                "steps": t.config.steps,
            }
            row.update({f"w:{d}": float(t.config.mixture[d]) for d in self.space.domains})
            row.update(
                {
                    self.metric.name: t.value,
                    "cost": t.cost,
                    "spent": spent if t.state == "complete" else None,
                    "attempts": t.attempts,
                    "failures": t.failures,
                    "error": t.error,
                    "eval_seed": t.eval_seed,
                    "created_at": t.created_at,
                    "started_at": t.started_at,
                    "finished_at": t.finished_at,
                    "duration_s": t.duration,
                    "worker": t.worker,
                    "curve": None if t.curve is None else json_dumps([list(p) for p in t.curve]),
                    "info": json_dumps(t.info) if t.info else None,
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

    def check_compatible(
        self,
        objective: Objective,
        strategy: str | None = None,
        seed: int | None = None,
        strategy_options: Mapping[str, Any] | None = None,
    ) -> None:
        """Raise a :class:`ValidationError` naming the first field where ``objective`` (and the given strategy
        settings) differ from what this study was created with."""
        _check_objective(objective)
        stored = space_to_dict(self.space)
        given = space_to_dict(objective.space)
        for key in ("domains", "scales", "steps", "target"):
            if stored[key] != given[key]:
                raise ValidationError(
                    key, f"study {self.name!r} was created with {key} {stored[key]}, the objective has {given[key]}"
                )
        if objective.metric != self.metric:
            raise ValidationError(
                "objective.metric", f"study {self.name!r} optimizes {self.metric}, the objective has {objective.metric}"
            )
        for fname, mine, theirs in (
            ("strategy", self.strategy_name, strategy),
            ("seed", self.seed, seed),
            ("strategy_options", self.strategy_options, None if strategy_options is None else dict(strategy_options)),
        ):
            if theirs is not None and theirs != mine:
                raise ValidationError(fname, f"study {self.name!r} was created with {fname} {mine!r}, not {theirs!r}")

    # ---------------------------------------------------------------- driving
    def _acquire(self) -> None:
        if self._driver is None:
            self._driver = new_driver_id()
        self.storage.acquire(self._id, self._driver)

    def release(self) -> None:
        """Give up the driver lease (``optimize`` does this itself when it returns)."""
        if self._driver is not None:
            self.storage.release(self._id, self._driver)

    def _replay(self, objective: Objective) -> Strategy:
        """A fresh strategy driven through the stored event log (see the module docstring)."""
        strategy = _strategies.create(
            self.strategy_name, self.space, objective.cost, self.metric.minimize, self.seed, **self.strategy_options
        )
        trials = self.storage.trials(self._id)
        events: list[tuple[int, int, Any]] = []
        for t in trials:
            events.append((t.ask_seq, 0, t))
            if t.end_seq is not None:
                events.append((t.end_seq, 1, t))
        for r in self.storage.recommendations(self._id):
            events.append((r.seq, 2, r))
        events.sort(key=lambda e: e[0])
        pending: dict[int, Config] = {}
        diverged: list[int] = []
        for _, kind, item in events:
            if kind == 0:
                config = Config(dict(item.mixture), item.scale, int(item.steps))
                if item.source == "strategy":
                    asked = self._ask(strategy, item.number, list(pending.values()))
                    if not _same_config(asked, config, self.space):
                        diverged.append(item.number)
                pending[item.number] = config
            elif kind == 1:
                config = pending.pop(item.number)
                if item.state == "complete":
                    strategy.tell(config, _observation(item))
            else:
                strategy.recommend()
        if diverged:
            import warnings

            warnings.warn(
                f"study {self.name!r}: replaying the {self.strategy_name} strategy gave other proposals than stored "
                f"for trials {diverged[:5]} (a strategy that is not deterministic across processes?); the stored "
                "trials are used as they are",
                RuntimeWarning,
                stacklevel=3,
            )
        self._strategy = strategy
        self._strategy_cost = objective.cost
        return strategy

    def _ask(self, strategy: Strategy, number: int, pending: list[Config]) -> Config:
        strategy.reseed([self.seed, number])
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.manual_seed(self.seed * EVAL_SEED_STRIDE + number)
        return strategy.ask_pending(pending)

    def enqueue(self, config: Config | Mapping[str, Any]) -> Trial:
        """Add a trial with a configuration of your choosing (e.g. today's mixture); it runs before new asks."""
        if not isinstance(config, Config):
            if not isinstance(config, Mapping) or "mixture" not in config:
                raise ValidationError("config", "expected a Config or a mapping with 'mixture', 'scale', 'steps'")
            config = self.space.config(
                config["mixture"], config.get("scale", self.space.target[0]), config.get("steps", self.space.target[1])
            )
        else:
            config = self.space.config(config.mixture, config.scale, config.steps)
        self._acquire()
        try:
            return self._insert(config, "enqueued")
        finally:
            self.release()

    def _insert(self, config: Config, source: str, pruned_reason: str | None = None, start: bool = False) -> Trial:
        """Store a new trial (one transaction): pending, running (``start``: its first attempt begins now; saves
        a second commit per trial) or pruned."""
        with self.storage.write(self._id, self._driver) as (s, row):
            number = s.scalar(select(func.count()).select_from(TrialRow).where(TrialRow.study_id == self._id))
            now = time.time()
            seq = self.storage.next_seq(row)
            t = TrialRow(
                study_id=self._id,
                number=number,
                state="pruned" if pruned_reason is not None else ("running" if start else "pending"),
                source=source,
                mixture=dict(config.mixture),
                scale=config.scale,
                steps=int(config.steps),
                eval_seed=self.seed * EVAL_SEED_STRIDE + number,
                ask_seq=seq,
                end_seq=None if pruned_reason is None else self.storage.next_seq(row),
                error=pruned_reason,
                attempts=1 if start else 0,
                failures=0,
                created_at=now,
                started_at=now if start else None,
                finished_at=None if pruned_reason is None else now,
            )
            s.add(t)
        return Trial.from_row(t)

    def ask(self, objective: Objective) -> Trial:
        """Propose one trial (stored as running) for you to evaluate and :meth:`tell`; takes the driver lease."""
        self.check_compatible(objective)
        self._acquire()
        strategy = self._strategy if self._strategy is not None else self._replay(objective)
        trials = self.trials
        queued = [t for t in trials if t.state == "pending"]
        if queued:
            trial = queued[0]
        else:
            pending = [t.config for t in trials if t.end_seq is None]
            config = self._ask(strategy, len(trials), pending)
            trial = self._insert(config, "strategy")
        self._mark_running(trial.number, trial.attempts + 1)
        return self._trial(trial.number)

    def tell(
        self,
        trial: Trial | int,
        observation: Observation | float | None = None,
        error: str | None = None,
        curve=None,
        cost: float | None = None,
    ) -> Trial:
        """Record the result of a trial from :meth:`ask`: an :class:`Observation` (or a value, with optional
        ``curve`` and ``cost``), or ``error=...`` for a failed one."""
        number = trial.number if isinstance(trial, Trial) else int(trial)
        if self._strategy is None:
            raise ValidationError(
                "trial", "call ask(objective) on this Study object first: tell() uses the strategy it rebuilt"
            )
        current = self._trial(number)
        if current.state != "running":
            raise ValidationError("trial", f"trial {number} is {current.state}, not running")
        if error is None:
            if observation is None:
                raise ValidationError("observation", "give an observation (or error=...)")
            if not isinstance(observation, Observation):
                c = self._strategy_cost(current.config.scale, current.config.steps) if cost is None else cost
                observation = Observation(float(observation), float(c), tuple(curve) if curve else None)
            if not math.isfinite(float(observation.value)):
                error = f"the objective returned {observation.value}"
        if error is not None:
            self._end_failed(number, error, current.attempts, time.time())
        else:
            curve_list = [[int(s), float(v)] for s, v in observation.curve] if observation.curve else None
            out = Outcome(
                number,
                current.attempts,
                True,
                float(observation.value),
                float(observation.cost),
                curve_list,
                dict(observation.info or {}),
                finished=time.time(),
            )
            self._complete(self._strategy, out, current.config, started=current.started_at)
        return self._trial(number)

    def _trial(self, number: int) -> Trial:
        with self.storage.read() as s:
            return Trial.from_row(self._row(s, number))

    # ------------------------------------------------------- state transitions
    def _mark_running(self, number: int, attempt: int) -> None:
        with self.storage.write(self._id, self._driver) as (s, _):
            t = self._row(s, number)
            t.state, t.attempts, t.started_at = "running", attempt, time.time()
            t.worker = None

    def _row(self, s, number: int) -> TrialRow:
        return s.scalar(select(TrialRow).where(TrialRow.study_id == self._id, TrialRow.number == number))

    def _complete(self, strategy: Strategy, out: Outcome, config: Config, started: float | None) -> Recommendation:
        obs = Observation(out.value, out.cost, tuple((int(s), float(v)) for s, v in out.curve) if out.curve else None)
        strategy.tell(config, obs)
        rec = strategy.recommend()
        with self.storage.write(self._id, self._driver) as (s, row):
            done = (TrialRow.study_id == self._id, TrialRow.state == "complete")
            n_complete = s.scalar(select(func.count()).select_from(TrialRow).where(*done)) + 1
            spent = s.scalar(select(func.coalesce(func.sum(TrialRow.cost), 0.0)).where(*done))
            t = self._row(s, out.number)
            t.state, t.value, t.cost, t.curve, t.info = "complete", out.value, out.cost, out.curve, out.info
            t.started_at = out.started or started
            t.finished_at = out.finished
            t.duration = None if t.started_at is None else out.finished - t.started_at
            t.worker = out.worker or None
            t.end_seq = self.storage.next_seq(row)
            s.add(
                RecommendationRow(
                    study_id=self._id,
                    seq=self.storage.next_seq(row),
                    n_complete=n_complete,
                    spent=spent + out.cost,
                    mixture=dict(rec.mixture),
                    value=rec.value,
                    std=rec.std,
                    source=rec.source,
                    created_at=time.time(),
                )
            )
        return rec

    def _end_failed(self, number: int, error: str, attempt: int, finished: float, retry: bool = False) -> None:
        with self.storage.write(self._id, self._driver) as (s, row):
            t = self._row(s, number)
            t.failures += 1
            t.error = f"attempt {attempt}: {error}"
            t.finished_at = finished
            if retry:
                t.state = "pending"
            else:
                t.state = "failed"
                t.end_seq = self.storage.next_seq(row)

    # ---------------------------------------------------------------- optimize
    def optimize(
        self,
        objective: Objective,
        budget: float | None = None,
        n_trials: int | None = None,
        workers: int = 1,
        executor: Executor | None = None,
        timeout: float | None = None,
        max_retries: int = 1,
        deterministic: bool = False,
        callback: Callable[[Progress], None] | None = None,
    ) -> Recommendation | None:
        """Run trials until the committed cost reaches ``budget`` (target-run units) or the study holds
        ``n_trials`` trials (both count trials from earlier runs, so calling it again resumes the same study).

        ``executor``: a :class:`~mixscale.study.executors.LocalExecutor` of ``workers`` processes unless given (e.g. a
        :class:`~mixscale.study.executors.RayExecutor`). ``timeout``: seconds per trial attempt. ``max_retries``: how
        often a failed attempt (exception, non-finite value, timeout, lost worker) is retried with the same
        configuration and seed before the trial is recorded as failed. Returns the final recommendation.
        """
        if budget is None and n_trials is None:
            raise ValidationError("budget", "give a budget (target-run units) or n_trials")
        if budget is not None and not (isinstance(budget, int | float) and math.isfinite(budget) and budget > 0):
            raise ValidationError("budget", f"must be a positive number, got {budget!r}")
        if n_trials is not None and (not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1):
            raise ValidationError("n_trials", f"must be a positive integer, got {n_trials!r}")
        if timeout is not None and not (isinstance(timeout, int | float) and timeout > 0):
            raise ValidationError("timeout", f"must be a positive number of seconds, got {timeout!r}")
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise ValidationError("max_retries", f"must be a non-negative integer, got {max_retries!r}")
        self.check_compatible(objective)
        own = executor is None
        executor = executor if executor is not None else LocalExecutor(workers)
        self._acquire()
        try:
            strategy = self._replay(objective)
            executor.start(objective)
            loop = _Loop(
                self, strategy, objective, executor, budget, n_trials, timeout, max_retries, deterministic, callback
            )
            loop.run()
        finally:
            if own:
                executor.shutdown()
            self.release()
        return self.recommendation


@dataclass
class _Loop:
    """One call of :meth:`Study.optimize`: keeps the executor busy, tells results, stores every transition."""

    study: Study
    strategy: Strategy
    objective: Objective
    executor: Executor
    budget: float | None
    n_trials: int | None
    timeout: float | None
    max_retries: int
    deterministic: bool
    callback: Callable[[Progress], None] | None
    trials: dict[int, Trial] = field(default_factory=dict)
    inflight: set[int] = field(default_factory=set)
    queue: list[int] = field(default_factory=list)
    buffer: dict[int, Outcome] = field(default_factory=dict)
    stop_asking: bool = False
    last_write: float = 0.0
    recommendation: Recommendation | None = None

    def run(self) -> None:
        study = self.study
        self.trials = {t.number: t for t in study.trials}
        self.recommendation = study.recommendation
        self.queue = [n for n, t in sorted(self.trials.items()) if t.end_seq is None]  # pending or lost running
        pruned = [t for t in self.trials.values() if t.state == "pruned" and t.source == "strategy"]
        if pruned and self.budget is not None:
            last = max(pruned, key=lambda t: t.number)
            self.stop_asking = self._committed() + self.objective.cost(last.config.scale, last.config.steps) > (
                self.budget * (1 + 1e-9)
            )
        self._notify("start")
        heartbeat_every = min(5.0, study.storage.lease_ttl / 4)
        while True:
            self._fill()
            if not self.inflight:
                if self.buffer:
                    raise RuntimeError(f"internal: results for trials {sorted(self.buffer)} could not be applied")
                break
            outcomes = self.executor.wait(timeout=heartbeat_every)
            for out in outcomes:
                self._handle(out)
            if time.time() - self.last_write > heartbeat_every:
                study.storage.heartbeat(study._id, study._driver)
                self.last_write = time.time()
        self._notify("done")

    # ---------------------------------------------------------------- helpers
    def _ended(self, t: Trial) -> bool:
        return t.end_seq is not None

    def _committed(self) -> float:
        """Cost of completed trials plus the expected cost of those not yet ended."""
        total = 0.0
        for t in self.trials.values():
            if t.state == "complete":
                total += t.cost or 0.0
            elif not self._ended(t) and (t.source == "strategy" or t.attempts > 0):
                total += self.objective.cost(t.config.scale, t.config.steps)
        return total

    def _spent(self) -> float:
        return float(sum(t.cost or 0.0 for t in self.trials.values() if t.state == "complete"))

    def _frontier(self) -> int:
        """Number of leading trials (in trial order) that have ended."""
        n = 0
        while n in self.trials and self._ended(self.trials[n]):
            n += 1
        return n

    def _refresh(self, number: int) -> Trial:
        t = self.study._trial(number)
        self.trials[number] = t
        self.last_write = time.time()
        return t

    def _free_slots(self) -> int:
        return self.executor.workers - len(self.inflight)

    # ------------------------------------------------------------------- asks
    def _fill(self) -> None:
        while self._free_slots() > 0:
            if self.queue:
                number = self.queue.pop(0)
                t = self.trials[number]
                if t.attempts == 0 and t.source == "enqueued" and not self._fits(t.config):
                    self._prune_enqueued(number)
                    continue
                self._submit(number)
                continue
            if self.stop_asking:
                return
            count = sum(1 for t in self.trials.values() if t.state != "pruned")
            if self.n_trials is not None and count >= self.n_trials:
                return
            number = len(self.trials)
            if self.deterministic and number >= self._frontier() + self.executor.workers:
                return
            self._ask(number)

    def _fits(self, config: Config) -> bool:
        if self.budget is None:
            return True
        cost = self.objective.cost(config.scale, config.steps)
        return self._committed() + cost <= self.budget * (1 + 1e-9)

    def _ask(self, number: int) -> None:
        pending = [t.config for n, t in sorted(self.trials.items()) if not self._ended(t)]
        config = self.study._ask(self.strategy, number, pending)
        if not self._fits(config):
            cost = self.objective.cost(config.scale, config.steps)
            reason = (
                f"not run: its cost {cost:.4g} would take the committed cost {self._committed():.4g} past the "
                f"budget {self.budget:g}"
            )
            t = self.study._insert(config, "strategy", pruned_reason=reason)
            self.trials[t.number] = t
            self.stop_asking = True
            self._notify("pruned", t)
            return
        t = self.study._insert(config, "strategy", start=True)
        self.trials[t.number] = t
        self._submit(t.number, marked=True)

    def _prune_enqueued(self, number: int) -> None:
        with self.study.storage.write(self.study._id, self.study._driver) as (s, row):
            r = self.study._row(s, number)
            r.state, r.error = "pruned", "not run: it would take the committed cost past the budget"
            r.end_seq = self.study.storage.next_seq(row)
            r.finished_at = time.time()
        self.stop_asking = True
        self._notify("pruned", self._refresh(number))

    def _submit(self, number: int, marked: bool = False) -> None:
        t = self.trials[number]
        if marked:
            attempt = t.attempts
        else:
            attempt = t.attempts + 1
            self.study._mark_running(number, attempt)
            t = self._refresh(number)
        job = Job(
            number=number,
            attempt=attempt,
            mixture=dict(t.config.mixture),
            scale=t.config.scale,
            steps=int(t.config.steps),
            seed=t.eval_seed,
            timeout=self.timeout,
            run_name=f"{self.study.name}/trial-{number:05d}/attempt-{attempt}",
        )
        self.executor.submit(job)
        self.inflight.add(number)
        self._notify("started", t)

    # ---------------------------------------------------------------- results
    def _handle(self, out: Outcome) -> None:
        self.inflight.discard(out.number)
        t = self.trials[out.number]
        if not out.ok and t.failures + 1 <= self.max_retries:
            self.study._end_failed(out.number, f"{out.kind}: {out.error}", out.attempt, out.finished, retry=True)
            self.queue.insert(0, out.number)
            self._notify("retry", self._refresh(out.number))
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
            self.recommendation = self.study._complete(self.strategy, out, t.config, t.started_at)
            self._notify("complete", self._refresh(out.number))
        else:
            self.study._end_failed(out.number, f"{out.kind}: {out.error}", out.attempt, out.finished)
            self._notify("failed", self._refresh(out.number))

    def _notify(self, event: str, trial: Trial | None = None) -> None:
        if self.callback is None:
            return
        states = [t.state for t in self.trials.values()]
        self.callback(
            Progress(
                running=states.count("running"),
                pending=states.count("pending"),
                complete=states.count("complete"),
                failed=states.count("failed"),
                pruned=states.count("pruned"),
                spent=self._spent(),
                committed=self._committed(),
                budget=self.budget,
                n_trials=self.n_trials,
                recommendation=self.recommendation,
                event=event,
                trial=trial,
            )
        )


# ------------------------------------------------------------------------- helpers
def _observation(t: TrialRow) -> Observation:
    curve = tuple((int(s), float(v)) for s, v in t.curve) if t.curve else None
    return Observation(float(t.value), float(t.cost), curve)


def _rec_record(r: RecommendationRow) -> RecommendationRecord:
    rec = Recommendation(dict(r.mixture), r.value, r.std, r.source)
    return RecommendationRecord(r.seq, r.n_complete, r.spent, rec, r.created_at)


def _same_config(a: Config, b: Config, space: Space) -> bool:
    if a.scale != b.scale or int(a.steps) != int(b.steps):
        return False
    return all(abs(float(a.mixture[d]) - float(b.mixture[d])) <= _MIX_TOL for d in space.domains)


def json_dumps(value: Any) -> str:
    import json

    return json.dumps(value, default=str)
