r"""``mfms``: multi-fidelity, multi-scale BO for data mixtures, done the way the decision problem asks.

Each ``ask``:

1. **Surrogate.** Refit the :func:`~mixscale.surrogates.gp.mfms_model` GP (ARD over a Hellinger embedding of the
   mixture, log-scaled scale and steps, linear mean in the fidelities, noise learned) to every observation, plus
   the learning-curve values at every shorter grid step of each run (they come for free).
2. **Where the answer lives.** Build a discrete set :math:`T` of candidate mixtures at the target: the best by
   posterior mean out of a Dirichlet pool, local perturbations of the best few, and some uniform draws.
3. **Acquisition.** For each candidate mixture at each ``(m, z)`` on the grid, the knowledge gradient about the
   target set (:func:`~mixscale.surrogates.knowledge_gradient.discrete_knowledge_gradient`) divided by the query's
   cost; ask the maximizer. KG/cost trades cheap, weakly informative runs against expensive, sharp ones using the
   cross-fidelity correlation the GP has learned, instead of a hand-set decay of a cost exponent.

``recommend`` returns the mixture with the best posterior mean at the target (a model-based recommendation: it
need not have been run), with the posterior mean and standard deviation as its predicted value and uncertainty.
"""

from __future__ import annotations

import numpy as np
import torch

from mixscale import simplex
from mixscale.space import Config
from mixscale.strategies.base import Recommendation, Strategy
from mixscale.surrogates.features import curve_points, features
from mixscale.surrogates.gp import fit_lbfgs, mfms_model
from mixscale.surrogates.knowledge_gradient import discrete_knowledge_gradient


class MFMS(Strategy):
    """Our default strategy. Options: ``n_init`` initial cheap random runs (default ``2k``), ``embedding``
    (``hellinger`` | ``ilr`` | ``identity``), ``use_curves``, the sizes of the candidate sets, and
    ``fixed_cost``: a per-query overhead (target-run units) added to every query's cost in the acquisition only,
    as in cost-aware KG with a fixed cost (Wu et al., 2019); it stops the ratio from favouring a flood of nearly
    free, nearly uninformative runs (each of which still costs a job launch, an evaluation and a GP refit)."""

    name = "mfms"

    def __init__(
        self,
        *args,
        n_init: int | None = None,
        embedding: str = "hellinger",
        use_curves: bool = True,
        n_targets: int = 64,
        n_pool: int = 1024,
        fixed_cost: float = 0.02,
        discrepancy: bool = True,
        discrepancy_rate: float = 20.0,
        init_fidelity: tuple[str, int] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.discrepancy = bool(discrepancy)
        self.discrepancy_rate = float(discrepancy_rate)
        self.fixed_cost = float(fixed_cost)
        self.n_init = 2 * self.space.k if n_init is None else int(n_init)
        self.embedding = embedding
        self.use_curves = use_curves
        self.n_targets = int(n_targets)
        self.n_pool = int(n_pool)
        self._model = None
        self._model_n = -1
        self._state: dict | None = None
        fid = self.space.fidelities()
        self._fidelities = [f for f in fid if self.cost(*f) <= 1.0 + 1e-9]
        self._cheapest = min(self._fidelities, key=lambda f: self.cost(*f))
        self._init = self._cheapest if init_fidelity is None else (str(init_fidelity[0]), int(init_fidelity[1]))

    # ------------------------------------------------------------------ model
    def _training_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.history
        W, S, Z, Y = list(h.mixtures), list(h.scales), list(h.steps), list(h.values)
        run = list(range(len(h)))
        if self.use_curves:
            for i in range(len(h)):
                for z, v in curve_points(h.curves[i], self.space.steps, h.steps[i]):
                    W.append(h.mixtures[i])
                    S.append(h.scales[i])
                    Z.append(z)
                    Y.append(v)
                    run.append(i)
        return self._features(np.array(W), S, Z, run), torch.tensor(Y, dtype=torch.double).unsqueeze(-1)

    def _features(self, W: np.ndarray, scales, steps, run) -> torch.Tensor:
        """Surrogate inputs plus the run-id column (``-1`` for predictions: a fresh run)."""
        X = features(self.space, W, scales, steps, self.embedding)
        run = torch.as_tensor(np.broadcast_to(np.asarray(run, dtype=float), (X.shape[0],)).copy())
        return torch.cat([X, run[:, None].double()], dim=-1)

    def model(self):
        """The GP fitted to the current history (refit only when new data arrived)."""
        if self._model_n != self.history.revision:
            X, Y = self._training_data()
            model = mfms_model(
                X,
                Y,
                n_mixture_dims=X.shape[-1] - 3,
                discrepancy=self.discrepancy,
                discrepancy_rate=self.discrepancy_rate,
            )
            self._model = fit_lbfgs(model, warm_state=self._state)
            self._state = {k: v.detach().clone() for k, v in self._model.state_dict().items()}
            self._model_n = self.history.revision
        return self._model

    def _target_features(self, W: np.ndarray) -> torch.Tensor:
        scale, steps = self.space.target
        return self._features(W, [scale] * len(W), [steps] * len(W), -1)

    @torch.no_grad()
    def _target_mean(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        post = self.model().posterior(self._target_features(W))
        return post.mean.squeeze(-1).numpy(), post.variance.squeeze(-1).clamp_min(0).sqrt().numpy()

    def _target_set(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Candidate target mixtures: best by posterior mean in a pool, their neighbours, uniform draws."""
        k = self.space.k
        observed = np.array(self.history.mixtures)
        pool = np.vstack(
            [
                simplex.sample_dirichlet(rng, self.n_pool // 2, k, 1.0),
                simplex.sample_dirichlet(rng, self.n_pool // 2, k, 0.3),
                observed,
            ]
        )
        mean, _ = self._target_mean(pool)
        top = pool[np.argsort(mean)[: n // 4]]
        local = np.vstack([simplex.perturb(rng, w, 6, 0.05) for w in top[:8]] + [top])
        lmean, _ = self._target_mean(local)
        best = local[np.argsort(lmean)[: n // 2]]
        return np.vstack([best, simplex.sample_dirichlet(rng, n - len(best), k, 1.0)])

    # --------------------------------------------------------------- contract
    def ask(self) -> Config:
        if len(self.history) < self.n_init:
            w = self.space.sample_mixtures(self.rng, 1)[0]
            return self._config(w, *self._init)
        model = self.model()
        targets = self._target_set(self.rng, self.n_targets)
        t_feats = self._target_features(targets)
        mixtures = np.vstack([targets, self.space.sample_mixtures(self.rng, self.n_targets // 4)])
        q_W = np.repeat(mixtures, len(self._fidelities), axis=0)
        q_S = [s for _ in mixtures for s, _z in self._fidelities]
        q_Z = [z for _ in mixtures for _s, z in self._fidelities]
        q_feats = self._features(q_W, q_S, q_Z, -2)
        kg = discrete_knowledge_gradient(model, q_feats, t_feats).numpy()
        costs = np.array([self.cost(s, z) for s, z in zip(q_S, q_Z, strict=True)]) + self.fixed_cost
        score = kg / costs
        if not np.any(score > 0):
            w = self.space.sample_mixtures(self.rng, 1)[0]
            return self._config(w, *self._cheapest)
        i = int(np.argmax(score))
        return self._config(q_W[i], q_S[i], q_Z[i])

    def recommend(self) -> Recommendation:
        if len(self.history) < 2:
            return self._best_observed()
        rng = np.random.default_rng([self.seed, len(self.history), 7])
        W = self._target_set(rng, 256)
        mean, std = self._target_mean(W)
        w = W[int(np.argmin(mean))]
        for radius in (0.03, 0.01):
            cand = np.vstack([w, simplex.perturb(rng, w, 64, radius)])
            m, _ = self._target_mean(cand)
            w = cand[int(np.argmin(m))]
        m, s = self._target_mean(w[None])
        return Recommendation(self.space.mixture_dict(w), self._external(float(m[0])), float(s[0]), "posterior mean")
