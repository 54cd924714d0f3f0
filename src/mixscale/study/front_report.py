"""Report sections for several metrics and warm starts: the Pareto front and the runs that came from earlier work.

* **Pareto front** (studies run with the ``pareto`` strategy): a 2-D scatter of the first two metrics over every
  completed trial — target-fidelity trials solid, cheaper ones faded, warm-start runs as open diamonds — with the
  observed non-dominated target trials highlighted and the strategy's estimated target front (posterior means with
  ± 2 std error bars) drawn as a line. The front is re-estimated from the stored trials (every metric is stored),
  so no new run is needed.
* **Warm start**: how many runs came from which source, which were skipped and why (the study's stored report),
  and those runs marked in the trials scatter.
"""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mixscale.objective import Observation  # noqa: E402
from mixscale.study.warm_start import SOURCE  # noqa: E402


def pareto_front(study):
    """The ``pareto`` strategy's estimated front from the study's completed trials (None for other strategies)."""
    if study.strategy_name != "pareto":
        return None
    from mixscale import strategies
    from mixscale.errors import ValidationError

    s = strategies.create("pareto", study.space, None, True, study.seed, **study.strategy_options)
    try:
        for t in sorted(study.trials, key=lambda t: (t.end_seq is None, t.end_seq or 0)):
            if t.state == "complete":
                s.tell(t.config, Observation(float(t.value), float(t.cost or 0.0), t.curve, dict(t.info or {})))
    except ValidationError:  # trials stored without every metric of the front: no front to draw
        return None
    return s.recommend() if len(s.history) >= 2 else None


def plot_front(study, rec, path: Path) -> None:
    m1, m2 = list(rec.front[0].values)[:2]
    fig, ax = plt.subplots(figsize=(6.5, 5), dpi=110)
    done = [t for t in study.trials if t.state == "complete" and {m1, m2} <= set((t.info or {}).get("metrics", {}))]
    target = tuple(study.space.target)
    at = [t for t in done if (t.config.scale, t.config.steps) == target]
    for group, style in (
        ([t for t in done if (t.config.scale, t.config.steps) != target and t.source != SOURCE], dict(c="0.7", s=10)),
        ([t for t in at if t.source != SOURCE], dict(c="C0", s=22, label="trials at the target")),
        ([t for t in done if t.source == SOURCE], dict(facecolors="none", edgecolors="C2", marker="D", s=24)),
    ):
        if group:
            xy = np.array([[t.info["metrics"][m1], t.info["metrics"][m2]] for t in group])
            ax.scatter(xy[:, 0], xy[:, 1], **style)
    if any(t.source == SOURCE for t in done):
        ax.scatter([], [], facecolors="none", edgecolors="C2", marker="D", s=24, label="warm-start runs")
    if at:
        from mixscale.strategies.pareto import non_dominated

        sign = [1.0 if rec_dir else -1.0 for rec_dir in _directions(study, (m1, m2))]
        Y = np.array([[sign[0] * t.info["metrics"][m1], sign[1] * t.info["metrics"][m2]] for t in at])
        nd = Y[non_dominated(Y)] * np.array(sign)
        nd = nd[np.argsort(nd[:, 0])]
        ax.plot(nd[:, 0], nd[:, 1], "o-", c="C3", ms=6, lw=1, mfc="none", label="observed front (target trials)")
    F = np.array([[p.values[m1], p.values[m2], p.stds[m1], p.stds[m2]] for p in rec.front])
    ax.errorbar(F[:, 0], F[:, 1], xerr=2 * F[:, 2], yerr=2 * F[:, 3], fmt="s-", c="C1", ms=4, lw=1.2, elinewidth=0.6,
                label="estimated target front (± 2 std)")  # fmt: skip
    ax.set_xlabel(m1)
    ax.set_ylabel(m2)
    ax.set_title("Pareto front at the target")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _directions(study, metrics):
    from mixscale.scalarization import metric_direction

    return [metric_direction(m, study.strategy_options.get("directions") or {}) for m in metrics]


def write(study, out: Path) -> tuple[dict[str, Path], str]:
    """Extra PNGs and the HTML sections (Pareto front, warm start) for :func:`mixscale.study.report.write_report`."""
    from mixscale.study.report import _img

    paths: dict[str, Path] = {}
    parts: list[str] = []
    e = html.escape
    rec = pareto_front(study)
    if rec is not None and rec.front:
        paths["front"] = out / "front.png"
        plot_front(study, rec, paths["front"])
        names = list(rec.front[0].values)
        head = "".join(f"<th>{e(m)}</th>" for m in names) + "".join(f"<th>w:{e(d)}</th>" for d in study.space.domains)
        rows = "".join(
            "<tr>"
            + "".join(f"<td>{p.values[m]:.4f} ± {p.stds[m]:.4f}</td>" for m in names)
            + "".join(f"<td>{p.mixture[d]:.3f}</td>" for d in study.space.domains)
            + "</tr>"
            for p in rec.front
        )
        parts.append(
            f"<h2>Pareto front at the target</h2>{_img(paths['front'])}"
            f"<p>Estimated front ({len(rec.front)} mixtures, posterior mean ± std):</p>"
            f"<table><tr>{head}</tr>{rows}</table>"
        )
    warm = [t for t in study.trials if t.source == SOURCE]
    if warm:
        report = study.objective_description.get("warm_start", {})
        origins = Counter(t.info.get("warm_start", {}).get("origin", "?") for t in warm)
        flagged = sum(1 for t in warm if t.info.get("warm_start", {}).get("provenance_changed"))
        items = "".join(f"<li>{e(o)}: {n} runs</li>" for o, n in origins.items())
        reasons = Counter(s["reason"].split(":")[0] for s in report.get("skipped", []))
        skipped = "".join(f"<li>{n}× {e(r)}</li>" for r, n in reasons.most_common())
        parts.append(
            f"<h2>Warm start</h2><p>{len(warm)} runs from earlier work were told to the strategy before any new run "
            f"(never charged; <code>source = warm_start</code> in the trials table, open diamonds in the front plot)"
            f"{f'; {flagged} with changed provenance' if flagged else ''}.</p><ul>{items}</ul>"
            + (f"<p>Skipped ({report.get('n_skipped', 0)}):</p><ul>{skipped}</ul>" if skipped else "")
        )
    return paths, "".join(parts)
