"""`mixscale corpus build`, `mixscale train`, `mixscale sweep`: the real-runs pipeline from the command line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console

from mixscale.cli._common import boundary as _boundary
from mixscale.cli._common import split as _split
from mixscale.errors import ValidationError

console = Console()
corpus_app = typer.Typer(help="Build per-domain corpora and the tokenized training data.", no_args_is_help=True)


@corpus_app.command("build")
@_boundary
def corpus_build(
    out: Path = typer.Option(Path("data"), help="Folder for corpora/ (text), tokens/ (training data) and cache/."),
    recipes: Path = typer.Option(None, help="Recipes TOML (default: the shipped recipes.toml)."),
    domains: str = typer.Option("", help="Comma-separated subset of the recipes' domains (default: all)."),
    vocab_size: int = typer.Option(1024, help="Byte-level BPE vocabulary size."),
    check_hash: bool = typer.Option(True, help="Fail when a domain's content hash differs from its recipe."),
) -> None:
    """Fetch each domain's sources, split by document, train the tokenizer, tokenize."""
    from mixscale.data.corpora import build_domain, load_recipes
    from mixscale.data.tokenizer import prepare

    table = load_recipes(recipes)
    names = _split(domains) or list(table)
    for name in names:
        if name not in table:
            raise ValidationError("domains", f"unknown domain {name!r}; the recipes define {list(table)}")
        built = build_domain(table[name], out / "corpora", out / "cache", check_hash=check_hash)
        m = built.manifest
        console.print(
            f"{name:<10} {m['documents']['train']:>5} train / {m['documents']['val']:>4} val documents, "
            f"{m['bytes']['train'] / 1e6:5.2f} MB  sha256 {m['sha256'][:12]}  ({', '.join(m['sources'])})"
        )
    corpus = prepare(out / "corpora", out / "tokens", domains=names, vocab_size=vocab_size)
    console.print(f"tokenizer {corpus.meta['tokenizer_sha256'][:12]} ({corpus.vocab_size} tokens) → {out / 'tokens'}")


@_boundary
def train_command(
    mixture: str = typer.Option(..., help='Mixture as JSON, e.g. \'{"code": 0.5, "books": 0.5}\'.'),
    data: Path = typer.Option(Path("data/tokens"), help="Tokenized corpus from `mixscale corpus build`."),
    steps: int = typer.Option(400, help="Training steps."),
    n_layer: int = typer.Option(2),
    n_head: int = typer.Option(2),
    d_model: int = typer.Option(64),
    batch_size: int = typer.Option(8),
    context: int = typer.Option(64),
    lr: float = typer.Option(3e-3),
    seed: int = typer.Option(0),
    out: Path = typer.Option(None, help="Run folder: checkpoint while running (resumed if present), record.json."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    threads: int = typer.Option(1, help="torch threads on CPU."),
) -> None:
    """Train one GPT on a mixture; print the per-domain validation bits per byte."""
    import torch

    from mixscale.data.tokenizer import TokenizedCorpus
    from mixscale.train.trainer import TrainConfig, train

    try:
        w = json.loads(mixture)
    except json.JSONDecodeError as e:
        raise ValidationError("mixture", f"not valid JSON: {e}") from None
    if not isinstance(w, dict):
        raise ValidationError("mixture", "must be a JSON object {domain: weight}")
    for d, v in w.items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValidationError(f"mixture.{d}", f"weights must be numbers, got {v!r}")
    torch.set_num_threads(threads)
    cfg = TrainConfig(w, steps, n_layer, n_head, d_model, batch_size, context, lr, seed=seed)
    record = train(cfg, TokenizedCorpus.open(data), out, device, checkpoint_every=100, progress=True)
    final = record["final"]
    console.print(
        f"{record['params_non_embedding']:,} non-embedding params, {record['tokens']:,} tokens, "
        f"{record['tokens_per_second']:,.0f} tokens/s"
    )
    console.print("  ".join(f"{k} {v:.3f}" for k, v in final.items() if k not in ("step", "train_loss")) + "  (bpb)")


@_boundary
def sweep_command(
    data: Path = typer.Option(Path("data/tokens"), help="Tokenized corpus from `mixscale corpus build`."),
    out: Path = typer.Option(Path("data/sweep"), help="Sweep folder: runs/<id>/ and runs.parquet."),
    workers: int = typer.Option(1, help="Runs trained at once (processes)."),
    threads: int = typer.Option(1, help="torch threads per worker."),
    scales: str = typer.Option("", help="Comma-separated subset of the ladder's scales."),
    limit: int = typer.Option(None, help="Stop after this many runs (resume later by running again)."),
    gpu: bool = typer.Option(False, help="Use the GPU ladder (larger scales, context 256) on cuda."),
    dry_run: bool = typer.Option(False, help="Print the plan and exit."),
) -> None:
    """Train the scale ladder × mixtures × seeds; resumable; appends to OUT/runs.parquet as runs finish."""
    from mixscale.data.tokenizer import TokenizedCorpus
    from mixscale.train.sweep import plan_for, run_sweep

    corpus = TokenizedCorpus.open(data)
    plan = plan_for(corpus.domains, _split(scales), gpu=gpu)
    specs = plan.specs()
    done = sum((out / "runs" / s.run_id / "record.json").is_file() for s in specs)
    for s in plan.ladder:
        n = sum(x.scale.name == s.name for x in specs)
        console.print(f"{s.name:>6}: {s.n_layer} layers × d {s.d_model}, {s.steps} steps, lr {s.lr:g}, {n} runs")
    console.print(f"{len(specs)} runs planned, {done} done")
    if dry_run:
        return
    t0 = time.time()

    def report(run_id: str, seconds: float, k: int, total: int) -> None:
        console.print(f"[{k}/{total}] {run_id} {seconds:.1f}s  (elapsed {time.time() - t0:.0f}s)", highlight=False)

    path = run_sweep(plan, data, out, workers, threads, "cuda" if gpu else "cpu", limit, report)
    console.print(f"runs table → {path}")
