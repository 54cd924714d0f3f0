r"""Knowledge gradient about the target, on a discrete set of target mixtures (Frazier, Powell & Dayanik, 2009).

Let :math:`T = \{t_1, \dots, t_M\}` be candidate mixtures *at the target fidelity* and :math:`\mu_i` their posterior
means (we minimize). Observing :math:`y(x) = f(x) + \varepsilon` at any query :math:`x = (w, m, z)` moves the target
means along one Gaussian direction:

.. math::

    \mu_i^{+} = \mu_i + \tilde\sigma_i(x) Z, \quad
    \tilde\sigma_i(x) = \frac{\operatorname{Cov}(f(t_i), f(x))}{\sqrt{\operatorname{Var} f(x) + \sigma_\varepsilon^2}},
    \quad Z \sim \mathcal N(0, 1),

and the knowledge gradient is the expected drop of the best target mean,

.. math::

    \mathrm{KG}(x) = \min_i \mu_i - \mathbb E_Z\big[\min_i (\mu_i + \tilde\sigma_i(x) Z)\big] \;\ge 0 .

A cheap query at a small scale has a small :math:`\tilde\sigma` unless the GP has learned that this fidelity
tracks the target, so :math:`\mathrm{KG}(x)/\mathrm{cost}(x)` values information *about the target* per unit cost.

BoTorch's ``qMultiFidelityKnowledgeGradient`` optimizes continuous fantasy solutions and is too slow for a 2 s
``ask`` on two CPU cores; on a discrete target set the expectation is one-dimensional, so it is computed here with
a fixed Gauss–Hermite rule over :math:`Z` (deterministic, vectorized over thousands of queries).
"""

from __future__ import annotations

import numpy as np
import torch
from botorch.models.model import Model


def _gauss_hermite(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes and weights for E[f(Z)], Z ~ N(0, 1)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return torch.from_numpy(x), torch.from_numpy(w / w.sum())


@torch.no_grad()
def discrete_knowledge_gradient(
    model: Model,
    queries: torch.Tensor,
    targets: torch.Tensor,
    chunk: int = 512,
    n_nodes: int = 32,
) -> torch.Tensor:
    """KG (in the model's output units, minimization) of each row of ``queries`` about the set ``targets``."""
    nodes, weights = _gauss_hermite(n_nodes)
    n_t = targets.shape[0]
    post_t = model.posterior(targets)
    mu_t = post_t.mean.squeeze(-1)
    best = mu_t.min()
    noise = _noise_variance(model)
    out = torch.empty(queries.shape[0], dtype=queries.dtype)
    for start in range(0, queries.shape[0], chunk):
        q = queries[start : start + chunk]
        joint = model.posterior(torch.cat([targets, q]))
        cov = joint.mvn.covariance_matrix  # GPyTorch/BoTorch joint posterior (already untransformed)
        cross = cov[:n_t, n_t:]  # (n_t, c)
        var_q = cov.diagonal()[n_t:].clamp_min(1e-12) + noise
        sigma_tilde = cross / var_q.sqrt()  # (n_t, c)
        # (c, n_t, nodes): updated target means under each quadrature node
        updated = mu_t[None, :, None] + sigma_tilde.T[:, :, None] * nodes[None, None, :]
        expected_min = (updated.min(dim=1).values * weights).sum(-1)
        out[start : start + chunk] = (best - expected_min).clamp_min(0.0)
    return out


def _noise_variance(model: Model) -> float:
    """Homoscedastic observation-noise variance in output units."""
    noise = model.likelihood.noise.mean().detach()
    tf = getattr(model, "outcome_transform", None)
    if tf is not None and hasattr(tf, "stdvs"):
        noise = noise * tf.stdvs.squeeze() ** 2
    return float(noise)
