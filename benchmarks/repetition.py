"""Does matched repetition change which mixture a proxy picks? A small slice of real runs with a capped domain.

Usage: ``.venv/bin/python benchmarks/repetition.py [--data data/tokens] [--domain code] [--seeds 2]``
(build the corpus first: ``mixscale corpus build``, ~1 min).

A domain with few unique tokens is repeated by the target run: with ``U`` unique tokens and weight ``w`` a target of
``D*`` tokens sees it ``w D*/U`` times, a proxy of ``D*/r`` tokens only ``w D*/(r U)`` times. Three arms train the
same mixtures (the capped domain's weight on a grid, the rest shared equally) on the smallest ladder rung:

* ``target`` — ``--target-steps`` steps, the domain capped at ``U`` unique tokens (``U`` set so that the target
  sees it ``--epochs`` times at weight 0.25);
* ``proxy`` — ``1/r`` of the steps, same cap ``U`` (the usual proxy: less repetition than the target);
* ``proxy-matched`` — ``1/r`` of the steps, cap ``U/r``: the proxy repeats every domain as often as the target.

Printed: final ``loss:avg`` (bits per byte, mean over seeds) per mixture and arm, each arm's best mixture, and
the Spearman rank correlation of each proxy with the target over the mixtures. Runs are kept under ``--runs`` (a
rerun resumes); the summary is written to ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import torch
from scipy import stats

from mixscale.data.tokenizer import TokenizedCorpus
from mixscale.train.ladder import CPU_LADDER
from mixscale.train.trainer import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/tokens"))
    parser.add_argument("--domain", default="code")
    parser.add_argument("--weights", default="0.05,0.15,0.3,0.45,0.6")
    parser.add_argument("--scale", default="13k")
    parser.add_argument("--target-steps", type=int, default=600)
    parser.add_argument("--ratio", type=int, default=4)
    parser.add_argument("--epochs", type=float, default=4.0)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--runs", type=Path, default=Path("results/repetition/runs"))
    parser.add_argument("--out", type=Path, default=Path("docs/runs/repetition.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    corpus = TokenizedCorpus.open(args.data)
    rung = next(s for s in CPU_LADDER if s.name == args.scale)
    batch, context = 8, 64
    target_tokens = args.target_steps * batch * context
    cap = int(0.25 * target_tokens / args.epochs)
    others = [d for d in corpus.domains if d != args.domain]
    arms = {
        "target": (args.target_steps, cap),
        "proxy": (args.target_steps // args.ratio, cap),
        "proxy-matched": (args.target_steps // args.ratio, cap // args.ratio),
    }
    rows = []
    for w in [float(x) for x in args.weights.split(",")]:
        mixture = {args.domain: w, **{d: (1 - w) / len(others) for d in others}}
        for arm, (steps, unique) in arms.items():
            for seed in range(args.seeds):
                cfg = rung.train_config(mixture, steps, seed, batch, context)
                cfg = type(cfg)(**{**cfg.__dict__, "unique_tokens": {args.domain: unique}})
                r = train(cfg, corpus, args.runs / f"{arm}-w{w:g}-s{seed}")
                rows.append(
                    {"arm": arm, "weight": w, "seed": seed, "loss": r["final"]["avg"],
                     f"loss:{args.domain}": r["final"][args.domain], "epochs": r["epochs"][args.domain]}
                )  # fmt: skip
                print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    mean = df.groupby(["arm", "weight"]).mean(numeric_only=True).reset_index()
    table = mean.pivot(index="weight", columns="arm", values="loss")[list(arms)]
    epochs = mean.pivot(index="weight", columns="arm", values="epochs")[list(arms)]
    best = {arm: float(table[arm].idxmin()) for arm in arms}
    rho = {arm: float(stats.spearmanr(table[arm], table["target"])[0]) for arm in ("proxy", "proxy-matched")}
    print(f"\ncapped domain {args.domain!r}: {cap} unique tokens for the target ({args.target_steps} steps, "
          f"{target_tokens} tokens), proxies 1/{args.ratio} of it; {args.seeds} seeds, scale {args.scale}")  # fmt: skip
    print("final loss:avg (bits/byte) by the capped domain's weight:\n" + table.round(4).to_string())
    print("epochs of the capped domain:\n" + epochs.round(2).to_string())
    print(f"best weight per arm: {best}")
    print(f"Spearman rank correlation with the target: {rho}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"domain": args.domain, "cap": cap, "target_steps": args.target_steps, "ratio": args.ratio,
             "seeds": args.seeds, "scale": args.scale, "loss": table.round(5).to_dict(),
             "epochs": epochs.round(3).to_dict(), "best_weight": best, "spearman_vs_target": rho,
             "runs": rows},
            indent=1,
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
