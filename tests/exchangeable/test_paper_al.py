"""The seed paper's active-learning protocol: its data, its once-only ranking, its exact-posterior rule."""

import math

import pytest
import torch

from mixscale.exchangeable.models import ExchangeableTransformer, ModelConfig
from mixscale.exchangeable.paper_al import (
    N_INIT,
    N_POOL,
    active_learning_paper,
    exact_scores,
    paper_data,
    paper_prior,
    region_posterior,
    score_pool,
)


def _tiny():
    torch.manual_seed(0)
    return ExchangeableTransformer(ModelConfig(n_layers=1, d_model=16, n_heads=2, d_ff=32)).eval()


def test_paper_data_matches_its_stated_distribution():
    data = paper_data(4000, seed=0)
    x, y = data.x[..., 0], data.y
    assert data.x.shape == (4000, 200, 1)
    assert float(x.min()) >= -5 and float(x.max()) <= 5
    # x ~ U[-5, 5]: mean 0, variance 100/12, and not snapped (many distinct values per region)
    assert abs(float(x.mean())) < 0.02 and float(x.var()) == pytest.approx(100 / 12, rel=0.01)
    assert x.unique().numel() > 100_000
    theta = data.latent["theta"]  # (B, 50) region levels, standard deviations 0.9 (left half) and 0.5 (right)
    assert float(theta[:, :25].std()) == pytest.approx(0.9, rel=0.02)
    assert float(theta[:, 25:].std()) == pytest.approx(0.5, rel=0.02)
    left, right = x < 0, x >= 0
    resid = y - theta.gather(1, data.latent["region"])
    assert float(resid[left].std()) == pytest.approx(0.1, rel=0.02)  # noise sd 0.1 on the left
    assert float(resid[right].std()) == pytest.approx(0.7, rel=0.02)  # noise sd 0.7 on the right
    assert float(y[left].var()) == pytest.approx(0.9**2 + 0.1**2, rel=0.03)
    assert float(y[right].var()) == pytest.approx(0.5**2 + 0.7**2, rel=0.03)
    # y came from the region the exact posterior reads off x, floor((x + 5) / 0.2)
    assert torch.equal(data.latent["region"], paper_prior().region_of(data.x))
    assert (data.latent["region"] - ((x + 5) / 0.2).floor().long().clamp(0, 49)).abs().max() <= 1


def test_pool_is_ranked_once_from_the_initial_labels():
    calls = []

    def spy(model, rule, xl, yl, xp, **kw):
        calls.append((xl.shape[1], yl.clone(), xp.clone()))
        return score_pool(model, rule, xl, yl, xp, **kw)

    model = _tiny()
    res = active_learning_paper(model, rule="one", n_reps=6, n_acquire=7, seed=3, scorer=spy)
    assert len(calls) == 1 and calls[0][0] == N_INIT  # one call, from the 5 initial labels only
    data = paper_data(6, seed=3)
    torch.testing.assert_close(calls[0][1], data.y[:, :N_INIT])
    assert res.labels == list(range(5, 13)) and res.nll.shape == (6, 8)
    # the labelled sets are the top-k of that single ranking: nested, so the k = 7 set is the score's top 7
    score = score_pool(model, "one", data.x[:, :N_INIT], data.y[:, :N_INIT], data.x[:, N_INIT : N_INIT + N_POOL],
                       n_rollouts=2, horizon=2, generator=torch.Generator())  # fmt: skip
    top = score.argsort(1, descending=True)[:, :7]
    region = paper_prior().region_of(data.x[:, N_INIT : N_INIT + N_POOL]).gather(1, top)
    ep = paper_prior().is_epistemic()[region]
    assert torch.equal(ep, res.epistemic_picks)


def test_same_seed_same_data_for_every_rule():
    model = _tiny()
    a = active_learning_paper(model, rule="random", n_reps=4, n_acquire=3, seed=1)
    b = active_learning_paper(model, rule="exact", n_reps=4, n_acquire=3, seed=1)
    torch.testing.assert_close(a.nll[:, 0], b.nll[:, 0])
    m = active_learning_paper(model, rule="multi", n_reps=2, n_acquire=2, n_rollouts=3, horizon=2, seed=1)
    assert m.nll.shape == (2, 3) and torch.isfinite(m.nll).all()


def test_exact_rule_is_the_exact_multistep_statistic_on_a_conjugate_case():
    """Monte Carlo under the exact posterior: imagine H points at x from the exact predictive, take the posterior
    mean after them; its sd over rollouts must equal the closed form sqrt(v − v_H) the exact rule uses."""
    prior = paper_prior()
    xl = torch.tensor([[[-4.9], [-4.95], [4.9], [0.05], [0.1]]])  # region 0 (twice), 49, 25 (twice)
    yl = torch.tensor([[0.3, 0.25, -0.4, 0.1, 0.9]])
    xq = torch.tensor([[[-4.85], [-3.0], [4.95], [0.15], [3.0]]])  # labelled / unlabelled, both halves
    horizon, n_roll = 19, 40_000
    closed = exact_scores(prior, xl, yl, xq, horizon)
    s, tau = prior.region_scales()
    mean, var = region_posterior(prior, xl, yl)
    g = torch.Generator().manual_seed(0)
    for j, r in enumerate(prior.region_of(xq)[0].tolist()):
        m, v, t = float(mean[0, r]), float(var[0, r]), float(tau[r])
        mu = torch.full((n_roll,), m)
        var_r = torch.full((n_roll,), v)
        for _ in range(horizon):  # sequential conjugate updates with draws from the exact predictive
            yh = mu + (var_r + t**2).sqrt() * torch.randn(n_roll, generator=g)
            new_var = 1 / (1 / var_r + 1 / t**2)
            mu = new_var * (mu / var_r + yh / t**2)
            var_r = new_var
        assert float(mu.std()) == pytest.approx(float(closed["exact"][0, j]), rel=0.02)
        assert float(closed["exact-total"][0, j]) == pytest.approx(math.sqrt(v + t**2), rel=1e-5)
    # unlabelled epistemic region: sqrt(0.81 − 1/(1/0.81 + 19/0.01))
    assert float(closed["exact"][0, 1]) == pytest.approx(math.sqrt(0.81 - 1 / (1 / 0.81 + 1900)), rel=1e-5)
    assert float(s[1]) == pytest.approx(0.9)


def test_exact_and_random_reference_values():
    """Under the paper's protocol the exact rule reaches ≈ 0.70 test NLL (exact predictive) after 19 labels and
    random ≈ 0.92 — the references the docs table quotes."""
    model = _tiny()
    ex = active_learning_paper(model, rule="exact", n_reps=150, seed=0)
    rnd = active_learning_paper(model, rule="random", n_reps=150, seed=0)
    assert ex.labels[-1] == 24
    assert 0.66 < float(ex.oracle_nll[:, -1].mean()) < 0.73
    assert 0.88 < float(rnd.oracle_nll[:, -1].mean()) < 0.96
    assert bool(ex.epistemic_picks.all())
