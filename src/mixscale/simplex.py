r"""Geometry of the probability simplex :math:`\Delta^{k-1} = \{w \in \mathbb{R}^k : w_i \ge 0, \sum_i w_i = 1\}`.

Mixtures live on the simplex, not in a box, so three things are done with care here:

* **Sampling.** Uniform sampling is Dirichlet(1, ..., 1) (normalized i.i.d. exponentials). A softmax of a uniform
  box is *not* uniform: it piles mass in the interior and almost never reaches the faces where many optimal
  mixtures sit.
* **Embeddings for a surrogate.** :func:`ilr` is the isometric log-ratio map (Egozcue et al., 2003) onto
  :math:`\mathbb{R}^{k-1}` with an orthonormal Helmert basis; distances there are Aitchison distances. It is
  undefined on the faces, so it is applied to a mixture shrunk towards the centre by ``eps``.
  :func:`hellinger` maps :math:`w \mapsto \sqrt{w}` onto the positive orthant of the unit sphere: Euclidean
  distance there is (:math:`\sqrt 2` times) the Hellinger distance between the mixtures, it is defined on the
  faces, and it stretches the neighbourhood of a face, where a domain's own loss changes fastest as its share
  goes to zero. The GP surrogates use it by default.
* **Projection.** :func:`project` is the Euclidean projection onto the simplex (sort-based, Duchi et al., 2008),
  used to keep local perturbations of a mixture on the simplex.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def sample_dirichlet(rng: np.random.Generator, n: int, k: int, alpha: float = 1.0) -> np.ndarray:
    """``n`` draws from Dirichlet(alpha·1_k) as an ``(n, k)`` array; ``alpha = 1`` is uniform on the simplex."""
    if alpha <= 0:
        raise ValueError("alpha must be positive")
    g = rng.gamma(alpha, 1.0, size=(n, k))
    s = g.sum(axis=1, keepdims=True)
    # Tiny alphas can underflow every gamma draw to 0; fall back to a random vertex for those rows.
    empty = s[:, 0] <= 0
    if np.any(empty):
        g[empty] = np.eye(k)[rng.integers(0, k, size=int(empty.sum()))]
        s = g.sum(axis=1, keepdims=True)
    return g / s


def sample_sobol(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    r"""``n`` uniform points on the simplex from a scrambled Sobol sequence (quasi-random, for initial designs).

    Each point is normalized exponentials :math:`-\log(1 - u)` of a Sobol point :math:`u \in [0, 1)^k`: the same
    transform that turns i.i.d. uniforms into Dirichlet(1), applied to a low-discrepancy sequence, so a small
    design covers the simplex more evenly than i.i.d. draws (SciPy's ``qmc.Sobol``; scramble seeded by ``rng``).
    """
    from scipy.stats import qmc

    sobol = qmc.Sobol(d=k, scramble=True, seed=np.random.default_rng(rng.integers(2**63)))
    m = max(int(np.ceil(np.log2(max(n, 2)))), 1)
    u = sobol.random_base2(m)[:n]
    e = -np.log1p(-np.clip(u, 0.0, 1.0 - 1e-12))
    e = np.maximum(e, 1e-12)
    return e / e.sum(axis=1, keepdims=True)


def vertices(k: int) -> np.ndarray:
    """The ``k`` vertices of the simplex (single-domain mixtures)."""
    return np.eye(k)


def _helmert(k: int) -> np.ndarray:
    """Orthonormal ``(k-1, k)`` basis of the subspace orthogonal to the all-ones vector."""
    basis = np.zeros((k - 1, k))
    for i in range(1, k):
        basis[i - 1, :i] = 1.0 / i
        basis[i - 1, i] = -1.0
        basis[i - 1] *= np.sqrt(i / (i + 1.0))
    return basis


def ilr(w: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    r"""Isometric log-ratio coordinates of ``w`` (shape ``(..., k)``) in :math:`\mathbb{R}^{k-1}`.

    ``w`` is first shrunk to :math:`(w + \epsilon)/(1 + k\epsilon)` so that vertices map to finite points.
    """
    w = np.asarray(w, dtype=float)
    k = w.shape[-1]
    z = np.log((w + eps) / (1.0 + k * eps))
    return z @ _helmert(k).T


def ilr_inverse(z: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """Inverse of :func:`ilr` (up to the shrinkage, clipped back onto the simplex)."""
    z = np.asarray(z, dtype=float)
    k = z.shape[-1] + 1
    clr = z @ _helmert(k)
    p = np.exp(clr - clr.max(axis=-1, keepdims=True))
    p = p / p.sum(axis=-1, keepdims=True)
    w = np.clip(p * (1.0 + k * eps) - eps, 0.0, None)
    return w / w.sum(axis=-1, keepdims=True)


def hellinger(w: np.ndarray) -> np.ndarray:
    r"""Square-root embedding :math:`w \mapsto \sqrt{w}` (unit sphere; distances are Hellinger distances)."""
    return np.sqrt(np.clip(np.asarray(w, dtype=float), 0.0, None))


def project(v: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row of ``v`` onto the simplex (Duchi et al., 2008)."""
    v = np.atleast_2d(np.asarray(v, dtype=float))
    n, k = v.shape
    u = -np.sort(-v, axis=1)
    css = np.cumsum(u, axis=1) - 1.0
    idx = np.arange(1, k + 1)
    cond = u - css / idx > 0
    rho = k - 1 - np.argmax(cond[:, ::-1], axis=1)
    theta = css[np.arange(n), rho] / (rho + 1.0)
    return np.clip(v - theta[:, None], 0.0, None)


def perturb(rng: np.random.Generator, w: np.ndarray, n: int, scale: float) -> np.ndarray:
    """``n`` random neighbours of mixture ``w``: Gaussian steps of size ``scale`` projected back onto the simplex."""
    w = np.asarray(w, dtype=float)
    return project(w[None, :] + scale * rng.standard_normal((n, w.shape[-1])))


# ------------------------------------------------------------------------------------------ feasible polytope
@dataclass(frozen=True, eq=False)
class Polytope:
    r"""The feasible mixtures :math:`P = \{w : \sum_i w_i = 1,\ \ell \le w \le u,\ A w \le b\}` (with
    :math:`0 \le \ell \le u \le 1`), a face of the simplex cut by bounds and general linear constraints.

    Built by :class:`mixscale.space.Space` from its constraints, which also checks (by LP) that :math:`P` is not
    empty and supplies ``center``, a point of its relative interior (the mean of the per-domain extreme points).
    Sampling is uniform: exact rejection from the shifted simplex :math:`\ell + (1 - \sum \ell)\Delta` when
    enough of it is feasible, hit-and-run (Smith, 1984) otherwise. Projection is Euclidean (exact for bounds;
    Dykstra's alternating projections for rows of ``A``, then a radial pull to the centre so that the result is
    feasible to round-off). Written here because SciPy and NumPy offer neither on a polytope.
    """

    lower: np.ndarray
    upper: np.ndarray
    A: np.ndarray
    b: np.ndarray
    center: np.ndarray

    @property
    def k(self) -> int:
        return len(self.lower)

    def violation(self, W: np.ndarray) -> np.ndarray:
        """The largest violation of any constraint, per row of ``W`` (``<= 0`` inside)."""
        W = np.atleast_2d(np.asarray(W, dtype=float))
        parts = [np.abs(W.sum(axis=1) - 1.0), (self.lower - W).max(axis=1), (W - self.upper).max(axis=1)]
        if len(self.b):
            parts.append((W @ self.A.T - self.b).max(axis=1))
        return np.max(parts, axis=0)

    def contains(self, W: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        return self.violation(W) <= tol

    # ---------------------------------------------------------------- sampling
    @property
    def _free(self) -> np.ndarray:
        return np.flatnonzero(self.upper - self.lower > 1e-12)

    def _slack(self) -> float:
        return float(1.0 - self.lower.sum())

    def _inside(self, W: np.ndarray) -> np.ndarray:
        ok = np.all(W <= self.upper + 1e-12, axis=1)
        if len(self.b):
            ok &= np.all(W @ self.A.T <= self.b + 1e-12, axis=1)
        return ok

    def _lift(self, U: np.ndarray) -> np.ndarray:
        """Points ``U`` of the free coordinates' simplex to mixtures ``lower + slack * U``."""
        W = np.tile(self.lower, (len(U), 1))
        W[:, self._free] += self._slack() * U
        return W

    def acceptance(self) -> float:
        """Share of the shifted simplex that is feasible (a fixed-seed estimate; picks the sampler)."""
        cached = self.__dict__.get("_acceptance")
        if cached is None:
            free = self._free
            if len(free) <= 1 or self._slack() <= 1e-12:
                cached = 1.0
            else:
                U = sample_dirichlet(np.random.default_rng(20240529), 4096, len(free))
                cached = float(self._inside(self._lift(U)).mean())
            object.__setattr__(self, "_acceptance", cached)
        return cached

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` uniform points of the polytope, deterministic given ``rng``."""
        free = self._free
        if len(free) <= 1 or self._slack() <= 1e-12:
            return np.tile(self.center, (n, 1))
        p = self.acceptance()
        if p < 0.02:
            return self._hit_and_run(rng, n)
        out: list[np.ndarray] = []
        got = 0
        while got < n:
            W = self._lift(sample_dirichlet(rng, max(64, int(np.ceil(1.3 * (n - got) / p))), len(free)))
            W = W[self._inside(W)]
            out.append(W)
            got += len(W)
        return self._clean(np.vstack(out)[:n])

    def _hit_and_run(self, rng: np.random.Generator, n: int, steps: int | None = None) -> np.ndarray:
        r"""``n`` independent hit-and-run chains from the centre: a random direction :math:`d` in the free
        coordinates with :math:`\sum d = 0`, then a uniform point of the chord :math:`\{x + t d\} \cap P`."""
        free = self._free
        steps = steps if steps is not None else 100 * len(free)
        X = np.tile(self.center, (n, 1))
        rows = self.A[:, free] if len(self.b) else np.zeros((0, len(free)))
        for _ in range(steps):
            d = np.zeros_like(X)
            g = rng.standard_normal((n, len(free)))
            d[:, free] = g - g.mean(axis=1, keepdims=True)
            lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
            # every constraint as t * den <= num: x + t d <= upper, -(x + t d) <= -lower, a (x + t d) <= b
            num = [(self.upper - X)[:, free], (X - self.lower)[:, free]]
            den = [d[:, free], -d[:, free]]
            if len(self.b):
                num.append(self.b - X @ self.A.T)
                den.append(d[:, free] @ rows.T)
            for nm, dn in zip(num, den, strict=True):
                with np.errstate(divide="ignore", invalid="ignore"):
                    t = nm / dn
                pos, neg = dn > 1e-15, dn < -1e-15
                hi = np.minimum(hi, np.where(pos, t, np.inf).min(axis=1))
                lo = np.maximum(lo, np.where(neg, t, -np.inf).max(axis=1))
            lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
            X = X + (lo + (hi - lo) * rng.random(n))[:, None] * d
        return self._clean(X)

    def _clean(self, W: np.ndarray) -> np.ndarray:
        """Round-off repair: clip to the box and put the sum's residual on the freest coordinate."""
        W = np.clip(W, self.lower, self.upper)
        resid = 1.0 - W.sum(axis=1)
        room = np.where(resid[:, None] > 0, self.upper - W, W - self.lower)
        j = np.argmax(room, axis=1)
        W[np.arange(len(W)), j] += resid
        return W

    # -------------------------------------------------------------- projection
    def _project_box(self, V: np.ndarray) -> np.ndarray:
        r"""Exact projection onto :math:`\{\sum w = 1, \ell \le w \le u\}`: :math:`w = \mathrm{clip}(v - \theta,
        \ell, u)`, where :math:`S(\theta) = \sum \mathrm{clip}` is piecewise linear and non-increasing with
        breakpoints :math:`v_i - \ell_i, v_i - u_i`; :math:`S(\theta) = 1` is solved on the bracketing piece."""
        n = len(V)
        T = np.sort(np.hstack([V - self.lower, V - self.upper]), axis=1)  # (n, 2k)
        S = np.clip(V[:, None, :] - T[:, :, None], self.lower, self.upper).sum(axis=2)  # non-increasing
        j = np.clip((S >= 1.0).sum(axis=1) - 1, 0, T.shape[1] - 2)
        rows = np.arange(n)
        s0, s1, t0, t1 = S[rows, j], S[rows, j + 1], T[rows, j], T[rows, j + 1]
        gap = s0 - s1
        theta = np.where(gap > 1e-300, t0 + (s0 - 1.0) / np.where(gap > 1e-300, gap, 1.0) * (t1 - t0), t0)
        return self._clean(np.clip(V - theta[:, None], self.lower, self.upper))

    def project(self, V: np.ndarray, iterations: int = 200) -> np.ndarray:
        """Euclidean projection of each row of ``V`` onto the polytope (feasible to round-off)."""
        V = np.atleast_2d(np.asarray(V, dtype=float))
        W = self._project_box(V)
        if not len(self.b):
            return W
        # Dykstra over {box, sum} and the half-spaces a_i w <= b_i.
        sets = len(self.b) + 1
        incr = [np.zeros_like(V) for _ in range(sets)]
        X = V.copy()
        norms = (self.A**2).sum(axis=1)
        for _ in range(iterations):
            for s in range(sets):
                Y = X + incr[s]
                if s == 0:
                    Z = self._project_box(Y)
                else:
                    a, bi = self.A[s - 1], self.b[s - 1]
                    over = np.maximum(Y @ a - bi, 0.0) / max(norms[s - 1], 1e-300)
                    Z = Y - over[:, None] * a
                incr[s] = Y - Z
                X = Z
            if np.all(self.violation(X) <= 1e-12):
                break
        X = self._project_box(X)
        return self._pull_inside(X)

    def _pull_inside(self, W: np.ndarray) -> np.ndarray:
        r"""Move each row towards the centre, :math:`c + t (w - c)` with the largest feasible :math:`t \le 1`
        (points already in :math:`\{\sum = 1\} \cap` box stay there; convexity keeps them there)."""
        c = self.center
        D = W - c
        t = np.ones(len(W))
        if len(self.b):
            num = self.b - self.A @ c
            den = D @ self.A.T
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(den > 1e-300, num / den, np.inf)
            t = np.clip(np.minimum(t, ratio.min(axis=1)), 0.0, 1.0)
        return self._clean(c + t[:, None] * D)

    def perturb(self, rng: np.random.Generator, w: np.ndarray, n: int, scale: float) -> np.ndarray:
        """Like :func:`perturb`, projected onto the polytope instead of the simplex."""
        w = np.asarray(w, dtype=float)
        return self.project(w[None, :] + scale * rng.standard_normal((n, w.shape[-1])))

    def design(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` space-filling points: scrambled Sobol on the shifted simplex, infeasible ones skipped (topped up
        with uniform draws); hit-and-run draws when little of the shifted simplex is feasible."""
        free = self._free
        if len(free) <= 1 or self._slack() <= 1e-12 or self.acceptance() < 0.02:
            return self.sample(rng, n)
        want = int(np.ceil(1.5 * n / self.acceptance()))
        W = self._lift(sample_sobol(rng, want, len(free)))
        W = W[self._inside(W)][:n]
        if len(W) < n:
            W = np.vstack([W, self.sample(rng, n - len(W))])
        return self._clean(W)
