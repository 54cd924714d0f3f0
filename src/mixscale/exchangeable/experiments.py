"""Experiment runners behind ``mixscale exchangeable``: evaluate, bandit, active learning, diagnostics, run-all.

Library code: a runner loads its checkpoint(s), runs one experiment, writes tables (CSV + JSON) and PNGs under
``out`` and returns its summary. It never ends the process — a wrong or unreadable checkpoint is a
:class:`~mixscale.errors.ValidationError` naming ``checkpoint`` (the CLI turns it into one line and exit code
2). Progress goes to an optional :class:`Reporter` (the CLI passes a rich progress bar).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import torch
from torch import Tensor

from mixscale.errors import ValidationError

from . import plots
from .diagnostics import joint_ll_gap, martingale_check, permutation_spread
from .models import ExchangeableTransformer
from .oracles import GPOracle
from .paper_al import active_learning_paper
from .priors import ActiveLearningPrior, BanditPrior, GPPrior
from .tasks import active_learning, thompson_sampling
from .train import load_checkpoint

__all__ = [
    "Reporter",
    "load_for",
    "run_evaluate",
    "run_bandit",
    "run_active_learning",
    "run_diagnostics",
    "run_active_learning_paper",
]

Tick = Callable[[int, str], None]


class Reporter(Protocol):
    """Progress sink: ``task(description, total)`` returns ``tick(completed, info)``."""

    def task(self, description: str, total: int) -> Tick: ...


class Silent:
    def task(self, description: str, total: int) -> Tick:
        return lambda completed, info="": None


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, default=float))


def load_for(path: Path, want_prior: type | None = None) -> tuple[ExchangeableTransformer, Any, dict[str, Any]]:
    """Load a checkpoint and check it was trained on ``want_prior`` (else :class:`ValidationError`)."""
    model, prior, ckpt = load_checkpoint(path)
    if want_prior is not None and not isinstance(prior, want_prior):
        raise ValidationError("checkpoint", f"{path} was trained on prior {prior.name!r}")
    return model, prior, ckpt


def label(ckpt: dict[str, Any]) -> str:
    return f"{ckpt['prior']['name']}-{ckpt['model_config']['attention']}"


def _final(values: Tensor) -> dict[str, float]:
    """Mean and standard error over repetitions of the last column of (R, T) values."""
    last = values[:, -1]
    return {"mean": float(last.mean()), "se": float(last.std() / len(last) ** 0.5)}


def _curve_rows(key: str, name: str, xs: list[int], vals: Tensor, **extra: Any) -> list[dict[str, Any]]:
    mean, lo, hi = plots.mean_band(vals)
    return [
        {key: name, **extra, "x": x, "mean": float(mean[i]), "lo_3se": float(lo[i]), "hi_3se": float(hi[i])}
        for i, x in enumerate(xs)
    ]


def run_evaluate(
    checkpoints: list[Path],
    out: Path,
    contexts: list[int],
    n_targets: int,
    n_sets: int,
    n_perms: int,
    seed: int,
    report: Reporter | None = None,
) -> list[dict[str, Any]]:
    """Joint log-likelihood gap to the exact GP for each checkpoint and context size → evaluate.csv/.png."""
    loaded = [(path, *load_for(path, GPPrior)) for path in checkpoints]
    tick = (report or Silent()).task("joint LL vs GP", len(checkpoints) * len(contexts))
    rows: list[dict[str, Any]] = []
    for path, model, prior, ckpt in loaded:
        for n_ctx in contexts:
            r = joint_ll_gap(
                model, prior, n_sets=n_sets, n_context=n_ctx, n_targets=n_targets, n_perms=n_perms, seed=seed
            )
            rows.append({"model": label(ckpt), "checkpoint": str(path), "n_context": n_ctx, **r})
            tick(len(rows), f"{label(ckpt)} n={n_ctx} gap {r['gap_per_target']:.3f}")
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "evaluate.csv", index=False)
    write_json(out / "evaluate.json", rows)
    models = sorted({r["model"] for r in rows})
    plots.bars_png(
        out / "joint_ll_gap.png",
        [f"context {c}" for c in contexts],
        {m: [r["gap_per_target"] for r in rows if r["model"] == m] for m in models},
        errors={m: [1.96 * r["gap_se"] for r in rows if r["model"] == m] for m in models},
        ylabel="GP − model joint log-lik. per target (nats)",
        title=f"Gap to the exact GP ({n_targets} targets, {n_perms} orderings)",
    )
    return rows


BANDIT_NAMES = {"multi": "multi-step TS", "one": "one-step TS", "oracle": "exact-posterior TS"}


def bandit_name(rule: str, attention: str, reps: int) -> str:
    who = "" if rule == "oracle" else f"{attention.upper() if attention == 'cpi' else attention} "
    return f"{who}{BANDIT_NAMES[rule]} ({reps} reps)"


def run_bandit(
    path: Path,
    out: Path,
    rules: list[str],
    reps: int,
    rounds: int,
    horizon: int,
    seed: int,
    report: Reporter | None = None,
) -> dict[str, Any]:
    """Thompson sampling regret for each rule → bandit.csv, bandit_summary.json, bandit_regret.png."""
    model, prior, ckpt = load_for(path, BanditPrior)
    max_context = int(ckpt["train_config"]["seq_len"])
    regrets = {}
    for rule in rules:
        tick = (report or Silent()).task(f"TS {rule}", rounds)
        res = thompson_sampling(
            model,
            prior,
            rule=rule,
            n_reps=reps,
            rounds=rounds,
            horizon=horizon,
            max_context=max_context,
            seed=seed,
            on_round=lambda t, tick=tick: tick(t, ""),
        )
        regrets[rule] = res.regret
    out.mkdir(parents=True, exist_ok=True)
    xs = list(range(1, rounds + 1))
    rows = [row for rule, reg in regrets.items() for row in _curve_rows("rule", rule, xs, reg)]
    pd.DataFrame(rows).rename(columns={"x": "round"}).to_csv(out / "bandit.csv", index=False)
    final = {rule: _final(r) for rule, r in regrets.items()}
    summary: dict[str, Any] = {
        "reps": reps,
        "rounds": rounds,
        "horizon": horizon,
        "max_context": max_context,
        "seed": seed,
        "checkpoint": str(path),
        "attention": ckpt["model_config"]["attention"],
        "final_regret": final,
    }
    if "multi" in final and "one" in final:
        summary["one_over_multi_regret"] = final["one"]["mean"] / final["multi"]["mean"]
        summary["multi_regret_reduction_vs_one"] = 1 - final["multi"]["mean"] / final["one"]["mean"]
    write_json(out / "bandit_summary.json", summary)
    plots.curves_png(
        out / "bandit_regret.png",
        xs,
        {bandit_name(k, ckpt["model_config"]["attention"], reps): v for k, v in regrets.items()},
        xlabel="round",
        ylabel="cumulative regret",
        title=f"Thompson sampling, 2-armed Gaussian bandit ({reps} reps)",
    )
    return summary


AL_NAMES = {
    "multi": "multi-step (rollout epistemic)",
    "one": "one-step (predictive σ)",
    "random": "random",
    "exact": "exact posterior: multi-step statistic",
    "exact-epistemic": "exact posterior: epistemic",
    "exact-total": "exact posterior: total σ",
}


def run_active_learning(
    path: Path,
    out: Path,
    rules: list[str],
    reps: int,
    n_acquire: int,
    rollouts: int,
    horizon: int,
    seed: int,
    report: Reporter | None = None,
) -> dict[str, Any]:
    """Active learning test-NLL curves for each rule → al.csv, al_summary.json, al_nll.png."""
    model, prior, _ = load_for(path, ActiveLearningPrior)
    results = {}
    for rule in rules:
        tick = (report or Silent()).task(f"AL {rule}", n_acquire)
        results[rule] = active_learning(
            model,
            prior,
            rule=rule,
            n_reps=reps,
            n_acquire=n_acquire,
            n_rollouts=rollouts,
            horizon=horizon,
            seed=seed,
            on_step=lambda k, tick=tick: tick(k, ""),
        )
    summary: dict[str, Any] = {
        "protocol": "greedy",
        "reps": reps,
        "rollouts": rollouts,
        "horizon": horizon,
        "seed": seed,
        "checkpoint": str(path),
    }
    return _al_outputs(out, results, summary, "greedy protocol")


def run_diagnostics(
    checkpoints: list[Path],
    out: Path,
    n_sets: int,
    set_size: int,
    n_perms: int,
    n_context: int,
    horizon: int,
    rollouts: int,
    seed: int,
    report: Reporter | None = None,
) -> list[dict[str, Any]]:
    """Permutation spread and martingale check for each checkpoint and the exact GP → diagnostics.csv/.png."""
    entries: list[tuple[str, Any, GPPrior]] = []
    for path in checkpoints:
        model, prior, ckpt = load_for(path, GPPrior)
        entries.append((label(ckpt), model, prior))
    entries.append(("gp-exact", GPOracle(entries[0][2]), entries[0][2]))
    tick = (report or Silent()).task("diagnostics", len(entries))
    rows, curves = [], {}
    for name, model, prior in entries:
        perm = permutation_spread(model, prior, n_sets=n_sets, set_size=set_size, n_perms=n_perms, seed=seed)
        mart = martingale_check(
            model, prior, n_sets=n_sets, n_context=n_context, horizon=horizon, n_rollouts=rollouts, seed=seed
        )
        curves[name] = torch.tensor(mart.pop("abs_drift_curve"))[None]
        mart.pop("z2_curve")
        rows.append({"model": name, **perm, **mart})
        tick(len(rows), name)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "diagnostics.csv", index=False)
    settings = {
        "n_sets": n_sets,
        "set_size": set_size,
        "n_perms": n_perms,
        "n_context": n_context,
        "horizon": horizon,
        "rollouts": rollouts,
        "seed": seed,
    }
    write_json(out / "diagnostics.json", {"settings": settings, "rows": rows})
    plots.curves_png(
        out / "martingale_drift.png",
        list(range(horizon + 1)),
        curves,
        xlabel="imagined points t",
        ylabel="|mean drift of μ_t(x*)| / σ_0(x*)",
        title=f"Martingale check ({rollouts} rollouts, {n_sets} sets)",
    )
    return rows


def _al_outputs(out: Path, results: dict[str, Any], summary: dict[str, Any], what: str) -> dict[str, Any]:
    """Shared tail of both AL runners: al.csv, al_summary.json, al_nll.png (model) and al_nll_exact.png."""
    out.mkdir(parents=True, exist_ok=True)
    labels = next(iter(results.values())).labels
    rows = [
        row
        for rule, res in results.items()
        for name, vals in (("model", res.nll), ("oracle", res.oracle_nll))
        for row in _curve_rows("rule", rule, labels, vals, nll_of=name)
    ]
    pd.DataFrame(rows).rename(columns={"x": "labels"}).to_csv(out / "al.csv", index=False)
    summary.update(
        final_labels=labels[-1],
        final_nll={r: _final(v.nll) for r, v in results.items()},
        final_oracle_nll_same_labels={r: _final(v.oracle_nll) for r, v in results.items()},
        epistemic_pick_fraction={r: float(v.epistemic_picks.float().mean()) for r, v in results.items()},
    )
    write_json(out / "al_summary.json", summary)
    reps = summary["reps"]
    for fname, attr, by in (("al_nll.png", "nll", "causal model"), ("al_nll_exact.png", "oracle_nll", "exact")):
        plots.curves_png(
            out / fname,
            labels,
            {AL_NAMES[k]: getattr(v, attr) for k, v in results.items()},
            xlabel="number of labels (5 initial + acquired)",
            ylabel=f"test NLL ({by} predictive)",
            title=f"Active learning, {what}: {by} NLL ({reps} reps)",
        )
    return summary


def run_active_learning_paper(
    path: Path,
    out: Path,
    rules: list[str],
    reps: int,
    n_acquire: int,
    rollouts: int,
    horizon: int,
    seed: int,
    report: Reporter | None = None,
) -> dict[str, Any]:
    """The seed paper's protocol (:mod:`.paper_al`) for each rule → al.csv, al_summary.json, al_nll*.png."""
    model, prior, ckpt = load_for(path, ActiveLearningPrior)
    results = {}
    for rule in rules:
        tick = (report or Silent()).task(f"AL (paper) {rule}", n_acquire)
        results[rule] = active_learning_paper(
            model,
            rule=rule,
            n_reps=reps,
            n_acquire=n_acquire,
            n_rollouts=rollouts,
            horizon=horizon,
            seed=seed,
            on_step=lambda k, tick=tick: tick(k, ""),
        )
    summary: dict[str, Any] = {
        "protocol": "paper",
        "reps": reps,
        "rollouts": rollouts,
        "horizon": horizon,
        "seed": seed,
        "checkpoint": str(path),
        "checkpoint_step": int(ckpt["step"]),
        "checkpoint_prior": ckpt["prior"]["params"],
    }
    return _al_outputs(out, results, summary, "paper protocol")
