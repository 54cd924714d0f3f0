"""Decision tasks driven by a trained model: Thompson sampling for Gaussian bandits and active learning.

Both are vectorised over repetitions (one batch row per repetition), so hundreds of repetitions cost about as
much as one.

**Thompson sampling.** Each round, draw one posterior sample per arm and pull the largest. Samples:

- ``multi`` (multi-step): imagine H future rewards of the arm given its history and take their mean, ``θ̃_a =
  (1/H) Σ_t ŷ_t`` — a draw of the arm's mean up to O(τ/√H) noise;
- ``one`` (one-step): a single draw ``ỹ ~ p(y | a, D_a)`` — its spread includes the reward noise τ;
- ``oracle``: the exact conjugate posterior draw (reference).

Regret after T rounds: ``Σ_t (max_a θ_a − θ_{a_t})``.

**Active learning.** Start from ``n_init`` labelled points, a pool and a test set from one sequence of the
prior; repeatedly label the pool point with the largest score and record the test NLL ``−(1/m) Σ log p(y | x,
D)`` of the model's one-step predictive. Scores: ``multi`` = rollout epistemic std (std across rollouts of the
mean of H imagined outcomes at x), ``one`` = predictive σ (total uncertainty), ``random``; and, as references
that use the exact conjugate posterior instead of the model, ``exact-epistemic`` = posterior std of the region
level θ_r and ``exact-total`` = exact predictive std ``sqrt(var θ_r + τ_r²)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .inference import generate, predict, predictive_moments, rollout_epistemic_std
from .models import ExchangeableTransformer
from .oracles import normal_posterior
from .priors import ActiveLearningPrior, BanditPrior

__all__ = ["BanditResult", "thompson_sampling", "ALResult", "active_learning", "BANDIT_RULES", "AL_RULES"]

BANDIT_RULES = ("multi", "one", "oracle")
AL_RULES = ("multi", "one", "random", "exact-epistemic", "exact-total")


@dataclass
class BanditResult:
    """``regret`` (R, T) cumulative regret per repetition and round; ``pulls`` (R, 2) per-arm counts."""

    rule: str
    regret: Tensor
    pulls: Tensor


def thompson_sampling(
    model: ExchangeableTransformer | None,
    prior: BanditPrior,
    *,
    rule: str,
    n_reps: int,
    rounds: int,
    horizon: int,
    max_context: int,
    seed: int,
    on_round: Callable[[int], None] | None = None,
) -> BanditResult:
    """Two-or-more-armed Gaussian bandit with one arm of each type in ``prior`` (the seed paper's setting).

    Environments (θ, reward noise) depend only on ``seed``, so rules run with the same seed face the same
    bandits and the same reward noise sequence. The multi-step horizon of an arm with n pulls is
    ``min(horizon, max_context − n)`` (the model's trained sequence length bounds the imagined context).
    """
    if rule not in BANDIT_RULES:
        raise ValueError(f"rule must be one of {BANDIT_RULES}, got {rule!r}")
    if rule != "oracle" and model is None:
        raise ValueError("model-based rules need a model")
    env = torch.Generator().manual_seed(seed)
    pol = torch.Generator().manual_seed(seed + 1)
    k = len(prior.sigmas)
    feats = prior.arm_features(torch.arange(k))  # (k, 2)
    theta = feats[:, 0] * torch.randn(n_reps, k, generator=env)
    reward_noise = torch.randn(n_reps, rounds, generator=env)  # noise of the reward received in round t
    best = theta.max(1).values
    ys = torch.zeros(n_reps, k, rounds)
    counts = torch.zeros(n_reps, k, dtype=torch.long)
    regret = torch.zeros(n_reps, rounds)
    rows = torch.arange(n_reps)
    for t in range(rounds):
        if rule == "oracle":
            mean, std = normal_posterior(ys.sum(-1), counts.float(), feats[:, 0], feats[:, 1])
            samples = mean + std * torch.randn(n_reps, k, generator=pol)
        else:
            assert model is not None
            n_max = max(int(counts.max()), 0)
            b = n_reps * k
            xc = feats.repeat(n_reps, 1)[:, None, :].expand(b, n_max, 2)
            yc = ys[:, :, :n_max].reshape(b, n_max)
            valid = torch.arange(n_max)[None, :] < counts.reshape(b, 1)
            if rule == "one":
                params = predict(model, xc, yc, feats.repeat(n_reps, 1)[:, None, :], ctx_valid=valid)
                samples = model.head.sample(params, model.head.draw_noise((b, 1), pol)).view(n_reps, k)
            else:
                n_a = counts.reshape(b)
                h_eff = (max_context - n_a).clamp(1, horizon)
                h_gen = int(h_eff.max())
                xg = feats.repeat(n_reps, 1)[:, None, :].expand(b, h_gen, 2)
                yg = generate(model, xc, yc, xg, generator=pol, ctx_valid=valid)
                keep = torch.arange(h_gen)[None, :] < h_eff[:, None]  # causal: later draws never affect earlier
                samples = ((yg * keep).sum(1) / h_eff).view(n_reps, k)
        arm = samples.argmax(1)
        r = theta[rows, arm] + feats[arm, 1] * reward_noise[:, t]
        ys[rows, arm, counts[rows, arm]] = r
        counts[rows, arm] += 1
        regret[:, t] = best - theta[rows, arm]
        if on_round is not None:
            on_round(t + 1)
    return BanditResult(rule=rule, regret=regret.cumsum(1), pulls=counts)


@dataclass
class ALResult:
    """``nll`` (R, K+1): model test NLL after n_init + k labels, k = 0..K; ``oracle_nll``: exact posterior."""

    rule: str
    labels: list[int]
    nll: Tensor
    oracle_nll: Tensor
    epistemic_picks: Tensor


def _region_posterior(prior: ActiveLearningPrior, xl: Tensor, yl: Tensor) -> tuple[Tensor, Tensor]:
    """Exact posterior mean and std of every region level θ_r (B, n_regions) given labelled data."""
    s, tau = prior.region_scales()
    rl = prior.region_of(xl)
    sums = torch.zeros(xl.shape[0], prior.n_regions).scatter_add_(1, rl, yl)
    cnt = torch.zeros(xl.shape[0], prior.n_regions).scatter_add_(1, rl, torch.ones_like(yl))
    return normal_posterior(sums, cnt, s, tau)


def _oracle_nll(prior: ActiveLearningPrior, xl: Tensor, yl: Tensor, xt: Tensor, yt: Tensor) -> Tensor:
    _, tau = prior.region_scales()
    rt = prior.region_of(xt)
    mean, std = _region_posterior(prior, xl, yl)
    mu, sd = mean.gather(1, rt), (std.gather(1, rt) ** 2 + tau[rt] ** 2).sqrt()
    return (0.5 * ((yt - mu) / sd) ** 2 + sd.log() + 0.5 * torch.log(torch.tensor(2 * torch.pi))).mean(1)


def active_learning(
    model: ExchangeableTransformer,
    prior: ActiveLearningPrior,
    *,
    rule: str,
    n_reps: int,
    n_init: int = 5,
    n_pool: int = 95,
    n_test: int = 100,
    n_acquire: int = 14,
    n_rollouts: int = 20,
    horizon: int = 20,
    seed: int = 0,
    chunk_size: int = 4096,
    on_step: Callable[[int], None] | None = None,
) -> ALResult:
    """Pool-based active learning, vectorised over ``n_reps`` sequences from ``prior`` (same seed → same
    data).

    With ``prior.snap`` all pool points of a region share one x, so scores are computed once per region
    centre.
    """
    if rule not in AL_RULES:
        raise ValueError(f"rule must be one of {AL_RULES}, got {rule!r}")
    data = prior.sample(n_reps, n_init + n_pool + n_test, torch.Generator().manual_seed(seed))
    pol = torch.Generator().manual_seed(seed + 1)
    x, y = data.x, data.y
    xl, yl = x[:, :n_init], y[:, :n_init]
    xp, yp = x[:, n_init : n_init + n_pool], y[:, n_init : n_init + n_pool]
    xt, yt = x[:, n_init + n_pool :], y[:, n_init + n_pool :]
    used = torch.zeros(n_reps, n_pool, dtype=torch.bool)
    rows = torch.arange(n_reps)
    nll, onll, picks_ep = [], [], []
    ep_region = prior.is_epistemic()
    centres = prior.centres()[:, None]
    for k in range(n_acquire + 1):
        params = predict(model, xl, yl, xt)
        nll.append(-model.log_prob(params, yt).mean(1))
        onll.append(_oracle_nll(prior, xl, yl, xt, yt))
        if k == n_acquire:
            break
        if rule == "random":
            score = torch.rand(n_reps, n_pool, generator=pol)
        elif rule.startswith("exact"):
            _, post_std = _region_posterior(prior, xl, yl)
            if rule == "exact-total":
                post_std = (post_std**2 + prior.region_scales()[1] ** 2).sqrt()
            score = post_std.gather(1, prior.region_of(xp))
        else:
            cand = centres.expand(n_reps, -1, -1) if prior.snap else xp
            if rule == "one":
                _, score = predictive_moments(model, predict(model, xl, yl, cand))
            else:
                score = rollout_epistemic_std(
                    model,
                    xl,
                    yl,
                    cand,
                    n_rollouts=n_rollouts,
                    horizon=horizon,
                    generator=pol,
                    chunk_size=chunk_size,
                )
            if prior.snap:
                score = score.gather(1, prior.region_of(xp))
        score = score.masked_fill(used, float("-inf"))
        pick = score.argmax(1)
        used[rows, pick] = True
        picks_ep.append(ep_region[prior.region_of(xp[rows, pick])])
        xl = torch.cat([xl, xp[rows, pick][:, None]], 1)
        yl = torch.cat([yl, yp[rows, pick][:, None]], 1)
        if on_step is not None:
            on_step(k + 1)
    return ALResult(
        rule=rule,
        labels=[n_init + k for k in range(len(nll))],
        nll=torch.stack(nll, 1),
        oracle_nll=torch.stack(onll, 1),
        epistemic_picks=torch.stack(picks_ep, 1) if picks_ep else torch.zeros(n_reps, 0, dtype=torch.bool),
    )
