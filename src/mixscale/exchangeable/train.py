"""Training on sequences sampled on the fly from a prior: AdamW, linear warmup then cosine decay, checkpoints.

Learning rate at step t of T with warmup W:

.. math::

    \\eta_t = \\eta \\, \\frac{t + 1}{W} \\;(t < W), \\qquad
    \\eta_t = \\eta_{min} + \\tfrac12 (\\eta - \\eta_{min})\\big(1 + \\cos(\\pi \\tfrac{t - W}{T - W})\\big).

Every batch comes from a ``torch.Generator`` seeded with ``seed``; its state is stored in the checkpoint with
the model, the optimizer and the loss history, so an interrupted run resumes exactly where it stopped (same
seed, same result). Checkpoints are plain tensors and containers and load with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from mixscale.errors import ValidationError

from .models import ExchangeableTransformer, ModelConfig
from .priors import Prior, make_prior

__all__ = ["TrainConfig", "train", "load_checkpoint", "lr_at"]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (seed-paper reference: lr 3e-4, wd 0.01, batch 64, 3% warmup, cosine to 3e-5)."""

    steps: int = 3000
    batch_size: int = 32
    seq_len: int = 64
    lr: float = 3e-4
    min_lr: float = 3e-5
    weight_decay: float = 0.01
    warmup_frac: float = 0.03
    grad_clip: float = 1.0
    min_context: int = 0
    seed: int = 0
    checkpoint_every: int = 250
    device: str = "cpu"

    def __post_init__(self) -> None:
        checks = {
            "steps": self.steps >= 1,
            "batch_size": self.batch_size >= 1,
            "seq_len": self.seq_len >= 2,
            "lr": self.lr > 0,
            "min_lr": 0 <= self.min_lr <= self.lr,
            "weight_decay": self.weight_decay >= 0,
            "warmup_frac": 0 <= self.warmup_frac < 1,
            "min_context": 0 <= self.min_context < self.seq_len,
            "checkpoint_every": self.checkpoint_every >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValidationError(f"train.{name}", f"invalid value {getattr(self, name)!r}")


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate at ``step`` (0-based) under warmup + cosine."""
    warm = max(1, int(cfg.warmup_frac * cfg.steps))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    frac = (step - warm) / max(1, cfg.steps - warm)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(frac, 1.0)))


def _save(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(path: str | Path) -> tuple[ExchangeableTransformer, Prior, dict[str, Any]]:
    """Load ``(model in eval mode, prior, checkpoint dict)`` with ``weights_only=True``."""
    path = Path(path)
    ckpt = _read(path)
    try:
        model = ExchangeableTransformer(ModelConfig(**ckpt["model_config"]))
        model.load_state_dict(ckpt["model"])
        prior = make_prior(ckpt["prior"]["name"], **ckpt["prior"]["params"])
    except ValidationError as err:
        raise ValidationError("checkpoint", f"{path}: {err.field}: {err.message}") from None
    except (KeyError, TypeError, RuntimeError, ValueError, AttributeError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValidationError("checkpoint", f"{path} is not a mixscale exchangeable checkpoint ({msg})") from None
    model.eval()
    return model, prior, ckpt


def _read(path: Path) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` of a checkpoint file; anything else (junk, a pickle of arbitrary
    objects, a file without our keys) is a :class:`ValidationError` naming ``checkpoint`` — never unpickled."""
    if not path.is_file():
        raise ValidationError("checkpoint", f"no checkpoint at {path}")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols before refusing them
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 — torch raises UnpicklingError, RuntimeError, EOFError, ... on junk
        msg = f"{path} is not a torch weights-only file (tensors and plain containers only): {type(err).__name__}"
        raise ValidationError("checkpoint", msg) from None
    missing = [k for k in _KEYS if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        msg = f"{path} lacks the key(s) {missing}: not a mixscale exchangeable checkpoint"
        raise ValidationError("checkpoint", msg)
    return ckpt


_KEYS = ("model_config", "train_config", "prior", "model", "step")


def train(
    model_cfg: ModelConfig,
    prior: Prior,
    cfg: TrainConfig,
    out: str | Path | None = None,
    *,
    resume: bool = True,
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[ExchangeableTransformer, dict[str, Any]]:
    """Train a model on ``prior``; write/resume a checkpoint at ``out`` if given.

    Returns the model (eval mode) and the checkpoint dict (``history`` has per-step losses, ``elapsed_s`` and
    ``steps_per_s``).
    """
    if model_cfg.x_dim != prior.x_dim:
        raise ValidationError("model.x_dim", f"is {model_cfg.x_dim} but prior {prior.name!r} has x_dim {prior.x_dim}")
    torch.manual_seed(cfg.seed)
    model = ExchangeableTransformer(model_cfg).to(cfg.device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(cfg.seed)
    losses: list[float] = []
    step, elapsed = 0, 0.0
    path = Path(out) if out is not None else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if path is not None and resume and path.is_file():
        ckpt = _read(path)
        same_model = ModelConfig(**ckpt["model_config"]).to_dict() == model_cfg.to_dict()
        # the device may change between sessions (start on CPU, finish on CUDA): it is not part of the run
        same_train = {**ckpt["train_config"], "device": cfg.device} == asdict(cfg)
        if not (same_model and same_train):
            raise ValidationError("checkpoint", f"{path} was written with a different configuration")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        gen.set_state(ckpt["generator"])
        if "torch_rng" in ckpt:  # dropout draws from the global generator
            torch.set_rng_state(ckpt["torch_rng"])
        losses, step, elapsed = (
            list(ckpt["history"]["loss"]),
            int(ckpt["step"]),
            float(ckpt["history"]["elapsed_s"]),
        )

    def state() -> dict[str, Any]:
        return {
            "model_config": model_cfg.to_dict(),
            "train_config": asdict(cfg),
            "prior": {"name": prior.name, "params": prior.params()},
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "generator": gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "step": step,
            "history": {
                "loss": losses,
                "elapsed_s": elapsed,
                "steps_per_s": len(losses) / elapsed if elapsed > 0 else float("nan"),
            },
        }

    model.train()
    while step < cfg.steps:
        t0 = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        batch = prior.sample(cfg.batch_size, cfg.seq_len, gen)
        loss = model.training_loss(batch.x.to(cfg.device), batch.y.to(cfg.device), gen, cfg.min_context)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        elapsed += time.perf_counter() - t0
        losses.append(loss.item())
        step += 1
        if on_step is not None:
            on_step(step, losses[-1])
        if path is not None and (step % cfg.checkpoint_every == 0 or step == cfg.steps):
            _save(path, state())
    model.eval()
    return model, state()
