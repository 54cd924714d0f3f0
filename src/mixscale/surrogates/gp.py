r"""Gaussian-process surrogates over (mixture, scale, steps), built from GPyTorch parts and fitted with BoTorch.

The ``mfms`` model
------------------
Inputs :math:`x = (\phi(w), u, v)`: a simplex embedding :math:`\phi` (Hellinger by default) and log-scaled
fidelity coordinates :math:`u` (scale, from :math:`\log 6NT`) and :math:`v` (steps). The loss is mostly a smooth
function of scale and steps, plus a smaller mixture effect that is correlated across scales but shifts. So

.. math::

    f(x) = \mu(u, v) + g(u, v) + h(w, u, v) + r_{\mathrm{run}},\qquad
    k = s_0\, k_{5/2}(uv, uv') + s_1\, k_{5/2}^{\mathrm{ARD}}(\phi, \phi')\, k_{5/2}(uv, uv')
        + s_2\, k_{5/2}^{\mathrm{ARD}}(\phi, \phi')\, k^{\mathrm{short}}_{5/2}(uv, uv')
        + s_3\, 1[\mathrm{run} = \mathrm{run}'],

with a mean linear in :math:`(u, v)`: the first kernel carries the scaling curve, the product carries the mixture
effect, whose correlation between a cheap fidelity and the target is learned from the data (a long fidelity
lengthscale = cheap runs rank mixtures like the target). The third term is a smaller *discrepancy*
(Kennedy & O'Hagan, 2000) whose fidelity lengthscale is short a priori: it lets the best mixture move with scale
instead of forcing every fidelity to share one mixture effect. The last term is the seed offset shared by all points of
one run's learning curve (:class:`SameRunKernel`). Outcomes are standardized; all hyperparameters (and the
noise) are refit by marginal likelihood whenever data arrive, warm-started from the previous fit.

The ``paper`` model
-------------------
The seed paper's MFMS-GP: one product of RBF kernels over :math:`w`, :math:`m` and :math:`z` and a mean linear in all
inputs, fitted once by Adam (lr 0.1, 50 iterations) with a fixed noise.
"""

from __future__ import annotations

import logging
import warnings

import gpytorch
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.constraints import GreaterThan, Interval
from gpytorch.kernels import MaternKernel, RBFKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.means import LinearMean
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import GammaPrior, LogNormalPrior

logger = logging.getLogger(__name__)


def _zero_linear_mean(d: int) -> LinearMean:
    """GPyTorch initializes LinearMean weights from the global torch RNG; start from zero for determinism."""
    mean = LinearMean(d)
    with torch.no_grad():
        mean.weights.zero_()
        mean.bias.zero_()
    return mean


class SlicedLinearMean(gpytorch.means.Mean):
    """A linear mean on a subset of input columns (GPyTorch's LinearMean uses them all)."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = list(dims)
        self.linear = _zero_linear_mean(len(self.dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x[..., self.dims])


class SameRunKernel(gpytorch.kernels.Kernel):
    r""":math:`k(x, x') = 1[\text{run}(x) = \text{run}(x')]` on a run-id column.

    Points of one learning curve share their training seed, so their noise is correlated; this kernel (scaled)
    models that shared offset, so a run's curve is not mistaken for a mixture effect. Predictions use a fresh id.
    GPyTorch has no kernel on an identifier column that grows with the data, hence these few lines.
    """

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **params) -> torch.Tensor:
        a, b = x1[..., 0], x2[..., 0]
        if diag:
            return (a == b).to(x1.dtype)
        return (a.unsqueeze(-1) == b.unsqueeze(-2)).to(x1.dtype)


def mfms_model(
    train_X: torch.Tensor,
    train_Y: torch.Tensor,
    n_mixture_dims: int,
    discrepancy: bool = True,
    discrepancy_rate: float = 20.0,
) -> SingleTaskGP:
    """The additive scaling + (mixture × fidelity) GP described in the module docstring.

    Columns of ``train_X``: the mixture embedding (``n_mixture_dims``), the two fidelity coordinates, and a run id.
    """
    d = train_X.shape[-1]
    w_dims = list(range(n_mixture_dims))
    f_dims = list(range(n_mixture_dims, d - 1))
    ls_prior = LogNormalPrior(0.0, 1.0)

    def fid_kernel() -> MaternKernel:
        return MaternKernel(nu=2.5, ard_num_dims=len(f_dims), active_dims=f_dims, lengthscale_prior=ls_prior)

    def mix_kernel() -> MaternKernel:
        return MaternKernel(
            nu=2.5,
            ard_num_dims=len(w_dims),
            active_dims=w_dims,
            lengthscale_prior=LogNormalPrior(0.0, 1.0),
            lengthscale_constraint=Interval(0.02, 20.0),
        )

    short = MaternKernel(
        nu=2.5, ard_num_dims=len(f_dims), active_dims=f_dims, lengthscale_prior=LogNormalPrior(-1.0, 0.5)
    )
    covar = ScaleKernel(fid_kernel(), outputscale_prior=GammaPrior(2.0, 2.0)) + ScaleKernel(
        mix_kernel() * fid_kernel(), outputscale_prior=GammaPrior(2.0, 4.0)
    )
    if discrepancy:
        covar = covar + ScaleKernel(mix_kernel() * short, outputscale_prior=GammaPrior(2.0, discrepancy_rate))
    covar = covar + ScaleKernel(SameRunKernel(active_dims=[d - 1]), outputscale_prior=GammaPrior(1.1, 20.0))
    likelihood = GaussianLikelihood(noise_prior=GammaPrior(1.1, 20.0), noise_constraint=GreaterThan(1e-5))
    return SingleTaskGP(
        train_X,
        train_Y,
        likelihood=likelihood,
        covar_module=covar,
        mean_module=SlicedLinearMean(f_dims),
        outcome_transform=Standardize(m=1),
    )


def paper_model(train_X: torch.Tensor, train_Y: torch.Tensor, noise: float = 1e-3) -> SingleTaskGP:
    """The seed paper's GP: product of RBF kernels over w, m, z and a linear mean; fixed noise."""
    d = train_X.shape[-1]
    kernel = RBFKernel(active_dims=list(range(d - 2)))
    for dim in (d - 2, d - 1):
        kernel = kernel * RBFKernel(active_dims=[dim])
    likelihood = GaussianLikelihood(noise_constraint=GreaterThan(1e-6))
    likelihood.noise = noise
    likelihood.raw_noise.requires_grad_(False)
    return SingleTaskGP(
        train_X,
        train_Y,
        likelihood=likelihood,
        covar_module=ScaleKernel(kernel),
        mean_module=_zero_linear_mean(d),
        outcome_transform=Standardize(m=1),
    )


def fit_lbfgs(model: SingleTaskGP, warm_state: dict | None = None, maxiter: int = 40) -> SingleTaskGP:
    """Maximum a-posteriori fit by L-BFGS-B (BoTorch), warm-started from a previous model's hyperparameters."""
    if warm_state is not None:
        try:
            model.load_state_dict(_hyperparameters_only(warm_state, model), strict=False)
        except RuntimeError:
            pass
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with warnings.catch_warnings(), torch.enable_grad():  # callers may sit inside torch.no_grad()
        warnings.simplefilter("ignore")
        try:
            # One attempt, and an iteration cap is not a failure: BoTorch's retry policy would otherwise roll a
            # warm-started fit back to the priors' defaults whenever maxiter is reached.
            fit_gpytorch_mll(
                mll,
                optimizer_kwargs={"options": {"maxiter": maxiter}},
                max_attempts=1,
                warning_handler=lambda w: True,
            )
        except Exception as exc:  # noqa: BLE001 - a failed refit keeps the warm-started hyperparameters
            logger.debug("GP refit failed, keeping previous hyperparameters: %r", exc)
    model.eval()
    return model


def fit_adam(model: SingleTaskGP, iterations: int = 50, lr: float = 0.1) -> SingleTaskGP:
    """The seed paper's fit: Adam on the exact marginal likelihood."""
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    X = model.train_inputs[0]
    with torch.enable_grad():
        for _ in range(iterations):
            opt.zero_grad()
            loss = -mll(model(X), model.train_targets).sum()
            loss.backward()
            opt.step()
    model.eval()
    return model


def _hyperparameters_only(state: dict, model: SingleTaskGP) -> dict:
    """Drop buffers tied to the old training data (outcome-transform statistics, cached data)."""
    own = model.state_dict()
    return {
        k: v for k, v in state.items() if k in own and own[k].shape == v.shape and not k.startswith("outcome_transform")
    }
