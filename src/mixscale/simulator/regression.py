r"""Regression from a runs table: (mixture w, scale N, tokens D) → every metric, and its cross-validated choice.

Features: x = [w_1 … w_k, log N, log D, D / D_max] where D = step · tokens_per_step and D_max the tokens of the
run's own schedule (``max_steps`` · ``tokens_per_step``), so scales — or runs — with different schedules share one
table. The families live in `mixscale.simulator.families` (``poly``, ``mlp``, ``gbm``, ``mixlaw``, ``gp``);
a name ``a+b`` is the mean of two families' predictions (an ensemble).

`cross_validate`: K folds that hold out whole runs, so no curve point of a held-out run is seen in training.
`score_table`: held-out R² and Spearman rank correlation of final values per scale and metric. `choose` picks the
family by the score that matches the simulator's use — the mean over metrics of R² and Spearman ρ *at the largest
scale*, averaged (a simulator must rank the target's mixtures, and get their values right) — and adds the mean
of the best two families when that scores higher.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from mixscale.runs import metric_columns, weight_columns
from mixscale.simulator.families import DEFAULTS, FAMILIES, MLPModel, PolyModel
from mixscale.simulator.families.base import LOG_W_FLOOR

__all__ = [
    "LOG_W_FLOOR", "METHODS", "MLPModel", "PolyModel", "features", "table_features", "make_model", "r2", "spearman",
    "cross_validate", "r2_table", "score_table", "selection_score", "choose", "is_method",
]  # fmt: skip

METHODS = FAMILIES


def features(w: np.ndarray, params, tokens, max_tokens) -> np.ndarray:
    w = np.atleast_2d(w)
    n = len(w)
    cols = [
        np.broadcast_to(np.log(params), (n,)),
        np.broadcast_to(np.log(tokens), (n,)),
        np.broadcast_to(np.asarray(tokens) / np.asarray(max_tokens), (n,)),
    ]
    return np.column_stack([w, *cols]).astype(np.float64)


def table_features(df: pd.DataFrame) -> np.ndarray:
    tokens = (df["step"] * df["tokens_per_step"]).to_numpy(float)
    max_tokens = (df["max_steps"] * df["tokens_per_step"]).to_numpy(float)
    return features(df[weight_columns(df)].to_numpy(float), df["params"].to_numpy(float), tokens, max_tokens)


class _Mean:
    """The mean of several fitted families' predictions."""

    def __init__(self, models):
        self.models = models
        self.name = "+".join(m.name for m in models)

    def fit(self, X, Y):
        for m in self.models:
            m.fit(X, Y)
        return self

    def predict(self, X):
        return np.mean([m.predict(X) for m in self.models], axis=0)


def is_method(method: str) -> bool:
    return all(part in FAMILIES for part in method.split("+")) and method != ""


def make_model(method: str, k: int, **options):
    """A family by name (with its selection defaults, overridden by `options`); ``a+b``: the mean of two."""
    parts = method.split("+")
    if len(parts) > 1:
        return _Mean([make_model(p, k) for p in parts])
    return FAMILIES[method](k, **(DEFAULTS.get(method, {}) | options))


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss = float(((y - y.mean()) ** 2).sum())
    return float("nan") if ss == 0 else 1.0 - float(((y - pred) ** 2).sum()) / ss


def spearman(y: np.ndarray, pred: np.ndarray) -> float:
    if len(y) < 3 or np.ptp(y) == 0 or np.ptp(pred) == 0:
        return float("nan")
    return float(stats.spearmanr(y, pred)[0])


def run_folds(df: pd.DataFrame, folds: int, seed: int) -> np.ndarray:
    """Fold id per row: every run's rows (its whole curve) fall in one fold."""
    runs = df["run_id"].unique()
    fold_of = dict(zip(runs, np.random.default_rng(seed).permutation(len(runs)) % folds, strict=True))
    return df["run_id"].map(fold_of).to_numpy()


def cross_validate(df: pd.DataFrame, method: str, folds: int = 5, seed: int = 0, **options) -> pd.DataFrame:
    """Out-of-fold predictions of every row, folds by run; returns the table's final points with predictions.

    The returned frame has one row per run's last curve point with columns `scale`, `params`, `<metric>` and
    `pred:<metric>`, from which `score_table` computes held-out R² and Spearman per metric per scale.
    """
    metrics = metric_columns(df)
    fold = run_folds(df, folds, seed)
    X, Y = table_features(df), df[metrics].to_numpy(float)
    pred = np.empty_like(Y)
    for f in range(folds):
        train, test = fold != f, fold == f
        pred[test] = make_model(method, len(weight_columns(df)), **options).fit(X[train], Y[train]).predict(X[test])
    out = df[["run_id", "scale", "params", "step", "max_steps", *metrics]].copy()
    out[[f"pred:{m}" for m in metrics]] = pred
    return out[out["step"] == out["max_steps"]]


def _by_scale(cv: pd.DataFrame):
    return sorted(cv.groupby("scale"), key=lambda kv: kv[1]["params"].iloc[0])


def r2_table(cv: pd.DataFrame) -> pd.DataFrame:
    """Held-out R² per scale (rows, by size) and metric (columns) from `cross_validate`'s output."""
    metrics = [m for m in metric_columns(cv)]
    rows = {s: {m: r2(g[m].to_numpy(), g[f"pred:{m}"].to_numpy()) for m in metrics} for s, g in _by_scale(cv)}
    return pd.DataFrame.from_dict(rows, orient="index")


def score_table(cv: pd.DataFrame) -> pd.DataFrame:
    """Held-out R² and Spearman ρ per scale (rows, by size) and (score, metric) (columns)."""
    metrics = metric_columns(cv)
    rows = {}
    for s, g in _by_scale(cv):
        y = {m: (g[m].to_numpy(), g[f"pred:{m}"].to_numpy()) for m in metrics}
        rows[s] = {("r2", m): r2(*y[m]) for m in metrics} | {("spearman", m): spearman(*y[m]) for m in metrics}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


def selection_score(table: pd.DataFrame) -> float:
    """½ (mean R² + mean Spearman ρ) over metrics at the largest scale (the last row of `score_table`)."""
    top = table.iloc[-1]
    r2_top, rho_top = np.nanmean(top["r2"].to_numpy(float)), np.nanmean(top["spearman"].to_numpy(float))
    if not np.isfinite(rho_top):
        return float(r2_top)
    return float(0.5 * (r2_top + rho_top))


def _mean_cv(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    out = a.copy()
    pred = [c for c in a.columns if c.startswith("pred:")]
    out[pred] = (a[pred].to_numpy() + b[pred].to_numpy()) / 2
    return out


def choose(
    df: pd.DataFrame, methods=("poly", "mlp", "gbm", "mixlaw", "gp"), folds: int = 5, seed: int = 0,
    ensemble: bool = True, progress=None,
) -> tuple[str, dict[str, float], dict[str, pd.DataFrame]]:  # fmt: skip
    """(chosen method, selection score per method, `score_table` per method) from one set of folds by run."""
    cvs, tables, scores = {}, {}, {}
    for method in methods:
        cvs[method] = cross_validate(df, method, folds, seed)
        tables[method] = score_table(cvs[method])
        scores[method] = selection_score(tables[method])
        if progress is not None:
            progress(method, tables[method], scores[method])
    ranked = sorted((m for m in scores if np.isfinite(scores[m])), key=scores.get, reverse=True)
    if ensemble and len(ranked) >= 2:
        name = "+".join(ranked[:2])
        tables[name] = score_table(_mean_cv(cvs[ranked[0]], cvs[ranked[1]]))
        scores[name] = selection_score(tables[name])
        if progress is not None:
            progress(name, tables[name], scores[name])
    best = max((m for m in scores if np.isfinite(scores[m])), key=scores.get, default=methods[0])
    return best, scores, tables
