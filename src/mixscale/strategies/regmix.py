r"""``regmix``: RegMix-style proxy regression (Liu et al., 2024).

Spend the whole budget on many cheap proxy runs at one fidelity (default: the cheapest ``(m, z)``) on
Dirichlet(1) mixtures, fit a regressor from mixture to metric, and deploy the mixture the regressor predicts best.
As in RegMix, the recommendation averages the top predicted mixtures of a large Dirichlet sample, which damps the
regressor's noise. The regressor is chosen by 5-fold cross-validation among LightGBM (RegMix's choice), a quadratic
ridge regression, and a GP (only while the data are small enough for an exact GP).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from mixscale import simplex
from mixscale.space import Config, Space
from mixscale.strategies.base import Recommendation, Strategy

REGRESSORS = ("lightgbm", "quadratic", "gp")


def _quadratic_features(W: np.ndarray) -> np.ndarray:
    iu = np.triu_indices(W.shape[1])
    return np.hstack([W, (W[:, :, None] * W[:, None, :])[:, iu[0], iu[1]]])


class _Regressor:
    """One regressor kind. ``warm_state``: a previous GP fit's hyperparameters (``gp`` only), from which the fit
    starts and stops once an L-BFGS iteration gains less than 0.002 nats."""

    def __init__(self, kind: str, seed: int, warm_state: dict | None = None) -> None:
        self.kind, self.seed, self.warm_state = kind, seed, warm_state
        self._posterior = None  # the GP's ExactPosterior, made at the first predict

    def fit(self, W: np.ndarray, y: np.ndarray) -> _Regressor:
        if self.kind == "lightgbm":
            import lightgbm

            self.model = lightgbm.LGBMRegressor(
                n_estimators=200,
                learning_rate=0.05,
                num_leaves=15,
                min_child_samples=5,
                subsample=0.8,
                subsample_freq=1,
                random_state=self.seed,
                n_jobs=1,
                verbose=-1,
            ).fit(W, y)
        elif self.kind == "quadratic":
            X = _quadratic_features(W)
            self.mu, self.sd = X.mean(0), X.std(0) + 1e-9
            Xs = (X - self.mu) / self.sd
            A = np.hstack([np.ones((len(Xs), 1)), Xs])
            reg = 1e-3 * np.eye(A.shape[1])
            reg[0, 0] = 0.0
            self.coef = np.linalg.solve(A.T @ A + reg * len(A), A.T @ y)
        elif self.kind == "gp":
            import torch
            from botorch.models import SingleTaskGP
            from botorch.models.transforms.outcome import Standardize

            from mixscale.surrogates.gp import fit_lbfgs

            X = torch.from_numpy(simplex.hellinger(W))
            model = SingleTaskGP(X, torch.from_numpy(y)[:, None], outcome_transform=Standardize(m=1))
            tol = None if self.warm_state is None else 0.002
            self.gp = fit_lbfgs(model, warm_state=self.warm_state, tol_nats=tol)
        else:
            raise ValueError(f"unknown regressor {self.kind!r} (known: {REGRESSORS})")
        return self

    def predict(self, W: np.ndarray) -> np.ndarray:
        if self.kind == "lightgbm":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return self.model.predict(W)
        if self.kind == "quadratic":
            Xs = (_quadratic_features(W) - self.mu) / self.sd
            return self.coef[0] + Xs @ self.coef[1:]
        import torch

        from mixscale.surrogates.exact_posterior import ExactPosterior

        # The 25,000-mixture ranking needs means only: one Cholesky factor, then k(X, Z) alpha per chunk
        # (BoTorch's posterior() builds the joint train + test kernel for every chunk).
        if self._posterior is None:
            self._posterior = ExactPosterior(self.gp)
        X = torch.from_numpy(simplex.hellinger(W))
        with torch.no_grad():
            return torch.cat([self._posterior.mean(x) for x in X.split(4096)]).numpy()


class RegMix(Strategy):
    """Options: ``proxy=(scale, steps)`` (default: cheapest), ``regressor`` (``auto`` = cross-validated),
    ``n_simulations`` Dirichlet candidates scored by the regressor, ``top_k`` of them averaged."""

    name = "regmix"
    handles_pending = True  # proxy runs are independent random draws

    def __init__(
        self,
        space: Space,
        cost: Callable[[str, int], float] | None = None,
        minimize: bool = True,
        seed: int = 0,
        *,
        proxy: tuple[str, int] | None = None,
        regressor: str = "auto",
        n_simulations: int = 25000,
        top_k: int = 25,
        gp_max_points: int = 300,
    ) -> None:
        super().__init__(space, cost, minimize, seed)

        if proxy is None:
            proxy = min(self.space.fidelities(), key=lambda f: self.cost(*f))
        self.proxy = (str(proxy[0]), int(proxy[1]))
        self.space.scale(self.proxy[0])
        if regressor != "auto" and regressor not in REGRESSORS:
            raise ValueError(f"regressor must be 'auto' or one of {REGRESSORS}")
        self.regressor = regressor
        self.n_simulations = int(n_simulations)
        self.top_k = int(top_k)
        self.gp_max_points = int(gp_max_points)
        self._chosen: str | None = None
        self._chosen_at = 0
        #: The last full-data GP fit's state: the warm start of the next GP fit (a recommendation per checkpoint
        #: refits on data that grew by a few runs; a cold fit each time was most of a benchmark run's time).
        self._gp_state: dict | None = None

    def ask(self) -> Config:
        return self._config(self.space.sample_mixtures(self.rng, 1)[0], *self.proxy)

    def _proxy_data(self) -> tuple[np.ndarray, np.ndarray]:
        h = self.history
        idx = [i for i in range(len(h)) if (h.scales[i], h.steps[i]) == self.proxy]
        return np.array([h.mixtures[i] for i in idx]), np.array([h.values[i] for i in idx])

    def select_regressor(self, W: np.ndarray, y: np.ndarray) -> str:
        """Cross-validated choice (re-run whenever the data have doubled since the last choice)."""
        if self.regressor != "auto":
            return self.regressor
        if self._chosen is not None and len(y) < 2 * self._chosen_at:
            return self._chosen
        rng = np.random.default_rng([self.seed, len(y)])
        folds = np.array_split(rng.permutation(len(y)), 5)
        kinds = [k for k in REGRESSORS if k != "gp" or len(y) <= self.gp_max_points]
        scores = {}
        for kind in kinds:
            err = 0.0
            for f in folds:
                train = np.setdiff1d(np.arange(len(y)), f)
                pred = _Regressor(kind, self.seed, self._gp_state).fit(W[train], y[train]).predict(W[f])
                err += float(((pred - y[f]) ** 2).sum())
            scores[kind] = err
        self._chosen, self._chosen_at = min(scores, key=scores.get), len(y)
        return self._chosen

    def recommend(self) -> Recommendation:
        W, y = self._proxy_data()
        if len(y) < 10:
            return self._best_observed()
        kind = self.select_regressor(W, y)
        reg = _Regressor(kind, self.seed, self._gp_state).fit(W, y)
        if kind == "gp":
            self._gp_state = {k: v.detach().clone() for k, v in reg.gp.state_dict().items()}
        rng = np.random.default_rng([self.seed, len(y), 11])
        cand = self.space.sample_mixtures(rng, self.n_simulations)
        pred = reg.predict(cand)
        top = cand[np.argsort(pred)[: self.top_k]]
        w = top.mean(axis=0)
        return Recommendation(
            self.space.mixture_dict(w),
            self._external(float(reg.predict(w[None])[0])),
            None,
            f"{kind} regression at {self.proxy[0]}/{self.proxy[1]} (proxy-scale prediction)",
        )
