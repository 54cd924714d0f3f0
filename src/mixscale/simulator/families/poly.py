r"""`poly`: ridge regression on a response surface of the features, regularized by inner cross-validation.

Design: :math:`[1, z, \log(w + \epsilon)]` (log-linear in w, as the data-mixing laws; linear in log N and log D, as
power laws) plus, when the table supports them, the quadratic terms :math:`z_a z_b` of the standardized features
z. With ``ridge="cv"`` (the family's default) the ridge strength and whether to use the quadratic terms are chosen
by 4-fold validation that holds out whole runs; a fixed float keeps the old behaviour (quadratic, that ridge).

Written with numpy (a closed-form solve per candidate) because scikit-learn's RidgeCV cannot hold out groups
while reusing one factorization per design.
"""

from __future__ import annotations

import numpy as np

from mixscale.simulator.families.base import LOG_W_FLOOR, Standardizer, group_folds, run_groups

RIDGES = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


class PolyModel:
    """Ridge regression on [1, z, log(w + ε), (quadratic terms of z)] with z the standardized features."""

    name = "poly"

    def __init__(self, k: int, ridge: float | str = 1e-3, quadratic: bool | str = "cv", folds: int = 4):
        self.k, self.ridge, self.folds = k, ridge, folds
        self.quadratic = True if ridge != "cv" and quadratic == "cv" else quadratic

    def _design(self, X: np.ndarray, quadratic: bool) -> np.ndarray:
        z = self.sx(X)
        cols = [np.ones(len(z)), z, np.log(X[:, : self.k] + LOG_W_FLOOR)]
        if quadratic:
            iu = np.triu_indices(z.shape[1])
            cols.append((z[:, :, None] * z[:, None, :])[:, iu[0], iu[1]])
        return np.column_stack(cols)

    @staticmethod
    def _solve(A: np.ndarray, Y: np.ndarray, ridge: float) -> np.ndarray:
        reg = ridge * len(A) * np.eye(A.shape[1])
        reg[0, 0] = 0.0
        return np.linalg.solve(A.T @ A + reg, A.T @ Y)

    def _choose(self, X: np.ndarray, Ys: np.ndarray) -> tuple[float, bool]:
        groups = run_groups(X, self.k)
        n_groups = len(np.unique(groups))
        quads = (False, True) if self.quadratic == "cv" else (bool(self.quadratic),)
        if n_groups < 2 * self.folds:
            return 1e-2, False
        fold = group_folds(groups, self.folds, seed=0)
        best, choice = np.inf, (1e-2, False)
        for quad in quads:
            A = self._design(X, quad)
            for ridge in RIDGES:
                err = 0.0
                for f in range(self.folds):
                    tr, te = fold != f, fold == f
                    err += float(((A[te] @ self._solve(A[tr], Ys[tr], ridge) - Ys[te]) ** 2).sum())
                if err < best:
                    best, choice = err, (ridge, quad)
        return choice

    def fit(self, X: np.ndarray, Y: np.ndarray) -> PolyModel:
        self.sx, self.sy = Standardizer(X), Standardizer(Y)
        Ys = self.sy(Y)
        if self.ridge == "cv":
            self.ridge_, self.quadratic_ = self._choose(X, Ys)
        else:
            self.ridge_, self.quadratic_ = float(self.ridge), bool(self.quadratic)
        self.coef = self._solve(self._design(X, self.quadratic_), Ys, self.ridge_)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.sy.inverse(self._design(X, self.quadratic_) @ self.coef)
