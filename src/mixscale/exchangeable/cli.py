"""``mixscale exchangeable``: the commands (train, evaluate, bandit, active-learning, diagnostics, run-all).

Commands only: option parsing and validation, progress bars, printing. The experiments themselves live in
:mod:`.experiments` (library code that never ends the process).

Every command sets ``torch.set_num_threads(--threads)`` (default 1) and takes an explicit ``--seed``; outputs
are tables (CSV + JSON) and PNGs under ``--out``. Bad input exits with code 2 and names the offending option.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import pandas as pd
import torch
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mixscale.errors import ValidationError

from . import experiments, pooling, presets
from .models import ModelConfig
from .oracles import bayes_sequence_nll
from .paper_al import PAPER_AL_RULES
from .priors import ActiveLearningPrior, BanditPrior, make_prior
from .tasks import AL_RULES, BANDIT_RULES
from .train import TrainConfig, train

T = TypeVar("T")

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


def _fail(err: ValidationError) -> NoReturn:
    console.print(f"[red]error[/red] in {err.field}: {err.message}", soft_wrap=True)
    raise typer.Exit(2)


class _Bars:
    """:class:`~.experiments.Reporter` on a rich progress display."""

    def __init__(self, prog: Progress) -> None:
        self.prog = prog

    def task(self, description: str, total: int) -> Callable[[int, str], None]:
        task = self.prog.add_task(description, total=total, info="")
        return lambda completed, info="": self.prog.update(task, completed=completed, info=info)


def _run(fn: Callable[..., T], *args: Any) -> T:
    """Run an experiment with progress bars; a :class:`ValidationError` becomes one line and exit code 2."""
    try:
        with _progress() as prog:
            return fn(*args, report=_Bars(prog))
    except ValidationError as err:
        _fail(err)


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
    dropout: float = typer.Option(0.0, help="dropout on attention weights and residual branches (training only)"),
    checkpoint_every: int = typer.Option(250, help="write the checkpoint every N steps"),
    log_every: int = typer.Option(0, help="print one plain line (step, train NLL, Bayes NLL) every N steps; 0 = off"),
    seed: int = typer.Option(0),
    threads: int = typer.Option(1),
    device: str = typer.Option("cpu"),
) -> None:
    """Train a model on sequences sampled from a prior (resumable).

    For the conjugate priors (``bandit``, ``al``) the Bayes-optimal train NLL of the prior is printed beside the
    model's, so the excess loss is visible while training runs.
    """
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
            dropout=dropout,
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
            checkpoint_every=checkpoint_every,
            device=device,
        )
    except ValidationError as err:
        _fail(err)
    bayes = bayes_sequence_nll(p, seq_len) if isinstance(p, (ActiveLearningPrior, BanditPrior)) else None
    if bayes is not None:
        console.print(f"Bayes-optimal train NLL of the prior (seq. length {seq_len}): {bayes[0]:.4f} ± {bayes[1]:.4f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with _progress() as prog:
        task = prog.add_task(f"train {prior}/{attention}", total=tcfg.steps, info="")
        avg: list[float] = []

        def on_step(step: int, loss: float) -> None:
            avg.append(loss)
            if step % 10 == 0 or step == tcfg.steps:
                tail = avg[-100:]
                prog.update(task, completed=step, info=f"nll {sum(tail) / len(tail):.3f}")
            if log_every and step % log_every == 0:
                tail = avg[-log_every:]
                ref = f"  Bayes-optimal {bayes[0]:.4f}" if bayes is not None else ""
                prog.console.print(f"step {step}  train NLL (last {len(tail)}) {sum(tail) / len(tail):.4f}{ref}")

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
        "bayes_optimal_nll": None if bayes is None else bayes[0],
        "elapsed_s": hist["elapsed_s"],
        "steps_per_s": hist["steps_per_s"],
    }
    experiments.write_json(out.with_suffix(".json"), summary)
    console.print(summary)


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
    rows = _run(experiments.run_evaluate, checkpoint, out, ctx, n_targets, n_sets, n_perms, seed)
    console.print(
        pd.DataFrame(rows)[
            ["model", "n_context", "model_ll_per_target", "gp_ll_per_target", "gap_per_target", "gap_se"]
        ].to_string(index=False)
    )


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
    console.print(_run(experiments.run_bandit, checkpoint, out, rl, reps, rounds, horizon, seed))


@app.command("bandit-figure")
def bandit_figure_cmd(
    run: Annotated[list[Path], typer.Option(help="a `bandit` output folder; repeat the option")],
    out: Annotated[Path, typer.Option(help="PNG to write")] = Path("results/exchangeable/bandit_regret.png"),
) -> None:
    """Draw the regret curves of several `bandit` runs (e.g. CPI and causal models) in one figure."""
    try:
        finals = pooling.bandit_figure(run, out)
    except ValidationError as err:
        _fail(err)
    console.print(pd.DataFrame(finals).to_string(index=False))
    console.print(f"written to {out}")


@app.command("active-learning")
def active_learning_cmd(
    checkpoint: Annotated[Path, typer.Option(help="checkpoint trained on the active-learning prior")],
    out: Annotated[Path, typer.Option()] = Path("results/exchangeable/al"),
    protocol: str = typer.Option(
        "paper",
        help="paper: continuous x, pool scored once from the 5 initial labels, top-k for k = 1..19, 20 rollouts × "
        "19 imagined points; greedy: rescore after every label (our earlier protocol)",
    ),
    rules: str = typer.Option(
        None, help=f"comma-separated; paper: subset of {PAPER_AL_RULES} (default all); greedy: subset of {AL_RULES}"
    ),
    reps: int = typer.Option(None, help="repetitions (default: paper 200, greedy 100)"),
    n_acquire: int = typer.Option(None, help="labels acquired after the 5 initial ones (default: paper 19, greedy 14)"),
    rollouts: int = typer.Option(20, help="multi-step rollouts per candidate"),
    horizon: int = typer.Option(None, help="imagined points per rollout (default: paper 19, greedy 20)"),
    seed: int = typer.Option(0),
    threads: int = typer.Option(1),
) -> None:
    """Active learning: multi-step (imagined data) vs one-step (predictive σ) vs exact posterior vs random."""
    _setup(threads, seed)
    if protocol not in ("paper", "greedy"):
        raise typer.BadParameter(f"must be 'paper' or 'greedy', got {protocol!r}", param_hint="--protocol")
    paper = protocol == "paper"
    allowed = PAPER_AL_RULES if paper else AL_RULES
    rl = _csv_list(rules or ",".join(allowed), allowed, "--rules")
    reps = reps or (200 if paper else 100)
    n_acquire = n_acquire or (19 if paper else 14)
    horizon = horizon or (19 if paper else 20)
    for v, hint in ((reps, "--reps"), (n_acquire, "--n-acquire"), (rollouts, "--rollouts"), (horizon, "--horizon")):
        _positive(v, hint)
    if paper and n_acquire > 95:
        raise typer.BadParameter("the pool has 95 points", param_hint="--n-acquire")
    if rollouts < 2 and "multi" in rl:
        raise typer.BadParameter("must be >= 2 for the multi rule", param_hint="--rollouts")
    fn = experiments.run_active_learning_paper if paper else experiments.run_active_learning
    summary = _run(fn, checkpoint, out, rl, reps, n_acquire, rollouts, horizon, seed)
    table = Table(title=f"test NLL after {n_acquire} acquired labels ({summary['final_labels']} in all), {reps} reps")
    for col in ("rule", "model NLL ± s.e.", "exact-posterior NLL, same labels", "picks in epistemic half"):
        table.add_column(col)
    for r in rl:
        m, o = summary["final_nll"][r], summary["final_oracle_nll_same_labels"][r]
        pick = summary["epistemic_pick_fraction"][r]
        table.add_row(r, f"{m['mean']:.3f} ± {m['se']:.3f}", f"{o['mean']:.3f} ± {o['se']:.3f}", f"{pick:.0%}")
    console.print(table)
    console.print(f"written to {out}")


@app.command("al-merge")
def al_merge_cmd(
    run: Annotated[list[Path], typer.Option(help="an `active-learning` output folder (distinct seeds); repeatable")],
    out: Annotated[Path, typer.Option(help="folder for the pooled tables and figures")] = Path(
        "results/exchangeable/al-merged"
    ),
) -> None:
    """Pool active-learning runs (shards: distinct seeds, or distinct rules of one seed) into one table."""
    try:
        summary = pooling.merge_al(run, out)
    except ValidationError as err:
        _fail(err)
    table = Table(title=f"test NLL at {summary['final_labels']} labels, pooled over seeds {summary['seeds']}")
    for col in ("rule", "reps", "model NLL ± s.e.", "exact-posterior NLL, same labels"):
        table.add_column(col)
    for r, m in summary["final_nll"].items():
        o = summary["final_oracle_nll_same_labels"][r]
        table.add_row(
            r, str(summary["reps"][r]), f"{m['mean']:.3f} ± {m['se']:.3f}", f"{o['mean']:.3f} ± {o['se']:.3f}"
        )
    console.print(table)
    console.print(f"written to {out}")


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
    args = (checkpoint, out, n_sets, set_size, n_perms, n_context, horizon, rollouts, seed)
    rows = _run(experiments.run_diagnostics, *args)
    console.print(pd.DataFrame(rows).to_string(index=False))


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
    res = _run(presets.run_all, out, quick, seed, device)
    console.print(f"results in {res}")


if __name__ == "__main__":
    app()
