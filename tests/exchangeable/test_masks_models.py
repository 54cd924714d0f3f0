import torch

from mixscale.exchangeable.models import (
    BarHead,
    ExchangeableTransformer,
    ModelConfig,
    causal_mask,
    cpi_mask,
    with_key_padding,
)

T, F = True, False


def test_causal_mask_training_layout():
    # 3 context tokens c1..c3 then 4 queries q1..q4; query j sees c_<j and itself.
    m = causal_mask(3, torch.arange(4))
    expected = torch.tensor(
        [
            [T, F, F, F, F, F, F],
            [T, T, F, F, F, F, F],
            [T, T, T, F, F, F, F],
            [F, F, F, T, F, F, F],
            [T, F, F, F, T, F, F],
            [T, T, F, F, F, T, F],
            [T, T, T, F, F, F, T],
        ]
    )
    assert torch.equal(m, expected)


def test_cpi_mask():
    m = cpi_mask(2, 3)
    expected = torch.tensor(
        [
            [T, T, F, F, F],
            [T, T, F, F, F],
            [T, T, T, F, F],
            [T, T, F, T, F],
            [T, T, F, F, T],
        ]
    )
    assert torch.equal(m, expected)


def test_key_padding_keeps_own_key():
    base = torch.ones(1, 3, dtype=torch.bool)  # one new token vs 2 cached + itself
    valid = torch.tensor([[False, False, True]])
    m = with_key_padding(base, valid)
    assert m.shape == (1, 1, 1, 3)
    assert torch.equal(m[0, 0], torch.tensor([[F, F, T]]))
    sq = with_key_padding(torch.ones(2, 2, dtype=torch.bool).tril(), torch.tensor([[False, False]]))
    assert torch.equal(sq[0, 0], torch.eye(2, dtype=torch.bool))


def _model(attention: str, head: str = "gaussian") -> ExchangeableTransformer:
    torch.manual_seed(0)
    cfg = ModelConfig(attention=attention, head=head, n_layers=2, d_model=32, n_heads=4, d_ff=64)
    return ExchangeableTransformer(cfg).eval()


def test_causal_prediction_ignores_later_tokens():
    model = _model("causal")
    g = torch.Generator().manual_seed(0)
    n, j = 12, 5
    x, y = torch.randn(2, n, 1, generator=g), torch.randn(2, n, generator=g)
    params = model(x[:, :-1], y[:, :-1], x, q_prefix=torch.arange(n))
    x2, y2 = x.clone(), y.clone()
    x2[:, j + 1 :] = torch.randn(2, n - j - 1, 1, generator=g)
    y2[:, j:] = torch.randn(2, n - j, generator=g)
    params2 = model(x2[:, :-1], y2[:, :-1], x2, q_prefix=torch.arange(n))
    torch.testing.assert_close(params[:, : j + 1], params2[:, : j + 1])
    assert not torch.allclose(params[:, j + 1 :], params2[:, j + 1 :])


def test_cpi_is_invariant_to_context_order_and_other_queries():
    model = _model("cpi")
    g = torch.Generator().manual_seed(1)
    xc, yc, xq = (
        torch.randn(3, 7, 1, generator=g),
        torch.randn(3, 7, generator=g),
        torch.randn(3, 4, 1, generator=g),
    )
    p = model(xc, yc, xq)
    perm = torch.randperm(7, generator=g)
    torch.testing.assert_close(p, model(xc[:, perm], yc[:, perm], xq), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(p[:, :1], model(xc, yc, xq[:, :1]), atol=1e-5, rtol=1e-5)


def test_gaussian_std_bounded_below():
    model = _model("causal")
    params = torch.tensor([[[0.0, -50.0]]])
    _, std = model.head.mean_std(params)
    assert float(std) >= model.cfg.min_std - 1e-6


def test_bar_head_density_normalised_and_samples_in_range():
    head = BarHead(8, n_bins=16, y_low=-2.0, y_high=2.0)
    params = torch.randn(5, 16)
    grid = torch.linspace(-2 + 1e-4, 2 - 1e-4, 4001)
    dens = head.log_prob(params[:, None, :].expand(5, 4001, 16), grid.expand(5, 4001)).exp()
    integral = torch.trapezoid(dens, grid, dim=-1)
    torch.testing.assert_close(integral, torch.ones(5), atol=2e-2, rtol=0)
    s = head.sample(params, head.draw_noise((5,), torch.Generator().manual_seed(0)))
    assert ((s >= -2) & (s <= 2)).all()
    mean, std = head.mean_std(params)
    assert mean.shape == (5,) and (std > 0).all()


def test_training_loss_both_patterns_and_empty_context():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(4, 10, 1, generator=g), torch.randn(4, 10, generator=g)
    for att in ("causal", "cpi"):
        loss = _model(att).training_loss(x, y, g)
        assert torch.isfinite(loss)
        p = _model(att)(x[:, :0], y[:, :0], x[:, :3])
        assert torch.isfinite(p).all()
