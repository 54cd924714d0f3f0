"""KV-cached vs re-encoding multi-step generation, and training throughput, measured side by side in one run.

    nice -n 19 python benchmarks/exchangeable_kv_cache.py [--checkpoint CAUSAL.pt] [--batch 32] [--json OUT.json]

Prints, for horizons 25 / 100 / 400, the wall time of generating H imagined points after a context of
``--context`` points for ``--batch`` rollouts with the causal model's KV cache and by re-encoding the whole
growing sequence at every step (what the seed paper's reference code does), their ratio, and the largest
difference between the two samples (same random draws). Horizons <= 100 are timed ``--repeats`` times, cached
and re-encoding interleaved; the table shows median times and the median of the per-repeat ratios (robust to
load from other processes). Horizon 400 is timed once. Then training steps/s of the quick configuration (4
layers, d_model 64, 4 heads, ff 256; batch 32 × 64 points) for the causal and CPI patterns. One thread by
default.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from mixscale.exchangeable.inference import generate
from mixscale.exchangeable.models import ExchangeableTransformer, ModelConfig
from mixscale.exchangeable.priors import GPPrior
from mixscale.exchangeable.train import TrainConfig, load_checkpoint, train


def _time(fn) -> tuple[float, torch.Tensor]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None, help="causal checkpoint (default: randomly initialised model)")
    ap.add_argument("--horizons", default="25,100,400")
    ap.add_argument("--context", type=int, default=10)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--train-steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5, help="timings per horizon <= 100 (median is reported)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.checkpoint:
        model, prior, _ = load_checkpoint(args.checkpoint)
    else:
        model, prior = ExchangeableTransformer(ModelConfig()).eval(), GPPrior()
    if not model.is_causal:
        raise SystemExit("--checkpoint must be a causal model (the CPI pattern cannot use a KV cache)")
    results: dict[str, object] = {"threads": args.threads, "batch": args.batch, "context": args.context}
    horizons = [int(h) for h in args.horizons.split(",")]
    data = prior.sample(args.batch, args.context + max(horizons), torch.Generator().manual_seed(args.seed))
    xc, yc = data.x[:, : args.context], data.y[:, : args.context]
    generate(model, xc, yc, data.x[:, args.context : args.context + 5], generator=torch.Generator())  # warm-up
    print(f"generation: batch {args.batch}, context {args.context}, threads {args.threads}")
    print(f"{'horizon':>8} {'reps':>4} {'cached s':>10} {'re-encode s':>12} {'speedup':>9} {'max |diff|':>11}")
    gen_rows = []
    for h in horizons:
        xg = data.x[:, args.context : args.context + h]
        reps = args.repeats if h <= 100 else 1  # re-encoding 400 steps is slow: time it once
        t_c, t_r = [], []
        for _ in range(reps):  # interleaved, so both paths see the same load from other processes
            dt, a = _time(lambda xg=xg: generate(model, xc, yc, xg, generator=torch.Generator().manual_seed(1)))
            t_c.append(dt)
            dt, b = _time(
                lambda xg=xg: generate(model, xc, yc, xg, generator=torch.Generator().manual_seed(1), use_cache=False)
            )
            t_r.append(dt)
        speedup = statistics.median(r / c for c, r in zip(t_c, t_r, strict=True))
        diff = float((a - b).abs().max())
        gen_rows.append(
            {
                "horizon": h,
                "repeats": reps,
                "cached_s": statistics.median(t_c),
                "reencode_s": statistics.median(t_r),
                "speedup": speedup,
                "speedups": [r / c for c, r in zip(t_c, t_r, strict=True)],
                "max_abs_diff": diff,
            }
        )
        print(
            f"{h:>8} {reps:>4} {statistics.median(t_c):>10.3f} {statistics.median(t_r):>12.3f} "
            f"{speedup:>8.1f}x {diff:>11.2e}"
        )
    results["generation"] = gen_rows
    print(f"\ntraining (quick configuration: batch 32 × 64 points, {args.train_steps} steps after 3 warm-up steps)")
    train_rows = []
    for att in ("causal", "cpi"):
        cfg = ModelConfig(attention=att)
        train(cfg, GPPrior(), TrainConfig(steps=3, batch_size=32, seq_len=64, seed=args.seed))
        _, state = train(cfg, GPPrior(), TrainConfig(steps=args.train_steps, batch_size=32, seq_len=64, seed=args.seed))
        sps = state["history"]["steps_per_s"]
        train_rows.append({"attention": att, "steps_per_s": sps})
        print(f"{att:>8}: {sps:.2f} steps/s")
    results["training"] = train_rows
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
