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
as ``argv`` is refused rather than split, because splitting is exactly where quoting bugs live. The command runs
in its own process group, which is killed whole on timeout (a launcher's children too).

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
        started = time.time()
        returncode = self._run(argv, out)
        elapsed = time.time() - started
        if returncode != 0:
            raise TrainerError(f"command exited with code {returncode}{_tail(out / 'stderr.log')}")
        value, curve = self._read_metrics(out)
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
        env = {**os.environ, **self.env}
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
            try:
                return proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise TrainerError(
                    f"command timed out after {self.timeout:g} s; killed{_tail(out / 'stderr.log')}"
                ) from None
            except BaseException:
                _kill_group(proc)
                raise

    # ----------------------------------------------------------------- metrics
    def _read_metrics(self, out: Path) -> tuple[float, tuple[tuple[int, float], ...] | None]:
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


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _tail(path: Path, n: int = 800) -> str:
    try:
        text = path.read_bytes()[-n:].decode(errors="replace").strip()
    except OSError:
        return ""
    return f"; stderr: ...{text}" if text else ""
