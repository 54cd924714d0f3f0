r"""`mixlaw`: a parametric data-mixing law × scaling law, one per metric, fitted by L-BFGS — few parameters.

For each metric (sign-flipped for accuracies, in units of its standard deviation), with
:math:`a = \log N - \overline{\log N}`, :math:`b = \log D - \overline{\log D}`, :math:`f = D / D_{max}`:

.. math::
    L = E + e^{A - \alpha a}
          + e^{B - \beta b + h (1 - f) + \sum_j w_j (t_j + u_j a + v_j b) + \sum_j r_j \log(w_j + \epsilon)}

a power law in N, and a power law in D whose coefficient is a data-mixing law (Ye et al., 2024: exponential in
the weights; plus log-weights for domains absent from a mixture) that drifts linearly with log N and log D, so the
best mixture may move with scale; h lifts a point mid-schedule above a finished run. 4k + 6 parameters per metric,
ridge-penalized (:math:`\lambda \lVert t, r, u, v \rVert^2`); squared errors are weighted so that every scale
(distinct N) counts the same, and the scaling law is fitted before the mixing terms. A metric that is the mean
of all the others (e.g. ``loss:avg``) is predicted as the mean of their fits. Written on torch (L-BFGS, batched
over metrics) because no library fits this law family.
"""

from __future__ import annotations

import numpy as np
import torch

from mixscale.simulator.families.base import LOG_W_FLOOR, derived_mean_columns, loss_direction


class MixingLawModel:
    """Data-mixing law × scaling law per metric (see the module docstring)."""

    name = "mixlaw"

    def __init__(self, k: int, penalty: float = 1e-4, iterations: int = 300, mixing: bool = True, balance: bool = True):
        self.k, self.penalty, self.iterations, self.mixing, self.balance = k, penalty, iterations, mixing, balance

    def _inputs(self, X: np.ndarray) -> tuple[torch.Tensor, ...]:
        t = torch.from_numpy(np.asarray(X, float))
        w = t[:, : self.k]
        return w, torch.log(w + LOG_W_FLOOR), t[:, self.k] - self.m_n, t[:, self.k + 1] - self.m_d, t[:, self.k + 2]

    def _forward(self, p: dict, w, lw, a, b, f) -> torch.Tensor:
        # shapes: inputs (n,) or (n, k); parameters (M,) or (M, k); output (n, M)
        alpha, beta = torch.nn.functional.softplus(p["alpha"]), torch.nn.functional.softplus(p["beta"])
        size = torch.clamp(p["A"] - alpha * a[:, None], max=30.0)
        expo = p["B"] - beta * b[:, None] + p["h"] * (1 - f)[:, None]
        if self.mixing:
            expo = expo + w @ p["t"].T + a[:, None] * (w @ p["u"].T) + b[:, None] * (w @ p["v"].T) + lw @ p["r"].T
        return p["E"] + torch.exp(size) + torch.exp(torch.clamp(expo, max=30.0))

    def fit(self, X: np.ndarray, Y: np.ndarray) -> MixingLawModel:
        self.derived = derived_mean_columns(Y)
        self.fitted_cols = [c for c in range(Y.shape[1]) if c not in self.derived]
        Yf = Y[:, self.fitted_cols]
        d = loss_direction(X, Yf, self.k)
        self.sign = np.where(d == 0, 1.0, d)
        self.scale = Yf.std(axis=0) + 1e-9
        self.m_n, self.m_d = float(X[:, self.k].mean()), float(X[:, self.k + 1].mean())
        y = torch.from_numpy(Yf * self.sign / self.scale)
        M, k = y.shape[1], self.k
        mean = y.mean(0)
        zeros = lambda *s: torch.zeros(*s, dtype=torch.float64)  # noqa: E731
        p = {
            "E": (mean - 2.0).clone(),
            "A": zeros(M),
            "alpha": torch.full((M,), -1.0, dtype=torch.float64),
            "B": zeros(M),
            "beta": torch.full((M,), -1.0, dtype=torch.float64),
            "h": zeros(M),
            **{name: zeros(M, k) for name in "turv"},
        }
        for v in p.values():
            v.requires_grad_(True)
        inputs = self._inputs(X)
        # every scale weighs the same in the loss, so a few large runs are fitted as well as many small ones
        _, level, counts = np.unique(np.round(X[:, self.k], 6), return_inverse=True, return_counts=True)
        rw = 1.0 / counts[level.ravel()] if self.balance else np.ones(len(X))
        rw = torch.from_numpy(rw / rw.sum())[:, None]
        mixing = self.mixing
        for stage in ("scaling", "mixing") if mixing else ("scaling",):  # the scaling law first, then the mixture
            self.mixing = stage == "mixing"
            free = [v for n, v in p.items() if self.mixing or n not in "turv"]
            opt = torch.optim.LBFGS(free, lr=1.0, max_iter=self.iterations, line_search_fn="strong_wolfe")

            def closure(opt=opt):
                opt.zero_grad()
                loss = torch.sum(rw * (self._forward(p, *inputs) - y) ** 2)
                loss = loss + self.penalty * sum((p[n] ** 2).sum() for n in "turv")
                loss.backward()
                return loss

            opt.step(closure)
        self.mixing = mixing
        self.params = {n: v.detach() for n, v in p.items()}
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            fitted = self._forward(self.params, *self._inputs(X)).numpy() * self.scale * self.sign
        out = np.empty((len(X), len(self.fitted_cols) + len(self.derived)))
        out[:, self.fitted_cols] = fitted
        for c, rest in self.derived.items():
            out[:, c] = out[:, rest].mean(axis=1)
        return out
