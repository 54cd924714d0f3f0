"""Warm start: runs from earlier work enter a new study as history — told to the strategy, never charged.

Sources (``create_study(..., warm_start=[...])``, ``[warm_start]`` in study files, ``--warm-start``):

* a **runs table** (the schema of :mod:`mixscale.runs`: a ``.parquet`` / ``.csv`` path, a DataFrame, or
  ``{"runs": path}``): one warm run per ``run_id``, at its last evaluated step, with its learning curve;
* an **earlier study** (``{"storage": url, "study": name}``, or ``"sqlite:///old.db#name"``): its completed trials,
  with every metric they stored.

How a run is mapped onto the new study, and when it is skipped (each skip is reported with its reason):

* **Domains**: a domain of the new study that the old run lacks has weight 0 there. A domain the old run has and
  the new study lacks makes the run unusable — unless its weight there is 0.
* **Scales** are matched by name, else by ``(params, tokens_per_step)``; a scale matching neither is skipped.
  **Steps** need not be on the new step grid (the surrogates' fidelity features are continuous in log-steps).
* **Metrics**: the run must carry what the study optimizes (a metric, every metric of a weighted objective, every
  metric of a Pareto study); it keeps all it has.
* **Provenance**: when the tokenizer or a shared domain's corpus hash (``tokenizer_sha256``, ``corpus_sha256``
  columns) differs from the reference (``provenance=`` if given, else the most common among the warm runs), the run
  is used but flagged (``provenance_changed``); flagged runs are marked in the stored trials with a separate
  ``offset_group`` so that models can give them their own offset.

Used runs are stored as completed trials with ``source = "warm_start"``, cost 0 (their original cost is kept in
``info["warm_start"]``), before any new trial; the study's replay tells them to the strategy like any other
trial, and budgets and ``n_trials`` never count them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mixscale import runs as runs_table
from mixscale.errors import ValidationError
from mixscale.objective import Observation
from mixscale.space import Config, Space

SOURCE = "warm_start"
_W_TOL = 1e-9


@dataclass(frozen=True)
class WarmRun:
    """One earlier run, mapped onto the new study's domains and ladder."""

    config: Config
    observation: Observation  # cost 0: warm-start runs are never charged
    origin: str
    run_id: str
    original_cost: float | None
    provenance_changed: tuple[str, ...] = ()

    def info(self) -> dict[str, Any]:
        ws = {"origin": self.origin, "run_id": self.run_id, "original_cost": self.original_cost}
        if self.provenance_changed:
            ws["provenance_changed"] = list(self.provenance_changed)
            ws["offset_group"] = 1
        return {**dict(self.observation.info), "warm_start": ws}

    def marked(self) -> Observation:
        """The observation as a study's replay tells it: ``info["warm_start"]`` marks it as a warm-start run."""
        return dataclasses.replace(self.observation, info=self.info())


@dataclass(frozen=True)
class Skipped:
    origin: str
    run_id: str
    reason: str


@dataclass
class WarmStart:
    """The runs used and those skipped, with reasons."""

    used: list[WarmRun] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    #: Domains the new space lets vary that every used run leaves at 0 (``Space.uncovered_domains``): the runs say
    #: nothing about them.
    uncovered: list[str] = field(default_factory=list)

    def summary(self) -> str:
        flagged = sum(1 for r in self.used if r.provenance_changed)
        text = f"warm start: {len(self.used)} runs used, {len(self.skipped)} skipped"
        if flagged:
            text += f", {flagged} with changed provenance (own offset)"
        reasons = Counter(s.reason.split(":")[0] for s in self.skipped)
        if reasons:
            text += " (" + "; ".join(f"{n}× {r}" for r, n in reasons.most_common()) + ")"
        if self.uncovered:
            text += "; " + uncovered_note(self.uncovered)
        return text

    def to_dict(self, max_skipped: int = 200) -> dict[str, Any]:
        return {
            "sources": list(self.sources),
            "used": len(self.used),
            "provenance_changed": sum(1 for r in self.used if r.provenance_changed),
            "skipped": [{"origin": s.origin, "run_id": s.run_id, "reason": s.reason} for s in self.skipped][
                :max_skipped
            ],
            "n_skipped": len(self.skipped),
            "uncovered": list(self.uncovered),
        }


def uncovered_note(domains: Sequence[str]) -> str:
    """What a user should know when warm runs leave domains at 0 in every run (printed with the warm-start
    summary)."""
    names = ", ".join(domains)
    return (
        f"every warm run has {names} at 0, so they say nothing about {'it' if len(domains) == 1 else 'them'} "
        "(mfms first runs its own design over the whole simplex); on the fitted simulator (20 seeds) such warm starts "
        "ended worse than a cold start at the same new cost when latex or web was added and level with it (within seed "
        "noise) for qa, wikipedia and news (docs/metrics.md, 'Warm start: one domain added')"
    )


# ----------------------------------------------------------------------------- what the study needs
def value_function(objective, strategy_options: Mapping[str, Any] | None = None):
    """``(value(metrics) -> float, required metric names)`` for an objective (a metric or a scalarization) and, for
    a Pareto strategy, its metrics too."""
    scal = getattr(objective, "scalarization", None)
    required = list(scal.metrics) if scal is not None else [objective.metric.name]
    required += [m for m in (strategy_options or {}).get("metrics", []) or [] if m not in required]
    if scal is not None:
        return scal.value, required
    name = objective.metric.name
    return (lambda metrics: float(metrics[name])), required


# ----------------------------------------------------------------------------- sources
def parse_source(item: Any) -> tuple[str, Any]:
    """``("runs", DataFrame | path)`` or ``("study", (url, name))``."""
    if isinstance(item, pd.DataFrame):
        return "runs", item
    if isinstance(item, str | Path):
        text = str(item)
        if "://" in text:
            url, _, name = text.partition("#")
            return "study", (url, name or None)
        return "runs", text
    if isinstance(item, Mapping):
        if "runs" in item:
            return "runs", item["runs"]
        if "storage" in item:
            return "study", (str(item["storage"]), item.get("study") or item.get("name"))
    raise ValidationError("warm_start", f"expected a runs table path, a DataFrame or {{storage, study}}, got {item!r}")


def collect(
    sources: Sequence[Any],
    space: Space,
    value: Callable[[Mapping[str, float]], float],
    required: Sequence[str],
    provenance: Mapping[str, Any] | None = None,
) -> WarmStart:
    """Read every source and map its runs onto ``space`` (module docstring); nothing is written."""
    if isinstance(sources, str | Path | pd.DataFrame | Mapping):
        sources = [sources]
    out = WarmStart()
    candidates: list[dict[str, Any]] = []
    for i, item in enumerate(sources):
        kind, spec = parse_source(item)
        if kind == "runs":
            origin = f"runs:{spec}" if not isinstance(spec, pd.DataFrame) else f"runs:table[{i}]"
            candidates += _from_table(spec, origin)
        else:
            candidates += _from_study(*spec)
            origin = f"study:{spec[0]}#{spec[1] or ''}"
        out.sources.append(origin)
    reference = _reference(candidates, provenance)
    seen: set[tuple[str, str]] = set()
    for c in candidates:
        key = (c["origin"], c["run_id"])
        if key in seen:
            continue
        seen.add(key)
        run, reason = _map(c, space, value, required, reference)
        if run is None:
            out.skipped.append(Skipped(c["origin"], c["run_id"], reason))
        else:
            out.used.append(run)
    if out.used:  # (warm runs may lie outside the study's constraints: they are data, not proposals)
        W = np.array([[r.config.mixture[d] for d in space.domains] for r in out.used])
        out.uncovered = space.uncovered_domains(W)
    return out


def _from_table(spec, origin: str) -> list[dict[str, Any]]:
    df = runs_table.validate(spec) if isinstance(spec, pd.DataFrame) else runs_table.read(spec)
    wcols, mcols = runs_table.weight_columns(df), runs_table.metric_columns(df)
    out = []
    for run_id, g in df.sort_values("step").groupby("run_id", sort=True):
        last = g.iloc[-1]
        out.append(
            {
                "origin": origin,
                "run_id": str(run_id),
                "mixture": {c[2:]: float(last[c]) for c in wcols},
                "scale": str(last["scale"]),
                "params": float(last["params"]),
                "tokens_per_step": float(last["tokens_per_step"]),
                "steps": int(last["step"]),
                "metrics": {m: float(last[m]) for m in mcols if np.isfinite(last[m])},
                "curves": {m: [(int(s), float(v)) for s, v in zip(g["step"], g[m], strict=True)] for m in mcols},
                "tokenizer": str(last["tokenizer_sha256"]) if "tokenizer_sha256" in g else None,
                "corpus": _corpus(last["corpus_sha256"]) if "corpus_sha256" in g else None,
                "original_cost": None,
            }
        )
    return out


def _corpus(text: Any) -> dict[str, str] | None:
    try:
        d = json.loads(text) if isinstance(text, str) else dict(text)
        return {str(k): str(v) for k, v in d.items()}
    except (TypeError, ValueError):
        return None


def _from_study(url: str, name: str | None) -> list[dict[str, Any]]:
    from mixscale.study.study import load_study

    study = load_study(name, url)
    origin = f"study:{url}#{study.name}"
    out = []
    for t in study.trials:
        if t.state != "complete":
            continue
        info = dict(t.info or {})
        metrics = dict(info.get("metrics") or {})
        metrics.setdefault(study.metric.name, t.value)
        curves = {k: [tuple(p) for p in v] for k, v in (info.get("metric_curves") or {}).items()}
        if t.curve:
            curves.setdefault(study.metric.name, list(t.curve))
        earlier = info.get("warm_start") or {}
        scale = study.space.scale(t.config.scale)
        out.append(
            {
                "origin": earlier.get("origin", origin),
                "run_id": str(earlier.get("run_id", t.number)),
                "mixture": dict(t.config.mixture),
                "scale": t.config.scale,
                "params": scale.params,
                "tokens_per_step": scale.tokens_per_step,
                "steps": int(t.config.steps),
                "metrics": metrics,
                "curves": curves,
                "tokenizer": (info.get("provenance") or {}).get("tokenizer_sha256"),
                "corpus": (info.get("provenance") or {}).get("corpus_sha256"),
                "original_cost": earlier.get("original_cost", t.cost),
            }
        )
    return out


def _reference(candidates: list[dict[str, Any]], provenance: Mapping[str, Any] | None) -> dict[str, Any]:
    if provenance:
        return {"tokenizer": provenance.get("tokenizer_sha256"), "corpus": _corpus(provenance.get("corpus_sha256"))}
    toks = Counter(c["tokenizer"] for c in candidates if c["tokenizer"])
    corpus: dict[str, str] = {}
    for d in {d for c in candidates if c["corpus"] for d in c["corpus"]}:
        hashes = Counter(c["corpus"][d] for c in candidates if c["corpus"] and d in c["corpus"])
        corpus[d] = hashes.most_common(1)[0][0]
    return {"tokenizer": toks.most_common(1)[0][0] if toks else None, "corpus": corpus}


def _map(c, space: Space, value, required, reference) -> tuple[WarmRun | None, str]:
    domains = set(space.domains)
    for d, w in c["mixture"].items():
        if d not in domains and w > _W_TOL:
            return None, f"domain not in this study: {d!r} has weight {w:.3g} in this run"
    scale = _match_scale(c, space)
    if scale is None:
        return None, (
            f"scale not on this study's ladder: {c['scale']!r} ({c['params']:.4g} params × "
            f"{c['tokens_per_step']:.4g} tokens/step)"
        )
    missing = [m for m in required if m not in c["metrics"] or not math.isfinite(c["metrics"][m])]
    if missing:
        return None, f"metric missing: {missing[0]!r}"
    w = np.array([float(c["mixture"].get(d, 0.0)) for d in space.domains])
    if w.sum() <= 0:
        return None, "mixture empty: no weight on this study's domains"
    w = w / w.sum()
    curve = _curve(c["curves"], required, value)
    obs = Observation(float(value(c["metrics"])), 0.0, curve, metrics=c["metrics"], curves=c["curves"])
    changed = []
    if reference["tokenizer"] and c["tokenizer"] and c["tokenizer"] != reference["tokenizer"]:
        changed.append("tokenizer_sha256")
    if reference["corpus"] and c["corpus"]:
        diff = [
            d
            for d in space.domains
            if d in c["corpus"] and d in reference["corpus"] and c["corpus"][d] != reference["corpus"][d]
        ]
        changed += [f"corpus_sha256:{d}" for d in diff]
    config = Config(space.mixture_dict(w), scale, int(c["steps"]))
    return WarmRun(config, obs, c["origin"], c["run_id"], c["original_cost"], tuple(changed)), ""


def _match_scale(c, space: Space) -> str | None:
    if c["scale"] in space.scale_names:
        return c["scale"]
    for s in space.scales:
        if s.params and s.tokens_per_step and c["params"] and c["tokens_per_step"]:
            if math.isclose(s.params, c["params"], rel_tol=1e-6) and math.isclose(
                s.tokens_per_step, c["tokens_per_step"], rel_tol=1e-6
            ):
                return s.name
    return None


def _curve(curves, required, value) -> tuple[tuple[int, float], ...] | None:
    """The optimized value's learning curve, at the steps every required metric's curve shares."""
    if not all(m in curves and curves[m] for m in required):
        return None
    by = {m: dict((int(s), float(v)) for s, v in curves[m]) for m in required}
    steps = sorted(set.intersection(*(set(b) for b in by.values())))
    pts = []
    for s in steps:
        point = {m: by[m][s] for m in required}
        if all(math.isfinite(v) for v in point.values()):
            pts.append((s, float(value(point))))
    return tuple(pts) if len(pts) >= 2 else None


# ----------------------------------------------------------------------------- storing
def store(study, warm: WarmStart) -> int:
    """Insert the used runs as completed, uncharged ``warm_start`` trials (one transaction); returns how many."""
    from mixscale.study.schema import TrialRow

    if not warm.used:
        return 0
    study._acquire()
    try:
        with study.storage.write(study._id, study._driver) as (s, row):
            now = time.time()
            start = len(study.storage.trials(study._id))
            for i, run in enumerate(warm.used):
                obs = run.observation
                s.add(
                    TrialRow(
                        study_id=study._id,
                        number=start + i,
                        state="complete",
                        source=SOURCE,
                        mixture=dict(run.config.mixture),
                        scale=run.config.scale,
                        steps=int(run.config.steps),
                        eval_seed=-1,
                        value=float(obs.value),
                        curve=[[int(z), float(v)] for z, v in obs.curve] if obs.curve else None,
                        cost=0.0,
                        info=json.loads(json.dumps(run.info(), default=str)),
                        ask_seq=study.storage.next_seq(row),
                        end_seq=study.storage.next_seq(row),
                        attempts=0,
                        failures=0,
                        created_at=now,
                        finished_at=now,
                    )
                )
    finally:
        study.release()
    return len(warm.used)


def apply(study, objective, warm: WarmStart) -> None:
    """Store the used runs, then the strategy's first recommendation from them alone (before any new run)."""
    from mixscale.study.schema import RecommendationRow

    if not store(study, warm):
        return
    study._acquire()
    try:
        rec = study._replay(objective).recommend()
        with study.storage.write(study._id, study._driver) as (s, row):
            s.add(
                RecommendationRow(
                    study_id=study._id,
                    seq=study.storage.next_seq(row),
                    n_complete=len(warm.used),
                    spent=0.0,
                    mixture=dict(rec.mixture),
                    value=rec.value,
                    std=rec.std,
                    source=f"{rec.source} (warm start only)",
                    created_at=time.time(),
                )
            )
    finally:
        study.release()
