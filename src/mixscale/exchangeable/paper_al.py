"""Active learning exactly as the seed paper ran it (``--protocol paper``).

Data: one sequence of the :class:`~.priors.ActiveLearningPrior` with its defaults and ``snap=False`` per
repetition — x ~ U[−5, 5] (continuous), 50 equal regions, the left half with θ_r ~ N(0, 0.9²) and noise sd 0.1,
the right half with θ_r ~ N(0, 0.5²) and noise sd 0.7 (all standard deviations) — cut into 5 initial labels,
a pool of 95 and 100 test points.

Scoring **once**: every pool point is scored from the 5 initial labels only; the pool is ranked by that score
and, for k = 1..19, the labelled set is the 5 initial points plus the top-k pool points (nested sets, no
rescoring). The test NLL ``−(1/100) Σ log p(y | x, D)`` of the causal model's one-step predictive is recorded
for k = 0..19 (5..24 labels). Scores (ties broken at random):

- ``multi``: sd over R = 20 rollouts of the model's predictive mean at x after H = 19 imagined points at x
  (:func:`~.inference.rollout_mean_std`);
- ``one``: the model's predictive σ at x;
- ``exact``: the same multi-step statistic under the exact conjugate posterior, ``sqrt(v − v_H)`` with ``v``
  the posterior variance of the region level and ``v_H = (1/v + H/τ²)^{-1}`` (the variance of the posterior mean
  after H more points is v − v_H, since the posterior mean is a martingale);
- ``exact-total``: the exact predictive σ, ``sqrt(v + τ²)`` (the exact counterpart of ``one``);
- ``random``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .inference import predict, predictive_moments, rollout_mean_std
from .models import ExchangeableTransformer
from .oracles import normal_posterior
from .priors import ActiveLearningPrior, SequenceBatch
from .tasks import ALResult

__all__ = ["PAPER_AL_RULES", "paper_prior", "paper_data", "exact_scores", "score_pool", "active_learning_paper"]

PAPER_AL_RULES = ("multi", "one", "exact", "exact-total", "random")
N_INIT, N_POOL, N_TEST, N_ACQUIRE = 5, 95, 100, 19


def paper_prior() -> ActiveLearningPrior:
    """The paper's active-learning prior: continuous x, defaults otherwise."""
    return ActiveLearningPrior(snap=False)


def paper_data(n_reps: int, seed: int) -> SequenceBatch:
    """(n_reps, 5 + 95 + 100) points: initial labels, pool, test (in that order)."""
    return paper_prior().sample(n_reps, N_INIT + N_POOL + N_TEST, torch.Generator().manual_seed(seed))


def region_posterior(prior: ActiveLearningPrior, xl: Tensor, yl: Tensor) -> tuple[Tensor, Tensor]:
    """Exact posterior mean and variance of every region level (B, n_regions) given labelled points."""
    s, tau = prior.region_scales()
    r = prior.region_of(xl)
    sums = torch.zeros(xl.shape[0], prior.n_regions).scatter_add_(1, r, yl)
    cnt = torch.zeros(xl.shape[0], prior.n_regions).scatter_add_(1, r, torch.ones_like(yl))
    mean, std = normal_posterior(sums, cnt, s, tau)
    return mean, std**2


def exact_scores(prior: ActiveLearningPrior, xl: Tensor, yl: Tensor, xq: Tensor, horizon: int) -> dict[str, Tensor]:
    """Exact ``{"exact": sqrt(v − v_H), "exact-total": sqrt(v + τ²)}`` at query inputs ``xq`` (B, P, 1)."""
    _, tau = prior.region_scales()
    rq = prior.region_of(xq)
    v = region_posterior(prior, xl, yl)[1].gather(1, rq)
    t2 = tau[rq] ** 2
    v_h = 1.0 / (1.0 / v + horizon / t2)
    return {"exact": (v - v_h).clamp_min(0).sqrt(), "exact-total": (v + t2).sqrt()}


def exact_nll(prior: ActiveLearningPrior, xl: Tensor, yl: Tensor, xt: Tensor, yt: Tensor) -> Tensor:
    """Test NLL (B,) of the exact posterior predictive given labelled points."""
    _, tau = prior.region_scales()
    rt = prior.region_of(xt)
    mean, var = region_posterior(prior, xl, yl)
    mu, sd = mean.gather(1, rt), (var.gather(1, rt) + tau[rt] ** 2).sqrt()
    return (0.5 * ((yt - mu) / sd) ** 2 + sd.log() + 0.5 * torch.log(torch.tensor(2 * torch.pi))).mean(1)


def score_pool(
    model: ExchangeableTransformer | None,
    rule: str,
    xl: Tensor,
    yl: Tensor,
    xp: Tensor,
    *,
    n_rollouts: int,
    horizon: int,
    generator: torch.Generator,
    chunk_size: int = 4096,
) -> Tensor:
    """Score every pool point (B, P) from the labelled points ``(xl, yl)``; larger = label first."""
    if rule == "random":
        return torch.rand(xp.shape[:2], generator=generator)
    if rule.startswith("exact"):
        return exact_scores(paper_prior(), xl, yl, xp, horizon)[rule]
    if model is None:
        raise ValueError(f"rule {rule!r} needs a model")
    if rule == "one":
        return predictive_moments(model, predict(model, xl, yl, xp))[1]
    return rollout_mean_std(
        model, xl, yl, xp, n_rollouts=n_rollouts, horizon=horizon, generator=generator, chunk_size=chunk_size
    )


def active_learning_paper(
    model: ExchangeableTransformer,
    *,
    rule: str,
    n_reps: int,
    n_acquire: int = N_ACQUIRE,
    n_rollouts: int = 20,
    horizon: int = 19,
    seed: int = 0,
    chunk_size: int = 4096,
    scorer: Callable[..., Tensor] = score_pool,
    on_step: Callable[[int], None] | None = None,
) -> ALResult:
    """The paper's protocol (module docstring), vectorised over ``n_reps``; same seed → same data for every rule.

    ``scorer`` is called exactly once, with the 5 initial labels (tests hold it to that).
    """
    if rule not in PAPER_AL_RULES:
        raise ValueError(f"rule must be one of {PAPER_AL_RULES}, got {rule!r}")
    if not 1 <= n_acquire <= N_POOL:
        raise ValueError(f"n_acquire must be in 1..{N_POOL}, got {n_acquire}")
    prior = paper_prior()
    data = paper_data(n_reps, seed)
    x, y = data.x, data.y
    xl, yl = x[:, :N_INIT], y[:, :N_INIT]
    xp, yp = x[:, N_INIT : N_INIT + N_POOL], y[:, N_INIT : N_INIT + N_POOL]
    xt, yt = x[:, N_INIT + N_POOL :], y[:, N_INIT + N_POOL :]
    pol = torch.Generator().manual_seed(seed + 1)
    score = scorer(
        model, rule, xl, yl, xp, n_rollouts=n_rollouts, horizon=horizon, generator=pol, chunk_size=chunk_size
    )
    jitter = 1e-9 * score.abs().amax(1, keepdim=True).clamp_min(1e-12) * torch.rand(score.shape, generator=pol)
    order = (score + jitter).argsort(1, descending=True)[:, :n_acquire]  # ranked once
    xo = xp.gather(1, order[..., None])
    yo = yp.gather(1, order)
    nll, onll = [], []
    for k in range(n_acquire + 1):
        xk, yk = torch.cat([xl, xo[:, :k]], 1), torch.cat([yl, yo[:, :k]], 1)
        nll.append(-model.log_prob(predict(model, xk, yk, xt), yt).mean(1))
        onll.append(exact_nll(prior, xk, yk, xt, yt))
        if on_step is not None and k > 0:
            on_step(k)
    return ALResult(
        rule=rule,
        labels=[N_INIT + k for k in range(n_acquire + 1)],
        nll=torch.stack(nll, 1),
        oracle_nll=torch.stack(onll, 1),
        epistemic_picks=prior.is_epistemic()[prior.region_of(xo)],
    )
