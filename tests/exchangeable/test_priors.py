import math

import pytest
import torch

from mixscale.errors import ValidationError
from mixscale.exchangeable.priors import ActiveLearningPrior, BanditPrior, GPPrior, make_prior


def test_gp_prior_statistics():
    prior = GPPrior(lengthscale=0.5, outputscale=2.0, noise_std=0.3)
    b = prior.sample(4000, 2, torch.Generator().manual_seed(0))
    assert ((b.x >= -2) & (b.x <= 2)).all()
    var = b.y.var()
    assert abs(float(var) - (2.0 + 0.09)) < 0.15
    # covariance of the two points matches k(x1, x2) on average
    k = prior.kernel(b.x[:, :1], b.x[:, 1:2]).squeeze()
    cov_emp = (b.y[:, 0] * b.y[:, 1]).mean()
    assert abs(float(cov_emp) - float(k.mean())) < 0.15
    resid = b.y - b.latent["f"]
    assert abs(float(resid.std()) - 0.3) < 0.02


def test_gp_prior_same_seed_same_data():
    a = GPPrior(x_dim=3).sample(2, 5, torch.Generator().manual_seed(7))
    b = GPPrior(x_dim=3).sample(2, 5, torch.Generator().manual_seed(7))
    assert a.x.shape == (2, 5, 3) and torch.equal(a.y, b.y)


def test_bandit_prior_statistics():
    prior = BanditPrior(sigmas=(0.5, 0.9), taus=(0.5, 0.1))
    b = prior.sample(6000, 20, torch.Generator().manual_seed(0))
    for a, (s, t) in enumerate(zip(prior.sigmas, prior.taus, strict=True)):
        sel = b.latent["arm"] == a
        assert torch.allclose(b.x[sel][:, :, 0], torch.tensor(s)) and torch.allclose(b.x[sel][:, :, 1], torch.tensor(t))
        assert abs(float(b.latent["theta"][sel].std()) - s) < 0.05
        resid = b.y[sel] - b.latent["theta"][sel][:, None]
        assert abs(float(resid.std()) - t) < 0.02


def test_active_learning_prior_statistics():
    prior = ActiveLearningPrior()
    b = prior.sample(3000, 50, torch.Generator().manual_seed(0))
    assert ((b.x >= -5) & (b.x <= 5)).all()
    region = b.latent["region"]
    assert torch.equal(prior.region_of(b.x), region)
    s, tau = prior.region_scales()
    theta = b.latent["theta"].gather(1, region)
    resid = b.y - theta
    ep = prior.is_epistemic()[region]
    assert ep.float().mean().item() == pytest.approx(0.5, abs=0.02)
    assert abs(float(resid[ep].std()) - 0.1) < 0.01
    assert abs(float(resid[~ep].std()) - 0.7) < 0.03
    th = b.latent["theta"]
    assert abs(float(th[:, prior.is_epistemic()].std()) - 0.9) < 0.03
    assert abs(float(th[:, ~prior.is_epistemic()].std()) - 0.5) < 0.03


def test_noise_std_convention_default_is_variance_point_one():
    assert GPPrior().noise_std == pytest.approx(math.sqrt(0.1))


def test_validation_names_the_field():
    with pytest.raises(ValidationError) as e:
        GPPrior(noise_std=-1.0)
    assert e.value.field == "noise_std"
    with pytest.raises(ValidationError) as e:
        make_prior("nope")
    assert e.value.field == "prior"
    assert isinstance(make_prior("al", layout="alternate"), ActiveLearningPrior)
