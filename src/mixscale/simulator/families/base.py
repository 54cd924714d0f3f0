"""Pieces every model family shares: the feature layout, standardization and run groups for inner validation.

Features (built by `mixscale.simulator.regression.features`): x = [w_1 … w_k, log N, log D, D / D_max], with D the
tokens seen so far and D_max the tokens of the run's own schedule. Rows with the same (w, N) belong to the same
run (or to replicates of it), so families that validate internally hold out such groups, never single rows.
"""

from __future__ import annotations

import numpy as np

LOG_W_FLOOR = 0.01


class Standardizer:
    def __init__(self, a: np.ndarray):
        self.mean = a.mean(axis=0)
        self.std = a.std(axis=0) + 1e-9

    def __call__(self, a: np.ndarray) -> np.ndarray:
        return (a - self.mean) / self.std

    def inverse(self, a: np.ndarray) -> np.ndarray:
        return a * self.std + self.mean


def run_groups(X: np.ndarray, k: int) -> np.ndarray:
    """Group id per row: rows sharing mixture and scale (a run's curve, or replicate seeds) share an id."""
    _, inverse = np.unique(np.round(X[:, : k + 1], 9), axis=0, return_inverse=True)
    return inverse.ravel()


def group_folds(groups: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold id per row, assigning whole groups to folds at random."""
    ids = np.unique(groups)
    perm = np.random.default_rng(seed).permutation(len(ids)) % folds
    return perm[np.searchsorted(ids, groups)]


def loss_direction(X: np.ndarray, Y: np.ndarray, k: int) -> np.ndarray:
    """Per metric: +1 if it falls with scale (a loss), -1 if it rises (an accuracy), 0 if the table cannot tell."""
    size = X[:, k] + X[:, k + 1]
    if np.ptp(size) == 0:
        return np.zeros(Y.shape[1])
    out = []
    for y in Y.T:
        c = np.corrcoef(size, y)[0, 1] if np.ptp(y) > 0 else 0.0
        out.append(0.0 if not np.isfinite(c) or abs(c) < 0.1 else -np.sign(c))
    return np.array(out)


def derived_mean_columns(Y: np.ndarray) -> dict[int, list[int]]:
    """Columns equal (to 1e-6 relative) to the mean of all the others — e.g. ``loss:avg`` of per-domain losses."""
    out = {}
    if Y.shape[1] < 3:
        return out
    for c in range(Y.shape[1]):
        rest = [i for i in range(Y.shape[1]) if i != c]
        if np.allclose(Y[:, c], Y[:, rest].mean(axis=1), rtol=1e-6, atol=1e-6 * np.abs(Y[:, c]).max()):
            out[c] = rest
    return out
