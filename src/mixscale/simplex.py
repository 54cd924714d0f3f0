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
