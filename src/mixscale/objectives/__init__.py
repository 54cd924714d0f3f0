"""The kinds of objective a study can optimize, and their factory from a study file's ``[objective]`` table.

* ``simulator`` — a built-in simulator (:mod:`mixscale.simulator`: analytic, fitted, replay);
* ``callable`` — any Python ``fn(mixture, scale, steps)`` (:mod:`mixscale.objectives.function`);
* ``command`` — your own training command, one process per trial (:mod:`mixscale.objectives.command`);
* ``train`` — mixscale's own GPT trainer on built corpora (:mod:`mixscale.objectives.training`).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from mixscale.errors import ValidationError
from mixscale.objective import Objective
from mixscale.objectives.function import FunctionObjective
from mixscale.space import Space

KINDS = ("simulator", "callable", "command", "train")


def from_table(obj: dict[str, Any], data: dict[str, Any], base: Path) -> Objective:
    """The objective an ``[objective]`` table describes; ``data`` is the whole file (its space keys), ``base`` the
    directory relative paths are resolved against."""
    kind = obj.get("type", "simulator")
    if kind == "simulator":
        return _simulator(obj, data)
    if kind == "callable":
        return _callable(obj, data)
    if kind == "command":
        return _command(obj, data, base)
    if kind == "train":
        return _training(obj, data, base)
    raise ValidationError("objective.type", f"must be 'simulator', 'callable', 'command' or 'train', got {kind!r}")


def space_from_table(data: dict[str, Any]) -> Space:
    """The :class:`Space` a study file's top-level keys describe (domains, scales, steps, target)."""
    for key in ("domains", "scales", "steps"):
        if key not in data:
            raise ValidationError(key, "missing")
    target = data.get("target")
    if target is not None:
        if not isinstance(target, dict) or set(target) != {"scale", "steps"}:
            raise ValidationError("target", "must be a table with exactly 'scale' and 'steps'")
        target = (target["scale"], target["steps"])
    if not isinstance(data["scales"], list):
        raise ValidationError("scales", "must be a list")
    return Space(data["domains"], data["scales"], data["steps"], target)


def _simulator(obj: dict[str, Any], data: dict[str, Any]) -> Objective:
    from mixscale import simulator

    extra = set(obj) - {"type", "name", "metric", "noise"}
    if extra:
        raise ValidationError(f"objective.{sorted(extra)[0]}", "unknown key for a simulator objective")
    if obj.get("name", "analytic") == "fitted" and (isinstance(obj.get("metric"), dict) or "pareto" in data):
        # several metrics (a weighted objective, or a Pareto study): the fitted simulator reporting all of them
        from mixscale.objectives.multimetric import MultiMetricSimulator

        return MultiMetricSimulator(obj.get("metric", "loss:avg"), noise=float(obj.get("noise", 1.0)))
    kwargs = {k: obj[k] for k in ("metric", "noise") if k in obj}
    if any(k in data for k in ("domains", "scales", "steps", "target")):
        if obj.get("name", "analytic") != "analytic":
            key = next(k for k in ("domains", "scales", "steps", "target") if k in data)
            raise ValidationError(key, f"the {obj['name']} simulator's space comes from its runs table; remove it")
        space = space_from_table(data)
        kwargs["scales"] = tuple(space.scales)
        kwargs["steps"] = space.steps
        sim = simulator.load(obj.get("name", "analytic"), **kwargs)
        if sim.space.domains != space.domains:
            raise ValidationError("domains", f"the simulator's domains are {list(sim.space.domains)}")
        if sim.space.target != space.target:
            raise ValidationError("target", "the analytic simulator's target is its largest scale and step")
        return sim
    return simulator.load(obj.get("name", "analytic"), **kwargs)


def resolve_callable(spec: Any, field_name: str = "objective.function"):
    """Import ``module:function`` (the user's own code, by their choice)."""
    if not isinstance(spec, str) or ":" not in spec:
        raise ValidationError(field_name, f"must be 'module:function', got {spec!r}")
    module, _, name = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValidationError(field_name, f"cannot import {spec!r}: {exc}") from None
    if not callable(fn):
        raise ValidationError(field_name, f"{spec!r} is not callable")
    return fn


def _callable(obj: dict[str, Any], data: dict[str, Any]) -> Objective:
    extra = set(obj) - {"type", "function", "cost", "minimize", "metric"}
    if extra:
        raise ValidationError(f"objective.{sorted(extra)[0]}", "unknown key for a callable objective")
    space = space_from_table(data)
    fn = resolve_callable(obj.get("function"))
    cost = obj.get("cost")
    if isinstance(cost, str):
        cost = resolve_callable(cost, "objective.cost")
    minimize = obj.get("minimize")  # default: the metric name's direction (loss* min, accuracy* max), else min
    if minimize is not None and not isinstance(minimize, bool):
        raise ValidationError("objective.minimize", "must be true or false")
    metric = obj.get("metric", "value")  # a name, or a table of weights (a weighted objective)
    return FunctionObjective(
        space, fn, cost=cost, minimize=minimize, metric=metric if isinstance(metric, dict) else str(metric)
    )


def _command(obj: dict[str, Any], data: dict[str, Any], base: Path) -> Objective:
    from mixscale.objectives.command import CommandTrainer

    keys = {"type", "argv", "metrics", "metric", "minimize", "cost", "timeout", "runs_dir", "env", "cwd"}
    extra = set(obj) - keys
    if extra:
        raise ValidationError(f"objective.{sorted(extra)[0]}", "unknown key for a command objective")
    if "argv" not in obj:
        raise ValidationError("objective.argv", "missing: the training command as a list of arguments")
    minimize = obj.get("minimize", True)
    if not isinstance(minimize, bool):
        raise ValidationError("objective.minimize", "must be true or false")
    env = obj.get("env", {})
    if not isinstance(env, dict):
        raise ValidationError("objective.env", "must be a table of environment variables")
    try:
        return CommandTrainer(
            space_from_table(data),
            obj["argv"],
            metrics=obj.get("metrics", "metrics.json"),
            metric=obj.get("metric", "loss"),
            minimize=minimize,
            cost=obj.get("cost"),
            runs_dir=base / str(obj.get("runs_dir", "runs")),
            timeout=obj.get("timeout"),
            env=env,
            cwd=None if obj.get("cwd") is None else base / str(obj["cwd"]),
        )
    except ValidationError as exc:
        if exc.field.startswith(("argv", "metric", "timeout")):
            raise ValidationError(f"objective.{exc.field}", exc.message) from None
        raise


def _training(obj: dict[str, Any], data: dict[str, Any], base: Path) -> Objective:
    from mixscale.objectives.training import TrainingObjective

    keys = {"type", "data", "metric", "runs_dir", "threads", "device", "batch_size", "context"}
    extra = set(obj) - keys
    if extra:
        raise ValidationError(f"objective.{sorted(extra)[0]}", "unknown key for a train objective")
    for key in ("scales", "steps"):
        if key not in data:
            raise ValidationError(key, "missing")
    if "domains" in data:
        raise ValidationError("domains", "a train objective takes its domains from the corpus (objective.data)")
    target = data.get("target")
    if target is not None:
        if not isinstance(target, dict) or set(target) != {"scale", "steps"}:
            raise ValidationError("target", "must be a table with exactly 'scale' and 'steps'")
        target = (target["scale"], target["steps"])
    return TrainingObjective(
        base / str(obj.get("data", "data/tokens")),
        data["scales"],
        data["steps"],
        metric=str(obj.get("metric", "loss:avg")),
        target=target,
        runs_dir=base / str(obj.get("runs_dir", "runs")),
        batch_size=int(obj.get("batch_size", 8)),
        context=int(obj.get("context", 64)),
        threads=int(obj.get("threads", 1)),
        device=str(obj.get("device", "cpu")),
    )
