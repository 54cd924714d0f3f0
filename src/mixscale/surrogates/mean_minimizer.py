r"""The minimizer of a posterior mean over the mixtures: projected gradient descent, then an active-set search over
the simplex's faces.

A recommendation is :math:`\arg\min_{w \in P} \mu(w)` for a posterior mean :math:`\mu` over the feasible mixtures
:math:`P`. Optima of mixture problems often lie on a face (some domains at exactly 0), where a descent in the interior
only creeps toward the face. So:

1. **Projected gradient descent** from a few starts, one backtracking step size per start; each step moves along the
   normalized gradient, without the components that push a coordinate already at 0 further down (under the
   Hellinger embedding :math:`\sqrt{w}` the slope there is unbounded and would swamp every other coordinate), and is
   projected back onto :math:`P` (Euclidean projection onto the simplex, Duchi et al., 2008; or the polytope's).
2. **Active set** (unconstrained simplex only): each round, every domain weighing less than ``face_weight`` is
   removed in turn, :math:`\mu` is re-minimized on the face each removal leaves (the same descent, projected onto
   that face), and the best removal is kept if :math:`\mu` does not get worse. It is a better optimizer of the same
   criterion, with no preference for sparse mixtures of its own.
3. **Snap**: weights below 0.03 are set to 0, smallest first, while :math:`\mu` stays within ``tol`` (on a
   constrained space only where the result stays feasible) — mixtures the model cannot tell apart, of which the one
   without the domain is the simpler.

Written by hand: under the Hellinger embedding the mean's slope is unbounded at the faces (its gradient in
:math:`w_i` is infinite at :math:`w_i = 0`), which library optimizers (SciPy's SLSQP, BoTorch's ``optimize_acqf``)
do not expect, and neither searches faces explicitly; a projected descent with a face search is small and handles
both.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mixscale import simplex
from mixscale.space import Space

#: ``W -> (means, gradients in w or None)``, rows of ``W`` being mixtures.
MeanAndGrad = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]


def project(space: Space, W: np.ndarray, support: np.ndarray | None = None) -> np.ndarray:
    """Euclidean projection onto the feasible set, or onto the faces of the simplex spanned by each row's
    ``support`` (coordinates outside it are sent to -inf first, so they project to 0)."""
    if support is None:
        return space.project(W)
    return simplex.project(np.where(support, W, -1e9))


def descend(
    space: Space, mean_and_grad: MeanAndGrad, starts: np.ndarray, iters: int = 12, support: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Projected gradient descent of the mean from each start (backtracking step per start), on the feasible set
    or on each row's face (``support``); returns the end points and their means."""
    W = project(space, np.asarray(starts, dtype=float), support)
    f, g = mean_and_grad(W)
    step = np.full(len(W), 0.05)
    for _ in range(iters if g is not None else 0):
        d = np.where(((W <= 0.0) & (g > 0.0)) | (False if support is None else ~support), 0.0, g)
        gn = d / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-12)
        trial = project(space, W - step[:, None] * gn, support)
        ft, gt = mean_and_grad(trial)
        better = ft < f
        W[better], f[better], g[better] = trial[better], ft[better], gt[better]
        step = np.where(better, step * 1.5, step * 0.4)
        if step.max() < 1e-4:
            break
    return W, f


def minimize_mean(
    space: Space,
    mean_and_grad: MeanAndGrad,
    mean: Callable[[np.ndarray], np.ndarray],
    starts: np.ndarray,
    tol: Callable[[np.ndarray], float],
    face_weight: float = 0.15,
    faces: bool = True,
) -> np.ndarray:
    """Steps 1–3 of the module docstring from ``starts``; ``tol(w)`` is the snap's tolerance at the descended
    mixture, ``faces=False`` skips the active set (constrained spaces, embeddings without a gradient)."""
    W, f = descend(space, mean_and_grad, starts)
    i = int(np.argmin(f))
    w, best = W[i], float(f[i])
    while faces and not space.constrained and np.count_nonzero(w) > 1:
        drop = [j for j in np.argsort(w) if 0.0 < w[j] < face_weight]
        if not drop:
            break
        support = np.repeat((w > 0)[None], len(drop), axis=0)
        support[np.arange(len(drop)), drop] = False
        Wf, ff = descend(space, mean_and_grad, np.where(support, w, 0.0), iters=8, support=support)
        j = int(np.argmin(ff))
        if float(ff[j]) > best:
            break
        w, best = Wf[j], float(ff[j])
    eps = tol(w)
    for j in np.argsort(w):
        if 0.0 < w[j] < 0.03:
            trial = w.copy()
            trial[j] = 0.0
            trial /= trial.sum()
            if not space.is_feasible(trial[None], 1e-9)[0]:
                continue
            ft = float(mean(trial[None])[0])
            if ft <= best + eps:
                w, best = trial, min(best, ft)
    return w
