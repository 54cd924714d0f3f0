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


@torch.no_grad()
def ensemble_knowledge_gradient(
    models: list[Model],
    weights: torch.Tensor,
    queries: torch.Tensor,
    targets: torch.Tensor,
    chunk: int = 256,
    n_nodes: int = 24,
) -> torch.Tensor:
    r"""KG about ``targets`` under a weighted average of GPs (:class:`~mixscale.surrogates.ensemble.GPEnsemble`).

    An observation :math:`y` at :math:`x` updates both each member's target means,
    :math:`\mu_{m}(t) + \mathrm{Cov}_m(t, x)\,(y - \mu_m(x)) / s_m^2(x)` with :math:`s_m^2 = \sigma_m^2(x) +
    \sigma_{\varepsilon,m}^2`, and the members' weights, :math:`\pi_m' \propto \pi_m\, \mathcal N(y; \mu_m(x),
    s_m^2(x))`; the KG is :math:`\min_t \bar\mu(t) - \mathbb E_y \min_t \sum_m \pi'_m(y)\, \mu_m(t \mid y)` with
    :math:`y` drawn from the mixture predictive (Gauss–Hermite nodes per member). So a query where the members
    disagree (a near-target run of the current best guess, while it is unknown whether the small rungs transfer) is
    worth what it teaches about *which* model holds, not only what each model would learn. With one member this is
    :func:`discrete_knowledge_gradient`.
    """
    if len(models) == 1:
        return discrete_knowledge_gradient(models[0], queries, targets, n_nodes=32)
    nodes, node_w = _gauss_hermite(n_nodes)
    n_t = targets.shape[0]
    noise = torch.tensor([_noise_variance(m) for m in models], dtype=queries.dtype)
    mu_t = torch.stack([m.posterior(targets).mean.squeeze(-1) for m in models])  # (M, n_t)
    best = (weights[:, None] * mu_t).sum(0).min()
    out = torch.empty(queries.shape[0], dtype=queries.dtype)
    for start in range(0, queries.shape[0], chunk):
        q = queries[start : start + chunk]
        c = q.shape[0]
        mu_q, s2, cross = [], [], []
        for i, m in enumerate(models):
            joint = m.posterior(torch.cat([targets, q]))
            cov = joint.mvn.covariance_matrix
            mu_q.append(joint.mean.squeeze(-1)[n_t:])
            s2.append(cov.diagonal()[n_t:].clamp_min(1e-12) + noise[i])
            cross.append(cov[:n_t, n_t:])
        mu_q, s2, cross = torch.stack(mu_q), torch.stack(s2), torch.stack(cross)  # (M,c) (M,c) (M,n_t,c)
        # y grid: member j's predictive at its Gauss-Hermite nodes -> (c, M * nodes), weights pi_j * node_w
        y = (mu_q[:, :, None] + s2.sqrt()[:, :, None] * nodes[None, None, :]).permute(1, 0, 2).reshape(c, -1)
        yw = (weights[:, None] * node_w[None, :]).reshape(-1)  # (M * nodes,)
        # posterior member weights at each y: (M, c, G)
        logp = -0.5 * (y[None] - mu_q[:, :, None]) ** 2 / s2[:, :, None] - 0.5 * s2.log()[:, :, None]
        post_w = torch.softmax(weights.log()[:, None, None] + logp, dim=0)
        # updated target means of each member: (M, n_t, c, G); averaged with post_w, min over targets
        resid = (y[None] - mu_q[:, :, None]) / s2[:, :, None]  # (M, c, G)
        updated = mu_t[:, :, None, None] + cross[:, :, :, None] * resid[:, None, :, :]
        avg = (post_w[:, None, :, :] * updated).sum(0)  # (n_t, c, G)
        expected_min = (avg.min(dim=0).values * yw[None, :]).sum(-1)
        out[start : start + c] = (best - expected_min).clamp_min(0.0)
    return out
