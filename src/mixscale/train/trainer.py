"""Train a GPT on a data mixture and record its per-domain validation learning curve.

Read top to bottom: `TrainConfig` (everything that defines a run) → `MixtureSampler` (which domain each training
sequence comes from: a categorical draw with probabilities w, then a uniformly random window of that domain) →
`evaluate` (bits per byte on a fixed set of validation windows per domain) → `train` (AdamW with linear warmup and
cosine decay, evaluation at `n_evals` evenly spaced steps, checkpoints, exact resume).

Determinism: all randomness (initialization, the sampler) flows from `seed` through explicit generators, and a
checkpoint stores the sampler's generator state, so a run stopped and resumed produces the same parameters and
curve as one that never stopped (on the same device and thread count).
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from mixscale.data.tokenizer import TokenizedCorpus
from mixscale.errors import ValidationError
from mixscale.space import training_flops
from mixscale.train.model import GPT, GPTConfig

LN2 = math.log(2.0)


@dataclass(frozen=True)
class TrainConfig:
    mixture: dict[str, float]
    steps: int
    n_layer: int = 2
    n_head: int = 2
    d_model: int = 64
    batch_size: int = 8
    context: int = 64
    lr: float = 3e-3
    warmup_fraction: float = 0.05
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    n_evals: int = 12
    eval_seqs: int = 16
    seed: int = 0
    scale: str = "custom"
    #: Cap on a domain's unique training tokens (its first ``n`` tokens), e.g. to match a target's repetition.
    unique_tokens: dict[str, int] | None = None

    def validate(self, domains: tuple[str, ...]) -> None:
        w = self.mixture
        if not isinstance(w, dict) or not w:
            raise ValidationError("mixture", "must be a non-empty {domain: weight} mapping")
        unknown = sorted(set(w) - set(domains))
        if unknown:
            raise ValidationError("mixture", f"unknown domain {unknown[0]!r}; the corpus has {list(domains)}")
        vals = np.array(list(w.values()), dtype=float)
        if not np.all(np.isfinite(vals)) or np.any(vals < 0) or abs(vals.sum() - 1) > 1e-6:
            raise ValidationError("mixture", f"weights must be finite, ≥ 0 and sum to 1 (sum {vals.sum():.6g})")
        for name in ("steps", "n_layer", "n_head", "d_model", "batch_size", "context", "n_evals", "eval_seqs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValidationError(name, f"must be a positive integer, got {getattr(self, name)!r}")
        if self.d_model % self.n_head:
            raise ValidationError("n_head", f"must divide d_model={self.d_model}")
        for d, n in (self.unique_tokens or {}).items():
            if d not in domains:
                raise ValidationError(f"unique_tokens.{d}", f"unknown domain; the corpus has {list(domains)}")
            if not isinstance(n, int) or isinstance(n, bool) or n <= self.context + 1:
                raise ValidationError(f"unique_tokens.{d}", f"must be an integer > context + 1, got {n!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValidationError("lr", f"must be positive, got {self.lr!r}")

    def gpt(self, vocab_size: int) -> GPTConfig:
        return GPTConfig(vocab_size, self.context, self.n_layer, self.n_head, self.d_model)

    def eval_steps(self) -> list[int]:
        """`n_evals` evenly spaced evaluation steps ending at `steps` (the learning curve's x values)."""
        return sorted({max(1, round(self.steps * (i + 1) / self.n_evals)) for i in range(self.n_evals)})

    def lr_at(self, step: int) -> float:
        """Linear warmup to `lr`, then cosine decay to `min_lr_ratio · lr` at `steps` (step counts from 0)."""
        warmup = max(1, round(self.warmup_fraction * self.steps))
        if step < warmup:
            return self.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, self.steps - warmup)
        return self.lr * (self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


class MixtureSampler:
    """Batches whose sequences come from domain d with probability w_d, each a uniform random window (of the
    domain's first ``unique_tokens[d]`` training tokens when capped). ``sequences`` counts the draws per domain."""

    def __init__(
        self,
        corpus: TokenizedCorpus,
        mixture: dict[str, float],
        context: int,
        generator: torch.Generator,
        unique_tokens: dict[str, int] | None = None,
    ):
        self.domains = [d for d in corpus.domains if mixture.get(d, 0.0) > 0]
        self.weights = torch.tensor([mixture[d] for d in self.domains], dtype=torch.float64)
        caps = unique_tokens or {}
        self.arrays = [corpus.tokens(d, "train")[: caps.get(d)] for d in self.domains]
        self.sequences = dict.fromkeys(self.domains, 0)
        for d, a in zip(self.domains, self.arrays, strict=True):
            if len(a) <= context + 1:
                raise ValidationError("context", f"domain {d!r} has only {len(a)} training tokens")
        self.context = context
        self.g = generator

    def domain_draws(self, n: int) -> torch.Tensor:
        return torch.multinomial(self.weights, n, replacement=True, generator=self.g)

    def batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        which = self.domain_draws(batch_size)
        u = torch.rand(batch_size, generator=self.g, dtype=torch.float64)
        rows = []
        for k, ui in zip(which.tolist(), u.tolist(), strict=True):
            a = self.arrays[k]
            self.sequences[self.domains[k]] += 1
            start = int(ui * (len(a) - self.context - 1))
            rows.append(a[start : start + self.context + 1])
        block = torch.from_numpy(np.stack(rows).astype(np.int64))
        return block[:, :-1], block[:, 1:]


def validation_windows(corpus: TokenizedCorpus, domain: str, context: int, n: int) -> torch.Tensor:
    """`n` fixed windows spread evenly over a domain's validation tokens (the same for every run)."""
    a = corpus.tokens(domain, "val")
    starts = np.linspace(0, len(a) - context - 1, n).astype(np.int64)
    return torch.from_numpy(np.stack([a[s : s + context + 1] for s in starts]).astype(np.int64))


@torch.no_grad()
def evaluate(model: GPT, windows: dict[str, torch.Tensor], token_bytes: torch.Tensor) -> dict[str, float]:
    """Bits per byte per domain: Σ nll / (ln 2 · Σ bytes of the predicted tokens)."""
    model.eval()
    out = {}
    for domain, w in windows.items():
        nll = model.loss(w[:, :-1], w[:, 1:], reduction="sum")
        out[domain] = float(nll) / (LN2 * float(token_bytes[w[:, 1:]].sum()))
    model.train()
    out["avg"] = float(np.mean([out[d] for d in windows]))
    return out


def code_version() -> str:
    from mixscale._version import __version__

    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.machine()}:{torch.get_num_threads()}threads"


@dataclass
class RunState:
    step: int = 0
    curve: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    sequences: dict[str, int] = field(default_factory=dict)


def train(
    cfg: TrainConfig,
    corpus: TokenizedCorpus,
    out_dir: str | Path | None = None,
    device: str = "cpu",
    checkpoint_every: int | None = None,
    stop_after: int | None = None,
    progress: bool = False,
) -> dict:
    """Run (or resume) one training run; returns its record (also written to `out_dir/record.json`).

    `stop_after` ends the call after that many steps have been done in total (a checkpoint is written), which is
    how tests and the sweep exercise resume.
    """
    cfg.validate(corpus.domains)
    dev = torch.device(device)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and (out / "record.json").is_file():
        return _finished(out / "record.json", cfg)

    torch.manual_seed(cfg.seed)  # parameter initialization
    model = GPT(cfg.gpt(corpus.vocab_size)).to(dev)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.95),
    )
    g = torch.Generator().manual_seed(cfg.seed + 1_000_003)
    sampler = MixtureSampler(corpus, cfg.mixture, cfg.context, g, cfg.unique_tokens)
    windows = {d: validation_windows(corpus, d, cfg.context, cfg.eval_seqs).to(dev) for d in corpus.domains}
    tbytes = torch.as_tensor(corpus.token_bytes, device=dev)
    state = RunState()

    ckpt = out / "checkpoint.pt" if out is not None else None
    if ckpt is not None and ckpt.is_file():
        saved = torch.load(ckpt, map_location=dev, weights_only=True)
        if saved["config"] != json.dumps(asdict(cfg), sort_keys=True):
            raise ValidationError("out_dir", f"{out} holds a checkpoint of a different run configuration")
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        g.set_state(saved["generator"])
        state = RunState(**json.loads(saved["state"]))
        sampler.sequences.update(state.sequences)

    def save_checkpoint() -> None:
        if ckpt is None:
            return
        out.mkdir(parents=True, exist_ok=True)
        payload = {
            "config": json.dumps(asdict(cfg), sort_keys=True),
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "generator": g.get_state(),
            "state": json.dumps({**asdict(state), "sequences": sampler.sequences}),
        }
        torch.save(payload, ckpt.with_suffix(".tmp"))
        os.replace(ckpt.with_suffix(".tmp"), ckpt)  # atomic: a kill mid-write never corrupts the checkpoint

    eval_at = set(cfg.eval_steps())
    bar = None
    if progress:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task(f"{cfg.scale} seed {cfg.seed}", total=cfg.steps, completed=state.step)
    try:
        while state.step < cfg.steps:
            if stop_after is not None and state.step >= stop_after:
                save_checkpoint()
                return {"stopped_at": state.step}
            t0 = time.perf_counter()
            for group in opt.param_groups:
                group["lr"] = cfg.lr_at(state.step)
            x, y = sampler.batch(cfg.batch_size)
            loss = model.loss(x.to(dev), y.to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            state.step += 1
            t1 = time.perf_counter()
            state.train_seconds += t1 - t0
            if state.step in eval_at:
                metrics = evaluate(model, windows, tbytes)
                state.curve.append({"step": state.step, "train_loss": float(loss.detach()), **metrics})
                state.eval_seconds += time.perf_counter() - t1
            if checkpoint_every and state.step % checkpoint_every == 0 and state.step < cfg.steps:
                save_checkpoint()
            if bar is not None:
                bar.update(task, completed=state.step)
    finally:
        if bar is not None:
            bar.stop()

    n = model.non_embedding_params()
    tokens = cfg.steps * cfg.batch_size * cfg.context
    record = {
        "config": asdict(cfg),
        "params_non_embedding": n,
        "params_total": sum(p.numel() for p in model.parameters()),
        "tokens": tokens,
        "flops": training_flops(n, tokens),
        "curve": state.curve,
        "final": state.curve[-1],
        "train_seconds": state.train_seconds,
        "eval_seconds": state.eval_seconds,
        "tokens_per_second": tokens / max(state.train_seconds, 1e-9),
        # repetition: tokens seen from each domain over the unique tokens it had (its epochs)
        "unique_tokens": {d: len(a) for d, a in zip(sampler.domains, sampler.arrays, strict=True)},
        "epochs": {
            d: sampler.sequences[d] * cfg.context / len(a) for d, a in zip(sampler.domains, sampler.arrays, strict=True)
        },
        "code_version": code_version(),
        "hardware": hardware(dev),
        "torch": torch.__version__,
        "tokenizer_sha256": corpus.meta["tokenizer_sha256"],
        "corpus_sha256": corpus.meta["corpus_sha256"],
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / "record.json.tmp"
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, out / "record.json")  # atomic: a kill mid-write leaves no half record to be returned later
        if ckpt.is_file():
            ckpt.unlink()  # a finished run keeps its record, not its weights
    return record


def _finished(path: Path, cfg: TrainConfig) -> dict:
    """The record of a run already finished in this folder, if it is *this* run (same configuration); a folder
    holding another run's record is refused rather than passed off as this run's result."""
    try:
        record = json.loads(path.read_text())
        stored = record["config"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ValidationError(
            "out_dir", f"{path} is not a readable run record; move it away or use another folder"
        ) from None
    wanted = json.loads(json.dumps(asdict(cfg)))
    if stored != wanted:
        diff = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        raise ValidationError(
            "out_dir",
            f"{path.parent} holds a finished run of a different configuration ({', '.join(diff)} differ); "
            "use another folder",
        )
    return record
