"""Where trials run: a local process pool or a Ray cluster, both asynchronous.

The study driver (:meth:`mixscale.study.Study.optimize`) submits :class:`Job` s and collects :class:`Outcome` s; it
never blocks on one trial, so the strategy proposes the next query while others run. An executor only runs
``objective.evaluate`` somewhere and reports what happened; retries, storage and the strategy stay in the driver.

Failure kinds in an :class:`Outcome`: ``error`` (the trainer raised; message and traceback tail kept),
``invalid`` (it returned a non-finite value), ``timeout`` (ran past the job's timeout and was killed) and
``lost`` (the worker process or node died under it). All of them are retried by the driver up to its limit.

* :class:`LocalExecutor` uses `pebble <https://pypi.org/project/Pebble/>`_'s process pool: unlike
  :class:`concurrent.futures.ProcessPoolExecutor`, it kills and replaces one worker whose task times out, and a
  worker that dies fails only its own task instead of breaking the pool. Workers start with ``spawn`` (no fork of a
  driver that holds torch / OpenMP threads) and receive the objective once, at start.
* :class:`RayExecutor` runs each trial as a Ray task (``max_retries=0``: the driver owns retries and records every
  failure). ``ray.init(address=...)`` joins a cluster; with no address it starts a local Ray. A timed-out task is
  cancelled with ``force=True`` (its worker is killed).
"""

from __future__ import annotations

import concurrent.futures
import inspect
import json
import math
import multiprocessing
import os
import socket
import sys
import threading
import time
import traceback
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from mixscale.errors import ValidationError
from mixscale.objective import Objective
from mixscale.space import Config


@dataclass(frozen=True)
class Job:
    """One attempt at one trial. ``run_name`` is handed to objectives whose ``evaluate`` takes it (e.g. to name
    an output directory); ``timeout`` is in seconds (None: no limit)."""

    number: int
    attempt: int
    mixture: dict[str, float]
    scale: str
    steps: int
    seed: int
    timeout: float | None = None
    run_name: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of a :class:`Job`. ``ok`` outcomes carry value / cost / curve / info, others ``kind`` and
    ``error``."""

    number: int
    attempt: int
    ok: bool
    value: float | None = None
    cost: float | None = None
    curve: list[list[float]] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    kind: str = ""
    error: str = ""
    started: float | None = None
    finished: float = 0.0
    worker: str = ""


def run_job(objective: Objective, job: Job) -> dict[str, Any]:
    """Evaluate one job (in a worker) and report it as a plain dict; trainer exceptions become failures."""
    started = time.time()
    base = {"number": job.number, "attempt": job.attempt, "started": started, "worker": _worker_name()}
    try:
        config = Config(dict(job.mixture), job.scale, int(job.steps))
        kwargs = {"run_name": job.run_name} if job.run_name and _accepts(objective.evaluate, "run_name") else {}
        obs = objective.evaluate(config, seed=job.seed, **kwargs)
        if isinstance(obs.value, bool):
            raise TypeError(f"the objective returned {obs.value!r}, not a number")
        value = float(obs.value)
        if not math.isfinite(value):
            return {
                **base,
                "ok": False,
                "kind": "invalid",
                "error": f"the objective returned {value}",
                "finished": time.time(),
            }
        curve = None
        if obs.curve:
            curve = [[int(s), float(v)] for s, v in obs.curve if math.isfinite(float(v))]
            outside = [s for s, _ in curve if not 0 <= s <= job.steps]
            if outside:
                return {
                    **base,
                    "ok": False,
                    "kind": "invalid",
                    "error": f"learning-curve step {outside[0]} is outside the run's 0..{job.steps} steps",
                    "finished": time.time(),
                }
        info = json.loads(json.dumps(dict(obs.info or {}), default=str))
        return {
            **base,
            "ok": True,
            "value": value,
            "cost": float(obs.cost),
            "curve": curve,
            "info": info,
            "finished": time.time(),
        }
    except Exception as exc:  # noqa: BLE001 - any trainer failure is a failed trial, recorded with its reason
        tail = "".join(traceback.format_exception(exc)[-3:]).strip()
        return {
            **base,
            "ok": False,
            "kind": "error",
            "error": f"{type(exc).__name__}: {exc}\n{tail}",
            "finished": time.time(),
        }


def _accepts(fn, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _outcome(d: dict[str, Any]) -> Outcome:
    return Outcome(**d)


class Executor(ABC):
    """Runs jobs asynchronously. ``workers`` is how many trials may run at once."""

    workers: int

    @abstractmethod
    def start(self, objective: Objective) -> None:
        """Make ``objective`` available to the workers (called once by the driver before submitting)."""

    @abstractmethod
    def submit(self, job: Job) -> None: ...

    @abstractmethod
    def wait(self, timeout: float) -> list[Outcome]:
        """Outcomes that arrived within ``timeout`` seconds (possibly none), in order of finishing."""

    @abstractmethod
    def running(self) -> int:
        """Jobs submitted and not yet reported."""

    @abstractmethod
    def shutdown(self) -> None:
        """Stop every worker; jobs still running are abandoned (the study re-runs them on resume)."""

    def describe(self) -> str:
        return f"{type(self).__name__}({self.workers} workers)"


# ------------------------------------------------------------------------ local
_OBJECTIVE: Objective | None = None


def _init_worker(objective: Objective, threads: int) -> None:
    """Runs once in each worker: keep the objective; share the cores between workers (intra-op threads)."""
    global _OBJECTIVE
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    _OBJECTIVE = objective
    threading.Thread(target=_die_with_parent, args=(os.getppid(),), daemon=True, name="die-with-driver").start()
    torch = sys.modules.get("torch")  # only if the objective uses torch: importing it costs seconds
    if torch is not None:
        torch.set_num_threads(threads)


def _die_with_parent(parent: int) -> None:
    """A worker outlives no driver: when the driver dies (even by SIGKILL, which no handler sees) the worker is
    re-parented; it then exits at once, and the watchdog of any command it was running kills that command."""
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(70)


def _run_in_worker(job: Job) -> dict[str, Any]:
    assert _OBJECTIVE is not None, "worker was not initialized"
    return run_job(_OBJECTIVE, job)


class LocalExecutor(Executor):
    """``workers`` processes on this machine (pebble pool; ``spawn`` start method by default)."""

    def __init__(self, workers: int = 1, start_method: str = "spawn") -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValidationError("workers", f"must be a positive integer, got {workers!r}")
        self.workers = workers
        self.start_method = start_method
        self._pool = None
        self._children_before: set[int] = set()
        self._futures: dict[concurrent.futures.Future, tuple[Job, float]] = {}

    def start(self, objective: Objective) -> None:
        import pebble

        self._expired = pebble.ProcessExpired
        self._children_before = {p.pid for p in multiprocessing.active_children()}
        ctx = multiprocessing.get_context(self.start_method)
        self._pool = pebble.ProcessPool(
            max_workers=self.workers,
            initializer=_init_worker,
            initargs=(objective, max(1, (os.cpu_count() or 1) // self.workers)),
            context=ctx,
        )

    def submit(self, job: Job) -> None:
        if self._pool is None:
            raise RuntimeError("LocalExecutor.start() was not called")
        try:
            future = self._pool.submit(_run_in_worker, job.timeout, job)
        except RuntimeError as exc:
            raise RuntimeError(
                f"the local worker pool failed ({exc}): its workers start with {self.start_method!r}, which imports "
                "the main module again; run the driver from a file guarded by if __name__ == '__main__' "
                "(not from stdin), and make sure the objective can be pickled"
            ) from None
        self._futures[future] = (job, time.time())

    def running(self) -> int:
        return len(self._futures)

    def wait(self, timeout: float) -> list[Outcome]:
        if not self._futures:
            return []
        done, _ = concurrent.futures.wait(
            list(self._futures), timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED
        )
        out = []
        for future in done:
            job, submitted = self._futures.pop(future)
            fail = {"number": job.number, "attempt": job.attempt, "ok": False, "started": submitted}
            try:
                out.append(_outcome(future.result()))
            except concurrent.futures.TimeoutError:
                out.append(
                    Outcome(
                        **fail, kind="timeout", error=f"timed out after {job.timeout:g} s; killed", finished=time.time()
                    )
                )
            except self._expired as exc:
                out.append(Outcome(**fail, kind="lost", error=f"worker process died ({exc})", finished=time.time()))
            except Exception as exc:  # noqa: BLE001 - e.g. the objective could not be sent to the worker
                out.append(Outcome(**fail, kind="error", error=f"{type(exc).__name__}: {exc}", finished=time.time()))
        return sorted(out, key=lambda o: (o.finished, o.number))

    def shutdown(self, timeout: float = 15.0) -> None:
        """Stop the pool and its workers, waiting at most about ``timeout`` seconds (also on the way out of a
        KeyboardInterrupt or SIGTERM, so a driver that was told to stop does stop). pebble's ``join`` ignores its
        timeout once a pool is stopped, so the join runs in a daemon thread; a worker still alive after it (e.g.
        one respawned while the pool was stopping) is killed: its command's watchdog then kills the command."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.stop()
            closer = threading.Thread(target=pool.join, daemon=True, name="pool-shutdown")
            closer.start()
            closer.join(timeout)
            for child in multiprocessing.active_children():
                if child.name.startswith("pebble") and child.pid not in self._children_before:
                    child.kill()
                    child.join(timeout=5)
        self._futures.clear()


# -------------------------------------------------------------------------- ray
def _run_in_ray(objective: Objective, job: Job) -> dict[str, Any]:
    return run_job(objective, job)  # Ray sets OMP_NUM_THREADS to the task's num_cpus


class RayExecutor(Executor):
    """Trials as Ray tasks. ``address``: a cluster (``"auto"``, ``"ray://head:10001"``, ``"head:6379"``) or None
    for a local Ray; ``workers``: concurrent trials (default: the cluster's CPUs / ``cpus_per_trial``).
    ``init_kwargs`` go to ``ray.init`` when this executor starts Ray (e.g. ``num_cpus`` for a local one).
    A job's timeout counts from its submission: the driver submits no more than ``workers`` jobs, so with enough
    cluster resources they start at once (a job queued behind an autoscaling cluster spends part of it waiting)."""

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        cpus_per_trial: float = 1.0,
        gpus_per_trial: float = 0.0,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
            raise ValidationError("workers", f"must be a positive integer, got {workers!r}")
        self.address = address
        self.workers = workers or 0
        self.cpus_per_trial = float(cpus_per_trial)
        self.gpus_per_trial = float(gpus_per_trial)
        self.init_kwargs = dict(init_kwargs or {})
        self._refs: dict[Any, tuple[Job, float]] = {}
        self._owns_ray = False

    def start(self, objective: Objective) -> None:
        try:
            import ray
        except ImportError:
            raise ValidationError("ray", "Ray is not installed: pip install 'mixscale[ray]'") from None
        self._ray = ray
        os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False, **self.init_kwargs}
            try:
                ray.init(address=self.address, **kwargs)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise ValidationError("ray", f"cannot connect to Ray at {self.address!r}: {exc}") from None
            self._owns_ray = True
        if not self.workers:
            cpus = ray.cluster_resources().get("CPU", 1.0)
            self.workers = max(1, int(cpus // max(self.cpus_per_trial, 1e-9)))
        self._task = ray.remote(_run_in_ray).options(
            num_cpus=self.cpus_per_trial, num_gpus=self.gpus_per_trial, max_retries=0
        )
        self._objective = ray.put(objective)
        self._lost = (
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.OwnerDiedError,
            ray.exceptions.ObjectLostError,
            ray.exceptions.RaySystemError,
        )

    def submit(self, job: Job) -> None:
        ref = self._task.remote(self._objective, job)
        self._refs[ref] = (job, time.time())

    def running(self) -> int:
        return len(self._refs)

    def wait(self, timeout: float) -> list[Outcome]:
        if not self._refs:
            return []
        ray = self._ray
        deadline = min(
            [submitted + job.timeout for job, submitted in self._refs.values() if job.timeout is not None],
            default=math.inf,
        )
        wait_s = max(0.0, min(timeout, deadline - time.time()))
        done, _ = ray.wait(list(self._refs), num_returns=1, timeout=wait_s)
        if done:  # collect everything else that is already finished too
            done, _ = ray.wait(list(self._refs), num_returns=len(self._refs), timeout=0)
        out = []
        for ref in done:
            job, submitted = self._refs.pop(ref)
            fail = {"number": job.number, "attempt": job.attempt, "ok": False, "started": submitted}
            try:
                out.append(_outcome(ray.get(ref)))
            except self._lost as exc:
                out.append(
                    Outcome(
                        **fail,
                        kind="lost",
                        error=f"Ray worker lost: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                        finished=time.time(),
                    )
                )
            except Exception as exc:  # noqa: BLE001
                out.append(Outcome(**fail, kind="error", error=f"{type(exc).__name__}: {exc}", finished=time.time()))
        now = time.time()
        for ref, (job, submitted) in list(self._refs.items()):
            if job.timeout is not None and now - submitted > job.timeout:
                del self._refs[ref]
                ray.cancel(ref, force=True)
                out.append(
                    Outcome(
                        number=job.number,
                        attempt=job.attempt,
                        ok=False,
                        started=submitted,
                        kind="timeout",
                        error=f"timed out after {job.timeout:g} s; cancelled",
                        finished=now,
                    )
                )
        return sorted(out, key=lambda o: (o.finished, o.number))

    def shutdown(self) -> None:
        if not hasattr(self, "_ray"):
            return
        for ref in list(self._refs):
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        self._refs.clear()
        if self._owns_ray:
            self._ray.shutdown()
            self._owns_ray = False

    def describe(self) -> str:
        where = self.address or "local Ray"
        return f"RayExecutor({self.workers} workers on {where})"
