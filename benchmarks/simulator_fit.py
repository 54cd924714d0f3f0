"""Does the fitted simulator rank the target's mixtures? The CV-chosen fit vs RegMix's recipe on a wide table.

Table: `mixscale simulator synth` defaults — 17 domains, 800 runs at the smallest scale, 250 at a 60× larger one,
64 at a 1250× larger target, final losses only, a different schedule per scale. Each split holds out 32 random
target runs; the rest is the training table. Compared on the held-out runs' recorded ``loss:avg``:

* **chosen**: `regression.choose` picks a family by 5-fold CV by run on the training table (the same selection
  `FittedSimulator(method="auto")` makes), the chosen family is refitted on the whole training table;
* every family's CV score on the training table (what the selection chose among);
* **regmix**: LightGBM fitted on the smallest scale alone (mixture weights → loss), never seeing a larger run —
  RegMix's recipe (Liu et al., 2024).

Prints Spearman ρ and R² per split, the mean and the ratio, and the wall time of selection + fit (the machine's
cores as given; set OMP_NUM_THREADS=1 to measure one). Writes ``docs/benchmark/simulator_fit.json`` after every
split and resumes from it.

Usage: ``PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/simulator_fit.py [--splits 5]
[--methods poly,mlp,gbm,mixlaw,gp] [--folds 5] [--select every|once] [--out docs/benchmark/simulator_fit.json]``;
``--time-fit`` only times `FittedSimulator(method="auto")` (selection + fit) on the whole table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import torch

from mixscale.runs import metric_columns, weight_columns
from mixscale.simulator import regression
from mixscale.simulator.synth import synth_table

METRIC = "loss:avg"
REGMIX = {"objective": "regression", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 5}
REGMIX |= {"feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "num_threads": 1, "verbosity": -1}


def regmix_baseline(train, test, seed: int) -> np.ndarray:
    small = train[train["params"] == train["params"].min()]
    wcols = weight_columns(train)
    booster = lgb.train(REGMIX | {"seed": seed}, lgb.Dataset(small[wcols].to_numpy(), small[METRIC]), 1000)
    return booster.predict(test[wcols].to_numpy())


def split_tables(df, split: int, holdout: int):
    target = df[df["params"] == df["params"].max()]
    runs = np.sort(target["run_id"].unique())
    held = set(np.random.default_rng(split).choice(runs, holdout, replace=False))
    return df[~df["run_id"].isin(held)].reset_index(drop=True), df[df["run_id"].isin(held)]


def one_split(df, split: int, methods: list[str], holdout: int, folds: int, fixed: dict | None = None) -> dict:
    train, test = split_tables(df, split, holdout)
    y = test[METRIC].to_numpy()
    col = metric_columns(df).index(METRIC)
    k = len(weight_columns(df))
    X, Y = regression.table_features(train), train[metric_columns(train)].to_numpy(float)
    Xt = regression.table_features(test)
    if fixed is None:
        t0 = time.perf_counter()
        chosen, scores, _ = regression.choose(train, methods, folds=folds, seed=split)
        select_s = time.perf_counter() - t0
    else:  # --select once: the choice made on split 0's training table
        chosen, scores, select_s = fixed["chosen"], fixed["cv_scores"], fixed["select_seconds"]
    t = time.perf_counter()
    pred = regression.make_model(chosen, k).fit(X, Y).predict(Xt)[:, col]
    fit_s = time.perf_counter() - t
    base = regmix_baseline(train, test, split)
    return {
        "split": split, "chosen": chosen, "cv_scores": scores, "select_seconds": select_s,
        "chosen_result": {"spearman": regression.spearman(y, pred), "r2": regression.r2(y, pred), "fit_seconds": fit_s},
        "regmix": {"spearman": regression.spearman(y, base), "r2": regression.r2(y, base)},
    }  # fmt: skip


def time_fit(seed: int) -> None:
    """Wall and CPU seconds of `FittedSimulator(method="auto")` on the whole table: selection (3-fold CV of every
    family, no stored choice) + the chosen family's fit."""
    import os
    import tempfile

    from mixscale.simulator import fitted

    df, _ = synth_table(17, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        fitted._cache_dir = lambda: Path(tmp)  # no stored choice: select from scratch
        wall, cpu = time.perf_counter(), time.process_time()
        sim = fitted.FittedSimulator("loss:avg", runs=df)
        _ = sim.model
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"FittedSimulator(auto) on 17 domains, {df['run_id'].nunique()} runs (one row each): chose {sim.chosen_method};"
        f" {wall:.0f} s wall, {cpu:.0f} s CPU (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--holdout", type=int, default=32)
    parser.add_argument("--methods", default="poly,mlp,gbm,mixlaw,gp")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic table")
    parser.add_argument("--folds", type=int, default=5, help="CV folds (by run) of the selection")
    parser.add_argument(
        "--select", choices=["every", "once"], default="every",
        help="select by CV on every split's training table, or once on split 0's and reuse the choice",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("docs/benchmark/simulator_fit.json"))
    parser.add_argument("--time-fit", action="store_true", help="only time FittedSimulator(auto) on the whole table")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.time_fit:
        return time_fit(args.seed)
    df, _ = synth_table(17, seed=args.seed)
    sizes = df.groupby("scale")["run_id"].nunique().to_dict()
    print(
        f"synthetic table: 17 domains, runs per scale {sizes}, final losses only; {args.holdout} target runs held out"
    )
    done = json.loads(args.out.read_text()) if args.out.is_file() else {}
    key = f"seed={args.seed} methods={args.methods} folds={args.folds} select={args.select}"
    results = done.get(key, [])
    for split in range(len(results), args.splits):
        fixed = results[0] if args.select == "once" and results else None
        results.append(one_split(df, split, args.methods.split(","), args.holdout, args.folds, fixed))
        done[key] = results
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(done, indent=1))
        r = results[-1]
        fams = "  ".join(f"{m} {v:.3f}" for m, v in r["cv_scores"].items())
        print(
            f"split {split}: chosen {r['chosen']} ρ {r['chosen_result']['spearman']:.3f} "
            f"(R² {r['chosen_result']['r2']:.3f}) | regmix ρ {r['regmix']['spearman']:.3f} | CV scores: {fams} | "
            f"select {r['select_seconds']:.0f} s + fit {r['chosen_result']['fit_seconds']:.0f} s",
            flush=True,
        )
    rows = results[: args.splits]
    ours = np.array([r["chosen_result"]["spearman"] for r in rows])
    base = np.array([r["regmix"]["spearman"] for r in rows])
    print(f"\nSpearman ρ of {METRIC} on held-out target runs, mean of {len(rows)} splits:")
    r2 = np.mean([r["chosen_result"]["r2"] for r in rows])
    print(f"  chosen fit  {ours.mean():.3f} ± {ours.std():.3f}   (R² {r2:.3f})")
    print(f"  regmix      {base.mean():.3f} ± {base.std():.3f}   (LightGBM on the smallest scale alone)")
    print(f"  difference  {ours.mean() - base.mean():+.3f}; chosen / regmix = {ours.mean() / base.mean():.3f}")
    t = [r["select_seconds"] + r["chosen_result"]["fit_seconds"] for r in rows]
    print(f"  selection + fit of the chosen family: median {np.median(t):.0f} s, max {max(t):.0f} s")


if __name__ == "__main__":
    main()
