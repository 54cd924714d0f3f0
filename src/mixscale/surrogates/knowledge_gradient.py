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
a fixed Gauss–Hermite rule over :math:`Z` (deterministic, vectorized over thousands of queries). The target means,
the target × query cross-covariances and the query variances come from one Cholesky factor of the training
covariance per model (:class:`~mixscale.surrogates.exact_posterior.ExactPosterior`); the targets' whitened
cross-covariance is computed once and shared by every chunk of queries.
"""

from __future__ import annotations

import numpy as np
import torch
from botorch.models.model import Model

from mixscale.surrogates.exact_posterior import ExactPosterior


def _gauss_hermite(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes and weights for E[f(Z)], Z ~ N(0, 1)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return torch.from_numpy(x), torch.from_numpy(w / w.sum())


def as_posterior(model: Model | ExactPosterior) -> ExactPosterior:
    """``model``'s :class:`~mixscale.surrogates.exact_posterior.ExactPosterior` (pass one to reuse its factor)."""
    return model if isinstance(model, ExactPosterior) else ExactPosterior(model)


@torch.no_grad()
def discrete_knowledge_gradient(
    model: Model | ExactPosterior,
    queries: torch.Tensor,
    targets: torch.Tensor,
    chunk: int = 512,
    n_nodes: int = 32,
) -> torch.Tensor:
    """KG (in the model's output units, minimization) of each row of ``queries`` about the set ``targets``."""
    nodes, weights = _gauss_hermite(n_nodes)
    post = as_posterior(model)
    tgt = post.condition(targets)  # target means and whitened cross-covariance, shared by every chunk
    mu_t = tgt.mean
    best = mu_t.min()
    q_all = post.condition(queries)
    cross_all = post.covariance(tgt, q_all)  # (n_t, n_q)
    sd_all = (post.variance(q_all).clamp_min(1e-12) + post.noise).sqrt()
    out = torch.empty(queries.shape[0], dtype=queries.dtype)
    for start in range(0, queries.shape[0], chunk):
        sigma_tilde = cross_all[:, start : start + chunk] / sd_all[start : start + chunk]  # (n_t, c)
        # (c, n_t, nodes): updated target means under each quadrature node
        updated = mu_t[None, :, None] + sigma_tilde.T[:, :, None] * nodes[None, None, :]
        expected_min = (updated.min(dim=1).values * weights).sum(-1)
        out[start : start + chunk] = (best - expected_min).clamp_min(0.0)
    return out


@torch.no_grad()
def ensemble_knowledge_gradient(
    models: list[Model | ExactPosterior],
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
    posts = [as_posterior(m) for m in models]
    noise = torch.tensor([p.noise for p in posts], dtype=queries.dtype)
    tgts = [p.condition(targets) for p in posts]
    mu_t = torch.stack([t.mean for t in tgts])  # (M, n_t)
    best = (weights[:, None] * mu_t).sum(0).min()
    # every query at once per member (only the (n_t, c, nodes) tensors below need chunking)
    qs = [p.condition(queries) for p in posts]
    mu_q_all = torch.stack([q.mean for q in qs])  # (M, n_q)
    s2_all = torch.stack([p.variance(q).clamp_min(1e-12) + n for p, q, n in zip(posts, qs, noise, strict=True)])
    cross_all = torch.stack([p.covariance(t, q) for p, t, q in zip(posts, tgts, qs, strict=True)])  # (M, n_t, n_q)
    yw = (weights[:, None] * node_w[None, :]).reshape(-1)  # (M * nodes,)
    out = torch.empty(queries.shape[0], dtype=queries.dtype)
    for start in range(0, queries.shape[0], chunk):
        sl = slice(start, start + chunk)
        mu_q, s2, cross = mu_q_all[:, sl], s2_all[:, sl], cross_all[:, :, sl]  # (M,c) (M,c) (M,n_t,c)
        c = mu_q.shape[1]
        # y grid: member j's predictive at its Gauss-Hermite nodes -> (c, M * nodes), weights pi_j * node_w
        y = (mu_q[:, :, None] + s2.sqrt()[:, :, None] * nodes[None, None, :]).permute(1, 0, 2).reshape(c, -1)
        # posterior member weights at each y: (M, c, G)
        logp = -0.5 * (y[None] - mu_q[:, :, None]) ** 2 / s2[:, :, None] - 0.5 * s2.log()[:, :, None]
        post_w = torch.softmax(weights.log()[:, None, None] + logp, dim=0)
        # members' updated target means mu_m(t) + cross_m(t, x) resid_m(y), averaged with post_w:
        # sum_m post_w mu_m(t) + sum_m cross_m(t, x) post_w resid_m -> (n_t, c, G); then min over targets
        resid = (y[None] - mu_q[:, :, None]) / s2[:, :, None]  # (M, c, G)
        avg = torch.einsum("mt,mcg->tcg", mu_t, post_w) + torch.einsum("mtc,mcg->tcg", cross, post_w * resid)
        expected_min = (avg.min(dim=0).values * yw[None, :]).sum(-1)
        out[sl] = (best - expected_min).clamp_min(0.0)
    return out
