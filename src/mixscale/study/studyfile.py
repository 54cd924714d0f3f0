"""Study files (TOML or YAML) for ``mixscale optimize``: parsed and validated at the boundary.

.. code-block:: toml

    name = "my-study"          # optional: the study's name in --storage (default: the file's stem)
    strategy = "mfms"          # any registry name
    budget = 5.0               # target-run units
    seed = 0
    max_failures = 3           # optional: stop after this many trials in a row failed (failure policy)
    domains = ["web", "code", "books"]
    steps = [1000, 2000, 4000]
    target = { scale = "large", steps = 4000 }

    [[scales]]                 # small to large; params / tokens_per_step optional if the objective has a cost
    name = "small"
    params = 1e7
    tokens_per_step = 65536

    [objective]                # built-in simulator ...
    type = "simulator"
    name = "analytic"
    metric = "loss:avg"
    # ... or any callable fn(mixture, scale, steps) -> float:
    # type = "callable"; function = "my_module:evaluate"; minimize = true
    # cost = { small = 1.0, large = 10.0 }   # optional per-step costs
    # ... or your own training command, run per trial without a shell (mixscale.objectives.command):
    # type = "command"; argv = ["python", "train.py", "--mix", "{mixture_file}", "--steps", "{steps}",
    #                           "--out", "{output_dir}"]
    # metrics = "metrics.json"; metric = "val_loss"; timeout = 3600; runs_dir = "runs"; env = { A = "1" }
    # ... or mixscale's own GPT trainer on the built corpora (mixscale.objectives.training):
    # type = "train"; data = "data/tokens"; metric = "loss:avg"; scales = ["13k", "57k", "100k"]
    # (with type = "train" the domains come from the corpus and `scales` names ladder rungs; see examples/)

    [constraints]              # optional: the feasible mixtures (see mixscale.constraints)
    bounds = { books = [0, 0.3] }          # per-domain [min, max]
    fixed = { code = 0.1 }                 # weights already decided
    tokens = { books = 4e9 }               # unique tokens available per domain ...
    max_epochs = 2                         # ... times the epochs allowed (a number or per domain) ...
    target_tokens = 1e11                   # ... over the target run's tokens (default: tokens_per_step x steps)
    linear = ["web + code >= 0.5"]         # general linear constraints (or {weights = {...}, min/max = ...})

    [strategy_options]         # passed to the strategy

    # Several metrics: `metric` may be a weight table (a weighted objective, e.g. metric = { "loss:code" = 0.5,
    # "loss:books" = 0.5 }), or the study searches a Pareto front (the `pareto` strategy):
    # pareto = ["loss:code", "loss:books"]

    [warm_start]               # optional: earlier runs told to the strategy first, never charged
    runs = ["data/sweep/runs.parquet"]                          # runs tables (paths relative to this file)
    studies = [{ storage = "sqlite:///old.db", study = "old" }] # earlier studies

    [[initial]]                # optional: runs to make first (e.g. the mixture in production today)
    mixture = { web = 0.6, code = 0.2, books = 0.2 }
    scale = "small"            # default: the target scale
    steps = 1000               # default: the target steps
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixscale import objectives, strategies
from mixscale.errors import ValidationError
from mixscale.objective import Objective, check_budget
from mixscale.space import Config, Space
from mixscale.study.study import check_name
from mixscale.study.trial import MAX_FAILURES

KNOWN_KEYS = {
    "strategy",
    "budget",
    "seed",
    "domains",
    "scales",
    "steps",
    "target",
    "objective",
    "strategy_options",
    "initial",
    "name",
    "pareto",
    "warm_start",
    "constraints",
    "max_failures",
}
CONSTRAINT_KEYS = ("bounds", "fixed", "tokens", "max_epochs", "linear", "target_tokens")


@dataclass
class StudySpec:
    """What a study file says: the objective, strategy, budget, seed, options, initial runs and name."""

    objective: Objective
    strategy: str
    budget: float
    seed: int = 0
    strategy_options: dict[str, Any] = field(default_factory=dict)
    initial: list[Config] = field(default_factory=list)
    name: str | None = None
    #: The ``[objective]`` table as written: stored with a persistent study.
    description: dict[str, Any] = field(default_factory=dict)
    #: Warm-start sources (runs-table paths, ``{storage, study}`` tables), see :mod:`mixscale.study.warm_start`.
    warm_start: list[Any] = field(default_factory=list)
    #: Stop after this many trials in a row failed (:data:`mixscale.study.trial.MAX_FAILURES` by default).
    max_failures: int = MAX_FAILURES


def read(path: str | Path) -> dict[str, Any]:
    """Parse a ``.toml`` / ``.yaml`` / ``.yml`` file into a mapping (no code is executed)."""
    p = Path(path)
    if not p.is_file():
        raise ValidationError("config", f"no such file: {p}")
    text = p.read_text()
    try:
        if p.suffix == ".toml":
            data = tomllib.loads(text)
        elif p.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            raise ValidationError("config", f"{p.name}: use a .toml, .yaml or .yml file")
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError("config", f"{p.name} is not valid: {exc}") from None
    except Exception as exc:  # yaml.YAMLError
        raise ValidationError("config", f"{p.name} is not valid: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError("config", "the file must hold a mapping at top level")
    return data


def load(path: str | Path) -> StudySpec:
    """A validated :class:`StudySpec` from a study file (relative paths in it are relative to the file)."""
    return parse(read(path), base=Path(path).resolve().parent)


def parse(data: dict[str, Any], base: Path | None = None) -> StudySpec:
    unknown = set(data) - KNOWN_KEYS
    if unknown:
        raise ValidationError(sorted(unknown)[0], f"unknown key (known: {', '.join(sorted(KNOWN_KEYS))})")
    obj = data.get("objective")
    if not isinstance(obj, dict):
        raise ValidationError("objective", "missing [objective] table")
    objective = objectives.from_table(obj, data, base or Path.cwd())
    if data.get("constraints") is not None:
        objective = _constrained(objective, data["constraints"])
    strategy = data.get("strategy", strategies.DEFAULT)
    if strategy not in strategies.REGISTRY:
        raise ValidationError("strategy", f"unknown strategy {strategy!r} (known: {', '.join(strategies.REGISTRY)})")
    budget = check_budget(data.get("budget"))
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValidationError("seed", f"must be a non-negative integer, got {seed!r}")
    options = data.get("strategy_options", {})
    if not isinstance(options, dict):
        raise ValidationError("strategy_options", "must be a table")
    initial = _initial(data.get("initial", []), objective.space)
    name = data.get("name")
    if name is not None:
        check_name(name)
    max_failures = data.get("max_failures", MAX_FAILURES)
    if not isinstance(max_failures, int) or isinstance(max_failures, bool) or max_failures < 1:
        raise ValidationError("max_failures", f"must be a positive integer, got {max_failures!r}")
    if "pareto" in data:
        metrics = data["pareto"]
        if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
            raise ValidationError("pareto", f"must be a list of 2 to 4 metric names, got {metrics!r}")
        if data.get("strategy", "pareto") != "pareto":
            raise ValidationError("strategy", "a study with `pareto` metrics uses the 'pareto' strategy")
        strategy, options = "pareto", {**options, "metrics": list(metrics)}
    warm = _warm_start(data.get("warm_start", []), base or Path.cwd())
    spec = StudySpec(objective, strategy, float(budget), seed, options, initial, name, dict(obj))
    spec.warm_start = warm
    spec.max_failures = max_failures
    return spec


def _warm_start(items: Any, base: Path) -> list[Any]:
    """``[warm_start]`` as a table (``runs = [...]``, ``studies = [{storage, study}]``) or a list of sources."""
    if isinstance(items, dict):
        extra = set(items) - {"runs", "studies"}
        if extra:
            raise ValidationError(f"warm_start.{sorted(extra)[0]}", "unknown key (known: runs, studies)")
        runs, studies = items.get("runs", []), items.get("studies", [])
        runs = [runs] if isinstance(runs, str) else runs
        if not isinstance(runs, list) or not isinstance(studies, list):
            raise ValidationError("warm_start", "runs and studies must be lists")
        items = [*runs, *studies]
    if not isinstance(items, list):
        raise ValidationError("warm_start", "must be a table (runs, studies) or a list of sources")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str) and "://" not in item:
            out.append(str((base / item).resolve()) if not Path(item).is_absolute() else item)
        elif isinstance(item, str | dict):
            out.append(item)
        else:
            raise ValidationError(f"warm_start[{i}]", f"expected a runs table path or {{storage, study}}, got {item!r}")
    return out


def _constrained(objective: Objective, table: Any) -> Objective:
    """The objective restricted by the ``[constraints]`` table (errors name ``constraints.<field>``)."""
    from mixscale.objectives.constrained import ConstrainedObjective

    if not isinstance(table, dict):
        raise ValidationError("constraints", "must be a table")
    extra = set(table) - set(CONSTRAINT_KEYS)
    if extra:
        raise ValidationError(f"constraints.{sorted(extra)[0]}", f"unknown key (known: {', '.join(CONSTRAINT_KEYS)})")
    try:
        return ConstrainedObjective(objective, **table)
    except ValidationError as exc:
        field_name = exc.field if exc.field == "constraints" else f"constraints.{exc.field}"
        raise ValidationError(field_name, exc.message) from None


def _initial(items: Any, space: Space) -> list[Config]:
    if not isinstance(items, list):
        raise ValidationError("initial", "must be a list of tables")
    configs = []
    for i, item in enumerate(items):
        name = f"initial[{i}]"
        if not isinstance(item, dict) or "mixture" not in item:
            raise ValidationError(name, "must be a table with a 'mixture'")
        extra = set(item) - {"mixture", "scale", "steps"}
        if extra:
            raise ValidationError(f"{name}.{sorted(extra)[0]}", "unknown key")
        w = space.validate_mixture(item["mixture"], f"{name}.mixture")
        scale = item.get("scale", space.target[0])
        if scale not in space.scale_names:
            raise ValidationError(f"{name}.scale", f"{scale!r} is not one of {list(space.scale_names)}")
        steps = item.get("steps", space.target[1])
        if not isinstance(steps, int) or isinstance(steps, bool) or steps <= 0:
            raise ValidationError(f"{name}.steps", f"must be a positive integer, got {steps!r}")
        configs.append(Config(space.mixture_dict(w), scale, steps))
    return configs
