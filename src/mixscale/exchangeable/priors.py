"""Priors over exchangeable sequences, sampled on the fly.

A prior is anything with an input dimension and a seeded ``sample`` method returning a batch of sequences of
pairs (x_i, y_i) that are i.i.d. given a per-sequence latent:

.. math::

    \\phi \\sim p(\\phi), \\qquad (x_i, y_i) \\overset{iid}{\\sim} p(x)\\, p(y \\mid x, \\phi), \\quad i
    = 1..n.

That narrow interface (:class:`Prior`) is all the training loop, the inference code and the diagnostics use,
so a new prior (e.g. tasks drawn from the mixture simulator) plugs in by implementing ``x_dim`` and
``sample``.

Noise convention: every prior here takes the observation noise as a **standard deviation** (``noise_std``,
``tau``), never a variance. The seed paper's GP noise *variance* 0.1 is ``noise_std = sqrt(0.1) ≈ 0.316``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from mixscale.errors import ValidationError

__all__ = [
    "SequenceBatch",
    "Prior",
    "GPPrior",
    "BanditPrior",
    "ActiveLearningPrior",
    "PRIORS",
    "make_prior",
]


@dataclass
class SequenceBatch:
    """A batch of sequences: ``x`` is (B, n, d), ``y`` is (B, n); ``latent`` holds prior-specific draws."""

    x: Tensor
    y: Tensor
    latent: dict[str, Tensor] = field(default_factory=dict)


@runtime_checkable
class Prior(Protocol):
    """The interface every prior implements."""

    name: str
    x_dim: int

    def sample(self, batch_size: int, n: int, generator: torch.Generator) -> SequenceBatch: ...

    def params(self) -> dict[str, Any]: ...


def _positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValidationError(name, f"must be a positive finite number, got {value!r}")


@dataclass(frozen=True)
class GPPrior:
    """Gaussian-process regression prior with an RBF kernel.

    .. math::

        x_i \\sim U[\\text{low}, \\text{high}]^d, \\quad f \\sim GP(0, k), \\quad
        k(x, x') = s^2 \\exp\\Big(-\\frac{\\lVert x - x' \\rVert^2}{2 \\ell^2}\\Big), \\quad
        y_i = f(x_i) + \\sigma_n \\varepsilon_i,

    with ``s = sqrt(outputscale)`` (``outputscale`` is the kernel variance s², as in GPyTorch) and ``σ_n =
    noise_std`` a standard deviation. Defaults follow the seed paper (ℓ = 1, s² = 1, noise variance 0.1, x ∈
    [−2, 2]^d).
    """

    x_dim: int = 1
    lengthscale: float = 1.0
    outputscale: float = 1.0
    noise_std: float = math.sqrt(0.1)
    low: float = -2.0
    high: float = 2.0
    name: str = "gp"

    def __post_init__(self) -> None:
        if not (isinstance(self.x_dim, int) and self.x_dim >= 1):
            raise ValidationError("x_dim", f"must be an integer >= 1, got {self.x_dim!r}")
        _positive("lengthscale", self.lengthscale)
        _positive("outputscale", self.outputscale)
        _positive("noise_std", self.noise_std)
        if not self.high > self.low:
            raise ValidationError("high", f"must exceed low ({self.low}), got {self.high}")

    def params(self) -> dict[str, Any]:
        return asdict(self)

    def kernel(self, a: Tensor, b: Tensor) -> Tensor:
        """k(a, b) for a (..., n, d), b (..., m, d) → (..., n, m)."""
        d2 = (a.unsqueeze(-2) - b.unsqueeze(-3)).pow(2).sum(-1)
        return self.outputscale * torch.exp(-0.5 * d2 / self.lengthscale**2)

    def sample_x(self, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
        u = torch.rand(*shape, self.x_dim, generator=generator)
        return self.low + (self.high - self.low) * u

    def sample(self, batch_size: int, n: int, generator: torch.Generator) -> SequenceBatch:
        x = self.sample_x((batch_size, n), generator)
        k = self.kernel(x, x) + 1e-6 * self.outputscale * torch.eye(n)
        chol, info = torch.linalg.cholesky_ex(k)
        if bool(info.any()):  # long sequences: float32 Gram matrix too ill-conditioned, factor in float64
            jitter = 1e-6 * self.outputscale * torch.eye(n, dtype=torch.float64)
            chol = torch.linalg.cholesky(k.double() + jitter).float()
        f = (chol @ torch.randn(batch_size, n, 1, generator=generator)).squeeze(-1)
        y = f + self.noise_std * torch.randn(batch_size, n, generator=generator)
        return SequenceBatch(x=x, y=y, latent={"f": f})


@dataclass(frozen=True)
class BanditPrior:
    """Sequences of rewards of one arm of a Gaussian bandit.

    Each sequence picks an arm type a uniformly from ``sigmas``/``taus`` and then

    .. math::

        \\theta \\sim N(0, \\sigma_a^2), \\qquad y_i = \\theta + \\tau_a \\varepsilon_i, \\qquad
        x_i = (\\sigma_a, \\tau_a) \\text{ for all } i,

    so the input tells the model which prior the arm comes from. Arms of a bandit are independent under the
    prior, so a bandit policy conditions each arm's predictive on that arm's rewards only. Defaults are the
    seed paper's two arms, σ = (0.5, 0.9), τ = (0.5, 0.1) (τ is a standard deviation).
    """

    sigmas: tuple[float, ...] = (0.5, 0.9)
    taus: tuple[float, ...] = (0.5, 0.1)
    name: str = "bandit"
    x_dim: int = 2

    def __post_init__(self) -> None:
        if len(self.sigmas) != len(self.taus) or len(self.sigmas) == 0:
            raise ValidationError("taus", "sigmas and taus must be non-empty and of equal length")
        for s in self.sigmas:
            _positive("sigmas", s)
        for t in self.taus:
            _positive("taus", t)
        if self.x_dim != 2:
            raise ValidationError("x_dim", "the bandit prior's inputs are (sigma, tau): x_dim must be 2")

    def params(self) -> dict[str, Any]:
        return {"sigmas": list(self.sigmas), "taus": list(self.taus)}

    def arm_features(self, arm: Tensor) -> Tensor:
        """(…,) arm-type indices → (…, 2) inputs (σ_a, τ_a)."""
        table = torch.tensor([self.sigmas, self.taus]).T
        return table[arm]

    def sample(self, batch_size: int, n: int, generator: torch.Generator) -> SequenceBatch:
        arm = torch.randint(len(self.sigmas), (batch_size,), generator=generator)
        feats = self.arm_features(arm)
        theta = feats[:, 0] * torch.randn(batch_size, generator=generator)
        y = theta[:, None] + feats[:, 1:2] * torch.randn(batch_size, n, generator=generator)
        x = feats[:, None, :].expand(batch_size, n, 2).contiguous()
        return SequenceBatch(x=x, y=y, latent={"theta": theta, "arm": arm})


@dataclass(frozen=True)
class ActiveLearningPrior:
    """Piecewise-constant regression with regions of two kinds of uncertainty.

    ``[low, high]`` is cut into ``n_regions`` equal regions. Region r has a level θ_r ~ N(0, s_r²) and noise
    standard deviation τ_r:

    - *epistemic* regions: s = 0.9, τ = 0.1 (unknown level, clean observations);
    - *aleatoric* regions: s = 0.5, τ = 0.7 (level nearly known, noisy observations).

    ``layout="halves"`` puts the epistemic regions on the left half (x < midpoint) and the aleatoric ones on
    the right; ``"alternate"`` interleaves them (even regions epistemic). The layout is fixed, so the model
    can learn from x which kind a region is. With ``snap=True`` every x is the centre of its region (ties
    between points of the same region are exact); otherwise x is uniform within the region. y = θ_{r(x)} +
    τ_{r(x)} ε.
    """

    n_regions: int = 50
    low: float = -5.0
    high: float = 5.0
    epistemic: tuple[float, float] = (0.9, 0.1)
    aleatoric: tuple[float, float] = (0.5, 0.7)
    layout: str = "halves"
    snap: bool = True
    name: str = "al"
    x_dim: int = 1

    def __post_init__(self) -> None:
        if not (isinstance(self.n_regions, int) and self.n_regions >= 2):
            raise ValidationError("n_regions", f"must be an integer >= 2, got {self.n_regions!r}")
        if not self.high > self.low:
            raise ValidationError("high", f"must exceed low ({self.low}), got {self.high}")
        if self.layout not in ("halves", "alternate"):
            raise ValidationError("layout", f"must be 'halves' or 'alternate', got {self.layout!r}")
        for v in (*self.epistemic, *self.aleatoric):
            _positive("epistemic/aleatoric", v)

    def params(self) -> dict[str, Any]:
        d = asdict(self)
        d["epistemic"], d["aleatoric"] = list(self.epistemic), list(self.aleatoric)
        return d

    @property
    def width(self) -> float:
        return (self.high - self.low) / self.n_regions

    def centres(self) -> Tensor:
        """(n_regions,) region centres."""
        return self.low + self.width * (torch.arange(self.n_regions, dtype=torch.float32) + 0.5)

    def is_epistemic(self) -> Tensor:
        """(n_regions,) bool: which regions have the high-epistemic / low-aleatoric kind."""
        r = torch.arange(self.n_regions)
        if self.layout == "halves":
            return r < self.n_regions // 2
        return r % 2 == 0

    def region_scales(self) -> tuple[Tensor, Tensor]:
        """(s_r, τ_r) per region: prior std of the level and noise std."""
        ep = self.is_epistemic()
        s = torch.where(ep, self.epistemic[0], self.aleatoric[0])
        tau = torch.where(ep, self.epistemic[1], self.aleatoric[1])
        return s.float(), tau.float()

    def region_of(self, x: Tensor) -> Tensor:
        """(…, 1) inputs → (…,) region indices."""
        r = torch.floor((x[..., 0] - self.low) / self.width).long()
        return r.clamp(0, self.n_regions - 1)

    def sample(self, batch_size: int, n: int, generator: torch.Generator) -> SequenceBatch:
        s, tau = self.region_scales()
        theta = s * torch.randn(batch_size, self.n_regions, generator=generator)
        if self.snap:
            region = torch.randint(self.n_regions, (batch_size, n), generator=generator)
            x = self.centres()[region]
        else:  # x ~ U[low, high]; its region is read off x, so region_of(x) is the region y came from
            x = self.low + (self.high - self.low) * torch.rand(batch_size, n, generator=generator)
            region = self.region_of(x[..., None])
        y = theta.gather(1, region) + tau[region] * torch.randn(batch_size, n, generator=generator)
        return SequenceBatch(x=x[..., None], y=y, latent={"theta": theta, "region": region})


PRIORS: dict[str, type] = {"gp": GPPrior, "bandit": BanditPrior, "al": ActiveLearningPrior}


def make_prior(name: str, /, **params: Any) -> Prior:
    """Build a prior by registry name (``gp``, ``bandit``, ``al``) from keyword parameters."""
    if name not in PRIORS:
        raise ValidationError("prior", f"unknown prior {name!r}; choose one of {sorted(PRIORS)}")
    cls = PRIORS[name]
    fixed: dict[str, Any] = {}
    for k, v in params.items():
        if k == "name":
            continue
        fixed[k] = tuple(v) if isinstance(v, list) else v
    try:
        return cls(**fixed)
    except TypeError as err:
        raise ValidationError("prior", f"bad parameters for prior {name!r}: {err}") from None
