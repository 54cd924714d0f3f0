"""``mixscale exchangeable``: train, evaluate, and run the decision tasks and diagnostics from the shell.

Every command sets ``torch.set_num_threads(--threads)`` (default 1) and takes an explicit ``--seed``; outputs
are tables (CSV + JSON) and PNGs under ``--out``. Bad input exits with code 2 and names the offending option.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import torch
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mixscale.errors import ValidationError

from . import plots
from .diagnostics import joint_ll_gap, martingale_check, permutation_spread
from .models import ExchangeableTransformer, ModelConfig
from .oracles import GPOracle
from .priors import ActiveLearningPrior, BanditPrior, GPPrior, make_prior
from .tasks import AL_RULES, BANDIT_RULES, active_learning, thompson_sampling
from .train import TrainConfig, load_checkpoint, train

app = typer.Typer(
    help="Exchangeable sequence models: priors, causal/CPI transformers, multi-step inference, tasks.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


@app.callback()
def main() -> None:
    """Exchangeable sequence models (seed paper 2): train, evaluate, bandit, active learning, diagnostics."""


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
    )


def _setup(threads: int, seed: int | None = None) -> None:
    if threads < 1:
        raise typer.BadParameter("must be >= 1", param_hint="--threads")
    torch.set_num_threads(threads)
    if seed is not None:
        torch.manual_seed(seed)


def _fail(err: ValidationError) -> None:
    console.print(f"[red]error[/red] in {err.field}: {err.message}")
    raise typer.Exit(2)


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, default=float))


def _parse_params(items: list[str]) -> dict[str, Any]:
    """``["a=1", "b=0.5,0.9", "c=halves"]`` → ``{"a": 1, "b": (0.5, 0.9), "c": "halves"}``."""

    def scalar(v: str) -> Any:
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--prior-param")
        out[key] = tuple(scalar(v) for v in value.split(",")) if "," in value else scalar(value)
    return out


@app.command("train")
def train_cmd(
    out: Annotated[Path, typer.Option(help="checkpoint path (.pt); resumed if it exists")],
    prior: str = typer.Option("gp", help="prior: gp | bandit | al"),
    attention: str = typer.Option("causal", help="attention pattern: causal | cpi"),
    head: str = typer.Option("gaussian", help="predictive head: gaussian | bar"),
    x_dim: int = typer.Option(1, help="input dimension of the GP prior"),
    prior_param: Annotated[
        list[str] | None,
        typer.Option("--prior-param", help="prior parameter KEY=VALUE, repeatable (e.g. taus=0.5,0.1)"),
    ] = None,
    steps: int = typer.Option(2500),
    batch_size: int = typer.Option(32),
    seq_len: int = typer.Option(64),
    lr: float = typer.Option(3e-4),
    min_context: int = typer.Option(0, help="smallest context size of a CPI split"),
    n_layers: int = typer.Option(4),
    d_model: int = typer.Option(64),
    n_heads: int = typer.Option(4),
    d_ff: int = typer.Option(256),
    fourier_features: int = typer.Option(0, help="Fourier features of x per input dim (0 = off)"),
    seed: int = typer.Option(0),
    threads: int = typer.Option(1),
    device: str = typer.Option("cpu"),
) -> None:
    """Train a model on sequences sampled from a prior (resumable)."""
    _setup(threads, seed)
    try:
        params = _parse_params(prior_param or [])
        if prior == "gp":
            params.setdefault("x_dim", x_dim)
        p = make_prior(prior, **params)
        y_low, y_high = (-4.0, 4.0)
        mcfg = ModelConfig(
            x_dim=p.x_dim,
            attention=attention,
            head=head,
            n_layers=n_layers,
            d_model=d_model,
            n_heads=n_heads,
            d_ff=d_ff,
            fourier_features=fourier_features,
            y_low=y_low,
            y_high=y_high,
        )
        tcfg = TrainConfig(
            steps=steps,
            batch_size=batch_size,
            seq_len=seq_len,
            lr=lr,
            min_lr=lr / 10,
            min_context=min_context,
            seed=seed,
            device=device,
        )
    except ValidationError as err:
        _fail(err)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _progress() as prog:
        task = prog.add_task(f"train {prior}/{attention}", total=tcfg.steps, info="")
        avg: list[float] = []

        def on_step(step: int, loss: float) -> None:
            avg.append(loss)
            if step % 10 == 0 or step == tcfg.steps:
                tail = avg[-100:]
                prog.update(task, completed=step, info=f"nll {sum(tail) / len(tail):.3f}")

        try:
            _, state = train(mcfg, p, tcfg, out, on_step=on_step)
        except ValidationError as err:
            _fail(err)
    hist = state["history"]
    tail = hist["loss"][-100:]
    summary = {
        "checkpoint": str(out),
        "steps": state["step"],
        "final_train_nll_last100": sum(tail) / len(tail),
        "elapsed_s": hist["elapsed_s"],
        "steps_per_s": hist["steps_per_s"],
    }
    _write_json(out.with_suffix(".json"), summary)
    console.print(summary)


def _load(path: Path, want_prior: type | None = None) -> tuple[ExchangeableTransformer, Any, dict[str, Any]]:
    try:
        model, prior, ckpt = load_checkpoint(path)
    except ValidationError as err:
        _fail(err)
    if want_prior is not None and not isinstance(prior, want_prior):
        console.print(f"[red]error[/red] in --checkpoint: {path} was trained on prior {prior.name!r}")
        raise typer.Exit(2)
    return model, prior, ckpt


def _csv_list(value: str, allowed: tuple[str, ...], hint: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise typer.BadParameter(f"{bad or value!r} not in {allowed}", param_hint=hint)
    return items


def _int_list(value: str, hint: str) -> list[int]:
    try:
        items = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {value!r}", param_hint=hint) from None
    if not items or min(items) < 0:
        raise typer.BadParameter(f"expected non-negative integers, got {value!r}", param_hint=hint)
    return items


def _positive(value: int, hint: str) -> int:
    if value < 1:
        raise typer.BadParameter(f"must be >= 1, got {value}", param_hint=hint)
    return value


def _label(ckpt: dict[str, Any]) -> str:
    return f"{ckpt['prior']['name']}-{ckpt['model_config']['attention']}"


def run_evaluate(
    checkpoints: list[Path],
    out: Path,
    contexts: list[int],
    n_targets: int,
    n_sets: int,
    n_perms: int,
    seed: int,
) -> list[dict[str, Any]]:
    """Joint log-likelihood gap to the exact GP for each checkpoint and context size → evaluate.csv/.png."""
    rows: list[dict[str, Any]] = []
    with _progress() as prog:
        task = prog.add_task("joint LL vs GP", total=len(checkpoints) * len(contexts), info="")
        for path in checkpoints:
            model, prior, ckpt = _load(path, GPPrior)
            for n_ctx in contexts:
                r = joint_ll_gap(
                    model,
                    prior,
                    n_sets=n_sets,
                    n_context=n_ctx,
                    n_targets=n_targets,
                    n_perms=n_perms,
                    seed=seed,
                )
                rows.append({"model": _label(ckpt), "checkpoint": str(path), "n_context": n_ctx, **r})
                prog.update(task, advance=1, info=f"{_label(ckpt)} n={n_ctx} gap {r['gap_per_target']:.3f}")
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "evaluate.csv", index=False)
    _write_json(out / "evaluate.json", rows)
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


@app.command("evaluate")
def evaluate_cmd(
    checkpoint: Annotated[list[Path], typer.Option(help="GP-prior checkpoint(s); repeat the option")],
    out: Annotated[Path, typer.Option()] = Path("results/exchangeable/evaluate"),
    contexts: str = typer.Option("0,10,30", help="comma-separated context sizes"),
    n_targets: int = typer.Option(20),
    n_sets: int = typer.Option(128),
    n_perms: int = typer.Option(4),
    seed: int = typer.Option(0),
    threads: int = typer.Option(1),
) -> None:
    """Joint log-likelihood of target sets (averaged over orderings) vs the exact GP posterior."""
    _setup(threads, seed)
    ctx = _int_list(contexts, "--contexts")
    for v, hint in ((n_targets, "--n-targets"), (n_sets, "--n-sets"), (n_perms, "--n-perms")):
        _positive(v, hint)
    rows = run_evaluate(checkpoint, out, ctx, n_targets, n_sets, n_perms, seed)
    console.print(
        pd.DataFrame(rows)[
            ["model", "n_context", "model_ll_per_target", "gp_ll_per_target", "gap_per_target", "gap_se"]
        ].to_string(index=False)
    )


def run_bandit(
    path: Path, out: Path, rules: list[str], reps: int, rounds: int, horizon: int, seed: int
) -> dict[str, Any]:
    """Thompson sampling regret for each rule → bandit.csv, bandit_summary.json, bandit_regret.png."""
    model, prior, ckpt = _load(path, BanditPrior)
    max_context = int(ckpt["train_config"]["seq_len"])
    regrets = {}
    with _progress() as prog:
        for rule in rules:
            task = prog.add_task(f"TS {rule}", total=rounds, info="")
            res = thompson_sampling(
                model,
                prior,
                rule=rule,
                n_reps=reps,
                rounds=rounds,
                horizon=horizon,
                max_context=max_context,
                seed=seed,
                on_round=lambda t, task=task: prog.update(task, completed=t),
            )
            regrets[rule] = res.regret
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for rule, reg in regrets.items():
        mean, lo, hi = plots.mean_band(reg)
        rows += [
            {"rule": rule, "round": t + 1, "mean": float(mean[t]), "lo95": float(lo[t]), "hi95": float(hi[t])}
            for t in range(rounds)
        ]
    pd.DataFrame(rows).to_csv(out / "bandit.csv", index=False)
    final = {
        rule: {"mean": float(r[:, -1].mean()), "se": float(r[:, -1].std() / reps**0.5)} for rule, r in regrets.items()
    }
    summary: dict[str, Any] = {
        "reps": reps,
        "rounds": rounds,
        "horizon": horizon,
        "max_context": max_context,
        "seed": seed,
        "checkpoint": str(path),
        "final_regret": final,
    }
    if "multi" in final and "one" in final:
        summary["one_over_multi_regret"] = final["one"]["mean"] / final["multi"]["mean"]
        summary["multi_regret_reduction_vs_one"] = 1 - final["multi"]["mean"] / final["one"]["mean"]
    _write_json(out / "bandit_summary.json", summary)
    plots.curves_png(
        out / "bandit_regret.png",
        list(range(1, rounds + 1)),
        {
            {"multi": "multi-step TS", "one": "one-step TS", "oracle": "exact-posterior TS"}[k]: v
            for k, v in regrets.items()
        },
        xlabel="round",
        ylabel="cumulative regret",
        title=f"Thompson sampling, 2-armed Gaussian bandit ({reps} reps)",
    )
    return summary


@app.command("bandit")
def bandit_cmd(
    checkpoint: Annotated[Path, typer.Option(help="checkpoint trained on the bandit prior")],
    out: Annotated[Path, typer.Option()] = Path("results/exchangeable/bandit"),
    rules: str = typer.Option("multi,one,oracle", help=f"comma-separated subset of {BANDIT_RULES}"),
    reps: int = typer.Option(200),
    rounds: int = typer.Option(100),
    horizon: int = typer.Option(100, help="imagined rewards per multi-step posterior sample"),
    seed: int = typer.Option(0),
    threads: int = typer.Option(1),
) -> None:
    """Thompson sampling with multi-step vs one-step posterior samples."""
    _setup(threads, seed)
    rl = _csv_list(rules, BANDIT_RULES, "--rules")
    for v, hint in ((reps, "--reps"), (rounds, "--rounds"), (horizon, "--horizon")):
        _positive(v, hint)
    console.print(run_bandit(checkpoint, out, rl, reps, rounds, horizon, seed))


def run_active_learning(
    path: Path, out: Path, rules: list[str], reps: int, n_acquire: int, rollouts: int, horizon: int, seed: int
) -> dict[str, Any]:
    """Active learning test-NLL curves for each rule → al.csv, al_summary.json, al_nll.png."""
    model, prior, _ = _load(path, ActiveLearningPrior)
    results = {}
    with _progress() as prog:
        for rule in rules:
            task = prog.add_task(f"AL {rule}", total=n_acquire, info="")
            results[rule] = active_learning(
                model,
                prior,
                rule=rule,
                n_reps=reps,
                n_acquire=n_acquire,
                n_rollouts=rollouts,
                horizon=horizon,
                seed=seed,
                on_step=lambda k, task=task: prog.update(task, completed=k),
            )
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for rule, res in results.items():
        for name, vals in (("model", res.nll), ("oracle", res.oracle_nll)):
            mean, lo, hi = plots.mean_band(vals)
            rows += [
                {
                    "rule": rule,
                    "nll_of": name,
                    "labels": n,
                    "mean": float(mean[i]),
                    "lo95": float(lo[i]),
                    "hi95": float(hi[i]),
                }
                for i, n in enumerate(res.labels)
            ]
    pd.DataFrame(rows).to_csv(out / "al.csv", index=False)
    labels = next(iter(results.values())).labels
    summary: dict[str, Any] = {
        "reps": reps,
        "rollouts": rollouts,
        "horizon": horizon,
        "seed": seed,
        "checkpoint": str(path),
        "final_labels": labels[-1],
        "final_nll": {
            r: {"mean": float(v.nll[:, -1].mean()), "se": float(v.nll[:, -1].std() / reps**0.5)}
            for r, v in results.items()
        },
        "final_oracle_nll_same_labels": {r: float(v.oracle_nll[:, -1].mean()) for r, v in results.items()},
        "epistemic_pick_fraction": {r: float(v.epistemic_picks.float().mean()) for r, v in results.items()},
    }
    if 19 in labels:
        i = labels.index(19)
        summary["nll_at_19_labels"] = {r: float(v.nll[:, i].mean()) for r, v in results.items()}
    _write_json(out / "al_summary.json", summary)
    names = {
        "multi": "multi-step (rollout epistemic)",
        "one": "one-step (predictive σ)",
        "random": "random",
        "exact-epistemic": "exact posterior: epistemic",
        "exact-total": "exact posterior: total σ",
    }
    plots.curves_png(
        out / "al_nll.png",
        labels,
        {names[k]: v.nll for k, v in results.items()},
        xlabel="number of labels",
        ylabel="test NLL (causal model)",
        title=f"Active learning: model NLL ({reps} reps)",
    )
    plots.curves_png(
        out / "al_nll_exact.png",
        labels,
        {names[k]: v.oracle_nll for k, v in results.items()},
        xlabel="number of labels",
        ylabel="test NLL (exact posterior)",
        title=f"Active learning: exact-posterior NLL of the same labels ({reps} reps)",
    )
    return summary


@app.command("active-learning")
def active_learning_cmd(
    checkpoint: Annotated[Path, typer.Option(help="checkpoint trained on the active-learning prior")],
    out: Annotated[Path, typer.Option()] = Path("results/exchangeable/al"),
    rules: str = typer.Option("multi,one,random,exact-epistemic,exact-total", help=f"subset of {AL_RULES}"),
    reps: int = typer.Option(100),
    n_acquire: int = typer.Option(14, help="labels acquired after the 5 initial ones"),
    rollouts: int = typer.Option(20),
    horizon: int = typer.Option(20),
    seed: int = typer.Option(0),
    threads: int = typer.Option(1),
) -> None:
    """Active learning with rollout-based epistemic uncertainty vs total predictive σ."""
    _setup(threads, seed)
    rl = _csv_list(rules, AL_RULES, "--rules")
    for v, hint in (
        (reps, "--reps"),
        (n_acquire, "--n-acquire"),
        (rollouts, "--rollouts"),
        (horizon, "--horizon"),
    ):
        _positive(v, hint)
    if rollouts < 2 and "multi" in rl:
        raise typer.BadParameter("must be >= 2 for the multi rule", param_hint="--rollouts")
    console.print(run_active_learning(checkpoint, out, rl, reps, n_acquire, rollouts, horizon, seed))


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
) -> list[dict[str, Any]]:
    """Permutation spread and martingale check for each checkpoint and the exact GP → diagnostics.csv/.png."""
    entries: list[tuple[str, Any, GPPrior]] = []
    for path in checkpoints:
        model, prior, ckpt = _load(path, GPPrior)
        entries.append((_label(ckpt), model, prior))
    entries.append(("gp-exact", GPOracle(entries[0][2]), entries[0][2]))
    rows, curves = [], {}
    with _progress() as prog:
        task = prog.add_task("diagnostics", total=len(entries), info="")
        for name, model, prior in entries:
            perm = permutation_spread(model, prior, n_sets=n_sets, set_size=set_size, n_perms=n_perms, seed=seed)
            mart = martingale_check(
                model,
                prior,
                n_sets=n_sets,
                n_context=n_context,
                horizon=horizon,
                n_rollouts=rollouts,
                seed=seed,
            )
            curves[name] = torch.tensor(mart.pop("abs_drift_curve"))[None]
            mart.pop("z2_curve")
            rows.append({"model": name, **perm, **mart})
            prog.update(task, advance=1, info=name)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "diagnostics.csv", index=False)
    _write_json(
        out / "diagnostics.json",
        {
            "settings": {
                "n_sets": n_sets,
                "set_size": set_size,
                "n_perms": n_perms,
                "n_context": n_context,
                "horizon": horizon,
                "rollouts": rollouts,
                "seed": seed,
            },
            "rows": rows,
        },
    )
    plots.curves_png(
        out / "martingale_drift.png",
        list(range(horizon + 1)),
        curves,
        xlabel="imagined points t",
        ylabel="|mean drift of μ_t(x*)| / σ_0(x*)",
        title=f"Martingale check ({rollouts} rollouts, {n_sets} sets)",
    )
    return rows


@app.command("diagnostics")
def diagnostics_cmd(
    checkpoint: Annotated[list[Path], typer.Option(help="GP-prior checkpoint(s); repeat the option")],
    out: Annotated[Path, typer.Option()] = Path("results/exchangeable/diagnostics"),
    n_sets: int = typer.Option(64),
    set_size: int = typer.Option(20),
    n_perms: int = typer.Option(16),
    n_context: int = typer.Option(5),
    horizon: int = typer.Option(30),
    rollouts: int = typer.Option(64),
    seed: int = typer.Option(0),
    threads: int = typer.Option(1),
) -> None:
    """Exchangeability diagnostics (permutation spread, c.i.d. martingale check) vs the exact GP."""
    _setup(threads, seed)
    for v, hint in (
        (n_sets, "--n-sets"),
        (set_size, "--set-size"),
        (n_perms, "--n-perms"),
        (horizon, "--horizon"),
    ):
        _positive(v, hint)
    if n_perms < 2 or rollouts < 2:
        raise typer.BadParameter("n_perms and rollouts must be >= 2", param_hint="--n-perms/--rollouts")
    rows = run_diagnostics(checkpoint, out, n_sets, set_size, n_perms, n_context, horizon, rollouts, seed)
    console.print(pd.DataFrame(rows).to_string(index=False))


# Model zoo for run-all: one checkpoint per (architecture, prior), reused by every experiment.
ZOO: dict[str, dict[str, Any]] = {
    "gp-causal": {"prior": "gp", "attention": "causal", "steps": 2500, "batch_size": 32, "seq_len": 64},
    "gp-cpi": {"prior": "gp", "attention": "cpi", "steps": 2500, "batch_size": 32, "seq_len": 64},
    "bandit-causal": {
        "prior": "bandit",
        "attention": "causal",
        "steps": 1500,
        "batch_size": 16,
        "seq_len": 128,
    },
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


@app.command("run-all")
def run_all_cmd(
    out: Annotated[Path, typer.Option(help="output root (+ ckpt/)")] = Path("results/exchangeable"),
    quick: bool = typer.Option(True, "--quick/--full", help="quick: minutes on CPU; full: longer training, more reps"),
    seed: int = typer.Option(0),
    threads: int = typer.Option(1),
    device: str = typer.Option("cpu", help="training device (cpu / cuda)"),
) -> None:
    """Train (or reuse) the model zoo and run evaluate, bandit, active learning and diagnostics."""
    _setup(threads, seed)
    mode = MODES["quick" if quick else "full"]
    ckdir = out / "ckpt" if quick else out / "ckpt-full"
    paths = {}
    for name, spec in ZOO.items():
        p = make_prior(spec["prior"])
        arch = {k: v for k, v in spec.items() if k in ModelConfig.__dataclass_fields__}
        mcfg = ModelConfig(x_dim=p.x_dim, **arch)
        tcfg = TrainConfig(
            steps=spec["steps"] * mode["step_mult"],
            batch_size=spec["batch_size"],
            seq_len=spec["seq_len"],
            lr=3e-4,
            min_lr=3e-4 / 10,
            seed=seed,
            device=device,
        )
        paths[name] = ckdir / f"{name}.pt"
        with _progress() as prog:
            task = prog.add_task(f"train {name}", total=tcfg.steps, info="")
            train(mcfg, p, tcfg, paths[name], on_step=lambda s, _l, task=task: prog.update(task, completed=s))
    res = out / ("quick" if quick else "full")
    summary: dict[str, Any] = {"mode": "quick" if quick else "full", "seed": seed}
    m = mode
    gp_paths = [paths["gp-causal"], paths["gp-cpi"]]
    summary["evaluate"] = run_evaluate(
        gp_paths,
        res / "evaluate",
        m["eval_contexts"],
        m["eval_targets"],
        m["eval_sets"],
        m["eval_perms"],
        seed,
    )
    summary["bandit"] = run_bandit(
        paths["bandit-causal"],
        res / "bandit",
        list(BANDIT_RULES),
        m["bandit_reps"],
        m["bandit_rounds"],
        m["bandit_horizon"],
        seed,
    )
    summary["active_learning"] = run_active_learning(
        paths["al-causal"],
        res / "al",
        list(AL_RULES),
        mode["al_reps"],
        mode["al_acquire"],
        mode["al_rollouts"],
        mode["al_horizon"],
        seed,
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
    )
    _write_json(res / "summary.json", summary)
    console.print(f"results in {res}")


if __name__ == "__main__":
    app()
