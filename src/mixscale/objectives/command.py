"""Your own training stack as an objective: run a command per trial, read its metrics from a file it writes.

.. code-block:: python

    from mixscale.objectives.command import CommandTrainer

    trainer = CommandTrainer(
        space,
        argv=["python", "train.py", "--mixture", "{mixture_file}", "--model", "{scale}", "--max-steps", "{steps}",
              "--seed", "{seed}", "--out", "{output_dir}"],
        metrics="metrics.json",            # written by the command into {output_dir}
        metric="val_loss",
        runs_dir="runs",
    )

Placeholders, replaced inside each argv element (``{{`` and ``}}`` give literal braces; any other ``{name}`` is an
error): ``{mixture_json}`` (the mixture as a JSON object), ``{mixture_file}`` (path of that JSON, written to the
run directory), ``{scale}``, ``{steps}``, ``{seed}``, ``{output_dir}`` (the run directory, absolute).

Safety: the command is an argv list run with ``shell=False``, so a value (a scale name, a path) is always one
argument and never interpreted by a shell: ``$(...)``, ``;``, ``|`` or backticks arrive verbatim. A single string
as ``argv`` is refused rather than split, because splitting is exactly where quoting bugs live.

Process ownership: a command dies with the trial that started it, whatever ends that trial. It runs in its own
process group (a launcher's children too), which is killed whole when the command times out, when it returns
(stragglers it left behind), when the evaluation is interrupted, and — through a small watchdog process per
command — when the process that started it dies by any means, SIGKILL included (the watchdog sees itself
re-parented and kills the group). The group id is written to ``<run dir>/pid.json`` while it runs; before another
attempt of the same trial starts, groups recorded by earlier attempts that are still alive are killed (verified
by their start time, so a recycled pid is never touched): what a watchdog could not catch is reaped on resume.

Metrics: a JSON file ``{"<metric>": value, "curve": [[step, value], ...]}`` (``"value"`` is accepted for the final
value; ``"curve"`` may also be a list of objects ``{"step": s, "<metric>": v}``), or a CSV file with columns
``step`` and ``<metric>``, one row per evaluation: the last row is the final value, all rows the learning curve.
A missing or unreadable file, a missing key, a non-zero exit code or a timeout raise :class:`TrainerError` with the
reason and the tail of stderr; under a study that is a failed trial that is retried. stdout and stderr of every run
are kept in the run directory (``stdout.log``, ``stderr.log``).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mixscale.errors import ValidationError
from mixscale.objective import CostSpec, Metric, Observation, make_cost
from mixscale.space import Config, Space

PLACEHOLDERS = ("mixture_json", "mixture_file", "scale", "steps", "seed", "output_dir")
_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


class TrainerError(RuntimeError):
    """A training command failed; the message says how (exit code, timeout, metrics) with the stderr tail."""


def _check_template(argv: Any) -> list[str]:
    if isinstance(argv, str):
        raise ValidationError(
            "argv", "must be a list of arguments, not one string: commands run without a shell, nothing is split"
        )
    if not isinstance(argv, Sequence) or not argv:
        raise ValidationError("argv", f"must be a non-empty list of strings, got {argv!r}")
    out = []
    for i, arg in enumerate(argv):
        if not isinstance(arg, str):
            raise ValidationError(f"argv[{i}]", f"must be a string, got {arg!r}")
        for m in _FIELD.finditer(arg):
            token = m.group(0)
            if token in ("{{", "}}"):
                continue
            if m.group(1) is None or m.group(1) not in PLACEHOLDERS:
                raise ValidationError(
                    f"argv[{i}]", f"unknown placeholder {token!r} in {arg!r} (known: {', '.join(PLACEHOLDERS)})"
                )
        out.append(arg)
    return out


def render(argv: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """Substitute placeholders in each element (by hand: ``str.format`` would also evaluate ``{x.attr}`` /
    ``{x[0]}``, which a template must not be able to do)."""

    def one(arg: str) -> str:
        def sub(m: re.Match) -> str:
            token = m.group(0)
            if token == "{{":
                return "{"
            if token == "}}":
                return "}"
            return values[m.group(1)]

        return _FIELD.sub(sub, arg)

    return [one(a) for a in argv]


class CommandTrainer:
    """An :class:`~mixscale.objective.Objective` that runs ``argv`` per query (see the module docstring).

    ``cost``: any :func:`~mixscale.objective.make_cost` specification (default: FLOPs from the space).
    ``timeout``: seconds per run (None: none). ``env``: extra environment variables. ``cwd``: working directory
    (default: the run directory). ``runs_dir``: where run directories are made (``<runs_dir>/<run name>``).
    """

    def __init__(
        self,
        space: Space,
        argv: Sequence[str],
        metrics: str = "metrics.json",
        metric: str = "loss",
        minimize: bool = True,
        cost: CostSpec = None,
        runs_dir: str | os.PathLike = "runs",
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike | None = None,
    ) -> None:
        self.space = space
        self.argv = _check_template(argv)
        if not isinstance(metrics, str) or not metrics.endswith((".json", ".csv")):
            raise ValidationError("metrics", f"must name a .json or .csv file, got {metrics!r}")
        if Path(metrics).is_absolute() or ".." in Path(metrics).parts:
            raise ValidationError("metrics", f"must be a path inside the run directory, got {metrics!r}")
        self.metrics = metrics
        if not isinstance(metric, str) or not metric or metric == "step":
            raise ValidationError("metric", f"must name the metric column/key, got {metric!r}")
        self.metric = Metric(metric, bool(minimize))
        self._cost = make_cost(space, cost)
        self.runs_dir = Path(runs_dir).resolve()
        if timeout is not None and not (isinstance(timeout, int | float) and timeout > 0):
            raise ValidationError("timeout", f"must be a positive number of seconds, got {timeout!r}")
        self.timeout = timeout
        self.env = {str(k): str(v) for k, v in (env or {}).items()}
        self.cwd = None if cwd is None else Path(cwd).resolve()

    def describe(self) -> dict[str, Any]:
        return {"type": "command", "argv": list(self.argv), "metrics": self.metrics, "timeout": self.timeout}

    def cost(self, scale: str, steps: int) -> float:
        return float(self._cost(scale, steps))

    def evaluate(self, config: Config, seed: int | None = None, run_name: str | None = None) -> Observation:
        self.space.validate_mixture(config.mixture)
        self.space.scale(config.scale)
        out = self._run_dir(run_name)
        mixture = {d: float(config.mixture[d]) for d in self.space.domains}
        mixture_json = json.dumps(mixture)
        (out / "mixture.json").write_text(mixture_json)
        values = {
            "mixture_json": mixture_json,
            "mixture_file": str(out / "mixture.json"),
            "scale": str(config.scale),
            "steps": str(int(config.steps)),
            "seed": str(0 if seed is None else int(seed)),
            "output_dir": str(out),
        }
        argv = render(self.argv, values)
        (out / "command.json").write_text(json.dumps({"argv": argv}, indent=1))
        reap(out.parent)  # earlier attempts of this trial (a driver killed mid-trial) must not run beside this one
        started = time.time()
        returncode = self._run(argv, out)
        elapsed = time.time() - started
        if returncode != 0:
            raise TrainerError(f"command exited with code {returncode}{_tail(out / 'stderr.log')}")
        value, curve = self._read_metrics(out, int(config.steps))
        info = {"output_dir": str(out), "returncode": returncode, "elapsed_s": round(elapsed, 3),
                "stdout": str(out / "stdout.log"), "stderr": str(out / "stderr.log")}  # fmt: skip
        return Observation(value, self.cost(config.scale, config.steps), curve, info)

    # ----------------------------------------------------------------- running
    def _run_dir(self, run_name: str | None) -> Path:
        name = run_name or f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        out = (self.runs_dir / name).resolve()
        if self.runs_dir not in out.parents:
            raise ValidationError("run_name", f"{run_name!r} leaves the runs directory")
        out.mkdir(parents=True, exist_ok=True)
        stale = out / self.metrics
        if stale.exists():  # a previous attempt's metrics must not pass for this one's
            stale.unlink()
        return out

    def _run(self, argv: list[str], out: Path) -> int:
        env = {**os.environ, **self.env, "MIXSCALE_RUN_DIR": str(out)}
        with open(out / "stdout.log", "wb") as so, open(out / "stderr.log", "wb") as se:
            try:
                proc = subprocess.Popen(
                    argv,
                    shell=False,
                    stdin=subprocess.DEVNULL,
                    stdout=so,
                    stderr=se,
                    cwd=str(self.cwd or out),
                    env=env,
                    start_new_session=True,  # its own process group, killed whole on timeout
                )
            except OSError as exc:
                raise TrainerError(f"cannot start {argv[0]!r}: {exc}") from None
            pidfile = out / PIDFILE
            pidfile.write_text(json.dumps({"pgid": proc.pid, "start": _start_time(proc.pid)}))
            watchdog = _watch(proc.pid)
            try:
                return proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                raise TrainerError(
                    f"command timed out after {self.timeout:g} s; killed{_tail(out / 'stderr.log')}"
                ) from None
            finally:
                _kill_group(proc)  # on timeout, interruption, and stragglers a finished launcher left behind
                if watchdog is not None:
                    watchdog.wait()  # it exits once the group is gone
                pidfile.unlink(missing_ok=True)

    # ----------------------------------------------------------------- metrics
    def _read_metrics(self, out: Path, steps: int) -> tuple[float, tuple[tuple[int, float], ...] | None]:
        path = out / self.metrics
        if not path.is_file():
            raise TrainerError(f"the command wrote no metrics file {path}{_tail(out / 'stderr.log')}")
        name = self.metric.name
        try:
            if path.suffix == ".json":
                data = json.loads(path.read_text())
                if not isinstance(data, dict):
                    raise TrainerError(f"{path}: expected a JSON object")
                raw = data.get(name, data.get("value"))
                if raw is None:
                    raise TrainerError(f"{path}: no key {name!r} (or 'value'); keys are {sorted(data)}")
                if isinstance(raw, bool) or not isinstance(raw, int | float):
                    raise TrainerError(f"{path}: {name} must be a number, got {raw!r}")
                curve = _curve(data.get("curve"), name, path)
                value = float(raw)
            else:
                with open(path, newline="") as fh:
                    rows = list(csv.DictReader(fh))
                if not rows or "step" not in rows[0] or name not in rows[0]:
                    raise TrainerError(f"{path}: need a header with 'step' and {name!r} and at least one row")
                curve = tuple((int(float(r["step"])), float(r[name])) for r in rows)
                value = curve[-1][1]
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            raise TrainerError(f"{path} is malformed: {exc}") from None
        if not math.isfinite(value):
            raise TrainerError(f"{path}: {name} is {value}")
        bad = [s for s, _ in curve or () if not 0 <= s <= steps]
        if bad:
            raise TrainerError(f"{path}: curve step {bad[0]} is outside the run's 0..{steps} steps")
        return value, curve


def _curve(raw: Any, name: str, path: Path) -> tuple[tuple[int, float], ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise TrainerError(f"{path}: 'curve' must be a list")
    points = []
    for p in raw:
        if isinstance(p, dict):
            points.append((int(p["step"]), float(p[name])))
        else:
            s, v = p
            points.append((int(s), float(v)))
    return tuple(points) or None


PIDFILE = "pid.json"

# The watchdog (run as `python -S -c`): polls; exits when the command's group is gone; kills the group when the
# process that started it (its parent) has died, i.e. it was re-parented. Polling getppid needs no cooperation
# from the dying process, so it also covers SIGKILL, which no handler sees.
_WATCHDOG = """
import os, signal, sys, time
group, owner = int(sys.argv[1]), int(sys.argv[2])
while True:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        sys.exit(0)
    except PermissionError:
        pass
    if os.getppid() != owner:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        sys.exit(0)
    time.sleep(0.1)
"""


def _watch(pgid: int) -> subprocess.Popen | None:
    """Start the watchdog of process group ``pgid`` (in its own session: a signal to our group spares it)."""
    try:
        return subprocess.Popen(
            [sys.executable, "-S", "-c", _WATCHDOG, str(pgid), str(os.getpid())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return None


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22): with the pid, it
    identifies a process even after pids are recycled. None where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]


def reap(trial_dir: Path, wait: float = 5.0) -> list[int]:
    """Kill the process groups that earlier attempts under ``trial_dir`` recorded and that are still alive (the
    same pid *and* start time); returns their ids."""
    killed = []
    for pidfile in sorted(trial_dir.glob(f"*/{PIDFILE}")):
        try:
            rec = json.loads(pidfile.read_text())
            pgid, start = int(rec["pgid"]), rec.get("start")
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if start is None or _start_time(pgid) != start:
            pidfile.unlink(missing_ok=True)  # long gone (or not verifiable): never signal a stranger
            continue
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        deadline = time.time() + wait
        while _start_time(pgid) == start and time.time() < deadline:
            time.sleep(0.05)
        pidfile.unlink(missing_ok=True)
        killed.append(pgid)
    return killed


def _tail(path: Path, n: int = 800) -> str:
    try:
        text = path.read_bytes()[-n:].decode(errors="replace").strip()
    except OSError:
        return ""
    return f"; stderr: ...{text}" if text else ""
