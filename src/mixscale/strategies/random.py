"""Random search: Dirichlet(1) mixtures (uniform on the simplex), every query a full target run."""

from __future__ import annotations

from mixscale.space import Config
from mixscale.strategies.base import Recommendation, Strategy


class RandomSearch(Strategy):
    """Uniform mixtures at ``(m*, z*)``; recommends the best observed mixture."""

    name = "random"
    handles_pending = True

    def ask(self) -> Config:
        w = self.space.sample_mixtures(self.rng, 1)[0]
        return self._config(w, *self.space.target)

    def recommend(self) -> Recommendation:
        return self._best_observed()
