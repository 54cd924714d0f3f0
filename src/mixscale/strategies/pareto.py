r"""``pareto``: the trade-off between 2–4 metrics at the target, searched per unit cost (ParEGO-style ``mfms``).

Every evaluation reports all metrics (:attr:`~mixscale.objective.Observation.metrics`). The strategy keeps them
(internally in the minimize direction, :math:`y_i = d_i m_i`) and

* **asks** like ``mfms`` (same Sobol design at the cheapest rung, then knowledge gradient per unit cost over
  near-target fidelities), but on a *random linear scalarization* drawn afresh for every ask, in the spirit of
  ParEGO (Knowles, 2006):

  .. math::

      s_\lambda(x) = \sum_i \lambda_i\, y_i(x) / r_i, \qquad \lambda \sim \mathrm{Dirichlet}(1_M),

  where :math:`r_i` is metric :math:`i`'s pooled within-fidelity standard deviation of the observations (so that
  each metric's mixture effect, not its level, sets its weight). The scalarization is linear, not Chebyshev,
  because it is applied to observations at every fidelity: a linear map commutes with the scaling trend shared by
  all rungs, a max does not. Each ask thus buys information about one point of the target front.
* **models** each metric with its own copy of the ``mfms`` GP (same scale-ladder and learning-curve kernels, its
  own hyperparameters), refit when data arrive;
* **recommends** the estimated Pareto front at the target: the non-dominated set of posterior means over a pool of
  mixtures (Dirichlet draws, observed mixtures, local refinement of the front) and of the minimizers of
  ``2 n_front`` augmented Chebyshev scalarizations of the means,

  .. math::

      \min_{w \in P}\ \max_i \lambda_i \frac{\mu_i(w) - z_i}{r_i} + 0.01 \sum_i \lambda_i \frac{\mu_i(w) - z_i}{r_i}

  (:math:`z` the pool's ideal point, :math:`r_i` the means' spread over the pool; every Pareto-optimal point
  minimizes one, convex part of the front or not), each found by projected gradient descent from the best pool
  mixture for its :math:`\lambda` (:func:`~mixscale.surrogates.mean_minimizer.descend`: the projection lands on
  faces, where fronts of mixture problems often lie — a Dirichlet pool almost never has an exact zero). The front
  is thinned to ``n_front`` points spread along it, each with its predicted value and standard deviation per
  metric (:class:`ParetoPoint`).
  ``recommend(weights={...})`` returns the one point of the front minimizing that weighting
  (a :class:`~mixscale.scalarization.Scalarization` of the posterior means, normalized by their spread across the
  pool unless the weights say otherwise), found like ``mfms``'s recommendation (projected descent from the best
  candidates, then the active-set search over faces); ``recommend()`` the equal-weight compromise, with the front
  attached.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from mixscale.errors import ValidationError
from mixscale.objective import Observation
from mixscale.scalarization import Scalarization, metric_direction
from mixscale.space import Config, Space
from mixscale.strategies.base import History, Recommendation, Strategy
from mixscale.strategies.mfms import MFMS
from mixscale.surrogates.exact_posterior import ExactPosterior
from mixscale.surrogates.mean_minimizer import descend, minimize_mean


@dataclass(frozen=True)
class ParetoPoint:
    """One mixture of the estimated front: predicted target value and posterior std of every metric."""

    mixture: dict[str, float]
    values: dict[str, float]
    stds: dict[str, float]


@dataclass(frozen=True)
class ParetoRecommendation(Recommendation):
    """A :class:`Recommendation` (the chosen point) with the whole estimated front attached."""

    front: tuple[ParetoPoint, ...] = ()
    values: dict[str, float] = field(default_factory=dict)
    stds: dict[str, float] = field(default_factory=dict)


def non_dominated(Y: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``Y`` (minimized columns) that no other row dominates (BoTorch's test)."""
    import torch
    from botorch.utils.multi_objective.pareto import is_non_dominated

    return is_non_dominated(-torch.as_tensor(np.asarray(Y, float)), deduplicate=True).numpy()


class ParetoMFMS(Strategy):
    """Options: ``metrics`` (2–4 names), ``directions`` (for names without ``loss``/``accuracy`` prefix),
    ``n_front`` (points returned on the front), and ``mfms``'s ``n_init`` / ``refine_min_cost`` / ``fixed_cost``."""

    name = "pareto"

    def __init__(
        self,
        space: Space,
        cost: Callable[[str, int], float] | None = None,
        minimize: bool = True,
        seed: int = 0,
        *,
        metrics: Sequence[str] = (),
        directions: Mapping[str, Any] | None = None,
        n_front: int = 16,
        n_init: int | None = None,
        refine_min_cost: float = 0.2,
        fixed_cost: float = 0.02,
    ) -> None:
        super().__init__(space, cost, minimize, seed)
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        if not 2 <= len(metrics) <= 4 or len(set(metrics)) != len(metrics):
            raise ValidationError("pareto", f"needs 2 to 4 distinct metric names, got {metrics!r}")
        self.metrics = tuple(str(m) for m in metrics)
        self.directions = dict(directions or {})
        self._sign = np.array([1.0 if metric_direction(m, self.directions) else -1.0 for m in self.metrics])
        self.n_front = int(n_front)
        self.refine_min_cost = float(refine_min_cost)
        self.fixed_cost = float(fixed_cost)
        opts = {"n_init": n_init, "refine_min_cost": self.refine_min_cost, "fixed_cost": self.fixed_cost}
        self._scalar = MFMS(self.space, self.cost, True, self.seed, **opts)
        self._models = [MFMS(self.space, self.cost, True, self.seed, **opts) for _ in self.metrics]
        self.n_init = self._scalar.n_init
        self._Y: list[np.ndarray] = []
        self._curves: list[list[tuple | None]] = []
        self._asks = 0
        self._offset_groups: list[int] = []
        #: Each metric's fit as an :class:`ExactPosterior` (set by :meth:`_sweep`, for the means' gradients).
        self._posteriors: list[ExactPosterior] = []

    # ------------------------------------------------------------------ data
    def _on_tell(self, config: Config, observation: Observation) -> None:
        ws = (observation.info or {}).get("warm_start") or {}
        self._offset_groups.append(int(ws.get("offset_group", 0) or 0))  # changed provenance: own offset
        self._Y.append(np.array([s * observation.metric(m) for s, m in zip(self._sign, self.metrics, strict=True)]))
        self._curves.append(
            [
                None
                if observation.metric_curve(m) is None
                else tuple((z, s * v) for z, v in observation.metric_curve(m))
                for s, m in zip(self._sign, self.metrics, strict=True)
            ]
        )

    def _history(self, values: Sequence[float], curves: Sequence[tuple | None], revision: int) -> History:
        h = self.history
        out = History(list(h.mixtures), list(h.scales), list(h.steps), list(values), list(curves), list(h.costs))
        out.revision = revision
        return out

    def spreads(self) -> np.ndarray:
        """Per metric, the pooled within-fidelity standard deviation of the observations (1 where undefined)."""
        Y = np.array(self._Y)
        keys = [(s, z) for s, z in zip(self.history.scales, self.history.steps, strict=True)]
        ss, dof = np.zeros(len(self.metrics)), 0
        for key in set(keys):
            idx = [i for i, k in enumerate(keys) if k == key]
            if len(idx) >= 2:
                ss += ((Y[idx] - Y[idx].mean(0)) ** 2).sum(0)
                dof += len(idx) - 1
        sd = np.sqrt(ss / dof) if dof else np.ones(len(self.metrics))
        return np.where(sd > 1e-12, sd, 1.0)

    def _scalarized(self, coef: np.ndarray) -> tuple[list[float], list[tuple | None]]:
        values = [float(coef @ y) for y in self._Y]
        curves: list[tuple | None] = []
        for cs in self._curves:
            if any(c is None for c in cs):
                curves.append(None)
                continue
            by = [dict(c) for c in cs]
            steps = sorted(set.intersection(*(set(b) for b in by)))
            curves.append(tuple((z, float(sum(k * b[z] for k, b in zip(coef, by, strict=True)))) for z in steps))
        return values, curves

    # ------------------------------------------------------------------ asking
    def ask(self) -> Config:
        return self.ask_pending([])

    def ask_pending(self, pending: Sequence[Config]) -> Config:
        inner = self._scalar
        inner.rng = self.rng
        n = len(self.history)
        if n < self.n_init:
            return inner._design_point(n + len(pending))
        lam = self.rng.dirichlet(np.ones(len(self.metrics)))
        values, curves = self._scalarized(lam / self.spreads())
        self._asks += 1
        inner.history = self._history(values, curves, revision=-1 - self._asks)  # a new weighting: refit
        inner._groups = list(self._offset_groups)
        return inner.ask_pending(list(pending))

    # ------------------------------------------------------------------ the front
    def _fit(self) -> None:
        for j, model in enumerate(self._models):
            if model.history.revision != len(self.history) or len(model.history) != len(self.history):
                values = [float(y[j]) for y in self._Y]
                model.history = self._history(values, [c[j] for c in self._curves], revision=len(self.history))
                model._groups = list(self._offset_groups)

    def predict(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and stds at the target, internal (minimize) direction, shape ``(n, M)`` each."""
        self._fit()
        W = np.atleast_2d(W)
        means, stds = [], []
        for m in self._models:
            X = m._target_features(W).unsqueeze(-2)  # (n, 1, d): one batch per point, no n×n test covariance
            with torch.no_grad():
                post = m.model().posterior(X)
            m._commit_fit()  # the front's models are never asked: each fit warm-starts the next
            means.append(post.mean.reshape(-1).numpy())
            stds.append(post.variance.reshape(-1).clamp_min(0).sqrt().numpy())
        return np.stack(means, -1), np.stack(stds, -1)

    def _candidates(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        space = self.space
        W = np.vstack(
            [space.sample_mixtures(rng, 1024), space.sample_mixtures(rng, 1024, 0.3), np.array(self.history.mixtures)]
        )
        mu, sd = self.predict(W)
        front = np.flatnonzero(non_dominated(mu))
        if len(front) > 16:
            front = front[np.linspace(0, len(front) - 1, 16).round().astype(int)]
        local = np.vstack([self.space.perturb(rng, W[i], 24, 0.03) for i in front] + [self._sweep(W, mu)])
        lmu, lsd = self.predict(local)
        return np.vstack([W, local]), np.vstack([mu, lmu]), np.vstack([sd, lsd])

    def _lambdas(self, n: int) -> np.ndarray:
        """``n`` scalarization weights: evenly spaced for two metrics, the vertices and Dirichlet draws otherwise."""
        M = len(self.metrics)
        if M == 2:
            a = np.linspace(0.0, 1.0, n)
            return np.stack([a, 1.0 - a], -1)
        return np.vstack([np.eye(M), np.random.default_rng(M).dirichlet(np.ones(M), max(n - M, 0))])

    def _mean_and_grad(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Target means ``(n, M)`` (as :meth:`predict`: each metric's fit) and their gradients in ``w``
        ``(n, M, k)``, or ``None`` (ILR embedding)."""
        pairs = [m._mean_and_grad(W, post.mean) for m, post in zip(self._models, self._posteriors, strict=True)]
        means = np.stack([p[0] for p in pairs], -1)
        if any(p[1] is None for p in pairs):
            return means, None
        return means, np.stack([p[1] for p in pairs], 1)

    def _sweep(self, W: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """Minimizers of ``2 n_front`` augmented Chebyshev scalarizations of the target means (module docstring),
        one projected descent per weight, all weights at once."""
        self._fit()
        self._posteriors = [ExactPosterior(m.model()) for m in self._models]
        ideal = mu.min(0)
        spread = np.where(mu.std(0) > 1e-12, mu.std(0), 1.0)
        lam = self._lambdas(2 * self.n_front) + 1e-3

        def chebyshev(R: np.ndarray) -> np.ndarray:  # R: (..., weights, M) normalized means
            return (lam * R).max(-1) + 0.01 * (lam * R).sum(-1)

        def value_and_grad(V: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
            means, grads = self._mean_and_grad(V)
            R = (means - ideal) / spread
            if grads is None:
                return chebyshev(R), None
            weighted = lam * R
            top = weighted.argmax(-1)  # the max's active metric per row (a subgradient at ties)
            coef = 0.01 * lam / spread
            coef[np.arange(len(V)), top] += lam[np.arange(len(V)), top] / spread[top]
            return chebyshev(R), (coef[:, :, None] * grads).sum(1)

        starts = W[np.argmin(chebyshev((mu - ideal)[:, None] / spread), axis=0)]  # (pool, weights) -> per weight
        found, _ = descend(self.space, value_and_grad, starts, iters=20)
        return found

    def _minimize_weighted(self, starts: np.ndarray, coef: np.ndarray) -> np.ndarray:
        """The minimizer of the weighted means ``mu(w) @ coef`` from ``starts``: ``mfms``'s recommendation optimizer
        (:func:`~mixscale.surrogates.mean_minimizer.minimize_mean`: projected descent, then the active-set search
        over faces; weights below 0.03 snapped to 0 within a twentieth of the weighted value's posterior sd), on the
        same fits as :meth:`predict`."""
        self._fit()
        self._posteriors = [ExactPosterior(m.model()) for m in self._models]

        def value_and_grad(V: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
            means, grads = self._mean_and_grad(V)
            return means @ coef, None if grads is None else np.einsum("nmk,m->nk", grads, coef)

        return minimize_mean(
            self.space,
            value_and_grad,
            lambda V: value_and_grad(V)[0],
            starts,
            tol=lambda w: 0.05 * float(np.sqrt(((coef * self.predict(w[None])[1][0]) ** 2).sum())),
            faces=self._models[0].embedding != "ilr",
        )

    def _point(self, w: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> ParetoPoint:
        return ParetoPoint(
            self.space.mixture_dict(w),
            {m: float(s * v) for m, s, v in zip(self.metrics, self._sign, mu, strict=True)},
            {m: float(v) for m, v in zip(self.metrics, sd, strict=True)},
        )

    def front(self, rng: np.random.Generator | None = None) -> tuple[ParetoPoint, ...]:
        """The estimated target front, at most ``n_front`` points spread along it, sorted by the first metric."""
        rng = rng if rng is not None else np.random.default_rng([self.seed, len(self.history), 11])
        W, mu, sd = self._candidates(rng)
        return self._thin(W, mu, sd)

    def _thin(self, W: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> tuple[ParetoPoint, ...]:
        nd = np.flatnonzero(non_dominated(mu))
        spread = mu.std(0)
        spread = np.where(spread > 1e-12, spread, 1.0)
        M = len(self.metrics)
        if M == 2:
            lams = np.stack([np.linspace(0, 1, 4 * self.n_front), 1 - np.linspace(0, 1, 4 * self.n_front)], -1)
        else:
            lams = np.vstack([np.eye(M), np.random.default_rng(M).dirichlet(np.ones(M), 8 * self.n_front)])
        R = (mu[nd] - mu[nd].min(0)) / spread
        z = (R[:, None, :] * lams[None]).max(-1) + 0.01 * R @ lams.T  # augmented Chebyshev, (front, lams)
        chosen = list(dict.fromkeys(nd[np.argmin(z, axis=0)].tolist()))
        if len(chosen) > self.n_front:
            chosen = [chosen[i] for i in np.linspace(0, len(chosen) - 1, self.n_front).round().astype(int)]
        chosen.sort(key=lambda i: mu[i, 0])
        return tuple(self._point(W[i], mu[i], sd[i]) for i in chosen)

    def recommend(self, weights: Mapping[str, float] | Scalarization | None = None) -> ParetoRecommendation:
        if len(self.history) < 2:
            base = self._best_observed()
            return ParetoRecommendation(base.mixture, base.value, base.std, base.source)
        rng = np.random.default_rng([self.seed, len(self.history), 11])
        W, mu, sd = self._candidates(rng)
        front = self._thin(W, mu, sd)
        scal = self._weighting(weights, mu)
        coef = np.array([scal.coefficient(m) * s for m, s in zip(self.metrics, self._sign, strict=True)])
        w = self._minimize_weighted(W[np.argsort(mu @ coef)[:3]], coef)
        m, s = self.predict(w[None])
        point = self._point(w, m[0], s[0])
        center = np.array([scal.center.get(k, 0.0) for k in self.metrics])
        value = float(coef @ m[0] - (coef * self._sign) @ center)
        std = float(np.sqrt(((coef * s[0]) ** 2).sum()))
        label = "equal weights" if weights is None else scal.describe()
        return ParetoRecommendation(
            point.mixture, value, std, f"pareto front ({len(front)} points); {label}", front, point.values, point.stds
        )

    def _weighting(self, weights, mu: np.ndarray) -> Scalarization:
        """The user's weights (default: equal), normalized by the posterior means' spread unless given."""
        if weights is None:
            weights = {m: 1.0 / len(self.metrics) for m in self.metrics}
        if isinstance(weights, Mapping) and "weights" not in weights:
            scal = Scalarization(weights, directions=self.directions)
        else:
            scal = Scalarization.from_spec(weights)
        unknown = [m for m in scal.metrics if m not in self.metrics]
        if unknown:
            raise ValidationError("weights", f"{unknown[0]!r} is not one of the front's metrics {list(self.metrics)}")
        if not scal.spread:
            ref = {m: self._sign[j] * mu[:, j] for j, m in enumerate(self.metrics) if m in scal.metrics}
            scal = scal.normalized(ref)
        return scal

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "metrics": list(self.metrics)}
