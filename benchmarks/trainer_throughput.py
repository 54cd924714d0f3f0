"""Tokens/s of mixscale's trainer vs a plain PyTorch loop on the same GPT, measured side by side.

The plain loop is the floor any trainer pays: forward, cross-entropy, backward, AdamW step on batches sliced from
one in-memory tensor. Our trainer adds what a real run needs — mixture sampling across domain memmaps, the
learning-rate schedule, gradient clipping, the curve bookkeeping — and its `train_seconds` exclude the
validation passes (timed separately). A ratio near 1 means that overhead is negligible.

    python benchmarks/trainer_throughput.py --threads 1 --steps 150 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mixscale.data.tokenizer import TokenizedCorpus
from mixscale.train.ladder import CPU_LADDER
from mixscale.train.model import GPT
from mixscale.train.trainer import TrainConfig, train


def plain_loop(cfg: TrainConfig, corpus: TokenizedCorpus) -> float:
    """Tokens/s of the bare minimum: same model, optimizer and batch shape, no sampler, schedule or clipping."""
    torch.manual_seed(cfg.seed)
    model = GPT(cfg.gpt(corpus.vocab_size))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)
    data = torch.from_numpy(corpus.tokens(corpus.domains[0], "train")[:200_000].astype("int64"))
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(cfg.steps):
        starts = torch.randint(0, len(data) - cfg.context - 1, (cfg.batch_size,), generator=g)
        block = torch.stack([data[s : s + cfg.context + 1] for s in starts.tolist()])
        loss = model.loss(block[:, :-1], block[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return cfg.steps * cfg.batch_size * cfg.context / (time.perf_counter() - t0)


def ours(cfg: TrainConfig, corpus: TokenizedCorpus) -> tuple[float, float]:
    r = train(cfg, corpus)
    return r["tokens_per_second"], r["eval_seconds"] / (r["train_seconds"] + r["eval_seconds"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/tokens")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--scales", default="13k,100k,793k")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    corpus = TokenizedCorpus.open(args.data)
    ladder = {s.name: s for s in CPU_LADDER}
    w = {d: 1 / len(corpus.domains) for d in corpus.domains}
    print(f"torch threads {args.threads}, {args.steps} steps of 8×64 tokens, median of {args.repeats} interleaved runs")
    print(f"{'scale':>6} {'params':>9} {'plain tok/s':>12} {'ours tok/s':>11} {'ours/plain':>11} {'eval share':>11}")
    for name in args.scales.split(","):
        s = ladder[name]
        cfg = TrainConfig(w, args.steps, s.n_layer, s.n_head, s.d_model, lr=s.lr, scale=s.name)
        plain, mine, share = [], [], []
        for _ in range(args.repeats):
            plain.append(plain_loop(cfg, corpus))
            t, e = ours(cfg, corpus)
            mine.append(t)
            share.append(e)
        n = GPT(cfg.gpt(corpus.vocab_size)).non_embedding_params()
        p, m = statistics.median(plain), statistics.median(mine)
        print(f"{name:>6} {n:>9,} {p:>12,.0f} {m:>11,.0f} {m / p:>10.2f}× {statistics.median(share):>10.1%}")


if __name__ == "__main__":
    main()
