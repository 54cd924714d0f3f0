"""`mlp`: the seed paper's choice — an ensemble of small MLPs trained jointly on all standardized metrics.

Full-batch Adam with a cosine schedule. With ``early_stopping`` (the default) each member holds out 15 % of the
runs (whole runs: `run_groups`), checks their error every 25 iterations and keeps the weights that did best, so a
wide table with few runs stops before it overfits. Written on torch (which we ship) rather than scikit-learn's
MLPRegressor, which cannot hold out groups for early stopping nor save weights without pickle.
"""

from __future__ import annotations

import numpy as np
import torch

from mixscale.simulator.families.base import Standardizer, group_folds, run_groups


class MLPModel:
    """Ensemble of MLPs (2 hidden layers, SiLU), full-batch Adam on standardized inputs and outputs."""

    name = "mlp"

    def __init__(
        self,
        k: int | None = None,
        hidden: int = 64,
        members: int = 3,
        iterations: int = 1000,
        lr: float = 5e-3,
        seed: int = 0,
        early_stopping: bool = True,
        patience: int = 100,
    ):
        self.k = k
        self.hidden, self.members, self.iterations, self.lr, self.seed = hidden, members, iterations, lr, seed
        self.early_stopping, self.patience = early_stopping, patience

    def _net(self, d_in: int, d_out: int) -> torch.nn.Module:
        h = self.hidden
        return torch.nn.Sequential(
            torch.nn.Linear(d_in, h), torch.nn.SiLU(), torch.nn.Linear(h, h), torch.nn.SiLU(), torch.nn.Linear(h, d_out)
        )

    def _train(self, net, x, y, xv, yv) -> torch.nn.Module:
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=1e-5)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.iterations)
        best, best_state, since = np.inf, None, 0
        for it in range(self.iterations):
            opt.zero_grad()
            loss = torch.mean((net(x) - y) ** 2)
            loss.backward()
            opt.step()
            sched.step()
            if xv is not None and (it + 1) % 25 == 0:
                with torch.no_grad():
                    err = float(torch.mean((net(xv) - yv) ** 2))
                if err < best:
                    best, best_state, since = err, {k: v.clone() for k, v in net.state_dict().items()}, 0
                else:
                    since += 25
                    if since >= self.patience:
                        break
        if best_state is not None:
            net.load_state_dict(best_state)
        return net

    def fit(self, X: np.ndarray, Y: np.ndarray) -> MLPModel:
        self.sx, self.sy = Standardizer(X), Standardizer(Y)
        x, y = torch.from_numpy(self.sx(X)).float(), torch.from_numpy(self.sy(Y)).float()
        k = self.k if self.k is not None else X.shape[1] - 3
        groups = run_groups(X, k)
        self.nets = []
        for m in range(self.members):
            torch.manual_seed(self.seed * 1000 + m)
            net = self._net(x.shape[1], y.shape[1])
            if self.early_stopping and len(np.unique(groups)) >= 20:
                val = group_folds(groups, 7, seed=self.seed * 1000 + m) == 0
                tr = torch.from_numpy(~val)
                net = self._train(net, x[tr], y[tr], x[~tr], y[~tr])
            else:
                net = self._train(net, x, y, None, None)
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
        self.sx, self.sy = Standardizer(X), Standardizer(Y)
        self.nets = []
        for i in range(self.members):
            net = self._net(X.shape[1], Y.shape[1])
            net.load_state_dict({k.split(".", 1)[1]: v for k, v in state.items() if k.startswith(f"{i}.")})
            self.nets.append(net.eval())
        return self
