"""Regression models from a runs table: (mixture w, scale N, tokens D) → every metric of the table.

Features: x = [w_1 … w_k, log N, log D, D / D_max] where D = step · tokens_per_step and D_max the run's planned
tokens (so runs with different schedule lengths can share one table). Two model families, picked by held-out
validation (`cross_validate`: K folds that hold out whole runs, so no learning-curve point of a held-out run is
seen in training):

* `mlp` — the seed paper's choice: an ensemble of small MLPs trained jointly on all standardized metrics.
* `poly` — ridge regression on a quadratic response surface of x plus log-weights log(w + 0.01), a smooth,
  cheap and deterministic baseline in the spirit of the data-mixing laws (log-linear in w) × power laws (linear
  in log N, log D).

Written by hand (not scikit-learn) because both are a dozen lines on top of torch / numpy, which we already ship.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from mixscale.runs import metric_columns, weight_columns

LOG_W_FLOOR = 0.01


def features(w: np.ndarray, params: np.ndarray, tokens: np.ndarray, max_tokens: np.ndarray) -> np.ndarray:
    w = np.atleast_2d(w)
    n = len(w)
    cols = [
        np.broadcast_to(np.log(params), (n,)),
        np.broadcast_to(np.log(tokens), (n,)),
        np.broadcast_to(tokens / max_tokens, (n,)),
    ]
    return np.column_stack([w, *cols]).astype(np.float64)


def table_features(df: pd.DataFrame) -> np.ndarray:
    tokens = (df["step"] * df["tokens_per_step"]).to_numpy(float)
    max_tokens = (df["max_steps"] * df["tokens_per_step"]).to_numpy(float)
    return features(df[weight_columns(df)].to_numpy(float), df["params"].to_numpy(float), tokens, max_tokens)


class _Standardizer:
    def __init__(self, a: np.ndarray):
        self.mean = a.mean(axis=0)
        self.std = a.std(axis=0) + 1e-9

    def __call__(self, a: np.ndarray) -> np.ndarray:
        return (a - self.mean) / self.std

    def inverse(self, a: np.ndarray) -> np.ndarray:
        return a * self.std + self.mean


class PolyModel:
    """Ridge regression on [1, z, log(w + ε), quadratic terms of z] with z the standardized features."""

    name = "poly"

    def __init__(self, k: int, ridge: float = 1e-3):
        self.k, self.ridge = k, ridge

    def _design(self, X: np.ndarray) -> np.ndarray:
        z = self.sx(X)
        iu = np.triu_indices(z.shape[1])
        quad = (z[:, :, None] * z[:, None, :])[:, iu[0], iu[1]]
        return np.column_stack([np.ones(len(z)), z, np.log(X[:, : self.k] + LOG_W_FLOOR), quad])

    def fit(self, X: np.ndarray, Y: np.ndarray) -> PolyModel:
        self.sx, self.sy = _Standardizer(X), _Standardizer(Y)
        A = self._design(X)
        reg = self.ridge * len(A) * np.eye(A.shape[1])
        reg[0, 0] = 0.0
        self.coef = np.linalg.solve(A.T @ A + reg, A.T @ self.sy(Y))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.sy.inverse(self._design(X) @ self.coef)


class MLPModel:
    """Ensemble of MLPs (2 hidden layers, SiLU), full-batch Adam on standardized inputs and outputs."""

    name = "mlp"

    def __init__(self, hidden: int = 64, members: int = 3, iterations: int = 1000, lr: float = 5e-3, seed: int = 0):
        self.hidden, self.members, self.iterations, self.lr, self.seed = hidden, members, iterations, lr, seed

    def _net(self, d_in: int, d_out: int) -> torch.nn.Module:
        h = self.hidden
        return torch.nn.Sequential(
            torch.nn.Linear(d_in, h), torch.nn.SiLU(), torch.nn.Linear(h, h), torch.nn.SiLU(), torch.nn.Linear(h, d_out)
        )

    def fit(self, X: np.ndarray, Y: np.ndarray) -> MLPModel:
        self.sx, self.sy = _Standardizer(X), _Standardizer(Y)
        x, y = torch.from_numpy(self.sx(X)).float(), torch.from_numpy(self.sy(Y)).float()
        self.nets = []
        for m in range(self.members):
            torch.manual_seed(self.seed * 1000 + m)
            net = self._net(x.shape[1], y.shape[1])
            opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=1e-5)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.iterations)
            for _ in range(self.iterations):
                opt.zero_grad()
                loss = torch.mean((net(x) - y) ** 2)
                loss.backward()
                opt.step()
                sched.step()
            self.nets.append(net.eval())
        return self

    @torch.no_grad()
    def predict(self, X: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(self.sx(X)).float()
        out = torch.stack([net(x) for net in self.nets]).mean(0).double().numpy()
        return self.sy.inverse(out)

    def state(self) -> dict:
        return {f"{i}.{k}": v for i, net in enumerate(self.nets) for k, v in net.state_dict().items()}

    def load_state(self, X: np.ndarray, Y: np.ndarray, state: dict) -> MLPModel:
        """Restore a fit saved by `state()`; X and Y (the same training data) give back the standardizers."""
        self.sx, self.sy = _Standardizer(X), _Standardizer(Y)
        self.nets = []
        for i in range(self.members):
            net = self._net(X.shape[1], Y.shape[1])
            net.load_state_dict({k.split(".", 1)[1]: v for k, v in state.items() if k.startswith(f"{i}.")})
            self.nets.append(net.eval())
        return self


METHODS = {"mlp": MLPModel, "poly": PolyModel}


def make_model(method: str, k: int, **options):
    return PolyModel(k, **options) if method == "poly" else MLPModel(**options)


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss = float(((y - y.mean()) ** 2).sum())
    return float("nan") if ss == 0 else 1.0 - float(((y - pred) ** 2).sum()) / ss


def cross_validate(df: pd.DataFrame, method: str, folds: int = 5, seed: int = 0, **options) -> pd.DataFrame:
    """Out-of-fold predictions of every row, folds by run; returns the table's final points with predictions.

    The returned frame has one row per run's last curve point with columns `scale`, `params`, `<metric>` and
    `pred:<metric>`, from which `r2_table` computes held-out R² per metric per scale.
    """
    metrics = metric_columns(df)
    runs = df["run_id"].unique()
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(runs, rng.permutation(len(runs)) % folds, strict=True))
    fold = df["run_id"].map(fold_of).to_numpy()
    X, Y = table_features(df), df[metrics].to_numpy(float)
    pred = np.empty_like(Y)
    for f in range(folds):
        train, test = fold != f, fold == f
        pred[test] = make_model(method, len(weight_columns(df)), **options).fit(X[train], Y[train]).predict(X[test])
    out = df[["run_id", "scale", "params", "step", "max_steps", *metrics]].copy()
    out[[f"pred:{m}" for m in metrics]] = pred
    return out[out["step"] == out["max_steps"]]


def r2_table(cv: pd.DataFrame) -> pd.DataFrame:
    """Held-out R² per scale (rows, by size) and metric (columns) from `cross_validate`'s output."""
    metrics = metric_columns(cv)
    rows = {}
    for scale, g in sorted(cv.groupby("scale"), key=lambda kv: kv[1]["params"].iloc[0]):
        rows[scale] = {m: r2(g[m].to_numpy(), g[f"pred:{m}"].to_numpy()) for m in metrics}
    return pd.DataFrame.from_dict(rows, orient="index")
