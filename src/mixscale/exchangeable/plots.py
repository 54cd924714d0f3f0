"""PNG figures for the exchangeable experiments (matplotlib, Agg backend): mean curves with ±3 s.e. bands."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import Tensor  # noqa: E402

__all__ = ["BAND_SE", "mean_band", "curves_png", "bands_png", "bars_png"]


BAND_SE = 3.0  # bands are mean ± 3 standard errors over repetitions


def mean_band(values: Tensor, n_se: float = BAND_SE) -> tuple[Tensor, Tensor, Tensor]:
    """Mean over repetitions (dim 0) and the band mean ± ``n_se`` standard errors."""
    mean = values.mean(0)
    half = n_se * values.std(0) / max(values.shape[0], 1) ** 0.5 if values.shape[0] > 1 else torch.zeros_like(mean)
    return mean, mean - half, mean + half


def curves_png(
    path: str | Path,
    x: Sequence[float],
    curves: dict[str, Tensor],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    reference: dict[str, Tensor] | None = None,
) -> None:
    """One line per entry of ``curves`` ((R, len(x)) per-repetition values) with a shaded ±3 s.e. band; a
    reference (e.g. an exact-posterior value) is a dashed line."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, vals in curves.items():
        mean, lo, hi = mean_band(vals)
        ax.plot(x, mean.numpy(), label=name)
        ax.fill_between(x, lo.numpy(), hi.numpy(), alpha=0.25)
    for name, vals in (reference or {}).items():
        ax.plot(x, vals.mean(0).numpy(), "--", color="gray", label=name)
    _finish(fig, ax, path, xlabel, ylabel, title)


def bars_png(
    path: str | Path,
    groups: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    ylabel: str,
    title: str,
    errors: dict[str, Sequence[float]] | None = None,
) -> None:
    """Grouped bar chart: one group per entry of ``groups``, one bar per series (optional ±error bars)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    width = 0.8 / max(len(series), 1)
    for i, (name, vals) in enumerate(series.items()):
        err = None if errors is None else list(errors[name])
        ax.bar([g + i * width for g in range(len(groups))], list(vals), width, label=name, yerr=err, capsize=3)
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], list(groups))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend()
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def bands_png(
    path: str | Path,
    x: Sequence[float],
    bands: dict[str, tuple[Sequence[float], Sequence[float], Sequence[float]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
) -> None:
    """Like :func:`curves_png` from precomputed ``(mean, lo, hi)`` per curve (e.g. read back from CSV tables)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (mean, lo, hi) in bands.items():
        ax.plot(x, list(mean), label=name)
        ax.fill_between(x, list(lo), list(hi), alpha=0.25)
    _finish(fig, ax, path, xlabel, ylabel, title)


def _finish(fig, ax, path: str | Path, xlabel: str, ylabel: str, title: str) -> None:
    """Labels, grid, the ±s.e. band legend; save the PNG (creating its folder) and close the figure."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title=f"bands: ±{BAND_SE:g} s.e.", title_fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
