"""A study's report: regret (or predicted value) vs cost and the recommended mixture over time, as PNG files and one
self-contained HTML page (pictures inlined as data URIs, so it can be mailed or attached to an issue).

Regret needs the true target metric, which only a simulator knows: when the study was run on the built-in
simulator (its stored objective description says so) the report scores every stored recommendation; otherwise it
plots the strategy's own prediction for its recommendation, with its uncertainty, and the observed values.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mixscale.study.study import Study  # noqa: E402


def scorer(study: Study):
    """``(target_value(mixtures), optimum_value)`` when the study's objective is a known simulator, else None."""
    desc = study.objective_description
    if desc.get("type") != "simulator" and not str(desc.get("class", "")).startswith("mixscale.simulator."):
        return None
    from mixscale import simulator

    try:
        sim = simulator.load(desc.get("name", "analytic"), metric=study.metric.name)
    except Exception:  # noqa: BLE001 - a simulator this version does not know: no regret, not a failure
        return None
    if sim.space.domains != study.space.domains or sim.space.target != study.space.target:
        return None
    return sim.target_value, sim.optimum()[1]


def write_report(study: Study, out: str | Path) -> dict[str, Path]:
    """Write ``progress.png``, ``mixture.png`` and ``report.html`` into ``out``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    recs = study.recommendations
    df = study.trials_dataframe()
    metric = study.metric.name
    score = scorer(study)
    regrets = None
    if score is not None and recs:
        truth, best = score
        W = np.array([[r.recommendation.mixture[d] for d in study.space.domains] for r in recs])
        values = truth(W)
        regrets = (values - best) if study.metric.minimize else (best - values)

    paths = {"progress": out / "progress.png", "mixture": out / "mixture.png", "html": out / "report.html"}
    _plot_progress(study, recs, df, regrets, metric, paths["progress"])
    _plot_mixture(study, recs, paths["mixture"])
    from mixscale.study import front_report

    extra, sections = front_report.write(study, out)  # Pareto front and warm-start sections, when they apply
    paths.update(extra)
    paths["html"].write_text(_html(study, recs, df, regrets, paths, sections))
    return paths


def _plot_progress(study, recs, df, regrets, metric: str, path: Path) -> None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    x = _steps_x([r.spent for r in recs])
    if regrets is not None:
        ax1.step(x, _last_repeated(np.maximum(regrets, 1e-6)), where="post", lw=1.8)
        ax1.set_yscale("log")
        ax1.set_ylabel(f"regret of recommendation ({metric})")
        ax1.set_title("Recommendation regret vs cost")
    else:
        mean = np.array([np.nan if r.recommendation.value is None else r.recommendation.value for r in recs])
        std = np.array([np.nan if r.recommendation.std is None else r.recommendation.std for r in recs])
        mean, std = _last_repeated(mean), _last_repeated(std)
        ax1.step(x, mean, where="post", lw=1.8, label="predicted at target")
        if np.isfinite(std).any():
            ax1.fill_between(x, mean - 2 * std, mean + 2 * std, step="post", alpha=0.2, lw=0, label="± 2 std")
        ax1.set_ylabel(f"{metric} of recommendation")
        ax1.set_title("Recommendation (predicted) vs cost")
        ax1.legend(fontsize=8)
    ax1.set_xlabel("cumulative cost (target-run units)")
    ax1.grid(True, alpha=0.3)
    done = df[df["state"] == "complete"] if not df.empty else df
    if not done.empty:
        warm = done["source"] == "warm_start"  # runs from earlier work: free, drawn at cost 0 as open diamonds
        for (scale, steps), g in done[~warm].groupby(["scale", "steps"], sort=False):
            ax2.scatter(g["spent"], g[metric], s=18, label=f"{scale} / {steps}")
        if warm.any():
            w = done[warm]
            ax2.scatter(w["spent"].fillna(0.0), w[metric], s=20, marker="D", facecolors="none", edgecolors="0.4",
                        label=f"warm start ({len(w)})")  # fmt: skip
        ax2.legend(fontsize=7, title="scale / steps", title_fontsize=7)
    ax2.set_xlabel("cumulative cost (target-run units)")
    ax2.set_ylabel(f"observed {metric}")
    ax2.set_title("Trials")
    ax2.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_mixture(study, recs, path: Path) -> None:
    domains = study.space.domains
    if not study.space.constrained:
        fig, ax = plt.subplots(figsize=(8, 4), dpi=110)
    else:  # a second panel: each domain's feasible range with the latest recommendation in it
        fig, (ax, rax) = plt.subplots(1, 2, figsize=(11, 4), dpi=110, gridspec_kw={"width_ratios": [3, 1.3]})
        region = study.space.feasible_region()
        y = np.arange(len(domains))
        lo = np.array([region[d][0] for d in domains])
        hi = np.array([region[d][1] for d in domains])
        rax.barh(y, hi - lo, left=lo, height=0.5, color="0.85", edgecolor="0.4", label="feasible range")
        if recs:
            last = [recs[-1].recommendation.mixture[d] for d in domains]
            rax.plot(last, y, "o", color="C3", label="recommended")
        rax.set_yticks(y, domains, fontsize=8)
        rax.set_xlim(0, 1)
        rax.invert_yaxis()
        rax.set_xlabel("weight")
        rax.set_title("Constraints")
        rax.legend(fontsize=7, loc="lower right")
    if recs:
        x = _steps_x([r.spent for r in recs])
        W = _last_repeated(np.array([[r.recommendation.mixture[d] for d in domains] for r in recs]))
        ax.stackplot(x, W.T, labels=domains, step="post", alpha=0.85)
        ax.set_xlim(x[0], x[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel("cumulative cost (target-run units)")
    ax.set_ylabel("weight")
    ax.set_title("Recommended mixture")
    if study.space.constrained:
        ax.legend(fontsize=6, loc="upper right")
    else:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _steps_x(x: list[float]) -> np.ndarray:
    """Step-plot abscissae with one extra point, so the latest recommendation is drawn with a visible width."""
    if not x:
        return np.array([])
    end = x[-1] + 0.03 * max(x[-1] - x[0], abs(x[-1]), 1e-9)
    return np.array([*x, end])


def _last_repeated(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a, a[-1:]]) if len(a) else a


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _html(study, recs, df, regrets, paths, sections: str = "") -> str:
    e = html.escape
    counts = df["state"].value_counts().to_dict() if not df.empty else {}
    summary = {
        "study": study.name,
        "storage": study.storage.url,
        "strategy": f"{study.strategy_name} (seed {study.seed}) {study.strategy_options or ''}",
        "metric": f"{study.metric.name} ({'minimized' if study.metric.minimize else 'maximized'})",
        "objective": study.objective_description,
        "target": f"{study.space.target[0]} / {study.space.target[1]} steps",
        "trials": ", ".join(f"{k} {v}" for k, v in counts.items()) or "none",
        "spent": f"{study.spent:.4g} target runs",
    }
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in summary.items())
    rec_html = "<p>No recommendation yet.</p>"
    if recs:
        r = recs[-1].recommendation
        pred = "" if r.value is None else f"predicted {_fmt(r.value)}" + ("" if r.std is None else f" ± {_fmt(r.std)}")
        reg = "" if regrets is None else f"; regret {_fmt(float(regrets[-1]))}"
        cells = "".join(f"<tr><th>{e(d)}</th><td>{w:.4f}</td></tr>" for d, w in r.mixture.items())
        rec_html = f"<p>{e(r.source)}: {e(pred)}{e(reg)}</p><table>{cells}</table>"
    trials_html = "<p>No trials.</p>"
    if not df.empty:
        show = df.drop(columns=["curve", "info"], errors="ignore")
        trials_html = show.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="–", escape=True)
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;"
        "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}img{max-width:100%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>mixscale study {e(study.name)}</title>"
        f"<style>{style}</style></head><body><h1>Study {e(study.name)}</h1><table>{rows}</table>"
        f"<h2>Current recommendation</h2>{rec_html}<h2>Progress</h2>{_img(paths['progress'])}"
        f"<h2>Recommended mixture over time</h2>{_img(paths['mixture'])}{sections}<h2>Trials</h2>{trials_html}"
        "</body></html>"
    )
