r"""The exact posterior of a fitted GP at many points, from one Cholesky factor of its training covariance.

With training inputs :math:`X`, standardized targets :math:`y`, prior mean :math:`m`, noise :math:`\sigma^2` and

.. math::

    K = k(X, X) + \sigma^2 I = L L^\top, \qquad \alpha = K^{-1}\,(y - m(X)), \qquad A_Z = L^{-1} k(X, Z),

the posterior of the latent :math:`f` (standardized units, then scaled back by the outcome transform) is

.. math::

    \mu(Z) = m(Z) + k(Z, X)\,\alpha, \qquad
    \operatorname{Cov}(f(T), f(Q)) = k(T, Q) - A_T^\top A_Q, \qquad
    \operatorname{Var} f(Q) = \operatorname{diag} k(Q, Q) - \textstyle\sum_{\text{rows}} A_Q^{\odot 2} .

These are GPyTorch's exact prediction formulas, and for :math:`n \le 800` training points (GPyTorch's
``max_cholesky_size``) its computation too: the same Cholesky (``psd_safe_cholesky``, same jitter policy), the same
triangular solves. Why by hand: ``ExactGP.__call__`` evaluates the kernel on the joint (train + test)² block for
every posterior, so ranking 1,000 pool mixtures by their mean built a 1,200² kernel to read 1,000 numbers, and the
knowledge gradient built the full (targets + queries)² covariance per chunk although it needs only the target ×
query block and the query variances. Here the factor is computed once per fitted model and each call evaluates only
the rectangular :math:`k(X, Z)` (and :math:`k(T, Q)` or :math:`\operatorname{diag} k(Q, Q)` where asked). Above
800 points GPyTorch switches to conjugate gradients and Lanczos; this stays with the exact Cholesky.
"""

from __future__ import annotations

from dataclasses import dataclass

import gpytorch
import torch
from gpytorch.likelihoods import GaussianLikelihood
from linear_operator.utils.cholesky import psd_safe_cholesky


@dataclass(frozen=True)
class Conditioned:
    """Test inputs ``Z`` with their posterior means and whitened cross-covariance :math:`A_Z` (reused across
    covariance calls)."""

    Z: torch.Tensor
    mean: torch.Tensor
    whitened: torch.Tensor


class ExactPosterior:
    """Posterior means, variances and cross-covariances of one fitted single-output exact GP (BoTorch
    ``SingleTaskGP``-like: Gaussian likelihood, optional ``Standardize`` outcome transform, no input transform)."""

    def __init__(self, model) -> None:
        if getattr(model, "input_transform", None) is not None or not isinstance(model.likelihood, GaussianLikelihood):
            raise TypeError("ExactPosterior needs a GP with a Gaussian likelihood and no input transform")
        self.covar, self.mean_module = model.covar_module, model.mean_module
        tf = getattr(model, "outcome_transform", None)
        with torch.no_grad():
            X = model.train_inputs[0]
            self.X = X
            noise = model.likelihood.noise.detach()
            K = self.covar(X).to_dense() + torch.diag_embed(noise.expand(X.shape[-2]))
            self.L = psd_safe_cholesky(K)
            resid = (model.train_targets - self.mean_module(X)).unsqueeze(-1)
            self.alpha = torch.cholesky_solve(resid, self.L).squeeze(-1)
            if tf is not None:
                self.offset, self.scale = tf.means.squeeze().detach(), tf.stdvs.squeeze().detach()
            else:
                self.offset, self.scale = torch.zeros((), dtype=X.dtype), torch.ones((), dtype=X.dtype)
            #: Homoscedastic observation-noise variance in output units.
            self.noise = float(noise.mean() * self.scale**2)

    def _cross(self, Z: torch.Tensor) -> torch.Tensor:
        """:math:`k(X, Z)`, ``(n, m)`` (evaluated eagerly: GPyTorch's lazy kernel tensors cost more in bookkeeping
        than in arithmetic at these sizes)."""
        with gpytorch.settings.lazily_evaluate_kernels(False):
            return self.covar(self.X, Z).to_dense()

    def _mean(self, Z: torch.Tensor, k_xz: torch.Tensor) -> torch.Tensor:
        return self.offset + self.scale * (self.mean_module(Z) + k_xz.transpose(-1, -2) @ self.alpha)

    def mean(self, Z: torch.Tensor) -> torch.Tensor:
        """Posterior mean in output units (differentiable in ``Z``)."""
        return self._mean(Z, self._cross(Z))

    @torch.no_grad()
    def condition(self, Z: torch.Tensor) -> Conditioned:
        """Means and whitened cross-covariance of ``Z``, for :meth:`variance` and :meth:`covariance`."""
        k_xz = self._cross(Z)
        A = torch.linalg.solve_triangular(self.L, k_xz, upper=False)
        return Conditioned(Z, self._mean(Z, k_xz), A)

    @torch.no_grad()
    def variance(self, c: Conditioned) -> torch.Tensor:
        """Posterior variance of the latent function at ``c.Z`` in output units (not clamped)."""
        with gpytorch.settings.lazily_evaluate_kernels(False):
            prior = self.covar(c.Z, diag=True)
        return (prior - (c.whitened**2).sum(-2)) * self.scale**2

    @torch.no_grad()
    def covariance(self, a: Conditioned, b: Conditioned) -> torch.Tensor:
        """Posterior covariance :math:`\\operatorname{Cov}(f(a.Z), f(b.Z))` in output units, ``(len(a), len(b))``."""
        with gpytorch.settings.lazily_evaluate_kernels(False):
            prior = self.covar(a.Z, b.Z).to_dense()
        return (prior - a.whitened.transpose(-1, -2) @ b.whitened) * self.scale**2

    @torch.no_grad()
    def mean_variance(self, Z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and latent variance at ``Z`` in output units (variance clamped at GPyTorch's 1e-10)."""
        return self.mean_variance_differentiable(Z)

    def mean_variance_differentiable(self, Z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`mean_variance` with autograd through ``Z`` (for acquisition functions optimized by gradient)."""
        k_xz = self._cross(Z)
        A = torch.linalg.solve_triangular(self.L, k_xz, upper=False)
        with gpytorch.settings.lazily_evaluate_kernels(False):
            prior = self.covar(Z, diag=True)
        return self._mean(Z, k_xz), ((prior - (A**2).sum(-2)) * self.scale**2).clamp_min(1e-10)
