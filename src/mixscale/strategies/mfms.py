r"""``mfms``: multi-fidelity, multi-scale BO for data mixtures that learns how far to trust each rung.

Two phases, one model (an ensemble of GP fits).

1. **Design.** The first ``n_init`` runs (default ``6k`` for ``k`` domains) form a scrambled-Sobol design on the
   simplex (:func:`~mixscale.simplex.sample_sobol`) at the cheapest scale, at its longest step level whose design
   costs at most ``design_cost`` target runs (else the cheapest fidelity, with fewer runs if even that is over):
   the cheapest rung maps the mixture landscape, and the design never stakes more than half a target run on a rung
   whose transfer nobody knows yet.
2. **Refinement.** Every later ``ask`` refits the :func:`~mixscale.surrogates.gp.mfms_model` GP (scaling kernel;
   mixture × scale-ladder × steps kernel whose rung covariance has a *signed* low-rank part, so rungs may
   correlate negatively; same-run kernel for learning-curve points) and averages three members by their posterior
   mass times prior odds ``4 : 1 : 1`` (:class:`~mixscale.surrogates.ensemble.GPEnsemble`): the fit ("the ladder's
   transfer holds at the target"), its twin with the target decoupled from every smaller rung ("the target stands
   alone"), and a second fit of the model whose covariances between the target and the smaller rungs have their
   sign flipped ("the ladder is inverted at the target"; its own warm-started fit, so that it can adapt to the
   target runs that make it likely). Each fit is warm-started from the one the previous ``ask`` made (the first
   after the design starts cold); only ``ask`` advances that chain, so asking for recommendations, at any moments,
   never changes what is proposed next. Without target-scale runs the three explain the data equally well, so the
   weights are the prior odds and the averaged mean ranks target mixtures as the fit does; each target-scale run
   shifts them. Candidate target mixtures :math:`T`
   (:meth:`MFMS.candidates`: best posterior means of a Dirichlet pool, local perturbations around the incumbent,
   uniform draws) are scored at **every** fidelity by the ensemble knowledge gradient about :math:`T`
   (:func:`~mixscale.surrogates.knowledge_gradient.ensemble_knowledge_gradient`) per unit cost, and the maximizer
   is asked. No cost threshold: a cheap rung is worth little while the members disagree about its transfer,
   and a near-target run of the current best guess is worth much, because it tells the members apart.

**Warm starts** (runs told with ``info["warm_start"]``, :mod:`mixscale.study.warm_start`): warm runs that lie
inside the simplex count toward the design like the study's own runs. When every warm run left some domain at
exactly 0 (the predecessor did not have it), they say nothing about that domain's direction, however many they are:
the study then runs its own, smaller design over the whole simplex (:meth:`MFMS._design_plan`). Without warm runs,
or with warm runs that cover every domain, the design is as above.

``recommend`` returns the mixture with the best *averaged* posterior mean at the target (the transfer uncertainty
is in it: while the members disagree, it does not follow the small rungs alone), found by projected gradient
descent on the simplex from the best candidates — the Euclidean projection (Duchi et al., 2008) lands on faces —
and then an active-set search over faces (:mod:`~mixscale.surrogates.mean_minimizer`): each domain below
``face_weight`` is removed in turn, the mean re-optimized on the face it leaves, and the best removal kept if the
mean does not get worse; last, weights below 0.03 are snapped to 0 while the mean stays within a twentieth of a
posterior sd. Optima on a vertex, an edge or a face are thus returned with exact zeros. ``recommend_kappa > 0``
ranks by the pessimistic ``mean + κ·sd`` instead (an option, not the default: ``docs/benchmark.md``, session 10).
Why each choice: ``docs/benchmark.md`` ("mfms design").
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch

from mixscale.errors import ValidationError
from mixscale.space import Config, Space
from mixscale.strategies.base import Recommendation, Strategy
from mixscale.surrogates.ensemble import GPEnsemble, log_posterior
from mixscale.surrogates.features import curve_points, features
from mixscale.surrogates.gp import ScaleLadderKernel, fit_lbfgs, mfms_model
from mixscale.surrogates.knowledge_gradient import ensemble_knowledge_gradient
from mixscale.surrogates.mean_minimizer import minimize_mean


class MFMS(Strategy):
    """Our default strategy. Options: ``n_init`` design runs (default ``design_rate · k`` with ``design_rate = 6`` runs
    per domain, fewer if the design would cost more than ``design_cost`` target runs), ``init_fidelity`` (default: see
    the module docstring), ``refine_min_cost`` (fidelities open to the acquisition after the design, in target-run
    units; default 0 = all), ``members`` (1: the fit alone; 2: with its "target stands alone" twin; 3, the default: and
    the "inverted" fit), ``prior_odds`` (of the three members; default ``(4, 1, 1)``), ``rank`` (signed rung
    loadings; 0 = the positive-only ladder), ``embedding`` (``hellinger`` | ``ilr`` | ``identity``), ``use_curves``, the
    candidate-set sizes, ``fixed_cost``: a per-query overhead (target-run units) added to every query's cost in the
    acquisition only (Wu et al., 2019), ``fit_tol``: the warm-started refit stops once an L-BFGS iteration gains less
    than about this many nats of log posterior (:func:`~mixscale.surrogates.gp.fit_lbfgs`; ``None``: scipy's default
    tolerance, i.e. nearly always 40 iterations), ``warm_design``: design runs per domain that every warm-start run left
    at 0 (:meth:`_design_plan`), ``face_weight``: the recommendation's active-set search tries removing domains below
    this weight (a bound on its work; :meth:`_optimum`), ``recommend_kappa``: recommend by ``mean + κ·sd`` at the target
    (default 0: the mean), and ``step_deviations``: give each step level its own deviation in the steps kernel
    (:class:`~mixscale.surrogates.gp.LevelDeviationKernel`; default off: on the suite it helps at ten target runs and
    costs at three, ``docs/benchmark.md``, "Honest step transfer")."""

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
        refine_min_cost: float = 0.0,
        design_cost: float = 0.5,
        members: int = 3,
        rank: int = 1,
        fit_tol: float | None = 0.002,
        warm_design: int = 6,
        design_rate: int = 6,
        prior_odds: tuple[float, ...] = (4.0, 1.0, 1.0),
        recommend_kappa: float = 0.0,
        face_weight: float = 0.15,
        step_deviations: bool = False,
    ) -> None:
        super().__init__(space, cost, minimize, seed)
        self.fixed_cost = float(fixed_cost)
        if not 0.0 <= float(refine_min_cost) <= 1.0:
            raise ValidationError("refine_min_cost", f"must be in [0, 1] target runs, got {refine_min_cost!r}")
        if not float(design_cost) > 0.0:
            raise ValidationError("design_cost", f"must be > 0 target runs, got {design_cost!r}")
        if int(members) not in (1, 2, 3) or int(rank) < 0:
            raise ValidationError("members", f"need members in (1, 2, 3) and rank >= 0, got {members!r}, {rank!r}")
        if int(warm_design) < 0:
            raise ValidationError("warm_design", f"must be >= 0 runs per uncovered domain, got {warm_design!r}")
        self.warm_design = int(warm_design)
        if int(design_rate) < 1:
            raise ValidationError("design_rate", f"must be >= 1 design run per domain, got {design_rate!r}")
        self.design_rate = int(design_rate)
        if len(prior_odds) != 3 or not all(float(p) > 0 for p in prior_odds):
            raise ValidationError("prior_odds", f"need three positive numbers, got {prior_odds!r}")
        self.prior_odds = tuple(float(p) for p in prior_odds)
        self.refine_min_cost, self.design_cost = float(refine_min_cost), float(design_cost)
        if not float(recommend_kappa) >= 0.0:
            raise ValidationError("recommend_kappa", f"must be >= 0 posterior sds, got {recommend_kappa!r}")
        self.recommend_kappa = float(recommend_kappa)
        if not 0.0 <= float(face_weight) <= 1.0:
            raise ValidationError("face_weight", f"must be in [0, 1], got {face_weight!r}")
        self.face_weight = float(face_weight)
        self.step_deviations = bool(step_deviations)
        self.members, self.rank = int(members), int(rank)
        if fit_tol is not None and not float(fit_tol) > 0.0:
            raise ValidationError("fit_tol", f"must be > 0 nats or None, got {fit_tol!r}")
        self.fit_tol = None if fit_tol is None else float(fit_tol)
        self.embedding, self.use_curves = embedding, use_curves
        self.n_targets, self.n_pool = int(n_targets), int(n_pool)
        fid = self.space.fidelities()
        self._fidelities = [f for f in fid if self.cost(*f) <= 1.0 + 1e-9]
        self._cheapest = min(self._fidelities, key=lambda f: self.cost(*f))
        n = self.design_rate * self.space.k if n_init is None else int(n_init)
        if init_fidelity is None:
            init_fidelity = self._design_fidelity(n)
            if n_init is None:  # the default design is cut to fit design_cost (at least k + 1 runs)
                n = min(n, max(self.space.k + 1, int(self.design_cost / self.cost(*init_fidelity) + 1e-9)))
        self.n_init = n
        self.init_fidelity = (str(init_fidelity[0]), int(init_fidelity[1]))
        self._refine = [f for f in self._fidelities if self.cost(*f) >= self.refine_min_cost - 1e-12] or list(
            self._fidelities
        )
        self._design = self.space.sample_design(self.rng, self.n_init) if self.n_init else None
        # The rungs' scale coordinates for the GP's ladder kernel (fixed by the space).
        self._levels = [self.space.fidelity_coordinates(s.name, self.space.steps[-1])[0] for s in self.space.scales]
        small = self.space.scales[0].name
        self._step_levels = [self.space.fidelity_coordinates(small, z)[1] for z in self.space.steps]
        self._ensemble: GPEnsemble | None = None
        self._ensemble_rev = -1
        #: The warm-start chain: the states of the fits the last ``ask`` used (advanced by :meth:`ask` only).
        self._state: dict | None = None
        self._state_inverted: dict | None = None
        #: The states of the cached ensemble's fits, which :meth:`ask` commits to the chain.
        self._fitted_states: tuple[dict | None, dict | None] = (None, None)
        #: The last design-time fit's states (the design's recommendations chain among themselves).
        self._design_states: tuple[dict | None, dict | None] = (None, None)
        #: Per told run, its warm-start offset group (0: none); see :meth:`_run_ids`.
        self._groups: list[int] = []
        #: Per told run, whether it came from a warm start (``info["warm_start"]``); see :meth:`_design_plan`.
        self._warm: list[bool] = []
        self._warm_plan: tuple[int, np.ndarray | None] | None = None

    def _design_fidelity(self, n: int) -> tuple[str, int]:
        """The cheapest scale at its longest step level whose ``n``-run design fits ``design_cost``, else the
        cheapest fidelity."""
        small = self._cheapest[0]
        options = sorted((f for f in self._fidelities if f[0] == small), key=lambda f: -f[1])
        return next((f for f in options if n * self.cost(*f) <= self.design_cost + 1e-9), self._cheapest)

    # ------------------------------------------------------------------ model
    def _on_tell(self, config: Config, observation) -> None:
        ws = (observation.info or {}).get("warm_start") or {}
        self._groups.append(int(ws.get("offset_group", 0) or 0))
        if ws:
            self._warm_plan = None  # a new warm run may cover a domain
        self._warm.append(bool(ws))

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

    def ensemble(self) -> GPEnsemble:
        """The GP fit to the current history, its "the target stands alone" twin (``members >= 2``) and the
        "inverted" fit (``members = 3``), weighted by posterior mass times prior odds (refit only when new data
        arrived)."""
        if self._ensemble_rev != self.history.revision:
            X, Y = self._training_data()
            # During the design no ask fits a model: a fit there serves a recommendation only, and is warm-started
            # from the previous design-time fit (its own chain; ask's chain starts cold after the design).
            design = self._in_design()
            start, start_inverted = self._design_states if design else (self._state, self._state_inverted)
            model, state = self._fit(X, Y, start)
            state_inverted = None
            models = [model]
            if self.members > 1:
                alone = copy.deepcopy(model)
                _ladder(alone).decouple_top = True
                models.append(alone)
            if self.members > 2:
                # Its own maximum-a-posteriori fit, warm-started from its own previous one (from the fit's on the
                # first ask, when both fits see the same data up to the flip): a copy of the fit with the sign
                # flipped could not adapt to the target runs that make it likely.
                inverted, state_inverted = self._fit(X, Y, start_inverted or state, flip_top=True)
                models.append(inverted)
            # prior odds: "the ladder's fitted transfer holds at the target" against "the target stands alone" and
            # "the ladder is inverted at the target"
            prior = np.log(np.asarray(self.prior_odds[: len(models)], dtype=float))
            self._ensemble = GPEnsemble(models, [log_posterior(m) + p for m, p in zip(models, prior, strict=True)])
            self._ensemble_rev = self.history.revision
            if design:
                self._design_states = (state, state_inverted)
            else:
                self._fitted_states = (state, state_inverted)
        return self._ensemble

    def _fit(self, X: torch.Tensor, Y: torch.Tensor, state: dict | None, flip_top: bool = False):
        """A maximum-a-posteriori fit of :func:`~mixscale.surrogates.gp.mfms_model` warm-started from ``state``
        (without one, the signed loadings start at "every rung alike", not at 0), and its new state."""
        step_levels = self._step_levels if self.step_deviations else None
        model = mfms_model(
            X, Y, n_mixture_dims=X.shape[-1] - 3, levels=self._levels, rank=self.rank, step_levels=step_levels
        )
        _ladder(model).flip_top = flip_top
        if state is None and self.rank:
            _ladder(model).loadings = torch.full((len(self._levels), self.rank), 0.7, dtype=torch.double)
        model = fit_lbfgs(model, warm_state=state, tol_nats=self.fit_tol)
        return model, {k: v.detach().clone() for k, v in model.state_dict().items()}

    def _commit_fit(self) -> None:
        """Make the cached ensemble's fits the warm start of the next fit. Only :meth:`ask` does this: a fit made
        for :meth:`recommend` (during the design, or between asks) is the one the next ask makes from the same
        chain, so asking for recommendations, at any moments, never changes the proposals."""
        self._state, self._state_inverted = self._fitted_states

    def model(self):
        """The maximum-a-posteriori GP fit (the ensemble's first member)."""
        return self.ensemble().models[0]

    def rung_correlation(self) -> np.ndarray:
        """The fitted correlation between rungs of the mixture effect (weighted over the ensemble members)."""
        ens = self.ensemble()
        out = 0.0
        for w, model in zip(ens.weights, ens.models, strict=True):
            out = out + float(w) * _ladder(model).rung_correlation().detach().numpy()
        return out

    def _target_features(self, W: np.ndarray) -> torch.Tensor:
        scale, steps = self.space.target
        return self._features(W, [scale] * len(W), [steps] * len(W), -1)

    @torch.no_grad()
    def _target_mu(self, W: np.ndarray) -> np.ndarray:
        """Averaged posterior mean at the target (no variances: the fast path for ranking many mixtures)."""
        return self.ensemble().mean(self._target_features(W)).numpy()

    @torch.no_grad()
    def _target_mean(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, std = self.ensemble().mean_std(self._target_features(W))
        return mean.numpy(), std.numpy()

    def candidates(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Candidate target mixtures (the one place mixtures are generated after the design): the best by posterior
        mean in a Dirichlet pool (dense and sparse draws, every vertex, the observed mixtures), local perturbations
        around the best few at two radii, and uniform draws."""
        sp = self.space
        pool = np.vstack(
            [
                sp.sample_mixtures(rng, self.n_pool // 2),
                sp.sample_mixtures(rng, self.n_pool // 2, alpha=0.3),
                sp.extreme_mixtures(),
                self._observed_mixtures(),
            ]
        )
        mean = self._target_mu(pool)
        top = pool[np.argsort(mean)[: n // 4]]
        local = np.vstack(
            [sp.perturb(rng, w, 6, 0.05) for w in top[:8]] + [sp.perturb(rng, w, 6, 0.015) for w in top[:4]] + [top]
        )
        lmean = self._target_mu(local)
        best = local[np.argsort(lmean)[: n // 2]]
        return np.vstack([best, sp.sample_mixtures(rng, n - len(best))])

    def uncovered_domains(self) -> list[str]:
        """Domains the space lets vary that every warm-start run left at exactly 0 (none without warm runs).

        A warm run with such a domain at 0 lies on a face of the simplex: it says nothing about which way that
        domain moves the loss, however many such runs there are."""
        warm = [i for i, flag in enumerate(self._warm) if flag]
        return self.space.uncovered_domains(np.array([self.history.mixtures[i] for i in warm])) if warm else []

    def _design_plan(self) -> tuple[int, int, tuple[str, int], np.ndarray | None]:
        """``(design size, design runs done, fidelity, design points)`` for the current history.

        Without warm-start runs, or when they cover every domain, this is the usual design: ``n_init`` runs, every
        told run counting toward it (warm runs inside the simplex map the landscape as well as design runs). When
        warm runs leave ``u`` domains uncovered (:meth:`uncovered_domains`), they do not count: the study runs its
        own design of ``warm_design`` runs per uncovered domain (default 6, the default design's rate per
        dimension; at least ``u + 1``, and cut to ``design_cost`` like the default design) over the whole simplex
        at the design fidelity, so that the model sees each new domain's direction before refining near the target.
        """
        if self._warm_plan is None:
            uncovered = self.uncovered_domains()
            if not uncovered:
                self._warm_plan = (-1, self._design)
            else:
                u = len(uncovered)
                n = self.warm_design * u
                if n:
                    n = min(n, max(u + 1, int(self.design_cost / self.cost(*self.init_fidelity) + 1e-9)))
                rng = np.random.default_rng([self.seed, 0x5EED, u])
                self._warm_plan = (n, self.space.sample_design(rng, n) if n else None)
        n, points = self._warm_plan
        if n < 0:  # every told run counts (constant-liar placeholders included, as before warm starts existed)
            return self.n_init, len(self.history), self.init_fidelity, points
        return n, len(self.history) - sum(self._warm), self.init_fidelity, points

    def _in_design(self) -> bool:
        """True while the told runs have not finished the design."""
        n, done, _, _ = self._design_plan()
        return done < n

    def _design_point(self, pending: int = 0) -> Config:
        """The next design run (after ``pending`` ones); past the end of the design (more parallel asks than design
        left), a uniform draw."""
        _, done, fid, design = self._design_plan()
        i = done + pending
        if design is not None and i < len(design):
            return self._config(design[i], *fid)
        return self._config(self.space.sample_mixtures(self.rng, 1)[0], *fid)

    # --------------------------------------------------------------- contract
    def ask_pending(self, pending) -> Config:
        if self._in_design():  # design runs pending: the next unused design point (a uniform draw past its end)
            return self._design_point(len(pending))
        if pending and len(self.history) < max(1, self.n_init):  # a warm design ended early: keep the liar
            with self._constant_liar(pending):
                return self.ask()
        return super().ask_pending(pending)

    def ask(self) -> Config:
        if self._in_design():
            return self._design_point()
        posteriors, weights = self.ensemble().active_posteriors()
        self._commit_fit()
        targets = self.candidates(self.rng, self.n_targets)
        t_feats = self._target_features(targets)
        # queries: the better half of the candidates (best by mean, local moves) and a few uniform draws, at every
        # open fidelity
        mixtures = np.vstack(
            [targets[: self.n_targets // 2], self.space.sample_mixtures(self.rng, self.n_targets // 8)]
        )
        q_W = np.repeat(mixtures, len(self._refine), axis=0)
        q_S = [s for _ in mixtures for s, _z in self._refine]
        q_Z = [z for _ in mixtures for _s, z in self._refine]
        q_feats = self._features(q_W, q_S, q_Z, -2)
        kg = ensemble_knowledge_gradient(posteriors, weights, q_feats, t_feats).numpy()
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
        W = self.candidates(rng, 256)
        if self.recommend_kappa > 0:
            mean, sd = self._target_mean(W)
            score = mean + self.recommend_kappa * sd
            starts = W[np.argsort(score)[:3]]
            polished = np.vstack([self._optimum(starts[i : i + 1]) for i in range(len(starts))])
            options = np.vstack([starts, polished])
            om, osd = self._target_mean(options)
            w = options[int(np.argmin(om + self.recommend_kappa * osd))]
        else:
            mean = self._target_mu(W)
            starts = W[np.argsort(mean)[:3]]
            w = self._optimum(starts)
        m, s = self._target_mean(w[None])
        source = "posterior mean" if not self.recommend_kappa else f"posterior mean + {self.recommend_kappa:g} sd"
        return Recommendation(self.space.mixture_dict(w), self._external(float(m[0])), float(s[0]), source)

    # ------------------------------------------------------- anytime optimum
    def _mean_and_grad(self, W: np.ndarray, mean_fn=None) -> tuple[np.ndarray, np.ndarray | None]:
        """Target mean at each row of ``W`` and its gradient in ``w`` (``None`` for the ILR embedding): the averaged
        mean, or ``mean_fn`` of the target features (e.g. one member's :meth:`ExactPosterior.mean`)."""
        if self.embedding == "ilr":
            return (self._target_mu(W) if mean_fn is None else mean_fn(self._target_features(W)).detach().numpy()), None
        mean_fn = mean_fn or self.ensemble().mean
        w = torch.tensor(W, dtype=torch.double, requires_grad=True)
        phi = torch.sqrt(w.clamp_min(1e-10)) if self.embedding == "hellinger" else w
        rest = self._target_features(W)[:, phi.shape[-1] :]
        with torch.enable_grad():
            mean = mean_fn(torch.cat([phi, rest], dim=-1))
            (grad,) = torch.autograd.grad(mean.sum(), w)
        return mean.detach().numpy(), grad.numpy()

    def _optimum(self, starts: np.ndarray) -> np.ndarray:
        """The averaged target mean's minimizer from ``starts``
        (:func:`~mixscale.surrogates.mean_minimizer.minimize_mean`; snap tolerance 0.05 posterior sd)."""
        return minimize_mean(
            self.space,
            self._mean_and_grad,
            self._target_mu,
            starts,
            tol=lambda w: 0.05 * float(self._target_mean(w[None])[1][0]),
            face_weight=self.face_weight,
            faces=self.embedding != "ilr",
        )


def _ladder(model) -> ScaleLadderKernel:
    return next(m for m in model.modules() if isinstance(m, ScaleLadderKernel))
