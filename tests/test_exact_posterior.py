"""ExactPosterior and the knowledge gradient built on it give BoTorch's joint-posterior numbers (issue 11 latency)."""

import copy

import numpy as np
import pytest
import torch

from mixscale import simplex
from mixscale.surrogates.ensemble import GPEnsemble, log_posterior
from mixscale.surrogates.exact_posterior import ExactPosterior
from mixscale.surrogates.gp import ScaleLadderKernel, fit_lbfgs, mfms_model
from mixscale.surrogates.knowledge_gradient import (
    _gauss_hermite,
    discrete_knowledge_gradient,
    ensemble_knowledge_gradient,
)


@pytest.fixture(scope="module")
def members():
    """A fitted mfms GP on a 3-domain, 3-rung problem with learning-curve-like repeats, and its decoupled twin."""
    rng = np.random.default_rng(4)
    n = 40
    W = simplex.sample_dirichlet(rng, n, 3)
    u = rng.choice([0.0, 0.5, 1.0], size=n, p=[0.6, 0.3, 0.1])
    v = rng.choice([0.5, 1.0], size=n)
    y = (W[:, 0] - 0.3) ** 2 - 0.5 * u - 0.2 * v + 0.3 * (1 - u) * W[:, 1] + 0.01 * rng.standard_normal(n)
    run = np.arange(n) // 2  # pairs of points share a run id, as learning-curve points do
    X = torch.from_numpy(np.column_stack([np.sqrt(W), u, v, run]))
    model = fit_lbfgs(mfms_model(X, torch.from_numpy(y)[:, None], n_mixture_dims=3, levels=[0.0, 0.5, 1.0], rank=1))
    alone = copy.deepcopy(model)
    next(m for m in alone.modules() if isinstance(m, ScaleLadderKernel)).decouple_top = True
    ens = GPEnsemble([model, alone], [log_posterior(model), log_posterior(alone)])
    T = simplex.sample_dirichlet(rng, 24, 3)
    t = torch.from_numpy(np.column_stack([np.sqrt(T), np.ones(24), np.ones(24), -np.ones(24)]))
    Q = simplex.sample_dirichlet(rng, 30, 3)
    q = torch.from_numpy(np.column_stack([np.sqrt(Q), rng.choice([0.0, 0.5, 1.0], 30), np.ones(30), -2 * np.ones(30)]))
    return [model, alone], ens, t, q


def _joint(model, t, q):
    """BoTorch's joint posterior of targets and queries: target means, query means and variances, cross block."""
    with torch.no_grad():
        post = model.posterior(torch.cat([t, q]))
    cov, mean = post.mvn.covariance_matrix, post.mean.squeeze(-1)
    n = t.shape[0]
    return mean[:n], mean[n:], cov.diagonal()[n:], cov[:n, n:]


def _noise(model):
    return float(model.likelihood.noise.mean() * model.outcome_transform.stdvs.squeeze() ** 2)


@torch.no_grad()
def _reference_kg(models, weights, q, t, n_nodes):
    """The ensemble KG computed from the full joint posterior covariance (the implementation before issue 11's
    latency work), for one or more members."""
    nodes, node_w = _gauss_hermite(n_nodes)
    parts = [_joint(m, t, q) for m in models]
    mu_t = torch.stack([p[0] for p in parts])
    mu_q = torch.stack([p[1] for p in parts])
    s2 = torch.stack([p[2].clamp_min(1e-12) + _noise(m) for p, m in zip(parts, models, strict=True)])
    cross = torch.stack([p[3] for p in parts])
    best = (weights[:, None] * mu_t).sum(0).min()
    c = q.shape[0]
    y = (mu_q[:, :, None] + s2.sqrt()[:, :, None] * nodes[None, None, :]).permute(1, 0, 2).reshape(c, -1)
    yw = (weights[:, None] * node_w[None, :]).reshape(-1)
    logp = -0.5 * (y[None] - mu_q[:, :, None]) ** 2 / s2[:, :, None] - 0.5 * s2.log()[:, :, None]
    post_w = torch.softmax(weights.log()[:, None, None] + logp, dim=0)
    resid = (y[None] - mu_q[:, :, None]) / s2[:, :, None]
    updated = mu_t[:, :, None, None] + cross[:, :, :, None] * resid[:, None, :, :]
    avg = (post_w[:, None, :, :] * updated).sum(0)
    return (best - (avg.min(dim=0).values * yw[None, :]).sum(-1)).clamp_min(0.0)


@torch.no_grad()
def test_exact_posterior_matches_botorch_joint_posterior(members):
    models, _, t, q = members
    for model in models:
        p = ExactPosterior(model)
        mu_t, mu_q, var_q, cross = _joint(model, t, q)
        a, b = p.condition(t), p.condition(q)
        scale = float(var_q.max())
        assert torch.allclose(a.mean, mu_t, atol=1e-10) and torch.allclose(b.mean, mu_q, atol=1e-10)
        assert torch.allclose(p.variance(b), var_q, atol=1e-10 * scale)
        assert torch.allclose(p.covariance(a, b), cross, atol=1e-10 * scale)
        assert torch.allclose(p.mean(q), mu_q, atol=1e-10)  # the differentiable path gives the same mean
        assert p.noise == pytest.approx(_noise(model), rel=1e-12)


def test_knowledge_gradient_equals_the_joint_covariance_computation(members):
    models, ens, t, q = members
    one = discrete_knowledge_gradient(models[0], q, t, chunk=7)  # chunks that do not divide the query count
    ref_one = _reference_kg(models[:1], torch.ones(1, dtype=torch.double), q, t, n_nodes=32)
    assert one.max() > 0
    assert torch.allclose(one, ref_one, rtol=0, atol=1e-8 * float(ref_one.max()))
    posteriors, weights = ens.active_posteriors(tol=0.0)
    both = ensemble_knowledge_gradient(posteriors, weights, q, t, chunk=7)
    ref = _reference_kg(models, weights, q, t, n_nodes=24)
    assert both.max() > 0
    assert torch.allclose(both, ref, rtol=0, atol=1e-8 * float(ref.max()))
    # models and their cached posteriors give the same numbers
    assert torch.equal(ensemble_knowledge_gradient(models, weights, q, t, chunk=7), both)


def test_mfms_paper_expected_improvement_is_botorchs():
    """mfms-paper's EI over logits, from ExactPosterior, equals BoTorch's ExpectedImprovement, gradients too."""
    import warnings

    from botorch.acquisition import ExpectedImprovement

    from mixscale.strategies.mfms_paper import _EIOverLogits
    from mixscale.surrogates.gp import fit_adam, paper_model

    rng = np.random.default_rng(1)
    W = simplex.sample_dirichlet(rng, 30, 4)
    u, v = rng.uniform(size=30), rng.uniform(size=30)
    y = ((W - 0.25) ** 2).sum(1) - 0.3 * u - 0.1 * v + 0.01 * rng.standard_normal(30)
    model = fit_adam(paper_model(torch.from_numpy(np.column_stack([W, u, v])), torch.from_numpy(y)[:, None]))
    X = torch.from_numpy(np.column_stack([rng.uniform(-3, 3, (50, 4)), rng.uniform(size=(50, 2))]))[:, None, :]
    ours = _EIOverLogits(model, y.min(), 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ei = ExpectedImprovement(model, best_f=y.min(), maximize=False)

    def botorch_ei(X):
        return ei(torch.cat([torch.softmax(X[..., :4], dim=-1), X[..., 4:]], dim=-1))

    Xa, Xb = X.clone().requires_grad_(True), X.clone().requires_grad_(True)
    a, b = ours(Xa), botorch_ei(Xb)
    assert torch.allclose(a, b, rtol=1e-6, atol=1e-12) and (b > 0).any()
    a.sum().backward()
    b.sum().backward()
    assert torch.allclose(Xa.grad, Xb.grad, rtol=1e-5, atol=1e-10)
