"""Studies: a strategy, an objective's space and every trial, persisted so that a search survives crashes.

.. code-block:: python

    import mixscale

    objective = mixscale.simulator.load("analytic")
    study = mixscale.create_study(objective, storage="sqlite:///study.db", name="c4", strategy="mfms", seed=0,
                                  load_if_exists=True)
    study.optimize(objective, budget=3.0, workers=2)       # kill it at any time; run it again to resume
    print(study.recommendation)

How a study is driven and replayed on resume (determinism, pending points, budget, failures):
:mod:`mixscale.study._optimize`.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from mixscale.errors import ValidationError
from mixscale.objective import Metric, Objective, Observation, check_budget
from mixscale.space import Config, Space
from mixscale.study import _optimize
from mixscale.study.executors import Executor, LocalExecutor, Outcome
from mixscale.study.storage import Storage, new_driver_id
from mixscale.study.trial import (
    FAILED_CHARGE,
    MAX_FAILURES,
    Progress,
    RecommendationRecord,
    Trial,
    dataframe,
    spent,
)

if TYPE_CHECKING:
    import pandas as pd

    from mixscale.strategies.base import Recommendation, Strategy
    from mixscale.study.schema import StudyRow


# ----------------------------------------------------------------------- descriptions
def space_to_dict(space: Space) -> dict[str, Any]:
    """The space as stored with a study, its constraints included (a replay must see the same feasible set)."""
    return {
        "domains": list(space.domains),
        "scales": [{"name": s.name, "params": s.params, "tokens_per_step": s.tokens_per_step} for s in space.scales],
        "steps": list(space.steps),
        "target": [space.target[0], space.target[1]],
        **({"constraints": space.constraints.to_dict()} if space.constraints else {}),
    }


def space_from_dict(d: Mapping[str, Any]) -> Space:
    return Space(d["domains"], d["scales"], d["steps"], tuple(d["target"]), **d.get("constraints", {}))


def describe_objective(objective: Objective) -> dict[str, Any]:
    """What the study records about its objective: the class, the metric and the objective's own ``describe()``."""
    cls = type(objective)
    d: dict[str, Any] = {"class": f"{cls.__module__}.{cls.__qualname__}", "metric": objective.metric.name}
    describe = getattr(objective, "describe", None)
    if callable(describe):
        d.update(describe())
    return d


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_name(name: Any) -> str:
    """A study name: letters, digits, ``_ . -`` (not first), at most 128 characters. It names run directories
    (``runs/<name>/trial-…``), so anything that could leave them (``/``, ``..``) is refused up front."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise ValidationError(
            "name", f"study name must be letters, digits, '_', '.', '-' (no '..', at most 128), got {name!r}"
        )
    return name


def _check_objective(objective: Objective) -> None:
    for attr in ("space", "metric", "evaluate", "cost"):
        if not hasattr(objective, attr):
            raise ValidationError("objective", f"{type(objective).__name__} has no {attr!r}: not an Objective")


# ------------------------------------------------------------------------- entry points
def create_study(
    objective: Objective,
    storage: str | Storage = "sqlite:///:memory:",
    name: str = "study",
    strategy: str | None = None,
    seed: int = 0,
    strategy_options: Mapping[str, Any] | None = None,
    description: Mapping[str, Any] | None = None,
    load_if_exists: bool = False,
    warm_start: Any = None,
    provenance: Mapping[str, Any] | None = None,
) -> Study:
    """A new study in ``storage`` (a database URL), or the existing one of that name when ``load_if_exists``.

    The objective gives the space, the metric and its direction. An existing study is only loaded if the space,
    metric, strategy, seed and options all match what it was created with (else a :class:`ValidationError` names
    the field that differs); ``description`` (e.g. the study file's objective table) is stored for reports.
    ``warm_start``: runs tables and earlier studies whose runs enter the new study as uncharged history
    (:mod:`mixscale.study.warm_start`; ignored when an existing study is loaded).
    """
    _check_objective(objective)
    store = storage if isinstance(storage, Storage) else Storage(storage)
    check_name(name)
    from mixscale import strategies as _strategies  # here: strategies import torch, a worker process need not

    strategy = _strategies.DEFAULT if strategy is None else strategy
    if strategy not in _strategies.REGISTRY:
        known = ", ".join(_strategies.REGISTRY)
        raise ValidationError("strategy", f"unknown strategy {strategy!r} (known: {known})")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValidationError("seed", f"must be a non-negative integer, got {seed!r}")
    options = dict(strategy_options or {})
    # Fail now, not at the first ask, on options the strategy does not take; store every parameter as resolved now
    # (``get_params``), so that a default changed in a later release cannot change this study's replay.
    probe = _strategies.create(strategy, objective.space, objective.cost, objective.metric.minimize, seed, **options)
    resolved = {k: v for k, v in probe.get_params().items() if k not in ("minimize", "seed")}
    if name in store.study_names():
        if not load_if_exists:
            raise ValidationError("name", f"study {name!r} already exists in {store.url} (load it, or pick a name)")
        study = Study(store, store.study(name))
        study.check_compatible(objective, strategy=strategy, seed=seed, strategy_options=options)
        return study
    warm = None
    if warm_start:
        from mixscale.study import warm_start as _warm

        value, required = _warm.value_function(objective, options)
        warm = _warm.collect(warm_start, objective.space, value, required, provenance)
        description = {**(dict(description) if description is not None else describe_objective(objective))}
        description["warm_start"] = warm.to_dict()
    row = store.create_study(
        name=name,
        created_at=time.time(),
        space=space_to_dict(objective.space),
        objective=dict(description) if description is not None else describe_objective(objective),
        metric=objective.metric.name,
        minimize=bool(objective.metric.minimize),
        strategy=strategy,
        strategy_options=resolved,
        seed=int(seed),
    )
    study = Study(store, row)
    if warm is not None:
        _warm.apply(study, objective, warm)
    return study


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
        return self.storage.trials(self._id)

    @property
    def recommendations(self) -> list[RecommendationRecord]:
        return self.storage.recommendations(self._id)

    @property
    def recommendation(self) -> Recommendation | None:
        """The latest stored recommendation (None before the first completed trial)."""
        recs = self.storage.recommendations(self._id)
        return recs[-1].recommendation if recs else None

    @property
    def spent(self) -> float:
        """Cost charged to the budget so far (target-run units)."""
        return spent(self.trials)

    @property
    def driver(self) -> tuple[str | None, float | None]:
        """The lease holder's id and its last heartbeat (None when no driver holds the study)."""
        row = self.storage.study(self.name)
        return row.driver, row.heartbeat

    def trials_dataframe(self) -> pd.DataFrame:
        """One row per trial: configuration (one ``w:<domain>`` column per domain), result, timings, errors."""
        return dataframe(self.trials, self.space.domains, self.metric.name)

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
        for key in ("domains", "scales", "steps", "target", "constraints"):
            if stored.get(key) != given.get(key):
                raise ValidationError(
                    key,
                    f"study {self.name!r} was created with {key} {stored.get(key)}, the objective has {given.get(key)}",
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
            if fname == "strategy_options" and theirs is not None:  # stored: every parameter; given: some of them
                differ = {k: v for k, v in _plain(theirs).items() if _plain(mine).get(k, v) != v}
                if differ:
                    raise ValidationError(
                        fname, f"study {self.name!r} was created with {fname} {mine!r}, not {theirs!r}"
                    )
            elif theirs is not None and theirs != mine:
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
        from mixscale import strategies as _strategies

        strategy = _strategies.create(
            self.strategy_name, self.space, objective.cost, self.metric.minimize, self.seed, **self.strategy_options
        )
        trials, recs = self.storage.trials(self._id), self.storage.recommendations(self._id)
        tick = None
        if self._driver is not None:  # the lease holder heartbeats through a long replay
            log = self._log()
            tick = _optimize.Beat(log.heartbeat, log.heartbeat_every)
        _optimize.replay(strategy, self.seed, self.space, trials, recs, name=self.name, tick=tick)
        self._strategy = strategy
        self._strategy_cost = objective.cost
        return strategy

    def _log(self) -> _optimize.StoredLog:
        if self._driver is None:
            raise RuntimeError("internal: the study is driven without its lease")
        return _optimize.StoredLog(self.storage, self._id, self._driver, self.name)

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
            return self._log().add(config, "enqueued")
        finally:
            self.release()

    def ask(self, objective: Objective) -> Trial:
        """Propose one trial (stored as running) for you to evaluate and :meth:`tell`; takes the driver lease."""
        self.check_compatible(objective)
        self._acquire()
        strategy = self._strategy if self._strategy is not None else self._replay(objective)
        log = self._log()
        trials = self.trials
        queued = [t for t in trials if t.state == "pending"]
        if queued:
            trial = queued[0]
        else:
            pending = [t.config for t in trials if not t.ended]
            config = _optimize.propose(strategy, self.seed, len(trials), pending)
            trial = log.add(config, "strategy")
        return log.start(trial.number, trial.attempts + 1)

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
        current = self.storage.trial(self._id, number)
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
            charge = FAILED_CHARGE * self._strategy_cost(current.config.scale, current.config.steps)
            return self._log().fail(number, error, time.time(), charge=charge)
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
        self._strategy.tell(current.config, Observation(out.value, out.cost, observation.curve, out.info))
        return self._log().complete(number, out, self._strategy.recommend(), current.started_at)

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
        max_failures: int = MAX_FAILURES,
    ) -> Recommendation | None:
        """Run trials until the committed cost reaches ``budget`` (target-run units) or the study holds
        ``n_trials`` trials (both count trials from earlier runs, so calling it again resumes the same study).

        ``executor``: a :class:`~mixscale.study.executors.LocalExecutor` of ``workers`` processes unless given (e.g. a
        :class:`~mixscale.study.executors.RayExecutor`). ``timeout``: seconds per trial attempt. ``max_retries``: how
        often a failed attempt (exception, non-finite value, timeout, lost worker) is retried with the same
        configuration and seed before the trial is recorded as failed. Returns the final recommendation.

        Failure policy: a failed trial is charged :data:`~mixscale.study.trial.FAILED_CHARGE` (1.0) times its
        expected cost; after ``max_failures`` trials in a row failed (in this call), the study stops with a
        :class:`~mixscale.study.trial.TrialsFailingError` naming the last error (trials still running are left
        ``running`` and re-run on resume).
        """
        if budget is None and n_trials is None:
            raise ValidationError("budget", "give a budget (target-run units) or n_trials")
        if budget is not None:
            budget = check_budget(budget)
        if n_trials is not None and (not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1):
            raise ValidationError("n_trials", f"must be a positive integer, got {n_trials!r}")
        if timeout is not None and not (isinstance(timeout, int | float) and timeout > 0):
            raise ValidationError("timeout", f"must be a positive number of seconds, got {timeout!r}")
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise ValidationError("max_retries", f"must be a non-negative integer, got {max_retries!r}")
        if not isinstance(max_failures, int) or isinstance(max_failures, bool) or max_failures < 1:
            raise ValidationError("max_failures", f"must be a positive integer, got {max_failures!r}")
        self.check_compatible(objective)
        own = executor is None
        executor = executor if executor is not None else LocalExecutor(workers)
        self._acquire()
        try:
            strategy = self._replay(objective)
            executor.start(objective)
            loop = _optimize.Loop(
                self._log(),
                self.seed,
                strategy,
                objective,
                executor,
                budget,
                n_trials,
                timeout,
                max_retries,
                deterministic,
                callback,
                max_failures,
            )
            loop.run()
        finally:
            if own:
                executor.shutdown()
            self.release()
        return self.recommendation


def _plain(options: Mapping[str, Any]) -> dict[str, Any]:
    """Options as stored (JSON): tuples read back as lists."""
    return json.loads(json.dumps(dict(options), default=list))
