r"""`gp`: a Gaussian process on log-mixture features around a scaling-law mean, one kernel shared by all metrics.

Mean: `MixingLawModel` fitted per metric — by default the full data-mixing × scaling law (``mean="mixing"``), or
its scaling part alone, :math:`E + e^{A - \alpha a} + e^{B - \beta b + h(1 - f)}` (``mean="scaling"``; on the
17-domain synthetic table it ranks the target's mixtures worse: Spearman 0.94 vs 0.97 in 5-fold CV).
Residuals (standardized per metric) get a GP on
z = standardized [log(w + ε), log N, log D, D / D_max] with kernel

.. math::  k(z, z') = s_1\, \mathrm{Matern}_{5/2}^{ARD}(z, z') + s_2 \sum_i \exp(-(z_i - z'_i)^2 / 2\ell_i^2)

(ARD interactions plus an additive part that extrapolates per domain) and Gaussian noise. Kernels are GPyTorch's
(the additive part evaluated one dimension at a time from GPyTorch's lengthscales, to keep memory at n·m);
the marginal likelihood is written here because all metrics share one kernel, so one Cholesky factor serves every
metric (GPyTorch's batched models would factor once per metric). Hyperparameters: Adam (50 steps) on at most 400
points; the posterior mean conditions on at most 4000 points (a random subset beyond that).
"""

from __future__ import annotations

import gpytorch
import numpy as np
import torch

from mixscale.simulator.families.base import LOG_W_FLOOR, Standardizer
from mixscale.simulator.families.mixing_law import MixingLawModel


class _Kernel(torch.nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.ard = gpytorch.kernels.ScaleKernel(gpytorch.kernels.MaternKernel(nu=2.5, ard_num_dims=d))
        self.add = gpytorch.kernels.RBFKernel(batch_shape=torch.Size([d]))
        self.add_scale = torch.nn.Parameter(torch.tensor(-1.0, dtype=torch.float64))
        self.raw_noise = torch.nn.Parameter(torch.tensor(-3.0, dtype=torch.float64))
        self.ard.base_kernel.lengthscale = torch.full((1, d), 2.0)
        self.add.lengthscale = torch.full((d, 1, 1), 1.0)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        k = self.ard(z1, z2).to_dense()
        ls = self.add.lengthscale.reshape(-1)
        add = torch.zeros_like(k)
        for i in range(z1.shape[1]):  # one dimension at a time: memory n·m, not d·n·m
            add = add + torch.exp(-0.5 * ((z1[:, i, None] - z2[None, :, i]) / ls[i]) ** 2)
        return k + torch.exp(self.add_scale) * add / z1.shape[1]

    @property
    def noise(self) -> torch.Tensor:
        return torch.nn.functional.softplus(self.raw_noise) + 1e-6


class GPModel:
    """Exact GP with ARD + additive kernel on log-mixture features, scaling-law mean, shared across metrics."""

    name = "gp"

    def __init__(
        self, k: int, mean: str = "mixing", iterations: int = 50, max_train: int = 400, max_condition: int = 4000,
        seed: int = 0,
    ):  # fmt: skip
        self.k, self.mean, self.iterations, self.max_train, self.max_condition, self.seed = (
            k, mean, iterations, max_train, max_condition, seed,
        )  # fmt: skip

    def _z(self, X: np.ndarray) -> np.ndarray:
        return np.column_stack([np.log(X[:, : self.k] + LOG_W_FLOOR), X[:, self.k :]])

    def fit(self, X: np.ndarray, Y: np.ndarray) -> GPModel:
        torch.manual_seed(self.seed)
        self.mean_fn = MixingLawModel(self.k, mixing=self.mean == "mixing").fit(X, Y)
        R = Y - self.mean_fn.predict(X)
        self.sr = Standardizer(R)
        Z = self._z(X)
        self.sz = Standardizer(Z)
        z, r = torch.from_numpy(self.sz(Z)), torch.from_numpy(self.sr(R))
        rng = np.random.default_rng(self.seed)
        self.kernel = _Kernel(z.shape[1]).double()
        sub = rng.permutation(len(z))[: self.max_train]
        zs, rs = z[sub], r[sub]
        opt = torch.optim.Adam(self.kernel.parameters(), lr=0.05)
        eye = torch.eye(len(zs), dtype=torch.float64)
        for _ in range(self.iterations):
            opt.zero_grad()
            L = torch.linalg.cholesky(self.kernel(zs, zs) + self.kernel.noise * eye)
            alpha = torch.cholesky_solve(rs, L)
            nll = 0.5 * (rs * alpha).sum() / rs.numel() + torch.log(torch.diagonal(L)).sum() / len(zs)
            nll.backward()
            opt.step()
        keep = rng.permutation(len(z))[: self.max_condition]
        self.z_train = z[keep]
        with torch.no_grad():
            K = self.kernel(self.z_train, self.z_train) + self.kernel.noise * torch.eye(len(keep), dtype=torch.float64)
            self.alpha = torch.cholesky_solve(r[keep], torch.linalg.cholesky(K))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        z = torch.from_numpy(self.sz(self._z(X)))
        with torch.no_grad():  # in chunks, so a dense search over 20,000 mixtures stays small in memory
            resid = torch.cat([self.kernel(c, self.z_train) @ self.alpha for c in torch.split(z, 2048)]).numpy()
        return self.mean_fn.predict(X) + self.sr.inverse(resid)
