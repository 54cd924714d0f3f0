r"""A small Bayesian model average of GP fits: hyperparameter uncertainty the acquisition and recommendation see.

Several maximum-a-posteriori fits of one GP, started in different basins (for ``mfms``: rung loadings that say
"the ladder transfers" and "the small rungs rank mixtures the other way"), are kept as members :math:`m` with
weights

.. math::

    \pi_m \propto \exp\big(\log p(y \mid \theta_m) + \log p(\theta_m)\big),

the unnormalized log posterior at each mode (a mode-sum approximation of the hyperparameter posterior; a Laplace
volume term is left out because the modes have the same dimension and similar curvature in practice). While the
data cannot tell the modes apart their weights stay comparable and the averaged posterior keeps both stories; as
soon as runs that discriminate arrive (a near-target run of a mixture the small rungs also saw), one mode takes
over. The predictive at :math:`x` is the mixture :math:`\sum_m \pi_m\, \mathcal N(\mu_m(x), \sigma_m^2(x))`.
GPyTorch/BoTorch's fully Bayesian models (NUTS via Pyro) cost minutes per fit; this costs one L-BFGS fit per member.
Predictions go through each member's :class:`~mixscale.surrogates.exact_posterior.ExactPosterior` (one Cholesky per
member, built on first use): the same numbers as ``model.posterior`` without the joint train + test kernel.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from botorch.models import SingleTaskGP
from gpytorch.mlls import ExactMarginalLogLikelihood

from mixscale.surrogates.exact_posterior import ExactPosterior


def log_posterior(model: SingleTaskGP) -> float:
    """:math:`\\log p(y \\mid \\theta) + \\log p(\\theta)` of a fitted model on its own training data."""
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    model.train()
    try:
        with torch.no_grad():
            X = model.train_inputs[0]
            value = float(mll(model(X), model.train_targets)) * X.shape[-2]  # GPyTorch divides by n
    except Exception:  # noqa: BLE001 - a numerically failed member gets no weight
        value = float("-inf")
    finally:
        model.eval()
    return value


class GPEnsemble:
    """Members and their posterior weights (see the module docstring)."""

    def __init__(self, models: Sequence[SingleTaskGP], log_weights: Sequence[float]) -> None:
        self.models = list(models)
        lw = torch.tensor([float(v) for v in log_weights], dtype=torch.double)
        if not torch.isfinite(lw).any():
            lw = torch.zeros_like(lw)
        self.weights = torch.softmax(torch.nan_to_num(lw, nan=-torch.inf, neginf=-1e300), dim=0)
        self._posteriors: dict[int, ExactPosterior] = {}

    def _keep(self, tol: float) -> list[int]:
        return [i for i, w in enumerate(self.weights.tolist()) if w > tol]

    def active(self, tol: float = 1e-3) -> tuple[list[SingleTaskGP], torch.Tensor]:
        """Members with weight above ``tol`` and their renormalized weights (skips work on dead members)."""
        keep = self._keep(tol)
        w = self.weights[keep]
        return [self.models[i] for i in keep], w / w.sum()

    def active_posteriors(self, tol: float = 1e-3) -> tuple[list[ExactPosterior], torch.Tensor]:
        """As :meth:`active`, with each member's cached :class:`ExactPosterior` instead of the model."""
        keep = self._keep(tol)
        for i in keep:
            if i not in self._posteriors:
                self._posteriors[i] = ExactPosterior(self.models[i])
        w = self.weights[keep]
        return [self._posteriors[i] for i in keep], w / w.sum()

    def mean(self, X: torch.Tensor) -> torch.Tensor:
        """Averaged posterior mean (differentiable in ``X``; no variances are computed)."""
        posteriors, w = self.active_posteriors()
        return sum(wi * p.mean(X) for wi, p in zip(w, posteriors, strict=True))

    @torch.no_grad()
    def mean_std(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation of the averaged (mixture) posterior at each row of ``X``."""
        posteriors, w = self.active_posteriors()
        means, second = 0.0, 0.0
        for wi, p in zip(w, posteriors, strict=True):
            mu, var = p.mean_variance(X)
            means = means + wi * mu
            second = second + wi * (var + mu**2)
        return means, (second - means**2).clamp_min(0).sqrt()
