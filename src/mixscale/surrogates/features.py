"""Inputs of the surrogates: a mixture embedding concatenated with fidelity coordinates of ``(m, z)``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mixscale import simplex
from mixscale.space import Space

EMBEDDINGS = ("hellinger", "ilr", "identity")


def embed_mixtures(W: np.ndarray, embedding: str = "hellinger") -> np.ndarray:
    """Mixture rows mapped by the named embedding (see :mod:`mixscale.simplex`)."""
    if embedding == "hellinger":
        return simplex.hellinger(W)
    if embedding == "ilr":
        return simplex.ilr(W)
    if embedding == "identity":
        return np.asarray(W, dtype=float)
    raise ValueError(f"unknown embedding {embedding!r} (known: {EMBEDDINGS})")


def fidelity_matrix(space: Space, scales: Sequence[str], steps: Sequence[int], log: bool = True) -> np.ndarray:
    """``(n, 2)`` fidelity coordinates in ``[0, 1]``: log-scaled by default, linear (value / max) otherwise."""
    if log:
        pairs = list(zip(scales, steps, strict=True))
        table = {p: space.fidelity_coordinates(*p) for p in set(pairs)}  # a few fidelities, many rows
        return np.array([table[p] for p in pairs])
    size = {s.name: (s.params * s.tokens_per_step if space.has_flops else i + 1) for i, s in enumerate(space.scales)}
    top = max(size.values())
    return np.array([(size[s] / top, z / space.steps[-1]) for s, z in zip(scales, steps, strict=True)])


def features(
    space: Space,
    W: np.ndarray,
    scales: Sequence[str],
    steps: Sequence[int],
    embedding: str = "hellinger",
    log_fidelity: bool = True,
) -> torch.Tensor:
    """``(n, d_w + 2)`` double tensor: embedded mixtures, then the two fidelity coordinates."""
    W = np.atleast_2d(W)
    fid = fidelity_matrix(space, scales, steps, log=log_fidelity)
    return torch.from_numpy(np.hstack([embed_mixtures(W, embedding), fid])).double()


def curve_points(curve, steps_grid: Sequence[int], final_steps: int) -> list[tuple[int, float]]:
    """Learning-curve values at the grid steps strictly below ``final_steps`` (interpolated linearly in log-step).

    Lets one run at ``z`` also inform the surrogate at every shorter grid step, for free.
    """
    if not curve or len(curve) < 2:
        return []
    s = np.log([c[0] for c in curve])
    v = np.array([c[1] for c in curve])
    out = []
    for z in steps_grid:
        if z >= final_steps:
            break
        if np.log(z) < s[0] - 1e-9:
            continue
        out.append((int(z), float(np.interp(np.log(z), s, v))))
    return out
