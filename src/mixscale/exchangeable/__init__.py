"""Exchangeable sequence models (seed paper 2): priors, causal / CPI transformers, multi-step inference with a
KV cache, decision tasks (Thompson sampling, active learning) and exchangeability diagnostics.

The CLI lives in :mod:`mixscale.exchangeable.cli` (``app``); importing this package does not import Typer.
"""

from .diagnostics import joint_ll_gap, martingale_check, permutation_spread
from .inference import generate, joint_log_likelihood, predict, predictive_moments, rollout_epistemic_std
from .models import ExchangeableTransformer, ModelConfig, causal_mask, cpi_mask
from .oracles import GPOracle, normal_posterior
from .priors import PRIORS, ActiveLearningPrior, BanditPrior, GPPrior, Prior, SequenceBatch, make_prior
from .tasks import active_learning, thompson_sampling
from .train import TrainConfig, load_checkpoint, train

__all__ = [
    "ActiveLearningPrior",
    "BanditPrior",
    "ExchangeableTransformer",
    "GPOracle",
    "GPPrior",
    "ModelConfig",
    "PRIORS",
    "Prior",
    "SequenceBatch",
    "TrainConfig",
    "active_learning",
    "causal_mask",
    "cpi_mask",
    "generate",
    "joint_ll_gap",
    "joint_log_likelihood",
    "load_checkpoint",
    "make_prior",
    "martingale_check",
    "normal_posterior",
    "permutation_spread",
    "predict",
    "predictive_moments",
    "rollout_epistemic_std",
    "thompson_sampling",
    "train",
]
