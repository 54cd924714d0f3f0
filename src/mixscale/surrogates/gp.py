r"""Gaussian-process surrogates over (mixture, scale, steps), built from GPyTorch parts and fitted with BoTorch.

The ``mfms`` model
------------------
Inputs :math:`x = (\phi(w), u, v)`: a simplex embedding :math:`\phi` (Hellinger by default) and log-scaled
fidelity coordinates :math:`u` (scale, from :math:`\log 6NT`) and :math:`v` (steps), both in :math:`[0, 1]`. The
loss is mostly a smooth function of scale and steps, plus a smaller mixture effect that is correlated across scales
but shifts. So

.. math::

    f(x) = \mu(u, v) + g(u, v) + h(w, s, v) + r_{\mathrm{run}},\qquad
    k = s_0\, k_{5/2}(uv, uv') + s_1\, k_{5/2}^{\mathrm{ARD}}(\phi, \phi')\, k_{\mathrm{ladder}}(s, s')\,
        k_{5/2}(v, v') + s_2\, 1[\mathrm{run} = \mathrm{run}'],

with a mean linear in :math:`(u, v)`. The first kernel carries the scaling curve; the last one the seed offset
shared by all points of one run's learning curve (:class:`SameRunKernel`). The mixture effect :math:`h` is
correlated across the scale ladder by

.. math::

    k_{\mathrm{ladder}}(s, s') = c + \min(u_s, u_{s'}) + \tau_s\, 1[s = s'] ,

an autoregressive multi-fidelity structure in the spirit of Kennedy & O'Hagan (2000): the mixture effect at a
larger scale is the one at a smaller scale plus an independent increment whose variance grows with the log-distance
(Brownian motion along :math:`u`, started with variance :math:`c`), and each rung may deviate in its own way by
:math:`\tau_s` without that deviation carrying over to larger rungs (:class:`ScaleLadderKernel`). Two consequences
matter for the search: correlation between rungs falls with distance but never to one, and the target's own
deviation :math:`\tau_{s^*}` is learned only from runs at the target — until there are some, it sits at its prior,
so the model stays honest about how much small runs say about the target. With ``step_levels`` the steps factor
gets the same per-level term, :math:`k_{5/2}(v, v') + \tau_z\, 1[z = z']` (:class:`LevelDeviationKernel`): the
full schedule's own deviation is then learned only from runs that reach it, instead of being extrapolated from
the shorter levels' learning curves (an option of ``mfms``, ``step_deviations``; measured in ``docs/benchmark.md``,
"Honest step transfer"). Outcomes are standardized; all
hyperparameters (and the noise) are refit by marginal likelihood whenever data arrive, warm-started from the
previous fit.

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
from gpytorch.priors import GammaPrior, LogNormalPrior, NormalPrior

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


def nearest_level(x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Index of the level nearest to each entry of ``x`` (inputs are assigned to the nearest rung / step level)."""
    return torch.argmin((x.unsqueeze(-1) - levels).abs(), dim=-1)


class ScaleLadderKernel(gpytorch.kernels.Kernel):
    r""":math:`k(u, u') = c + \min(u, u') + \tau_{s(u)}\, 1[s(u) = s(u')] + (A A^\top)_{s(u) s(u')}` on the scale
    coordinate of a ladder.

    ``levels`` are the rungs' coordinates :math:`u_s`; an input is assigned to the nearest rung. :math:`c > 0` and
    one :math:`\tau_s > 0` per rung are hyperparameters. With ``rank > 0``, :math:`A` (rungs × rank) are free
    *signed* loadings with a zero-mean Gaussian prior correlated along the ladder: a low-rank coregionalization term
    (Bonilla et al., 2008) that lets two rungs correlate negatively (loadings of opposite sign outweighing the
    ladder part), shrunk toward the ladder prior (:math:`A = 0`). GPyTorch's ``IndexKernel`` needs an integer task
    column and has no ladder part; neither it nor any GPyTorch kernel is a Brownian motion with a per-level nugget
    on a continuous coordinate, hence this class.
    """

    def __init__(
        self, levels, offset_prior=None, deviation_prior=None, rank: int = 0, loading_scale: float = 1.0, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.register_buffer("levels", torch.as_tensor(levels, dtype=torch.double))
        self.register_parameter("raw_offset", torch.nn.Parameter(torch.zeros(1, dtype=torch.double)))
        self.register_constraint("raw_offset", gpytorch.constraints.Positive())
        self.register_parameter(
            "raw_deviation", torch.nn.Parameter(torch.full((len(levels),), -1.0, dtype=torch.double))
        )
        self.register_constraint("raw_deviation", gpytorch.constraints.Positive())
        self.rank = int(rank)
        #: When True, the top rung (the target) is uncorrelated with every other rung: the "small runs say nothing
        #: about the target" hypothesis, with the same hyperparameters otherwise.
        self.decouple_top = False
        #: When True, the sign of every covariance between the top rung and the others is flipped (a congruence by
        #: diag(1, ..., 1, -1), so the matrix stays positive semi-definite): the "the ladder is inverted at the
        #: target" hypothesis, with the same hyperparameters otherwise.
        self.flip_top = False
        if self.rank:
            # Loadings correlated along the ladder, A = L Z with L L^T an RBF over u (lengthscale 0.5) and
            # Z ~ N(0, s^2) entrywise (a whitened Gaussian prior): a rung without data inherits the sign of its
            # neighbours, not of rungs far below it.
            u = self.levels
            cov = torch.exp(-0.5 * (u[:, None] - u[None, :]) ** 2 / 0.25) + 1e-4 * torch.eye(len(u), dtype=u.dtype)
            self.register_buffer("loading_chol", torch.linalg.cholesky(cov))
            self.register_parameter(
                "raw_loadings", torch.nn.Parameter(torch.zeros(len(levels), self.rank, dtype=torch.double))
            )
            self.register_prior("loadings_prior", NormalPrior(0.0, float(loading_scale)), lambda m: m.raw_loadings)
        if offset_prior is not None:
            self.register_prior("offset_prior", offset_prior, lambda m: m.offset, lambda m, x: m._set("offset", x))
        if deviation_prior is not None:
            self.register_prior(
                "deviation_prior", deviation_prior, lambda m: m.deviation, lambda m, x: m._set("deviation", x)
            )

    @property
    def offset(self) -> torch.Tensor:
        return self.raw_offset_constraint.transform(self.raw_offset)

    @property
    def loadings(self) -> torch.Tensor:
        """Signed rung loadings :math:`A` (rungs × rank)."""
        return self.loading_chol @ self.raw_loadings

    @loadings.setter
    def loadings(self, value: torch.Tensor) -> None:
        with torch.no_grad():
            self.raw_loadings.copy_(torch.linalg.solve_triangular(self.loading_chol, value, upper=False))

    @property
    def deviation(self) -> torch.Tensor:
        return self.raw_deviation_constraint.transform(self.raw_deviation)

    def _set(self, name: str, value) -> None:
        raw = getattr(self, f"raw_{name}")
        value = torch.as_tensor(value).to(raw).expand_as(raw)
        self.initialize(**{f"raw_{name}": getattr(self, f"raw_{name}_constraint").inverse_transform(value)})

    def _rung(self, u: torch.Tensor) -> torch.Tensor:
        return nearest_level(u, self.levels)

    def rung_covariance(self) -> torch.Tensor:
        """The (rungs × rungs) covariance this kernel puts between the rungs."""
        u = self.levels
        cov = self.offset + torch.minimum(u[:, None], u[None, :]) + torch.diag(self.deviation)
        if self.rank:
            cov = cov + self.loadings @ self.loadings.T
        if self.decouple_top or self.flip_top:
            top = torch.arange(len(u)) == len(u) - 1
            cross = top[:, None] ^ top[None, :]  # one of the two rungs is the target
            cov = torch.where(cross, torch.zeros_like(cov) if self.decouple_top else -cov, cov)
        return cov

    def rung_correlation(self) -> torch.Tensor:
        """The rungs' correlation matrix (entries may be negative when ``rank > 0``)."""
        cov = self.rung_covariance()
        d = cov.diagonal().sqrt()
        return cov / (d[:, None] * d[None, :])

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **params) -> torch.Tensor:
        a, b = x1[..., 0], x2[..., 0]
        ra, rb = self._rung(a), self._rung(b)
        tau = self.deviation[ra]
        if diag:
            out = self.offset + torch.minimum(a, b) + tau * (ra == rb)
            if self.rank:
                out = out + (self.loadings[ra] * self.loadings[rb]).sum(-1)
            return out
        same = ra.unsqueeze(-1) == rb.unsqueeze(-2)
        out = self.offset + torch.minimum(a.unsqueeze(-1), b.unsqueeze(-2)) + tau.unsqueeze(-1) * same
        if self.rank:
            out = out + self.loadings[ra] @ self.loadings[rb].transpose(-1, -2)
        if self.decouple_top or self.flip_top:
            top = len(self.levels) - 1
            cross = ((ra == top).unsqueeze(-1) ^ (rb == top).unsqueeze(-2)).to(out.dtype)
            out = out * (1.0 - cross if self.decouple_top else 1.0 - 2.0 * cross)
        return out


class LevelDeviationKernel(gpytorch.kernels.Kernel):
    r""":math:`k(v, v') = \tau_{z(v)}\, 1[z(v) = z(v')]` on a coordinate with discrete ``levels``: one deviation per
    level, learned only from points at that level (:class:`ScaleLadderKernel`'s :math:`\tau_s` term on its own).
    Added to the smooth steps kernel, it keeps the full schedule's mixture effect from being a pure extrapolation
    of the shorter levels. GPyTorch has no per-level nugget on a continuous coordinate, hence this class.
    """

    def __init__(self, levels, deviation_prior=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.register_buffer("levels", torch.as_tensor(levels, dtype=torch.double))
        self.register_parameter(
            "raw_deviation", torch.nn.Parameter(torch.full((len(levels),), -1.0, dtype=torch.double))
        )
        self.register_constraint("raw_deviation", gpytorch.constraints.Positive())
        if deviation_prior is not None:
            self.register_prior(
                "deviation_prior", deviation_prior, lambda m: m.deviation, lambda m, x: m._set_deviation(x)
            )

    @property
    def deviation(self) -> torch.Tensor:
        return self.raw_deviation_constraint.transform(self.raw_deviation)

    def _set_deviation(self, value) -> None:
        value = torch.as_tensor(value).to(self.raw_deviation).expand_as(self.raw_deviation)
        self.initialize(raw_deviation=self.raw_deviation_constraint.inverse_transform(value))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **params) -> torch.Tensor:
        ra, rb = nearest_level(x1[..., 0], self.levels), nearest_level(x2[..., 0], self.levels)
        tau = self.deviation[ra]
        if diag:
            return tau * (ra == rb)
        return tau.unsqueeze(-1) * (ra.unsqueeze(-1) == rb.unsqueeze(-2))


def mfms_model(
    train_X: torch.Tensor, train_Y: torch.Tensor, n_mixture_dims: int, levels, rank: int = 0, step_levels=None
) -> SingleTaskGP:
    """The additive scaling + (mixture × ladder × steps) GP described in the module docstring.

    Columns of ``train_X``: the mixture embedding (``n_mixture_dims``), the scale and steps coordinates, and a run
    id; ``levels`` are the scale coordinates of the ladder's rungs; ``step_levels`` (optional) the steps
    coordinates of the step levels, which adds a :class:`LevelDeviationKernel` to the steps factor.
    """
    d = train_X.shape[-1]
    w_dims = list(range(n_mixture_dims))
    u, v = n_mixture_dims, n_mixture_dims + 1
    scaling = MaternKernel(nu=2.5, ard_num_dims=2, active_dims=[u, v], lengthscale_prior=LogNormalPrior(0.0, 1.0))
    mixture = MaternKernel(
        nu=2.5,
        ard_num_dims=len(w_dims),
        active_dims=w_dims,
        lengthscale_prior=LogNormalPrior(0.0, 1.0),
        lengthscale_constraint=Interval(0.02, 20.0),
    )
    ladder = ScaleLadderKernel(
        levels,
        active_dims=[u],
        offset_prior=GammaPrior(2.0, 2.0),
        deviation_prior=GammaPrior(2.0, 4.0),
        rank=rank,
    )
    steps = MaternKernel(nu=2.5, active_dims=[v], lengthscale_prior=LogNormalPrior(0.0, 1.0))
    if step_levels is not None:
        steps = steps + LevelDeviationKernel(step_levels, active_dims=[v], deviation_prior=GammaPrior(2.0, 4.0))
    covar = (
        ScaleKernel(scaling, outputscale_prior=GammaPrior(2.0, 2.0))
        + ScaleKernel(mixture * ladder * steps, outputscale_prior=GammaPrior(2.0, 4.0))
        + ScaleKernel(SameRunKernel(active_dims=[d - 1]), outputscale_prior=GammaPrior(1.1, 20.0))
    )
    likelihood = GaussianLikelihood(noise_prior=GammaPrior(1.1, 20.0), noise_constraint=GreaterThan(1e-5))
    return SingleTaskGP(
        train_X,
        train_Y,
        likelihood=likelihood,
        covar_module=covar,
        mean_module=SlicedLinearMean([u, v]),
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


def fit_lbfgs(
    model: SingleTaskGP, warm_state: dict | None = None, maxiter: int = 40, tol_nats: float | None = None
) -> SingleTaskGP:
    """Maximum a-posteriori fit by L-BFGS-B (BoTorch), warm-started from a previous model's hyperparameters.

    ``tol_nats``: stop once an iteration raises the log posterior by less than about this many nats in total
    (scipy's relative ``ftol`` on the per-point loss BoTorch minimizes, set to ``tol_nats / n``; the loss is of
    order 1, so the bar is ``tol_nats`` times its magnitude). ``None`` keeps scipy's default (``2.2e-9``), which a
    warm-started fit rarely meets before ``maxiter``: the posterior is flat near the previous optimum and L-BFGS
    wanders along it for dozens of iterations that gain hundredths of a nat.
    """
    if warm_state is not None:
        try:
            model.load_state_dict(hyperparameters_only(warm_state, model), strict=False)
        except RuntimeError:
            pass
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    options: dict = {"maxiter": maxiter}
    if tol_nats is not None:
        options["ftol"] = float(tol_nats) / model.train_targets.shape[-1]
    with warnings.catch_warnings(), torch.enable_grad():  # callers may sit inside torch.no_grad()
        warnings.simplefilter("ignore")
        try:
            # One attempt, and an iteration cap is not a failure: BoTorch's retry policy would otherwise roll a
            # warm-started fit back to the priors' defaults whenever maxiter is reached.
            fit_gpytorch_mll(
                mll,
                optimizer_kwargs={"options": options},
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


def hyperparameters_only(state: dict, model: SingleTaskGP) -> dict:
    """Drop buffers tied to the old training data (outcome-transform statistics, cached data)."""
    own = model.state_dict()
    return {
        k: v for k, v in state.items() if k in own and own[k].shape == v.shape and not k.startswith("outcome_transform")
    }
