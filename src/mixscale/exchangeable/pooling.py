"""Pooling runs made separately: one bandit regret figure from several ``bandit`` runs (CPI and causal models,
different repetition counts) and one active-learning table from runs with different seeds (shards run as
parallel processes). Reads the runs' CSV/JSON outputs; a folder that is not such an output is a
:class:`~mixscale.errors.ValidationError` naming ``run``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from mixscale.errors import ValidationError

from . import plots
from .experiments import AL_NAMES, bandit_name, write_json

__all__ = ["bandit_figure", "merge_al"]


def bandit_figure(runs: list[Path], out_png: Path) -> list[dict[str, Any]]:
    """One regret figure from several ``bandit`` output folders (e.g. CPI and causal models run with different
    repetition counts); an exact-posterior curve is drawn once (from the run with the most repetitions)."""
    bands: dict[str, tuple[list[float], list[float], list[float]]] = {}
    finals: list[dict[str, Any]] = []
    oracle: tuple[int, str, pd.DataFrame] | None = None
    for run in runs:
        try:
            summary = json.loads((run / "bandit_summary.json").read_text())
            table = pd.read_csv(run / "bandit.csv")
        except (OSError, ValueError) as err:
            raise ValidationError("run", f"{run} is not a bandit output folder ({type(err).__name__})") from None
        for rule, df in table.groupby("rule", sort=False):
            name = bandit_name(str(rule), summary.get("attention", "causal"), summary["reps"])
            if rule == "oracle":
                if oracle is None or summary["reps"] > oracle[0]:
                    oracle = (summary["reps"], name, df)
                continue
            bands[name] = (df["mean"].tolist(), df["lo_3se"].tolist(), df["hi_3se"].tolist())
            finals.append({"curve": name, "run": str(run), **summary["final_regret"][rule]})
    if oracle is not None:
        _, name, df = oracle
        bands[name] = (df["mean"].tolist(), df["lo_3se"].tolist(), df["hi_3se"].tolist())
    if not bands:
        raise ValidationError("run", "no bandit curves found")
    rounds = len(next(iter(bands.values()))[0])
    plots.bands_png(
        out_png,
        list(range(1, rounds + 1)),
        bands,
        xlabel="round",
        ylabel="cumulative regret",
        title="Thompson sampling, 2-armed Gaussian bandit",
    )
    return finals


def merge_al(runs: list[Path], out: Path) -> dict[str, Any]:
    """Pool ``active-learning`` runs (shards run as parallel processes: different seeds, or different rules of
    one seed) into one table: per rule and label count, ``mean = Σ n_i m_i / N`` and ``se = sqrt(Σ n_i² se_i²)
    / N`` (independent repetitions) → merged al.csv, al_summary.json, al_nll.png and al_nll_exact.png."""
    parts = []
    for run in runs:
        try:
            parts.append((json.loads((run / "al_summary.json").read_text()), pd.read_csv(run / "al.csv")))
        except (OSError, ValueError) as err:
            raise ValidationError(
                "run", f"{run} is not an active-learning output folder ({type(err).__name__})"
            ) from None
    seeds = sorted({sm["seed"] for sm, _ in parts})
    pairs = [(sm["seed"], rule) for sm, _ in parts for rule in sm["final_nll"]]
    if len(set(pairs)) != len(pairs) or len({sm["protocol"] for sm, _ in parts}) != 1:
        raise ValidationError("run", "runs must share a protocol, and a rule may appear once per seed")
    rows = []
    for sm, table in parts:
        t = table.assign(n=sm["reps"], se=(table["hi_3se"] - table["lo_3se"]) / (2 * plots.BAND_SE))
        rows.append(t)
    df = pd.concat(rows)
    df = df.assign(nm=df["n"] * df["mean"], n2se2=(df["n"] * df["se"]) ** 2)
    g = df.groupby(["rule", "nll_of", "labels"], sort=False).agg(N=("n", "sum"), nm=("nm", "sum"), v=("n2se2", "sum"))
    g = g.reset_index().assign(mean=lambda d: d["nm"] / d["N"], se=lambda d: d["v"] ** 0.5 / d["N"])
    g = g.assign(lo_3se=g["mean"] - plots.BAND_SE * g["se"], hi_3se=g["mean"] + plots.BAND_SE * g["se"])
    out.mkdir(parents=True, exist_ok=True)
    g[["rule", "nll_of", "labels", "N", "mean", "se", "lo_3se", "hi_3se"]].to_csv(out / "al.csv", index=False)
    last = g[g["labels"] == g["labels"].max()]
    final = {
        kind: {r["rule"]: {"mean": r["mean"], "se": r["se"]} for _, r in last[last["nll_of"] == kind].iterrows()}
        for kind in ("model", "oracle")
    }
    reps = {r: int(v) for r, v in last[last["nll_of"] == "model"].set_index("rule")["N"].items()}
    picks: dict[str, float] = {}
    for sm, _ in parts:
        for r, f in sm["epistemic_pick_fraction"].items():
            picks[r] = picks.get(r, 0.0) + f * sm["reps"] / reps[r]
    summary = {
        **{k: v for k, v in parts[0][0].items() if k in ("protocol", "rollouts", "horizon", "checkpoint")},
        "seeds": seeds,
        "reps": reps,
        "final_labels": int(g["labels"].max()),
        "final_nll": final["model"],
        "final_oracle_nll_same_labels": final["oracle"],
        "epistemic_pick_fraction": picks,
        "runs": [str(r) for r in runs],
    }
    write_json(out / "al_summary.json", summary)
    for fname, kind, by in (("al_nll.png", "model", "causal model"), ("al_nll_exact.png", "oracle", "exact")):
        sub = g[g["nll_of"] == kind]
        bands = {
            f"{AL_NAMES.get(str(rule), str(rule))} ({reps[str(rule)]} reps)": (
                d["mean"].tolist(),
                d["lo_3se"].tolist(),
                d["hi_3se"].tolist(),
            )
            for rule, d in sub.groupby("rule", sort=False)
        }
        plots.bands_png(
            out / fname,
            sorted(sub["labels"].unique().tolist()),
            bands,
            xlabel="number of labels (5 initial + acquired)",
            ylabel=f"test NLL ({by} predictive)",
            title=f"Active learning, {summary.get('protocol', '')} protocol: {by} NLL",
        )
    return summary
