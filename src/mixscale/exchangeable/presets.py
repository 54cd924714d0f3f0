"""Presets of ``mixscale exchangeable run-all``: the model zoo (one checkpoint per architecture × prior) and the
quick / full experiment settings, and the run-all driver that trains the zoo and runs every experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .experiments import (
    Reporter,
    Silent,
    run_active_learning,
    run_bandit,
    run_diagnostics,
    run_evaluate,
    write_json,
)
from .models import ModelConfig
from .priors import make_prior
from .tasks import AL_RULES, BANDIT_RULES
from .train import TrainConfig, train

__all__ = ["ZOO", "MODES", "train_zoo", "run_all"]

# Model zoo for run-all: one checkpoint per (architecture, prior), reused by every experiment.
ZOO: dict[str, dict[str, Any]] = {
    "gp-causal": {"prior": "gp", "attention": "causal", "steps": 2500, "batch_size": 32, "seq_len": 64},
    "gp-cpi": {"prior": "gp", "attention": "cpi", "steps": 2500, "batch_size": 32, "seq_len": 64},
    "bandit-causal": {"prior": "bandit", "attention": "causal", "steps": 1500, "batch_size": 16, "seq_len": 128},
    "al-causal": {
        "prior": "al",
        "attention": "causal",
        "steps": 2500,
        "batch_size": 32,
        "seq_len": 64,
        "fourier_features": 8,
    },
}
_COMMON: dict[str, Any] = {
    "bandit_rounds": 100,
    "bandit_horizon": 100,
    "eval_contexts": [0, 10, 30],
    "eval_targets": 20,
    "eval_perms": 4,
    "diag_set_size": 20,
    "diag_perms": 16,
    "diag_context": 5,
    "diag_horizon": 30,
    "diag_rollouts": 64,
}
MODES: dict[str, dict[str, Any]] = {
    "quick": {
        "step_mult": 1,
        "bandit_reps": 100,
        "al_reps": 100,
        "al_acquire": 14,
        "al_rollouts": 10,
        "al_horizon": 10,
        "eval_sets": 128,
        "diag_sets": 64,
        **_COMMON,
    },
    "full": {
        "step_mult": 8,
        "bandit_reps": 1000,
        "al_reps": 200,
        "al_acquire": 30,
        "al_rollouts": 20,
        "al_horizon": 20,
        "eval_sets": 512,
        "diag_sets": 256,
        **_COMMON,
    },
}


def train_zoo(ckdir: Path, step_mult: int, seed: int, device: str, report: Reporter | None = None) -> dict[str, Path]:
    """Train (or resume / reuse) every checkpoint of :data:`ZOO` under ``ckdir``."""
    paths = {}
    for name, spec in ZOO.items():
        p = make_prior(spec["prior"])
        arch = {k: v for k, v in spec.items() if k in ModelConfig.__dataclass_fields__}
        tcfg = TrainConfig(
            steps=spec["steps"] * step_mult,
            batch_size=spec["batch_size"],
            seq_len=spec["seq_len"],
            lr=3e-4,
            min_lr=3e-4 / 10,
            seed=seed,
            device=device,
        )
        paths[name] = ckdir / f"{name}.pt"
        tick = (report or Silent()).task(f"train {name}", tcfg.steps)
        train(ModelConfig(x_dim=p.x_dim, **arch), p, tcfg, paths[name], on_step=lambda s, _l, t=tick: t(s, ""))
    return paths


def run_all(out: Path, quick: bool, seed: int, device: str, report: Reporter | None = None) -> Path:
    """Train (or reuse) the zoo and run all four experiments; returns the results folder."""
    m = MODES["quick" if quick else "full"]
    paths = train_zoo(out / ("ckpt" if quick else "ckpt-full"), m["step_mult"], seed, device, report)
    res = out / ("quick" if quick else "full")
    gp_paths = [paths["gp-causal"], paths["gp-cpi"]]
    summary: dict[str, Any] = {"mode": "quick" if quick else "full", "seed": seed}
    summary["evaluate"] = run_evaluate(
        gp_paths, res / "evaluate", m["eval_contexts"], m["eval_targets"], m["eval_sets"], m["eval_perms"], seed, report
    )
    summary["bandit"] = run_bandit(
        paths["bandit-causal"],
        res / "bandit",
        list(BANDIT_RULES),
        m["bandit_reps"],
        m["bandit_rounds"],
        m["bandit_horizon"],
        seed,
        report,
    )
    summary["active_learning"] = run_active_learning(
        paths["al-causal"],
        res / "al",
        list(AL_RULES),
        m["al_reps"],
        m["al_acquire"],
        m["al_rollouts"],
        m["al_horizon"],
        seed,
        report,
    )
    summary["diagnostics"] = run_diagnostics(
        gp_paths,
        res / "diagnostics",
        m["diag_sets"],
        m["diag_set_size"],
        m["diag_perms"],
        m["diag_context"],
        m["diag_horizon"],
        m["diag_rollouts"],
        seed,
        report,
    )
    write_json(res / "summary.json", summary)
    return res
