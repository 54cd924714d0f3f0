r"""`gbm`: gradient-boosted trees (LightGBM) over x = [w, log N, log D, D / D_max], one booster per metric.

RegMix's recipe generalized to many scales: the trees see the scale and the tokens as features, so the mixture
effects learned on many small runs are shared with the few large ones. Where the table spans more than one size,
each booster is monotone in log N and log D (non-increasing for a loss, non-decreasing for an accuracy, as
`loss_direction` reads off the data; unconstrained where the data cannot tell).
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from mixscale.simulator.families.base import loss_direction

PARAMS = {
    "objective": "regression",
    "learning_rate": 0.075,
    "num_leaves": 15,
    "min_data_in_leaf": 5,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "num_threads": 1,
    "verbosity": -1,
    "deterministic": True,
    "force_row_wise": True,
}


class GBMModel:
    """One LightGBM booster per metric; monotone in N and D where the table spans several sizes."""

    name = "gbm"

    def __init__(self, k: int, rounds: int = 200, seed: int = 0, monotone: bool = True, **params):
        self.k, self.rounds, self.seed, self.monotone = k, rounds, seed, monotone
        self.params = PARAMS | {"seed": seed} | params

    def fit(self, X: np.ndarray, Y: np.ndarray) -> GBMModel:
        direction = loss_direction(X, Y, self.k) if self.monotone else np.zeros(Y.shape[1])
        self.boosters = []
        for c in range(Y.shape[1]):
            mono = [0] * X.shape[1]
            mono[self.k] = mono[self.k + 1] = int(-direction[c])
            params = self.params | ({"monotone_constraints": mono} if direction[c] else {})
            data = lgb.Dataset(X, Y[:, c], params={"verbosity": -1})
            self.boosters.append(lgb.train(params, data, num_boost_round=self.rounds))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.column_stack([b.predict(X, num_threads=1) for b in self.boosters])
