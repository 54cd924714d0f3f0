import math

import pytest
import torch

from mixscale.errors import ValidationError
from mixscale.exchangeable.models import ModelConfig
from mixscale.exchangeable.priors import BanditPrior, GPPrior
from mixscale.exchangeable.train import TrainConfig, load_checkpoint, lr_at, train

TINY = ModelConfig(n_layers=2, d_model=32, n_heads=4, d_ff=64)


def test_tiny_model_beats_constant_predictor_on_gp_prior():
    prior = GPPrior()
    model, state = train(TINY, prior, TrainConfig(steps=150, batch_size=16, seq_len=24, lr=2e-3, min_lr=2e-4, seed=0))
    data = prior.sample(256, 24, torch.Generator().manual_seed(123))
    with torch.no_grad():
        nll = float(model.training_loss(data.x, data.y, torch.Generator()))
    # best constant Gaussian predictor: N(0, outputscale + noise²)
    var = prior.outputscale + prior.noise_std**2
    constant_nll = 0.5 * math.log(2 * math.pi * math.e * var)
    assert nll < constant_nll - 0.1
    assert state["step"] == 150 and len(state["history"]["loss"]) == 150


def test_resume_reproduces_uninterrupted_run(tmp_path):
    cfg = TrainConfig(steps=8, batch_size=4, seq_len=10, checkpoint_every=4, seed=3)
    full, _ = train(TINY, GPPrior(), cfg)

    class Stop(Exception):
        pass

    def stop_after_5(step: int, loss: float) -> None:
        if step == 5:
            raise Stop

    path = tmp_path / "m.pt"
    with pytest.raises(Stop):
        train(TINY, GPPrior(), cfg, path, on_step=stop_after_5)
    resumed, state = train(TINY, GPPrior(), cfg, path)
    assert state["step"] == 8
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    model, prior, ckpt = load_checkpoint(path)
    assert isinstance(prior, GPPrior) and ckpt["step"] == 8


def test_lr_schedule_warmup_and_cosine():
    cfg = TrainConfig(steps=100, lr=1e-3, min_lr=1e-4, warmup_frac=0.1)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(99, cfg) == pytest.approx(1e-4, rel=0.05)


def test_bad_config_names_field(tmp_path):
    with pytest.raises(ValidationError) as e:
        TrainConfig(seq_len=1)
    assert e.value.field == "train.seq_len"
    with pytest.raises(ValidationError) as e:
        train(TINY, BanditPrior(), TrainConfig(steps=1))
    assert e.value.field == "model.x_dim"
    with pytest.raises(ValidationError):
        load_checkpoint(tmp_path / "missing.pt")
