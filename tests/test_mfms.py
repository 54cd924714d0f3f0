"""mfms specifics: the design, the signed scale-ladder kernel, the three-member ensemble, exact zeros."""

import numpy as np
import pytest
import torch

from mixscale import simplex, strategies
from mixscale.errors import ValidationError
from mixscale.objectives.function import FunctionObjective
from mixscale.space import Config, Space
from mixscale.surrogates.ensemble import GPEnsemble
from mixscale.surrogates.exact_posterior import ExactPosterior
from mixscale.surrogates.gp import LevelDeviationKernel, ScaleLadderKernel, fit_lbfgs, mfms_model
from mixscale.surrogates.knowledge_gradient import discrete_knowledge_gradient, ensemble_knowledge_gradient


def test_design_is_a_sobol_set_at_the_cheapest_scale_within_its_cost_cap(toy_objective):
    space = toy_objective.space
    s = strategies.create("mfms", space, toy_objective.cost, True, 3, n_init=10)
    assert 10 * toy_objective.cost(*s.init_fidelity) <= 0.5  # design_cost: at most half a target run
    assert s.init_fidelity == ("s", 300)  # the longest step level of the cheapest scale that fits (10/16 > 0.5)
    expected = simplex.sample_sobol(np.random.default_rng(3), 10, space.k)
    for i in range(10):
        config = s.ask()
        assert (config.scale, config.steps) == ("s", 300)
        assert np.allclose(config.weights(space.domains), expected[i])
        s.tell(config, toy_objective.evaluate(config, seed=i))
    config = s.ask()  # after the design: KG per cost over every fidelity, a valid query
    assert (config.scale, config.steps) in space.fidelities()


def test_default_design_is_cut_to_its_cost_cap(toy_objective):
    s = strategies.create("mfms", toy_objective.space, toy_objective.cost, True, 0)
    assert s.n_init * toy_objective.cost(*s.init_fidelity) <= 0.5 + 1e-9
    assert s.n_init >= toy_objective.space.k + 1
    assert s.get_params()["n_init"] == s.n_init


def test_design_rate_sets_runs_per_domain_and_the_longest_step_level_they_afford(toy_objective):
    space, cost = toy_objective.space, toy_objective.cost  # k = 3; cost(s, z) = z / 16000 target runs
    s = strategies.create("mfms", space, cost, True, 0, design_rate=3)
    assert (s.n_init, s.init_fidelity) == (9, ("s", 300))  # 9 x 1000/16000 = 0.56 > 0.5 >= 9 x 300/16000
    s = strategies.create("mfms", space, cost, True, 0, design_rate=3, design_cost=0.6)
    assert (s.n_init, s.init_fidelity) == (9, ("s", 1000))
    assert s.get_params()["design_rate"] == 3
    with pytest.raises(ValidationError, match="design_rate"):
        strategies.create("mfms", space, cost, True, 0, design_rate=0)


def test_pending_design_asks_take_distinct_design_points(toy_objective):
    s = strategies.create("mfms", toy_objective.space, toy_objective.cost, True, 0, n_init=4)
    pending = []
    for _ in range(6):  # two more than the design holds: those are uniform draws
        pending.append(s.ask_pending(pending))
    mixtures = {tuple(np.round(c.weights(toy_objective.space.domains), 12)) for c in pending}
    assert len(mixtures) == 6


def test_expensive_design_falls_back_to_the_cheapest_fidelity(toy_objective):
    s = strategies.create("mfms", toy_objective.space, toy_objective.cost, True, 0, n_init=40)  # 40 x 0.3/16 > 0.5
    assert (s.ask().scale, s.ask().steps) == ("s", 100)


def test_ladder_kernel_is_brownian_plus_a_deviation_per_rung():
    levels = [0.0, 0.4, 1.0]
    k = ScaleLadderKernel(levels)
    with torch.no_grad():
        k.raw_offset.fill_(0.0)
    c, tau = float(k.offset.detach()), k.deviation.detach()
    u = torch.tensor([[0.0], [0.4], [1.0], [0.4]], dtype=torch.double)
    K = k(u, u).to_dense().detach()
    for i in range(4):
        for j in range(4):
            same = abs(u[i, 0] - u[j, 0]) < 1e-9
            rung = int(np.argmin(np.abs(np.array(levels) - float(u[i, 0]))))
            expected = c + min(float(u[i, 0]), float(u[j, 0])) + (float(tau[rung]) if same else 0.0)
            assert np.isclose(K[i, j], expected)
    assert torch.linalg.eigvalsh(K).min() > -1e-10  # PSD (rows 1 and 3 are the same input)
    assert torch.linalg.eigvalsh(K[:3, :3]).min() > 0
    corr = K / torch.sqrt(K.diagonal()[:, None] * K.diagonal()[None, :])
    assert corr[0, 1] > corr[0, 2]  # correlation falls with distance along the ladder ...
    assert corr[1, 2] < 1 - 1e-3  # ... and never reaches one


def _runs_at(scales: list[float], steps: list[float], n: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` runs of a smooth 3-domain problem, each at a random one of the given scale and steps coordinates."""
    rng = np.random.default_rng(0)
    W = simplex.sample_dirichlet(rng, n, 3)
    u = rng.choice(scales, size=n)
    v = rng.choice(steps, size=n)
    y = (W[:, 0] - 0.3) ** 2 * (1 + u) + 0.5 * (1 - u) + 0.3 * (1 - v) + 0.01 * rng.standard_normal(n)
    X = torch.from_numpy(np.column_stack([np.sqrt(W), u, v, np.arange(n)]))
    return X, torch.from_numpy(y)[:, None]


def test_target_deviation_stays_at_its_prior_without_target_runs():
    """Runs at the two lower rungs only: the target rung's deviation is not learned from them (prior mode 0.25)."""
    X, Y = _runs_at(scales=[0.0, 0.5], steps=[0.0, 1.0])
    model = fit_lbfgs(mfms_model(X, Y, n_mixture_dims=3, levels=[0.0, 0.5, 1.0]))
    ladder = next(m for m in model.modules() if isinstance(m, ScaleLadderKernel))
    assert abs(float(ladder.deviation.detach()[2]) - 0.25) < 0.02


def test_level_deviation_kernel_is_one_nugget_per_step_level():
    k = LevelDeviationKernel([0.0, 0.5, 1.0])
    with torch.no_grad():
        k.raw_deviation.copy_(torch.tensor([-2.0, 0.0, 1.0], dtype=torch.double))
    tau = k.deviation.detach()
    v = torch.tensor([[0.0], [0.5], [1.0], [0.52]], dtype=torch.double)  # the last is assigned to level 0.5
    K = k(v, v).to_dense().detach()
    level = [0, 1, 2, 1]
    for i in range(4):
        for j in range(4):
            assert np.isclose(K[i, j], float(tau[level[i]]) if level[i] == level[j] else 0.0)
    assert torch.allclose(k(v, v, diag=True).detach(), K.diagonal())


def test_full_schedule_deviation_stays_at_its_prior_without_full_length_runs():
    """``step_levels``: runs (and curve points) at the two shorter step levels only; the full schedule's own
    deviation is not learned from them (prior mode 0.25), so the model cannot be sure that short runs rank mixtures
    as full-length ones do. Without ``step_levels`` the steps factor has no such term."""
    X, Y = _runs_at(scales=[0.0, 1.0], steps=[0.0, 0.5])
    model = fit_lbfgs(mfms_model(X, Y, n_mixture_dims=3, levels=[0.0, 1.0], step_levels=[0.0, 0.5, 1.0]))
    deviations = next(m for m in model.modules() if isinstance(m, LevelDeviationKernel))
    assert abs(float(deviations.deviation.detach()[2]) - 0.25) < 0.02
    plain = mfms_model(X, Y, n_mixture_dims=3, levels=[0.0, 1.0])
    assert not any(isinstance(m, LevelDeviationKernel) for m in plain.modules())


def test_step_deviations_option_reaches_the_model(toy_objective):
    obj = toy_objective
    on = strategies.create("mfms", obj.space, obj.cost, True, 0, n_init=4, step_deviations=True)
    off = strategies.create("mfms", obj.space, obj.cost, True, 0, n_init=4)
    for s in (on, off):
        for _ in range(5):
            config = s.ask()
            s.tell(config, obj.evaluate(config))
    kernels = [m for m in on.model().modules() if isinstance(m, LevelDeviationKernel)]
    expected = [obj.space.fidelity_coordinates("s", z)[1] for z in obj.space.steps]  # 100, 300, 1000 on a log axis
    assert len(kernels) == 1 and np.allclose(kernels[0].levels.numpy(), expected)
    assert not any(isinstance(m, LevelDeviationKernel) for m in off.model().modules())


def test_signed_loadings_express_negative_correlation_between_rungs():
    k = ScaleLadderKernel([0.0, 0.5, 1.0], rank=1)
    with torch.no_grad():
        k.raw_offset.fill_(-3.0)
        k.loadings = torch.tensor([[1.5], [0.2], [-1.5]], dtype=torch.double)
    corr = k.rung_correlation().detach()
    assert corr[0, 2] < -0.3
    u = torch.tensor([[0.0], [0.5], [1.0]], dtype=torch.double)
    K = k(u, u).to_dense().detach()
    assert torch.allclose(K, k.rung_covariance().detach())
    assert torch.linalg.eigvalsh(K).min() > 0
    k.decouple_top = True  # the "target stands alone" twin: no covariance between the top rung and the rest
    K = k(u, u).to_dense().detach()
    assert K[0, 2] == 0 and K[1, 2] == 0 and K[0, 1] != 0


def test_inverted_twin_flips_the_targets_covariance_and_stays_positive_definite():
    k = ScaleLadderKernel([0.0, 0.5, 1.0], rank=1)
    with torch.no_grad():
        k.loadings = torch.tensor([[0.7], [0.7], [0.7]], dtype=torch.double)
    u = torch.tensor([[0.0], [0.5], [1.0]], dtype=torch.double)
    K = k(u, u).to_dense().detach()
    k.flip_top = True  # "the ladder is inverted at the target": cov(top, other) -> -cov(top, other)
    F = k(u, u).to_dense().detach()
    assert torch.allclose(F, k.rung_covariance().detach())
    sign = torch.tensor([1.0, 1.0, -1.0], dtype=torch.double)
    assert torch.allclose(F, sign[:, None] * K * sign[None, :])
    assert F[0, 2] < 0 and F[0, 1] == K[0, 1]
    assert torch.linalg.eigvalsh(F).min() > 0


def _ladder_objective(fn) -> FunctionObjective:
    space = Space(["a", "b", "c"], [("s", 1e6, 1e4), ("m", 4e6, 1e4), ("l", 1.6e7, 1e4)], [100, 300, 1000])
    return FunctionObjective(space, fn)


def _anti(mixture, scale, steps):
    """The small rung ranks mixtures opposite to the target (the middle one says little)."""
    w = np.array(list(mixture.values()))
    effect = ((w - np.array([0.6, 0.3, 0.1])) ** 2).sum()
    sign = {"s": -1.0, "m": 0.2, "l": 1.0}[scale]
    return float(3.0 - 0.3 * np.log({"s": 1, "m": 4, "l": 16}[scale]) + sign * effect)


def test_fitted_rung_correlation_is_negative_on_an_anti_correlated_ladder():
    obj = _ladder_objective(_anti)
    s = strategies.create("mfms", obj.space, obj.cost, True, 0, n_init=0)
    for scale in ("s", "l"):  # the same mixtures at the smallest rung and at the target
        for w in simplex.sample_sobol(np.random.default_rng(1), 10, 3):
            config = Config(dict(zip("abc", w, strict=True)), scale, 1000)
            s.tell(config, obj.evaluate(config))
    corr = s.rung_correlation()
    assert corr[0, 2] < -0.2, corr
    # the twin that ignores the small rungs cannot explain the paired target runs as well: the fits take over
    # (the fit and the "inverted" fit may both express the negative correlation; which one does it best varies)
    assert s.ensemble().weights[1] < 0.1


def test_without_target_runs_the_members_keep_their_prior_odds_and_the_ladders_optimum():
    """Small-rung runs cannot tell "the ladder holds", "the target stands alone" and "the ladder is inverted" apart
    (they differ only in covariances with the target rung): the weights are the prior odds, and because "holds" has
    the larger share the averaged mean ranks target mixtures as the fit does."""
    obj = _ladder_objective(_anti)
    s = strategies.create("mfms", obj.space, obj.cost, True, 0, n_init=0)
    for w in simplex.sample_sobol(np.random.default_rng(1), 12, 3):
        config = Config(dict(zip("abc", w, strict=True)), "s", 1000)
        s.tell(config, obj.evaluate(config))
    ens = s.ensemble()
    assert len(ens.models) == 3
    assert np.allclose(ens.weights.numpy(), np.array(s.prior_odds) / sum(s.prior_odds), atol=1e-3)
    W = simplex.sample_sobol(np.random.default_rng(3), 64, 3)
    fit = ExactPosterior(ens.models[0]).mean(s._target_features(W)).detach().numpy()
    assert np.argmin(s._target_mu(W)) == np.argmin(fit)
    with pytest.raises(ValidationError, match="prior_odds"):
        strategies.create("mfms", obj.space, obj.cost, True, 0, prior_odds=(1.0, 0.0, 1.0))


def _face(mixture, scale, steps):
    """Optimum on a face: (0.7, 0.3, 0) at every rung; domain c only hurts."""
    w = np.array(list(mixture.values()))
    return float(2.0 + ((w[:2] - np.array([0.7, 0.3])) ** 2).sum() + 0.6 * w[2])


def test_recommendation_keeps_exact_zeros_on_a_face_optimum():
    obj = _ladder_objective(_face)
    s = strategies.create("mfms", obj.space, obj.cost, True, 0, n_init=0)
    for i, w in enumerate(simplex.sample_sobol(np.random.default_rng(2), 24, 3)):
        config = Config(dict(zip("abc", w, strict=True)), "l", 1000)
        s.tell(config, obj.evaluate(config, seed=i))
    rec = s.recommend()
    assert rec.mixture["c"] == 0.0
    assert abs(rec.mixture["a"] - 0.7) < 0.12


def _two_rung_data(rng: np.random.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` runs on a two-rung ladder (80 % at the small rung), a bowl in the first weight: features and values
    as ``mfms_model`` takes them (Hellinger mixture, rung, steps, run id)."""
    W = simplex.sample_dirichlet(rng, n, 3)
    u = rng.choice([0.0, 1.0], size=n, p=[0.8, 0.2])
    y = (W[:, 0] - 0.3) ** 2 + 0.5 * (1 - u) + 0.01 * rng.standard_normal(n)
    X = torch.from_numpy(np.column_stack([np.sqrt(W), u, np.ones(n), np.arange(n)]))
    return X, torch.from_numpy(y)[:, None]


def test_ensemble_kg_with_one_member_is_the_discrete_kg_and_with_two_values_discrimination():
    rng = np.random.default_rng(0)
    X, Y = _two_rung_data(rng, 20)
    model = fit_lbfgs(mfms_model(X, Y, n_mixture_dims=3, levels=[0.0, 1.0], rank=1))
    T = simplex.sample_dirichlet(rng, 16, 3)
    t = torch.from_numpy(np.column_stack([np.sqrt(T), np.ones(16), np.ones(16), -np.ones(16)]))
    q = torch.from_numpy(np.column_stack([np.sqrt(T), np.zeros(16), np.ones(16), -2 * np.ones(16)]))
    one = ensemble_knowledge_gradient([model], torch.ones(1, dtype=torch.double), q, t)
    assert torch.allclose(one, discrete_knowledge_gradient(model, q, t))
    import copy

    alone = copy.deepcopy(model)
    next(m for m in alone.modules() if isinstance(m, ScaleLadderKernel)).decouple_top = True
    alone.train()
    alone.eval()
    ens = GPEnsemble([model, alone], [0.0, 0.0])
    both = ensemble_knowledge_gradient(*ens.active(), q, t)
    assert (both >= 0).all() and torch.isfinite(both).all()
    # a small-rung query teaches nothing about the target under the twin: worth less than under the fit alone
    assert both.mean() < one.mean()


def test_fit_tolerance_is_validated_and_none_keeps_scipys_default(toy_objective):
    import pytest

    from mixscale.errors import ValidationError

    with pytest.raises(ValidationError) as err:
        strategies.create("mfms", toy_objective.space, toy_objective.cost, True, 0, fit_tol=0.0)
    assert err.value.field == "fit_tol"
    s = strategies.create("mfms", toy_objective.space, toy_objective.cost, True, 0, fit_tol=None)
    assert s.fit_tol is None


def test_warm_refit_with_a_nat_tolerance_ends_near_the_full_refit():
    from mixscale.surrogates.ensemble import log_posterior

    X, Y = _two_rung_data(np.random.default_rng(1), 60)

    def model(n):
        return mfms_model(X[:n], Y[:n], n_mixture_dims=3, levels=[0.0, 1.0], rank=1)

    first = fit_lbfgs(model(50))
    state = {k: v.detach().clone() for k, v in first.state_dict().items()}
    full = log_posterior(fit_lbfgs(model(60), warm_state=state))
    loose = log_posterior(fit_lbfgs(model(60), warm_state=state, tol_nats=0.002))
    assert loose > full - 0.05  # nats: the tolerance stops a flat tail of iterations, not the fit itself


def _known_mean(s, target: np.ndarray, penalty: np.ndarray) -> None:
    """Replace ``s``'s target posterior by a known convex mean (a bowl around ``target`` plus a linear penalty) with
    a constant posterior sd of 0.01, so that :meth:`MFMS._optimum` can be checked against the true minimizer."""

    def mean(W):
        W = np.atleast_2d(W)
        return ((W - target) ** 2).sum(-1) + W @ penalty

    s._target_mu = mean
    s._target_mean = lambda W: (mean(W), np.full(len(np.atleast_2d(W)), 0.01))
    s._mean_and_grad = lambda W: (mean(W), 2 * (np.atleast_2d(W) - target) + penalty)


def test_active_set_search_reaches_a_face_optimum_exactly_and_keeps_domains_that_matter():
    space = Space(["a", "b", "c", "d"], [("s", 1e6, 1e4), ("l", 1.6e7, 1e4)], [100, 1000])
    s = strategies.create("mfms", space, None, True, 0, n_init=0)
    start = np.full((1, 4), 0.25)
    # optimum (0.8, 0.2, 0, 0): c and d only hurt (KKT: gradient 0 on the support, 0.3 off it)
    _known_mean(s, np.array([0.8, 0.2, 0.0, 0.0]), np.array([0.0, 0.0, 0.3, 0.3]))
    w = s._optimum(start)
    assert w[2] == 0.0 and w[3] == 0.0
    assert np.allclose(w, [0.8, 0.2, 0.0, 0.0], atol=0.02)
    # optimum (0.6, 0.3, 0.1, 0): dropping c (below the face weight) makes the mean worse, so it stays
    _known_mean(s, np.array([0.6, 0.3, 0.1, 0.0]), np.array([0.0, 0.0, 0.0, 0.3]))
    w = s._optimum(start)
    assert w[3] == 0.0 and abs(w[2] - 0.1) < 0.03
    with pytest.raises(ValidationError, match="face_weight"):
        strategies.create("mfms", space, None, True, 0, face_weight=1.5)
