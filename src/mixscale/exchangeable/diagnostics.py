"""How far is a trained model from exchangeability? Two checks, each also run on the exact GP for reference.

**Permutation spread.** For a set of k points, an exchangeable model assigns the same joint likelihood ``Σ_j
log p(y_{π_j} | x_{π_j}, y_{π_{<j}})`` to every ordering π. We report, per set, the standard deviation of that
quantity over random orderings (nats), averaged over sets. The GP's value is 0 up to round-off.

**Martingale (c.i.d.) check.** A model is conditionally identically distributed when its predictive mean at a
fixed x* is a martingale under its own imagined data: ``E[μ_{t+1}(x*) | D_t] = μ_t(x*)``. For each set we run
R rollouts of H imagined points (x from the prior's input distribution) and estimate the mean drift ``d_t =
mean_r(μ_t^{(r)} − μ_0)``. Under c.i.d. the standardised drift ``z_t = d_t / se(d_t)`` (se = rollout std / √R)
is ≈ N(0, 1), so ``E[z_t²] ≈ 1``; values well above 1 show a systematic drift. We also report ``|d_H| /
σ_0(x*)``, the drift at the horizon in units of the initial predictive std.
"""

from __future__ import annotations

import torch

from .inference import joint_log_likelihood, predictive_mean_path
from .models import ExchangeableTransformer
from .oracles import GPOracle
from .priors import GPPrior

__all__ = ["permutation_spread", "martingale_check", "joint_ll_gap"]


@torch.no_grad()
def permutation_spread(
    model: ExchangeableTransformer | GPOracle,
    prior: GPPrior,
    *,
    n_sets: int,
    set_size: int,
    n_perms: int,
    seed: int,
) -> dict[str, float]:
    """Mean over sets of the std (and range) over orderings of the joint log-lik. of ``set_size`` points."""
    gen = torch.Generator().manual_seed(seed)
    data = prior.sample(n_sets, set_size, gen)
    empty_x, empty_y = data.x[:, :0], data.y[:, :0]
    if isinstance(model, GPOracle):
        lls = []
        for _ in range(n_perms):
            perm = torch.rand(n_sets, set_size, generator=gen).argsort(1)
            xp = data.x.gather(1, perm[..., None].expand_as(data.x))
            lls.append(model.joint_log_likelihood(empty_x, empty_y, xp, data.y.gather(1, perm)))
        all_ll = torch.stack(lls, 1)
    else:
        _, all_ll = joint_log_likelihood(model, empty_x, empty_y, data.x, data.y, n_perms=n_perms, generator=gen)
    std = all_ll.std(1)
    return {
        "perm_std_nats": float(std.mean()),
        "perm_std_nats_per_point": float(std.mean() / set_size),
        "perm_range_nats": float((all_ll.max(1).values - all_ll.min(1).values).mean()),
        "joint_ll_per_point": float(all_ll.mean() / set_size),
    }


@torch.no_grad()
def martingale_check(
    model: ExchangeableTransformer | GPOracle,
    prior: GPPrior,
    *,
    n_sets: int,
    n_context: int,
    horizon: int,
    n_rollouts: int,
    seed: int,
) -> dict[str, object]:
    """Drift of the predictive mean at a fixed x* under the model's own imagined data (module docstring)."""
    gen = torch.Generator().manual_seed(seed)
    data = prior.sample(n_sets, n_context, gen)
    x_star = prior.sample_x((n_sets, 1), gen)
    xg = prior.sample_x((n_sets * n_rollouts, horizon), gen)
    xc = data.x.repeat_interleave(n_rollouts, 0)
    yc = data.y.repeat_interleave(n_rollouts, 0)
    xs = x_star.repeat_interleave(n_rollouts, 0)
    if isinstance(model, GPOracle):
        yg = model.sample(xc, yc, xg, gen)
        means, stds = [], []
        for t in range(horizon + 1):
            m, s = model.predictive(torch.cat([xc, xg[:, :t]], 1), torch.cat([yc, yg[:, :t]], 1), xs)
            means.append(m[:, 0])
            stds.append(s[:, 0])
        mu, sd = torch.stack(means, 1), torch.stack(stds, 1)
    else:
        mu, sd = predictive_mean_path(model, xc, yc, xg, xs, generator=gen)
    mu = mu.view(n_sets, n_rollouts, horizon + 1)
    sigma0 = sd.view(n_sets, n_rollouts, horizon + 1)[:, 0, 0]
    delta = mu - mu[:, :, :1]
    d = delta.mean(1)  # (sets, H+1)
    se = delta.std(1) / n_rollouts**0.5
    z2 = (d[:, 1:] / se[:, 1:].clamp_min(1e-9)) ** 2
    return {
        "mean_z2": float(z2.mean()),
        "mean_z2_at_horizon": float(z2[:, -1].mean()),
        "abs_drift_over_sigma0_at_horizon": float((d[:, -1].abs() / sigma0).mean()),
        "abs_drift_curve": [float(v) for v in (d.abs() / sigma0[:, None]).mean(0)],
        "z2_curve": [float(v) for v in z2.mean(0)],
    }


@torch.no_grad()
def joint_ll_gap(
    model: ExchangeableTransformer,
    prior: GPPrior,
    *,
    n_sets: int,
    n_context: int,
    n_targets: int,
    n_perms: int,
    seed: int,
) -> dict[str, float]:
    """Per-target joint log-likelihood of the model and of the exact GP on the same sets; gap = GP − model.

    The model's value is averaged over ``n_perms`` target orderings.
    """
    gen = torch.Generator().manual_seed(seed)
    data = prior.sample(n_sets, n_context + n_targets, gen)
    xc, yc = data.x[:, :n_context], data.y[:, :n_context]
    xt, yt = data.x[:, n_context:], data.y[:, n_context:]
    model_ll, _ = joint_log_likelihood(model, xc, yc, xt, yt, n_perms=n_perms, generator=gen)
    gp_ll = GPOracle(prior).joint_log_likelihood(xc, yc, xt, yt)
    gap = (gp_ll - model_ll) / n_targets
    return {
        "model_ll_per_target": float(model_ll.mean() / n_targets),
        "gp_ll_per_target": float(gp_ll.mean() / n_targets),
        "gap_per_target": float(gap.mean()),
        "gap_se": float(gap.std() / n_sets**0.5),
    }
