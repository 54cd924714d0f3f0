"""Single-step prediction, multi-step generation (with a KV cache for the causal model), joint likelihoods and
rollout-based epistemic uncertainty.

*One-step* inference uses the predictive ``p(y | x, D)`` directly; its spread mixes aleatoric noise and
epistemic uncertainty. *Multi-step* inference imagines future pairs: for ``t = 1..H``,

.. math::

    \\hat y_t \\sim p(\\cdot \\mid x_t, D \\cup \\{(x_s, \\hat y_s)\\}_{s<t}),

and the spread of a statistic of the imagined data across rollouts (e.g. the mean of H imagined rewards at one
arm) approximates the posterior spread of the corresponding latent quantity: epistemic uncertainty only.

KV cache. In the causal pattern a context token never attends to a later one, so its keys/values at every
layer are final once computed. Generation keeps them per layer; step t runs only two new tokens (the query at
x_t and the context token (x_t, ŷ_t)) against the cache: O(n) work per step instead of re-encoding all n
tokens, O(n²). Noise for every step is drawn up front from the caller's generator, so cached and re-encoding
generation consume the same random numbers and agree up to floating-point error.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .models import ExchangeableTransformer, with_key_padding

__all__ = [
    "predict",
    "predictive_moments",
    "generate",
    "joint_log_likelihood",
    "rollout_epistemic_std",
    "predictive_mean_path",
    "rollout_mean_std",
]


@torch.no_grad()
def predict(
    model: ExchangeableTransformer, xc: Tensor, yc: Tensor, xq: Tensor, ctx_valid: Tensor | None = None
) -> Tensor:
    """One-step predictive head parameters (B, M, P) at queries ``xq``, each seeing the whole context."""
    return model(xc, yc, xq, ctx_valid=ctx_valid)


def predictive_moments(model: ExchangeableTransformer, params: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation of the predictive with head parameters ``params``."""
    return model.head.mean_std(params)


def _ones(b: int, n: int) -> Tensor:
    return torch.ones(b, n, dtype=torch.bool)


@torch.inference_mode()
def _generate_cached(
    model: ExchangeableTransformer,
    xc: Tensor,
    yc: Tensor,
    xg: Tensor,
    noise: Tensor,
    valid: Tensor,
    last_params: list[Tensor] | None = None,
) -> Tensor:
    """KV-cached generation into per-layer caches (2, B·heads, N + H + 1, d_h), allocated once.

    Step 0 runs the query at x_0 alone. Step t ≥ 1 runs two tokens in one pass: the context token (x_{t−1},
    ŷ_{t−1}) at slot ``pos``, which sees the cache and itself, and the query at x_t at slot ``pos + 1``, which
    also sees that context token. The context token's keys/values stay; the query's slot is overwritten at the
    next step. Everything that does not depend on the samples — query tokens, the x part of the context
    tokens' features, the attention bias of padded context entries — is computed once before the loop.
    """
    b, n, _ = xc.shape
    horizon = xg.shape[1]
    cfg = model.cfg
    nh, size = cfg.n_heads, n + horizon + 1
    caches = [torch.empty(2, b * nh, size, cfg.d_model // nh) for _ in range(cfg.n_layers)]
    padded = not bool(valid.all())
    # additive attention bias, rows (context token, query); padded context keys get −inf for every head
    bias = torch.zeros(b * nh if padded else 1, 2, size)
    if padded:
        bias[:, :, :n].masked_fill_(~valid.repeat_interleave(nh, 0)[:, None], float("-inf"))
    if n > 0:
        mask = with_key_padding(torch.ones(n, n, dtype=torch.bool).tril(), valid if padded else None)
        _, kvs = model.trunk(model.embed(xc, yc), mask)
        for cache, (k, v) in zip(caches, kvs, strict=True):
            cache[0, :, :n] = k.reshape(b * nh, n, -1)
            cache[1, :, :n] = v.reshape(b * nh, n, -1)
    queries = model.embed(xg, None)  # (B, H, d): query tokens do not depend on the samples
    feats = model.features(xg, torch.zeros(b, horizon), torch.zeros(b, horizon))  # context tokens; y set per step
    ctx_row = torch.tensor([0.0, float("-inf")])  # the context token sees itself but not the query after it
    out = torch.empty(b, horizon)
    pos = n  # filled cache length
    for t in range(horizon):
        if t == 0:
            h = model.decode(queries[:, :1], caches, pos, bias[:, 1:, : pos + 1])
        else:
            feats[:, t - 1, cfg.x_dim] = out[:, t - 1]  # column x_dim of the features is y
            tokens = torch.cat([model.embed_mlp(feats[:, t - 1 : t]), queries[:, t : t + 1]], 1)
            bias[:, 0, pos : pos + 2] = ctx_row
            h = model.decode(tokens, caches, pos, bias[:, :, : pos + 2])
            pos += 1  # the context token's keys/values are now part of the cache
        params = model.head(h)
        out[:, t] = model.head.sample(params, noise[:, t])
    if last_params is not None:
        last_params.append(params)  # head parameters of the last step (its draw is out[:, -1])
    return out


@torch.inference_mode()
def _generate_reencode(
    model: ExchangeableTransformer, xc: Tensor, yc: Tensor, xg: Tensor, noise: Tensor, valid: Tensor
) -> Tensor:
    b = xc.shape[0]
    xs, ys, out = xc, yc, []
    for t in range(xg.shape[1]):
        x_t = xg[:, t : t + 1]
        params = model(xs, ys, x_t, ctx_valid=valid)
        y_t = model.head.sample(params, noise[:, t : t + 1])
        xs, ys = torch.cat([xs, x_t], 1), torch.cat([ys, y_t], 1)
        valid = torch.cat([valid, _ones(b, 1)], 1)
        out.append(y_t)
    return torch.cat(out, 1)


@torch.no_grad()
def generate(
    model: ExchangeableTransformer,
    xc: Tensor,
    yc: Tensor,
    xg: Tensor,
    *,
    generator: torch.Generator | None = None,
    noise: Tensor | None = None,
    use_cache: bool = True,
    ctx_valid: Tensor | None = None,
) -> Tensor:
    """Autoregressively sample ŷ (B, H) at inputs ``xg`` (B, H, d), feeding each sample back as context.

    Random numbers: ``noise`` (B, H, k) if given, else drawn once from ``generator``. ``use_cache`` applies to
    the causal model; the CPI model always re-encodes (its context attention is bidirectional). ``ctx_valid``
    (B, N) marks padded context entries (variable-size contexts in one batch).
    """
    b, h = xg.shape[:2]
    if noise is None:
        if generator is None:
            raise ValueError("pass a generator or pre-drawn noise")
        noise = model.head.draw_noise((b, h), generator)
    valid = _ones(b, xc.shape[1]) if ctx_valid is None else ctx_valid
    if model.is_causal and use_cache:
        return _generate_cached(model, xc, yc, xg, noise, valid)
    return _generate_reencode(model, xc, yc, xg, noise, valid)


def _permute(x: Tensor, perm: Tensor) -> Tensor:
    return x.gather(1, perm.view(*perm.shape, *([1] * (x.dim() - 2))).expand_as(x))


@torch.no_grad()
def joint_log_likelihood(
    model: ExchangeableTransformer,
    xc: Tensor,
    yc: Tensor,
    xt: Tensor,
    yt: Tensor,
    *,
    n_perms: int,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """Joint log-likelihood of targets given a context, under ``n_perms`` random target orderings.

    .. math::

        \\log p_\\pi(y_T \\mid x_T, D) = \\sum_{j=1}^{k} \\log p(y_{\\pi_j} \\mid x_{\\pi_j}, D \\cup
        \\{(x_{\\pi_s}, y_{\\pi_s})\\}_{s<j}).

    Returns ``(mean over orderings (B,), all orderings (B, n_perms))``. An exchangeable model gives the same
    value for every ordering. The causal model needs one pass per ordering; the CPI model one per target and
    ordering.
    """
    b, k = yt.shape
    n = xc.shape[1]
    lls = []
    for _ in range(n_perms):
        perm = torch.rand(b, k, generator=generator).argsort(1)
        xp, yp = _permute(xt, perm), _permute(yt, perm)
        if model.is_causal:
            xs, ys = torch.cat([xc, xp], 1), torch.cat([yc, yp], 1)
            params = model(xs[:, :-1], ys[:, :-1], xp, q_prefix=n + torch.arange(k))
            lls.append(model.log_prob(params, yp).sum(1))
        else:
            total = torch.zeros(b)
            for j in range(k):
                xs, ys = torch.cat([xc, xp[:, :j]], 1), torch.cat([yc, yp[:, :j]], 1)
                params = model(xs, ys, xp[:, j : j + 1])
                total += model.log_prob(params, yp[:, j : j + 1]).squeeze(1)
            lls.append(total)
    all_ll = torch.stack(lls, 1)
    return all_ll.mean(1), all_ll


@torch.no_grad()
def rollout_epistemic_std(
    model: ExchangeableTransformer,
    xc: Tensor,
    yc: Tensor,
    x_star: Tensor,
    *,
    n_rollouts: int,
    horizon: int,
    generator: torch.Generator,
    chunk_size: int = 4096,
) -> Tensor:
    """Epistemic spread at candidate inputs by imagination: (B, P).

    For each candidate ``x*`` (B, P, d), imagine ``horizon`` outcomes at ``x*`` in each of ``n_rollouts``
    rollouts and return the standard deviation across rollouts of their mean, ``sd_r( (1/H) Σ_t ŷ_t^{(r)} )``
    — a sample-based proxy for the posterior spread of ``E[y | x*]``.
    """
    b, p, d = x_star.shape
    rep = p * n_rollouts
    xs = x_star.repeat_interleave(n_rollouts, 1).reshape(b * rep, 1, d).expand(b * rep, horizon, d)
    ctx_x = xc.repeat_interleave(rep, 0)
    ctx_y = yc.repeat_interleave(rep, 0)
    noise = model.head.draw_noise((b * rep, horizon), generator)
    means = []
    for s in range(0, b * rep, chunk_size):
        e = slice(s, s + chunk_size)
        means.append(generate(model, ctx_x[e], ctx_y[e], xs[e], noise=noise[e]).mean(1))
    return torch.cat(means).view(b, p, n_rollouts).std(-1)


@torch.no_grad()
def predictive_mean_path(
    model: ExchangeableTransformer,
    xc: Tensor,
    yc: Tensor,
    xg: Tensor,
    x_star: Tensor,
    *,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """Predictive mean and std of y at ``x_star`` (B, 1, d) after t = 0..H imagined points at ``xg`` (B, H,
    d).

    Returns ``(means (B, H + 1), stds (B, H + 1))``. The causal model scores all prefixes in one pass (queries
    at ``x*`` with prefix lengths N..N+H); the CPI model re-encodes each prefix.
    """
    yg = generate(model, xc, yc, xg, generator=generator)
    n, h = xc.shape[1], xg.shape[1]
    xs, ys = torch.cat([xc, xg], 1), torch.cat([yc, yg], 1)
    if model.is_causal:
        xq = x_star.expand(-1, h + 1, -1)
        params = model(xs, ys, xq, q_prefix=n + torch.arange(h + 1))
    else:
        params = torch.cat([model(xs[:, : n + t], ys[:, : n + t], x_star) for t in range(h + 1)], 1)
    return model.head.mean_std(params)


@torch.no_grad()
def rollout_mean_std(
    model: ExchangeableTransformer,
    xc: Tensor,
    yc: Tensor,
    x_star: Tensor,
    *,
    n_rollouts: int,
    horizon: int,
    generator: torch.Generator,
    chunk_size: int = 4096,
) -> Tensor:
    """The seed paper's multi-step epistemic statistic at candidate inputs: (B, P).

    For each candidate ``x*`` (B, P, d) and each of ``n_rollouts`` rollouts, imagine ``horizon`` outcomes at
    ``x*`` and take the model's predictive mean at ``x*`` given the context plus those imagined points,
    ``μ_H^{(r)}(x*) = E[y | x*, D ∪ {(x*, ŷ_t^{(r)})}_{t ≤ H}]``; return ``sd_r μ_H^{(r)}(x*)``. Under an exact
    posterior this is ``sqrt(Var[E(y|x*) | D] − E Var[E(y|x*) | D_H])`` — the part of the epistemic spread that
    H more observations at x* would remove.
    """
    b, p, d = x_star.shape
    rep = p * n_rollouts
    xs = x_star.repeat_interleave(n_rollouts, 1).reshape(b * rep, 1, d)
    ctx_x = xc.repeat_interleave(rep, 0)
    ctx_y = yc.repeat_interleave(rep, 0)
    # H imagined points plus one more step whose predictive (given all H) is the statistic's μ_H
    noise = model.head.draw_noise((b * rep, horizon + 1), generator)
    means = []
    for s in range(0, b * rep, chunk_size):
        e = slice(s, s + chunk_size)
        xg = xs[e].expand(-1, horizon + 1, -1)
        if model.is_causal:  # KV cache: the last step's head parameters come with the generation
            last: list[Tensor] = []
            valid = _ones(xg.shape[0], xc.shape[1])
            _generate_cached(model, ctx_x[e], ctx_y[e], xg, noise[e], valid, last_params=last)
            params = last[0]
        else:
            yg = generate(model, ctx_x[e], ctx_y[e], xg[:, :horizon], noise=noise[e, :horizon])
            params = model(torch.cat([ctx_x[e], xg[:, :horizon]], 1), torch.cat([ctx_y[e], yg], 1), xs[e])[:, 0]
        means.append(model.head.mean_std(params)[0])
    return torch.cat(means).view(b, p, n_rollouts).std(-1)
