r"""Synthetic scale ladders with a known optimum: the generator behind the suite's problem families.

A :class:`LadderProblem` is a :class:`~mixscale.objective.BenchmarkObjective` on ``k`` domains, a ladder of rungs
:math:`N_0 < \dots < N_{R-1}` (the target is the top rung at the full schedule :math:`Z`) and three step levels
:math:`Z/4, Z/2, Z`. Everything random is drawn from ``numpy.random.default_rng([seed, crc32(name)])``, so the same
``(spec, seed)`` always gives the same objective.

**Target mixture effect** (known optimum by construction). Pick a support :math:`S` (1 index: vertex; 2: edge;
about :math:`k/2`: face; all: interior), an optimum :math:`w^*` on it (Dirichlet(2) on :math:`S`; interior optima
are kept ≥ 0.3/k from the faces) and

.. math::

    M^*(w) = s\Big[\sum_i a_i\Big((w_i+\epsilon)\log\tfrac{w_i+\epsilon}{w^*_i+\epsilon} - (w_i - w^*_i)\Big)
             + \tfrac12 (w-w^*)^\top Q (w-w^*) + \sum_{i \notin S} g_i w_i\Big],

with :math:`a_i > 0` (log-normal), :math:`\epsilon = 0.02`, :math:`Q = AA^\top/k \succeq 0` (domain interactions)
and :math:`g_i > 0`. The first term is the Bregman divergence of a strictly convex entropy (zero gradient at
:math:`w^*`; steep near :math:`w_i = 0`: removing a domain costs more than adding it, as on real losses), so
:math:`M^*` is strictly convex with :math:`\nabla M^*(w^*) = s\,g` (zero on :math:`S`, positive off it): these are
the KKT conditions of :math:`\min_{\Delta} M^*` with multipliers :math:`\lambda = 0,\ \mu = s g \ge 0`, hence
:math:`w^*` is the unique minimizer, with **exact zeros** off :math:`S`, and :math:`M^*(w^*) = 0`. The scale
:math:`s` makes the median regret of a uniformly random mixture equal to ``spread`` (0.15, about our runs' 0.16
bits per byte).

**Rungs** (:math:`u_m \in [0, 1]` = log-scale position, 0 at the smallest rung, 1 at the target). With
:math:`\eta_m`, :math:`\eta'_m` independent smooth random functions of :math:`w` (random Fourier features of an RBF
kernel of lengthscale 0.35, normalized to unit standard deviation over uniform mixtures, times :math:`\mathrm{sd}
(M^*)`; :math:`\eta_m` is made uncorrelated with :math:`M^*, \sqrt{M^*}, \log(M^* + 0.01\,\mathrm{spread})` over
uniform mixtures, so it carries no rank information about the target):

* ``faithful``: :math:`M_m = M^* + 0.15(1-u_m)\eta_m` — small runs rank mixtures like the target.
* ``drift``: :math:`M_m` is :math:`M^*` built around a moving centre :math:`c_m = (1-t_m) w^\circ + t_m w^*`
  (:math:`t_m = u_m^{0.7}`, :math:`w^\circ` a random interior mixture) with the face-penalty :math:`t_m g` — the
  optimum drifts from :math:`w^\circ` to :math:`w^*` along the ladder (as on our runs and the analytic simulator).
* ``anti``: :math:`M_m = \rho_m M^* + \sqrt{1-\rho_m^2}\,\eta_m` with :math:`\rho_m = -0.8 + 1.8u_m^2`: the small
  rungs rank mixtures *opposite* to the target (as 20M/60M do on published downstream accuracy), the top ones agree.
* ``top-only``: :math:`M_m = \eta_m` below the target: only the top rung (at any step level) says anything.

**Steps and scale.** A run of :math:`t` steps at rung :math:`m` (tokens :math:`D = t\,T_m`) has loss

.. math::

    L(w, m, t) = E + A (N_m/N_{R-1})^{-0.34} + B (D/D^*)^{-0.28} + M_m(w) + 0.3(1 - t/Z)\,\mathrm{sd}(M^*)\eta'_m(w),

the last term a short-run bias (short runs favour other mixtures a little). Tokens per step are constant
(cost :math:`\propto 6 N_m T z \propto N_m z`) or, for compute-optimal ladders, proportional to :math:`N_m` (so
:math:`D \propto N` and cost :math:`\propto N_m^2 z`). **Accuracy** families report
:math:`0.25 + 0.6\,\sigma((c - L)/\tau)` (maximized; :math:`c` puts the target's optimum at 0.6 of the way up,
:math:`\tau = 0.5`): small models sit near chance, where the sigmoid compresses mixture effects.

**Seed noise** is added to the loss, as the fitted simulator does: one offset per run
:math:`\sigma_m\xi` shared along the learning curve plus a jitter :math:`0.25\sigma_m\eta_t` per curve point, with
:math:`\sigma_m = \nu \cdot 0.13\,\mathrm{spread}\,(N_m/N_0)^{-0.03}`: :math:`\nu = 1` is our measured level (σ ≈
0.020–0.023 bits per byte against a random-mixture regret of 0.16, nearly flat over a 62× scale range), 2 doubles it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from mixscale import simplex
from mixscale.errors import ValidationError
from mixscale.objective import Metric, Observation
from mixscale.space import Config, Scale, Space

TRANSFERS = ("faithful", "drift", "anti", "top-only")
OPTIMA = ("vertex", "edge", "face", "interior")
EPS, RFF_FEATURES, RFF_LENGTHSCALE = 0.02, 64, 0.35
NOISE_LEVEL = 0.13  # our runs: seed sd / median regret of a random mixture (0.021 / 0.159)
E0, A_SCALE, B_STEPS, ALPHA, BETA = 1.8, 0.5, 0.3, 0.34, 0.28
BASE_STEPS = 4000


@dataclass(frozen=True)
class LadderSpec:
    """One family's structure. ``span`` is :math:`N_{R-1}/N_0`; ``compute_optimal`` scales tokens per step with N."""

    name: str
    transfer: str
    optimum: str
    noise: float
    metric: str  # "loss" (minimized) or "accuracy" (maximized)
    k: int
    rungs: int
    span: float = 50.0
    compute_optimal: bool = False
    spread: float = 0.15

    def __post_init__(self) -> None:
        if self.transfer not in TRANSFERS:
            raise ValidationError("transfer", f"must be one of {TRANSFERS}, got {self.transfer!r}")
        if self.optimum not in OPTIMA:
            raise ValidationError("optimum", f"must be one of {OPTIMA}, got {self.optimum!r}")
        if self.metric not in ("loss", "accuracy"):
            raise ValidationError("metric", f"must be 'loss' or 'accuracy', got {self.metric!r}")
        if not (2 <= self.k <= 64 and 2 <= self.rungs <= 12 and self.span > 1 and self.noise >= 0):
            raise ValidationError(self.name, "need 2 <= k <= 64, 2 <= rungs <= 12, span > 1, noise >= 0")


class _Smooth:
    """A smooth random function of the mixture: random Fourier features of an RBF kernel, unit sd on the simplex."""

    def __init__(self, rng: np.random.Generator, k: int) -> None:
        self.omega = rng.standard_normal((k, RFF_FEATURES)) / RFF_LENGTHSCALE
        self.phase = rng.uniform(0, 2 * np.pi, RFF_FEATURES)
        self.coef = rng.standard_normal(RFF_FEATURES) * np.sqrt(2.0 / RFF_FEATURES)
        ref = simplex.sample_dirichlet(rng, 4000, k, 1.0)
        raw = self._raw(ref)
        self.mean, self.sd = float(raw.mean()), float(raw.std()) + 1e-12

    def _raw(self, W: np.ndarray) -> np.ndarray:
        return np.cos(W @ self.omega + self.phase) @ self.coef

    def __call__(self, W: np.ndarray) -> np.ndarray:
        return (self._raw(W) - self.mean) / self.sd


class _Bowl:
    r"""The strictly convex mixture effect :math:`M(w)` of the module docstring around ``centre`` (unscaled)."""

    def __init__(self, centre: np.ndarray, a: np.ndarray, Q: np.ndarray, g: np.ndarray) -> None:
        self.centre, self.a, self.Q, self.g = centre, a, Q, g

    def __call__(self, W: np.ndarray) -> np.ndarray:
        c = self.centre
        ent = (self.a * ((W + EPS) * np.log((W + EPS) / (c + EPS)) - (W - c))).sum(axis=-1)
        d = W - c
        return ent + 0.5 * np.einsum("ni,ij,nj->n", d, self.Q, d) + W @ self.g


class LadderProblem:
    """A seeded synthetic ladder (see the module docstring for the generator); a ``BenchmarkObjective``."""

    def __init__(self, spec: LadderSpec, seed: int = 0, curve_points: int = 8) -> None:
        self.spec, self.seed, self.curve_points = spec, int(seed), int(curve_points)
        rng = np.random.default_rng([self.seed, zlib.crc32(spec.name.encode())])
        k, R = spec.k, spec.rungs
        params = np.geomspace(1.0, spec.span, R) * 20e6
        tps = params / params[-1] * 2**20 if spec.compute_optimal else np.full(R, 2.0**20)
        scales = tuple(Scale(f"{p / 1e6:.0f}M", float(p), float(t)) for p, t in zip(params, tps, strict=True))
        self.space = Space([f"d{i}" for i in range(k)], scales, (BASE_STEPS // 4, BASE_STEPS // 2, BASE_STEPS))
        self.metric = Metric(spec.metric, minimize=spec.metric == "loss")
        self.u = np.log(params / params[0]) / np.log(params[-1] / params[0])
        self._tokens_target = BASE_STEPS * tps[-1]

        # --- the target's mixture effect, optimum by construction
        n_support = {"vertex": 1, "edge": 2, "face": max(2, k // 2), "interior": k}[spec.optimum]
        support = np.sort(rng.choice(k, n_support, replace=False))
        w_star = np.zeros(k)
        w_star[support] = rng.dirichlet(np.full(n_support, 2.0))
        if spec.optimum == "interior":
            w_star = 0.7 * w_star + 0.3 / k
        a = np.exp(0.5 * rng.standard_normal(k))
        A = rng.standard_normal((k, k))
        Q = A @ A.T / k
        g = np.where(np.isin(np.arange(k), support), 0.0, rng.uniform(0.5, 1.5, k))
        self.w_star = w_star
        target_bowl = _Bowl(w_star, a, Q, g)
        ref = simplex.sample_dirichlet(rng, 4000, k, 1.0)
        self._scale = spec.spread / float(np.median(target_bowl(ref)))
        self._sd = float((self._scale * target_bowl(ref)).std())
        self._target_bowl = target_bowl

        # --- each rung's mixture effect and short-run bias
        self._noise_fn = [_Smooth(rng, k) for _ in range(R)]
        self._short = [_Smooth(rng, k) for _ in range(R)]
        # η_m is made uncorrelated with monotone transforms of M* over uniform mixtures (least squares on
        # M*, √M*, log(M* + 0.01·spread)), so that it carries no rank information about the target
        self._beta = [np.linalg.lstsq(self._basis(ref), f(ref), rcond=None)[0] for f in self._noise_fn]
        self._resid_sd = [
            float((f(ref) - self._basis(ref) @ b).std()) for f, b in zip(self._noise_fn, self._beta, strict=True)
        ]
        origin = 0.5 * rng.dirichlet(np.ones(k)) + 0.5 / k
        self._bowls = []
        for m in range(R):
            t = self.u[m] ** 0.7
            self._bowls.append(_Bowl((1 - t) * origin + t * w_star, a, Q, t * g))
        self.rho = np.where(self.u < 1, -0.8 + 1.8 * self.u**2, 1.0)

        sigma0 = spec.noise * NOISE_LEVEL * spec.spread
        self.sigma = sigma0 * (params / params[0]) ** -0.03
        opt_loss = self._loss(w_star[None], R - 1, float(BASE_STEPS))[0]
        self._acc_tau = 0.5
        self._acc_centre = opt_loss + self._acc_tau * np.log(0.6 / 0.4)  # σ((c - L*)/τ) = 0.6 at the optimum
        self._optimum = (w_star.copy(), float(self._metric(np.array([opt_loss]))[0]))

    # ------------------------------------------------------------------ the generator
    def _basis(self, W: np.ndarray) -> np.ndarray:
        m = self._scale * self._target_bowl(W) / self.spec.spread
        return np.stack([np.ones_like(m), m, np.sqrt(m), np.log(m + 0.01)], axis=-1)

    def mixture_effect(self, W: np.ndarray, rung: int) -> np.ndarray:
        """:math:`M_m(w)` of the module docstring at rung index ``rung`` (the target is the last)."""
        W = np.atleast_2d(W)
        target = self._scale * self._target_bowl(W)
        if rung == len(self.u) - 1:
            return target
        eta = self._noise_fn[rung](W) - self._basis(W) @ self._beta[rung]
        eta = self._sd * eta / self._resid_sd[rung]
        kind = self.spec.transfer
        if kind == "faithful":
            return target + 0.15 * (1 - self.u[rung]) * eta
        if kind == "drift":
            return self._scale * self._bowls[rung](W)
        if kind == "anti":
            r = self.rho[rung]
            return r * target + np.sqrt(1 - r * r) * eta
        return eta  # top-only

    def _loss(self, W: np.ndarray, rung: int, steps: float) -> np.ndarray:
        s = self.space.scales[rung]
        frac = steps / BASE_STEPS
        base = (
            E0
            + A_SCALE * (s.params / self.space.scales[-1].params) ** -ALPHA
            + B_STEPS * (steps * s.tokens_per_step / self._tokens_target) ** -BETA
        )
        short = 0.3 * (1 - frac) * self._sd * self._short[rung](W)
        return base + self.mixture_effect(W, rung) + short

    def _metric(self, loss: np.ndarray) -> np.ndarray:
        if self.metric.minimize:
            return loss
        return 0.25 + 0.6 / (1 + np.exp(-(self._acc_centre - loss) / self._acc_tau))

    def value_at(self, mixtures: np.ndarray, scale: str, steps: int) -> np.ndarray:
        """Noise-free metric of ``mixtures`` at ``(scale, steps)``."""
        return self._metric(self._loss(np.atleast_2d(mixtures), self.space.scale_index(scale), float(steps)))

    # ------------------------------------------------------------------ the BenchmarkObjective protocol
    def cost(self, scale: str, steps: int) -> float:
        return self.space.cost(scale, steps)

    def evaluate(self, config: Config, seed: int | None = None) -> Observation:
        w = self.space.validate_mixture(config.mixture)
        rung, z = self.space.scale_index(config.scale), int(config.steps)
        points = np.unique(np.linspace(z / self.curve_points, z, self.curve_points).round().astype(int))
        loss = np.array([self._loss(w[None], rung, float(t))[0] for t in points])
        rng = np.random.default_rng(seed)
        sigma = self.sigma[rung]
        loss = loss + sigma * rng.standard_normal() + 0.25 * sigma * rng.standard_normal(len(points))
        values = self._metric(loss)
        curve = tuple((int(t), float(v)) for t, v in zip(points, values, strict=True))
        return Observation(float(values[-1]), self.cost(config.scale, z), curve)

    def target_value(self, mixtures: np.ndarray) -> np.ndarray:
        return self.value_at(mixtures, *self.space.target)

    def optimum(self) -> tuple[np.ndarray, float]:
        """The optimum by construction (``w*`` and its noise-free target value)."""
        return self._optimum[0].copy(), self._optimum[1]
