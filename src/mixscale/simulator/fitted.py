"""The simulator fitted to real pre-training runs — mixscale's default benchmark objective.

`FittedSimulator(runs)` fits a regression model (`mixscale.simulator.regression`: the family chosen by cross-validation
by run, scored on R² and Spearman at the largest scale; the choice is stored) from a runs table and answers any
(w, m, z) on the table's ladder in milliseconds:

* the space: the table's domains, its scales (with their N and tokens per step, so cost is FLOPs), and a step grid
  of ¼, ½ and all of the target scale's schedule (only the full schedule if its runs have one evaluation each)
  plus every other scale's own schedule length; the target is the largest scale at its full schedule;
* schedules: each scale keeps its own (the mode of its runs' ``max_steps``, S_m). A query (m, z) with z ≤ S_m is
  step z of a run on S_m's schedule; z > S_m is a longer run whose schedule ends at z (D / D_max = 1);
* `evaluate`: the model's learning curve at the table's evaluation steps up to z, plus **seed noise** — one
  offset per run drawn from N(0, σ(N)²) with σ(N) fitted (log-linear in N) to the spread of the replicate runs
  (same mixture and scale, different seeds), and a small independent jitter per curve point;
* `target_value`: the noise-free model at the target, from which regret is scored.

`ReplaySimulator(runs)` answers only configurations that were actually run (a mixture of the table, at one of its
scales and evaluation steps) with the recorded values — for checking a strategy against raw data, no model.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mixscale import runs as runs_table
from mixscale.errors import ValidationError
from mixscale.objective import Metric, Observation, dense_optimum
from mixscale.simulator import regression as fitting
from mixscale.space import Config, Scale, Space

SHIPPED = "runs.parquet"
#: folds of the automatic selection (`mixscale simulator fit` defaults to 5 and stores its choice for reuse)
SELECTION_FOLDS = 3


def shipped_runs_path() -> Path:
    return Path(str(resources.files("mixscale.simulator").joinpath("data", SHIPPED)))


def load_runs(runs: str | Path | pd.DataFrame | None) -> pd.DataFrame:
    """A validated runs table: the shipped one (None), a DataFrame, or a .parquet / .csv path."""
    if runs is None:
        return runs_table.read(shipped_runs_path())
    if isinstance(runs, pd.DataFrame):
        return runs_table.validate(runs)
    return runs_table.read(runs)


def seed_noise(df: pd.DataFrame, metric: str) -> tuple[float, float]:
    """(a, b) of σ(N) = exp(a + b·log N), fitted to the seed spread of replicated final values per scale.

    Replicates are runs with the same scale and mixture; per scale σ is the pooled within-group standard deviation.
    With replicates at one scale only, b = 0; with none, σ = 0.
    """
    final = df[df["step"] == df["max_steps"]]
    wcols = runs_table.weight_columns(df)
    key = final[wcols].round(5).astype(str).agg("|".join, axis=1)
    logn, logsd = [], []
    for _, g in final.assign(_key=key).groupby("scale"):
        groups = [x[metric].to_numpy() for _, x in g.groupby("_key") if len(x) >= 2]
        dof = sum(len(x) - 1 for x in groups)
        if dof:
            pooled = np.sqrt(sum(((x - x.mean()) ** 2).sum() for x in groups) / dof)
            logn.append(np.log(g["params"].iloc[0]))
            logsd.append(np.log(max(pooled, 1e-6)))
    if not logn:
        return float("-inf"), 0.0
    if len(logn) == 1:
        return logsd[0], 0.0
    b, a = np.polyfit(logn, logsd, 1)
    return float(a), float(b)


def schedules(df: pd.DataFrame) -> dict[str, int]:
    """Each scale's schedule length: the most common ``max_steps`` of its runs."""
    return {str(s): int(g.mode().iloc[0]) for s, g in df.groupby("scale")["max_steps"]}


def _space_of(df: pd.DataFrame) -> tuple[Space, dict[str, int], dict[str, np.ndarray]]:
    domains = tuple(c[2:] for c in runs_table.weight_columns(df))
    by_scale = df.groupby("scale")[["params", "tokens_per_step"]].first().sort_values("params")
    scales = tuple(Scale(name, float(r.params), float(r.tokens_per_step)) for name, r in by_scale.iterrows())
    sched = schedules(df)
    eval_steps = {
        s: np.sort(df.loc[(df["scale"] == s) & (df["max_steps"] == sched[s]), "step"].unique()) for s in sched
    }
    target = scales[-1].name
    top, steps_top = sched[target], eval_steps[target]

    def nearest(z: float) -> int:
        return int(steps_top[np.argmin(np.abs(steps_top - z))])

    steps = tuple(sorted({nearest(top / 4), nearest(top / 2), top, *sched.values()}))
    return Space(domains, scales, steps, target=(target, top)), sched, eval_steps


class FittedSimulator:
    """A benchmark objective fitted to a runs table (default: the runs shipped with mixscale)."""

    def __init__(
        self,
        metric: str = "loss:avg",
        runs: str | Path | pd.DataFrame | None = None,
        method: str = "auto",
        noise: float = 1.0,
    ) -> None:
        self.table = load_runs(runs)
        self.metrics = runs_table.metric_columns(self.table)
        if metric not in self.metrics:
            raise ValidationError("metric", f"{metric!r} is not in the runs table (metrics: {self.metrics})")
        if method != "auto" and not fitting.is_method(method):
            raise ValidationError("method", f"must be 'auto' or one of {list(fitting.METHODS)}, got {method!r}")
        if not (noise >= 0):
            raise ValidationError("noise", "must be >= 0")
        self.metric = Metric(metric, minimize=not metric.startswith("accuracy"))
        self.space, self.schedules, self.eval_steps = _space_of(self.table)
        self.unit = runs_table.unit_of(self.table)
        self.noise = float(noise)
        self.method = method
        self._noise_ab = seed_noise(self.table, metric)
        self._max_steps = max(self.space.steps)
        self._optimum: tuple[np.ndarray, float] | None = None

    # ------------------------------------------------------------------ the fitted model
    @cached_property
    def fingerprint(self) -> str:
        return fingerprint(self.table)

    @cached_property
    def chosen_method(self) -> str:
        if self.method != "auto":
            return self.method
        name = f"choice-{self.fingerprint}.json"
        found = _stored(name)
        if found is not None:
            return json.loads(found.read_text())["method"]
        best, scores, _ = fitting.choose(self.table, folds=SELECTION_FOLDS)
        store_choice(self.fingerprint, best, scores)
        return best

    @cached_property
    def model(self):
        X, Y = fitting.table_features(self.table), self.table[self.metrics].to_numpy(float)
        method = self.chosen_method
        k = len(self.space.domains)
        if method == "mlp":  # the MLP ensemble takes ~10 s to train: cache its weights per table
            name = f"mlp-{self.fingerprint}.pt"
            path = _stored(name)
            model = fitting.make_model("mlp", k)
            if path is not None:
                return model.load_state(X, Y, torch.load(path, weights_only=True))
            model.fit(X, Y)
            buffer = io.BytesIO()
            torch.save(model.state(), buffer)
            _store(name, buffer.getvalue())
            return model
        return fitting.make_model(method, k).fit(X, Y)

    def predict(self, mixtures: np.ndarray, scale: str, steps) -> np.ndarray:
        """Noise-free predictions of all metrics, shape (len(steps) or 1, n, n_metrics)."""
        s = self.space.scale(scale)
        W = np.atleast_2d(mixtures)
        out = []
        schedule = self.schedules[scale]
        for z in np.atleast_1d(steps):
            X = fitting.features(W, s.params, z * s.tokens_per_step, max(z, schedule) * s.tokens_per_step)
            out.append(self.model.predict(X))
        return np.stack(out)

    def _metric(self, pred: np.ndarray) -> np.ndarray:
        return pred[..., self.metrics.index(self.metric.name)]

    # ------------------------------------------------------------------ the Objective protocol
    def cost(self, scale: str, steps: int) -> float:
        return self.space.cost(scale, steps)

    def sigma(self, scale: str) -> float:
        a, b = self._noise_ab
        return self.noise * float(np.exp(a + b * np.log(self.space.scale(scale).params)))

    def evaluate(self, config: Config, seed: int | None = None) -> Observation:
        w = self.space.validate_mixture(config.mixture)
        z = int(config.steps)
        if z > self._max_steps:
            raise ValidationError("steps", f"{z} exceeds the longest schedule length in the runs, {self._max_steps}")
        own = self.eval_steps[config.scale] if z <= self.schedules[config.scale] else []
        points = [int(t) for t in own if t <= z] or [z]
        if points[-1] != z:
            points.append(z)
        values = self._metric(self.predict(w, config.scale, points))[:, 0]
        rng = np.random.default_rng(seed)
        sigma = self.sigma(config.scale)
        values = values + sigma * rng.standard_normal() + 0.25 * sigma * rng.standard_normal(len(points))
        curve = tuple((int(t), float(v)) for t, v in zip(points, values, strict=True))
        return Observation(float(values[-1]), self.cost(config.scale, z), curve)

    def value_at(self, mixtures: np.ndarray, scale: str, steps: int) -> np.ndarray:
        return self._metric(self.predict(mixtures, scale, [steps]))[0]

    def target_value(self, mixtures: np.ndarray) -> np.ndarray:
        scale, steps = self.space.target
        return self.value_at(mixtures, scale, steps)

    def optimum(self) -> tuple[np.ndarray, float]:
        if self._optimum is None:
            self._optimum = dense_optimum(self, n=20000)
        return self._optimum


def fingerprint(df: pd.DataFrame) -> str:
    """A hash of a runs table's runs, steps, mixtures and metrics: the key of its stored fit artifacts."""
    cols = ["run_id", "step", *runs_table.weight_columns(df), *runs_table.metric_columns(df)]
    return hashlib.sha256(df[cols].round(8).to_csv(index=False).encode()).hexdigest()[:16]


def store_choice(key: str, method: str, scores: dict[str, float]) -> None:
    """Store a table's chosen family (and every family's selection score) for `FittedSimulator(method="auto")`."""
    _store(f"choice-{key}.json", json.dumps({"method": method, "scores": scores}).encode())


def select_score(df: pd.DataFrame, method: str) -> float:
    """Model-selection score of one method (`regression.selection_score`, 5 folds by run)."""
    return fitting.selection_score(fitting.score_table(fitting.cross_validate(df, method)))


def _cache_dir() -> Path:
    return Path.home() / ".cache" / "mixscale" / "simulator"


def _stored(name: str) -> Path | None:
    """A fit artifact, from the package (shipped for the shipped runs) or the user's cache; None if neither."""
    for folder in (shipped_runs_path().parent, _cache_dir()):
        if (folder / name).is_file():
            return folder / name
    return None


def _store(name: str, data: bytes) -> None:
    """Write to the user cache atomically (parallel benchmark workers may race to write the same file)."""
    d = _cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f"{name}.{os.getpid()}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, d / name)


class ReplaySimulator:
    """Answers only what was run: the recorded metric of a table mixture at one of its scales and eval steps."""

    def __init__(self, metric: str = "loss:avg", runs: str | Path | pd.DataFrame | None = None):
        self.table = load_runs(runs)
        metrics = runs_table.metric_columns(self.table)
        if metric not in metrics:
            raise ValidationError("metric", f"{metric!r} is not in the runs table (metrics: {metrics})")
        self.metric = Metric(metric, minimize=not metric.startswith("accuracy"))
        self.space, _, self.eval_steps = _space_of(self.table)
        self._wcols = runs_table.weight_columns(self.table)

    def mixtures(self, scale: str | None = None) -> np.ndarray:
        """The distinct mixtures that were run (at `scale`, if given)."""
        t = self.table if scale is None else self.table[self.table["scale"] == scale]
        return np.unique(t[self._wcols].round(6).to_numpy(), axis=0)

    def cost(self, scale: str, steps: int) -> float:
        return self.space.cost(scale, steps)

    def evaluate(self, config: Config, seed: int | None = None) -> Observation:
        w = self.space.validate_mixture(config.mixture)
        t = self.table[(self.table["scale"] == config.scale)]
        match = np.abs(t[self._wcols].to_numpy() - w).max(axis=1) < 1e-4
        runs = sorted(t.loc[match, "run_id"].unique())
        if not runs:
            raise ValidationError("mixture", f"replay: no run of this mixture at scale {config.scale!r}")
        run = runs[0] if seed is None else runs[seed % len(runs)]
        curve_rows = t[(t["run_id"] == run) & (t["step"] <= config.steps)].sort_values("step")
        if curve_rows.empty or curve_rows["step"].iloc[-1] != config.steps:
            raise ValidationError("steps", f"replay: run {run} has no evaluation at step {config.steps}")
        curve = tuple((int(s), float(v)) for s, v in zip(curve_rows["step"], curve_rows[self.metric.name], strict=True))
        return Observation(curve[-1][1], self.cost(config.scale, config.steps), curve, {"run_id": run})
