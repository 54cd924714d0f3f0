"""The seed paper's findings about cheap signals, re-measured on a runs table.

(a) `scale_augmentation` — does adding smaller-scale runs improve prediction of the largest scale?
    Held-out mixtures at the largest scale are predicted by models trained on (i) the other largest-scale runs
    only, (ii) plus the next scale down, (iii) plus every smaller scale. Seed paper Table 3: R² 0.68 → 0.93.
(b) `partial_runs` — at equal FLOPs, are more partial runs better than fewer full runs? At the largest scale a
    budget of n full runs is spent as n full, 2n half or 4n quarter runs (only curve points up to the truncation
    are visible); smaller scales are visible in full in every arm. Seed paper Table 2: 0.69 / 0.77 / 0.82.
(c) `optimum_by_scale` — does the best mixture move with scale? The fitted model's argmin per scale, and, on raw
    data, the rank correlation of the shared mixtures' losses between each scale and the largest.

All predictions score R² on the final values of held-out runs; splits are by mixture, so the replicate seeds of
a held-out mixture are never in training. (a) and (b) refit a model dozens of times, so they default to `poly`
(fast, deterministic; `--method mlp` repeats them with the seed paper's model family); (c) uses the fitted
simulator's own model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from mixscale import simplex
from mixscale.runs import metric_columns, weight_columns
from mixscale.simulator import regression as fitting

#: the findings in docs/runs were measured with `poly` at a fixed ridge on the quadratic surface; keep it
LEGACY = {"poly": {"ridge": 1e-3}}


def _mixture_key(df: pd.DataFrame) -> pd.Series:
    return df[weight_columns(df)].round(5).astype(str).agg("|".join, axis=1)


def _scales(df: pd.DataFrame) -> list[str]:
    return list(df.groupby("scale")["params"].first().sort_values().index)


def _fit_predict(train: pd.DataFrame, test: pd.DataFrame, method: str, metrics: list[str]) -> np.ndarray:
    model = fitting.make_model(method, len(weight_columns(train)), **LEGACY.get(method, {})).fit(
        fitting.table_features(train), train[metrics].to_numpy(float)
    )
    return model.predict(fitting.table_features(test))


def _final(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["step"] == df["max_steps"]]


def scale_augmentation(
    df: pd.DataFrame, method: str = "poly", n_train_large: tuple[int | None, ...] = (6, None), repeats: int = 10,
    seed: int = 0,
) -> pd.DataFrame:  # fmt: skip
    """R² at the largest scale per metric, for training sets with 0, 1 or all smaller scales added.

    `n_train_large` caps how many largest-scale mixtures are in training (None: all but the held-out fold).
    """
    metrics = metric_columns(df)
    scales = _scales(df)
    big = scales[-1]
    key = _mixture_key(df)
    big_keys = np.array(sorted(key[df["scale"] == big].unique()))
    rng = np.random.default_rng(seed)
    rows = []
    for cap in n_train_large:
        for arm, extra in (("largest only", []), ("+ next scale", scales[-2:-1]), ("+ all smaller", scales[:-1])):
            preds, truths = [], []
            for _ in range(repeats):
                perm = rng.permutation(big_keys)
                n_test = max(2, len(perm) // 4)
                test_keys, train_keys = perm[:n_test], perm[n_test:]
                if cap is not None:
                    train_keys = train_keys[:cap]
                is_big = df["scale"] == big
                train = df[(is_big & key.isin(train_keys)) | df["scale"].isin(extra)]
                test = _final(df[is_big & key.isin(test_keys)])
                preds.append(_fit_predict(train, test, method, metrics))
                truths.append(test[metrics].to_numpy(float))
            # pool the held-out predictions of all repeats, then score
            P, Y = np.vstack(preds), np.vstack(truths)
            row = {"largest-scale runs in training": "all" if cap is None else cap, "training set": arm}
            row |= {m: fitting.r2(Y[:, j], P[:, j]) for j, m in enumerate(metrics)}
            rows.append(row)
    return pd.DataFrame(rows)


def partial_runs(
    df: pd.DataFrame, method: str = "poly", n_full: int = 4, repeats: int = 20, seed: int = 0
) -> pd.DataFrame:
    """R² at the largest scale per metric when a budget of `n_full` full runs buys n full / 2n half / 4n quarter."""
    metrics = metric_columns(df)
    scales = _scales(df)
    big = scales[-1]
    key = _mixture_key(df)
    is_big = df["scale"] == big
    keys = np.array(sorted(key[is_big].unique()))
    max_steps = int(df.loc[is_big, "max_steps"].iloc[0])
    small = df[~is_big]
    rng = np.random.default_rng(seed)
    rows = []
    for label, factor in (("full runs", 1), ("half runs", 2), ("quarter runs", 4)):
        preds, truths = [], []
        for _ in range(repeats):
            perm = rng.permutation(keys)
            chosen, test_keys = perm[: n_full * factor], perm[4 * n_full :]
            one_seed = df[is_big & key.isin(chosen)].groupby(key)["run_id"].transform("min")
            runs = df[is_big & key.isin(chosen)]
            runs = runs[runs["run_id"] == one_seed]  # one run per mixture: the budget counts runs
            runs = runs[runs["step"] <= max_steps / factor]
            test = _final(df[is_big & key.isin(test_keys)])
            preds.append(_fit_predict(pd.concat([small, runs]), test, method, metrics))
            truths.append(test[metrics].to_numpy(float))
        P, Y = np.vstack(preds), np.vstack(truths)
        row = {"budget spent as": f"{n_full * factor} {label}", "steps seen": int(max_steps / factor)}
        row |= {m: fitting.r2(Y[:, j], P[:, j]) for j, m in enumerate(metrics)}
        rows.append(row)
    return pd.DataFrame(rows)


def optimum_by_scale(
    df: pd.DataFrame, metric: str = "loss:avg", model=None, n: int = 20000, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(argmin mixture per scale under `model` — default: a fresh `poly` fit —, raw-data rank agreement of each
    scale's mixture ranking with the largest scale's)."""
    wcols = weight_columns(df)
    metrics = metric_columns(df)
    if model is None:
        model = fitting.make_model("poly", len(wcols), **LEGACY["poly"]).fit(
            fitting.table_features(df), df[metrics].to_numpy(float)
        )
    j = metrics.index(metric)
    rng = np.random.default_rng(seed)
    pool = np.vstack([np.eye(len(wcols)), simplex.sample_dirichlet(rng, n, len(wcols), 1.0)])
    best_rows = {}
    by_scale = df.groupby("scale")[["params", "tokens_per_step", "max_steps"]].first().sort_values("params")
    for scale, r in by_scale.iterrows():
        tokens = r.max_steps * r.tokens_per_step
        pred = model.predict(fitting.features(pool, r.params, tokens, tokens))[:, j]
        i = int(np.argmin(pred))
        best_rows[scale] = {"params": int(r.params), **dict(zip(wcols, pool[i], strict=True)), metric: pred[i]}
    best = pd.DataFrame.from_dict(best_rows, orient="index")

    final = _final(df).assign(_key=_mixture_key(df))
    per = final.groupby(["scale", "_key"])[metric].mean().unstack(0)
    big = by_scale.index[-1]
    agree = {}
    for scale in by_scale.index:
        both = pd.DataFrame({scale: per[scale], big: per[big]}).dropna() if scale != big else per[[big, big]].dropna()
        both.columns = ["this", "largest"]
        rho = float(stats.spearmanr(both["this"], both["largest"]).statistic) if len(both) > 2 else np.nan
        top = bool(both["this"].idxmin() == both["largest"].idxmin()) if len(both) else False
        agree[scale] = {"shared mixtures": len(both), "Spearman ρ with largest": rho, "same best mixture": top}
    return best, pd.DataFrame.from_dict(agree, orient="index")
