r"""``mfms``: multi-fidelity, multi-scale BO for data mixtures, done the way the decision problem asks.

Two phases, one model.

1. **Design.** The first ``n_init`` runs (default ``6k`` for ``k`` domains) form a scrambled-Sobol design on the
   simplex (:func:`~mixscale.simplex.sample_sobol`) at the *cheapest scale and the full schedule*: the cheapest
   rung maps the whole mixture landscape, and the full schedule costs only a few times the shortest one while its
   learning curve also covers every shorter step level. (If that design would cost more than one target run, it is
   run at the cheapest fidelity instead.)
2. **Refinement.** Every later ``ask`` refits the :func:`~mixscale.surrogates.gp.mfms_model` GP (ARD over a
   Hellinger embedding of the mixture; a scale-ladder kernel whose rungs are correlated but may deviate, with the
   target's own deviation learned only from runs at the target; log-scaled steps; learning-curve points with a
   shared per-run offset; noise learned) and builds a discrete set :math:`T` of candidate target mixtures (best by
   posterior mean out of a Dirichlet pool, local perturbations of the best few, uniform draws). For each candidate
   mixture at each fidelity costing at least ``refine_min_cost`` target runs, it computes the knowledge gradient
   about :math:`T` (:func:`~mixscale.surrogates.knowledge_gradient.discrete_knowledge_gradient`) divided by the
   query's cost, and asks the maximizer.

Why the refinement skips the cheap rungs: one-step KG per cost keeps buying cheap runs as long as the GP believes
they transfer to the target, and how well they transfer is exactly what the GP cannot know before it has runs near
the target. On the simulator fitted to our real runs the optimum at the small rungs sits in another corner of the
simplex than at the target (``docs/runs.md``); with every fidelity open, KG/cost spends much of its budget on those
rungs and ends at a median regret of 0.107, against 0.064 with the cheap rungs used only for the design (10 seeds,
``benchmarks/mfms_ablation.py``, ``docs/benchmark.md``). Set ``refine_min_cost=0`` to open every fidelity.

``recommend`` returns the mixture with the best posterior mean at the target (a model-based recommendation: it
need not have been run), with the posterior mean and standard deviation as its predicted value and uncertainty.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from mixscale.errors import ValidationError
from mixscale.space import Config, Space
from mixscale.strategies.base import Recommendation, Strategy
from mixscale.surrogates.features import curve_points, features
from mixscale.surrogates.gp import fit_lbfgs, mfms_model
from mixscale.surrogates.knowledge_gradient import discrete_knowledge_gradient


class MFMS(Strategy):
    """Our default strategy. Options: ``n_init`` design runs (default ``6k``), ``init_fidelity`` (default: the
    cheapest scale at the longest step level), ``refine_min_cost`` (fidelities open to the acquisition after the
    design, in target-run units; default 0.2), ``embedding`` (``hellinger`` | ``ilr`` | ``identity``),
    ``use_curves``, the sizes of the candidate sets, and ``fixed_cost``: a per-query overhead (target-run units)
    added to every query's cost in the acquisition only, as in cost-aware KG with a fixed cost (Wu et al., 2019)."""

    name = "mfms"

    def __init__(
        self,
        space: Space,
        cost: Callable[[str, int], float] | None = None,
        minimize: bool = True,
        seed: int = 0,
        *,
        n_init: int | None = None,
        embedding: str = "hellinger",
        use_curves: bool = True,
        n_targets: int = 64,
        n_pool: int = 1024,
        fixed_cost: float = 0.02,
        init_fidelity: tuple[str, int] | None = None,
        refine_min_cost: float = 0.2,
    ) -> None:
        super().__init__(space, cost, minimize, seed)

        self.fixed_cost = float(fixed_cost)
        if not 0.0 <= float(refine_min_cost) <= 1.0:
            raise ValidationError("refine_min_cost", f"must be in [0, 1] target runs, got {refine_min_cost!r}")
        self.refine_min_cost = float(refine_min_cost)
        self.n_init = 6 * self.space.k if n_init is None else int(n_init)
        self.embedding = embedding
        self.use_curves = use_curves
        self.n_targets = int(n_targets)
        self.n_pool = int(n_pool)
        self._model = None
        self._model_n = -1
        self._state: dict | None = None
        #: Per told run, its warm-start offset group (0: none); see :meth:`_run_ids`.
        self._groups: list[int] = []
        fid = self.space.fidelities()
        self._fidelities = [f for f in fid if self.cost(*f) <= 1.0 + 1e-9]
        self._cheapest = min(self._fidelities, key=lambda f: self.cost(*f))
        if init_fidelity is None:
            self._init = self._design_fidelity()
        else:
            self._init = (str(init_fidelity[0]), int(init_fidelity[1]))
        self.init_fidelity = self._init
        self._refine = [f for f in self._fidelities if self.cost(*f) >= self.refine_min_cost - 1e-12] or list(
            self._fidelities
        )
        self._design = self.space.sample_design(self.rng, self.n_init) if self.n_init else None
        # The rungs' scale coordinates for the GP's ladder kernel (fixed by the space).
        self._levels = [self.space.fidelity_coordinates(s.name, self.space.steps[-1])[0] for s in self.space.scales]

    def _design_fidelity(self) -> tuple[str, int]:
        """The cheapest scale at its longest affordable step level, unless the design would cost > 1 target run."""
        small = self._cheapest[0]
        full = max((f for f in self._fidelities if f[0] == small), key=lambda f: f[1])
        return full if self.n_init * self.cost(*full) <= 1.0 else self._cheapest

    # ------------------------------------------------------------------ model
    def _on_tell(self, config: Config, observation) -> None:
        ws = (observation.info or {}).get("warm_start") or {}
        self._groups.append(int(ws.get("offset_group", 0) or 0))

    def _run_ids(self) -> list[int]:
        """The same-run kernel's id per told run. Warm-start runs whose corpus or tokenizer hashes differ
        (``info["warm_start"]["offset_group"]``, :mod:`mixscale.study.warm_start`) share one id per group, so the
        same-run term becomes one learned offset for all of them; other runs keep their own seed offset."""
        return [-1000 - g if i < len(self._groups) and (g := self._groups[i]) else i for i in range(len(self.history))]

    def _training_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.history
        W, S, Z, Y = list(h.mixtures), list(h.scales), list(h.steps), list(h.values)
        ids = self._run_ids()
        run = list(ids)
        if self.use_curves:
            for i in range(len(h)):
                for z, v in curve_points(h.curves[i], self.space.steps, h.steps[i]):
                    W.append(h.mixtures[i])
                    S.append(h.scales[i])
                    Z.append(z)
                    Y.append(v)
                    run.append(ids[i])
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
            model = mfms_model(X, Y, n_mixture_dims=X.shape[-1] - 3, levels=self._levels)
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
        sp = self.space
        observed = self._observed_mixtures()
        pool = np.vstack(
            [
                sp.sample_mixtures(rng, self.n_pool // 2),
                sp.sample_mixtures(rng, self.n_pool // 2, alpha=0.3),
                observed,
            ]
        )
        mean, _ = self._target_mean(pool)
        top = pool[np.argsort(mean)[: n // 4]]
        local = np.vstack([sp.perturb(rng, w, 6, 0.05) for w in top[:8]] + [top])
        lmean, _ = self._target_mean(local)
        best = local[np.argsort(lmean)[: n // 2]]
        return np.vstack([best, sp.sample_mixtures(rng, n - len(best))])

    def _design_point(self, i: int) -> Config:
        """Design run ``i``; past the end of the design (more parallel asks than design left), a uniform draw."""
        if self._design is not None and i < len(self._design):
            return self._config(self._design[i], *self._init)
        return self._config(self.space.sample_mixtures(self.rng, 1)[0], *self._init)

    # --------------------------------------------------------------- contract
    def ask_pending(self, pending) -> Config:
        if len(self.history) < self.n_init:  # pending design runs: take the next unused design point
            return self._design_point(len(self.history) + len(pending))
        return super().ask_pending(pending)

    def ask(self) -> Config:
        if len(self.history) < self.n_init:
            return self._design_point(len(self.history))
        model = self.model()
        targets = self._target_set(self.rng, self.n_targets)
        t_feats = self._target_features(targets)
        mixtures = np.vstack([targets, self.space.sample_mixtures(self.rng, self.n_targets // 4)])
        q_W = np.repeat(mixtures, len(self._refine), axis=0)
        q_S = [s for _ in mixtures for s, _z in self._refine]
        q_Z = [z for _ in mixtures for _s, z in self._refine]
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
            cand = np.vstack([w, self.space.perturb(rng, w, 64, radius)])
            m, _ = self._target_mean(cand)
            w = cand[int(np.argmin(m))]
        m, s = self._target_mean(w[None])
        return Recommendation(self.space.mixture_dict(w), self._external(float(m[0])), float(s[0]), "posterior mean")
