"""Exact Bayesian answers for the priors in :mod:`.priors` — the references the learned models are scored
against.

- :class:`GPOracle`: exact GP posterior. With ``K = k(X, X) + σ_n² I`` and ``K_* = k(X_*, X)``,

  .. math::

      \\mu_* = K_* K^{-1} y, \\qquad \\Sigma_* = k(X_*, X_*) - K_* K^{-1} K_*^\\top + \\sigma_n^2 I,

  and the joint log-likelihood of targets is ``log N(y_* | μ_*, Σ_*)`` — the same for every ordering, so the
  GP is exchangeable and its predictive means are martingales (c.i.d.).
- :func:`normal_posterior`: conjugate update of a level ``θ ~ N(0, s²)`` from n observations with noise τ:
  ``var = (1/s² + n/τ²)^{-1}``, ``mean = var · Σ y / τ²`` (bandit arms, active-learning regions).
- :func:`bayes_sequence_nll`: the training loss of the Bayes-optimal causal model under a conjugate prior,
  ``E[−(1/n) Σ_j log p(y_j | x_j, D_{<j})]`` with the exact posterior predictive — the floor a trained model's
  train NLL approaches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .priors import ActiveLearningPrior, BanditPrior, GPPrior

__all__ = ["GPOracle", "normal_posterior", "bayes_sequence_nll"]


def normal_posterior(sum_y: Tensor, count: Tensor, s: Tensor | float, tau: Tensor | float) -> tuple[Tensor, Tensor]:
    """Posterior mean and std of θ ~ N(0, s²) after ``count`` observations y = θ + τε summing to ``sum_y``."""
    s = torch.as_tensor(s)
    tau = torch.as_tensor(tau)
    var = 1.0 / (1.0 / s**2 + count / tau**2)
    return var * sum_y / tau**2, var.sqrt()


def _gauss_nll(y: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    return 0.5 * ((y - mean) / std) ** 2 + std.log() + 0.5 * math.log(2 * math.pi)


def bayes_sequence_nll(
    prior: ActiveLearningPrior | BanditPrior, seq_len: int, *, n_seqs: int = 8192, seed: int = 12345
) -> tuple[float, float]:
    """Monte-Carlo estimate (mean, s.e.) of the Bayes-optimal causal training NLL per point on ``prior``.

    Each point is scored by the exact predictive of its region / arm given the earlier points of its sequence,
    ``N(y_j | m_j, v_j + τ²)`` with ``(m_j, v_j)`` from :func:`normal_posterior` — exactly what the causal
    training loss averages, so ``train NLL − this`` is the model's excess loss.
    """
    gen = torch.Generator().manual_seed(seed)
    per_seq = []
    for start in range(0, n_seqs, 1024):
        b = min(1024, n_seqs - start)
        batch = prior.sample(b, seq_len, gen)
        y = batch.y
        if isinstance(prior, BanditPrior):
            feats = prior.arm_features(batch.latent["arm"])  # (B, 2)
            cnt = torch.arange(seq_len, dtype=torch.float32).expand(b, -1)
            sums = y.cumsum(1) - y
            s, tau = feats[:, :1], feats[:, 1:]
        else:
            s_r, tau_r = prior.region_scales()
            onehot = torch.nn.functional.one_hot(batch.latent["region"], prior.n_regions).float()  # (B, n, R)
            before = onehot.cumsum(1) - onehot  # counts of earlier points per region
            cnt = (before * onehot).sum(-1)
            sums = ((onehot * y[..., None]).cumsum(1) - onehot * y[..., None]) * onehot
            sums = sums.sum(-1)
            s, tau = s_r[batch.latent["region"]], tau_r[batch.latent["region"]]
        mean, std = normal_posterior(sums, cnt, s, tau)
        per_seq.append(_gauss_nll(y, mean, (std**2 + tau**2).sqrt()).mean(1))
    v = torch.cat(per_seq)
    return float(v.mean()), float(v.std() / len(v) ** 0.5)


@dataclass(frozen=True)
class GPOracle:
    """Exact inference under a :class:`~.priors.GPPrior` (batched over the leading dimension)."""

    prior: GPPrior

    def posterior(self, xc: Tensor, yc: Tensor, xq: Tensor, ctx_valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Predictive mean (B, M) and full covariance of noisy y (B, M, M) at ``xq`` given the context."""
        p = self.prior
        kqq = p.kernel(xq, xq) + p.noise_std**2 * torch.eye(xq.shape[1])
        if xc.shape[1] == 0:
            return torch.zeros(xq.shape[:2]), kqq
        kcc = p.kernel(xc, xc) + p.noise_std**2 * torch.eye(xc.shape[1])
        kqc = p.kernel(xq, xc)
        if ctx_valid is not None:
            # invalid (padded) points: decouple them from everything.
            m = ctx_valid.to(kcc.dtype)
            kcc = kcc * m[:, :, None] * m[:, None, :] + torch.diag_embed(1.0 - m)
            kqc = kqc * m[:, None, :]
            yc = yc * m
        chol = torch.linalg.cholesky(kcc.double())
        a = torch.cholesky_solve(kqc.transpose(1, 2).double(), chol)  # K^{-1} K_*^T
        mean = (a.transpose(1, 2) @ yc.double().unsqueeze(-1)).squeeze(-1)
        cov = kqq.double() - kqc.double() @ a
        return mean.float(), cov.float()

    def predictive(self, xc: Tensor, yc: Tensor, xq: Tensor) -> tuple[Tensor, Tensor]:
        """Marginal predictive mean and std (B, M) of each query."""
        mean, cov = self.posterior(xc, yc, xq)
        return mean, cov.diagonal(dim1=1, dim2=2).clamp_min(1e-12).sqrt()

    def joint_log_likelihood(self, xc: Tensor, yc: Tensor, xt: Tensor, yt: Tensor) -> Tensor:
        """``log N(y_t | μ_*, Σ_*)`` (B,)."""
        mean, cov = self.posterior(xc, yc, xt)
        chol = torch.linalg.cholesky(cov.double())
        r = torch.linalg.solve_triangular(chol, (yt - mean).double().unsqueeze(-1), upper=False).squeeze(-1)
        k = yt.shape[1]
        logdet = 2 * chol.diagonal(dim1=1, dim2=2).log().sum(-1)
        return (-0.5 * (r**2).sum(-1) - 0.5 * logdet - 0.5 * k * math.log(2 * math.pi)).float()

    def sample(self, xc: Tensor, yc: Tensor, xg: Tensor, generator: torch.Generator) -> Tensor:
        """Joint posterior-predictive sample of noisy y (B, H) at ``xg`` (= sequential draws in law)."""
        mean, cov = self.posterior(xc, yc, xg)
        chol = torch.linalg.cholesky(cov.double() + 1e-8 * torch.eye(xg.shape[1], dtype=torch.float64))
        z = torch.randn(*mean.shape, 1, generator=generator, dtype=torch.float64)
        return (mean.double() + (chol @ z).squeeze(-1)).float()
