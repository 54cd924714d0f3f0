import numpy as np
import pytest

from mixscale import strategies
from mixscale.objective import Observation
from mixscale.space import Config

ALL = ["random", "hyperband", "mfbo", "regmix", "mfms-paper", "mfms"]
FAST = {"mfms-paper": {"n_init": 6}, "mfms": {"n_init": 4}, "mfbo": {"n_init": 3}}


def drive(name, objective, n, seed=0, recommend_every=0):
    s = strategies.create(name, objective.space, objective.cost, True, seed, **FAST.get(name, {}))
    asked = []
    for i in range(n):
        if recommend_every and i % recommend_every == 0:
            s.recommend()
        config = s.ask()
        assert isinstance(config, Config)
        w = objective.space.validate_mixture(config.mixture)  # a valid point of the simplex
        assert w.shape == (3,)
        assert config.scale in objective.space.scale_names
        assert 0 < objective.cost(config.scale, config.steps) <= 1.0 + 1e-9
        s.tell(config, objective.evaluate(config, seed=i))
        asked.append((tuple(np.round(w, 10)), config.scale, config.steps))
    return s, asked


@pytest.mark.parametrize("name", ALL)
def test_ask_tell_recommend_contract(name, toy_objective):
    s, asked = drive(name, toy_objective, 12)
    rec = s.recommend()
    w = toy_objective.space.validate_mixture(rec.mixture)
    assert np.isclose(w.sum(), 1.0)
    assert len(s.history) == 12
    if name in ("mfms", "mfbo"):
        assert rec.value is not None and rec.std is not None and rec.std >= 0


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_proposals(name, toy_objective):
    _, a = drive(name, toy_objective, 9, seed=5)
    _, b = drive(name, toy_objective, 9, seed=5)
    assert a == b
    _, c = drive(name, toy_objective, 9, seed=6)
    assert a != c


@pytest.mark.parametrize("name", ALL)
def test_recommendations_do_not_change_the_proposals(name, toy_objective):
    """A user may ask for the recommendation at any moment (a study's report, a benchmark's checkpoints): the
    proposals that follow must be those of the run that never asked, or results would depend on when one looked."""
    _, quiet = drive(name, toy_objective, 10, seed=3)
    _, every = drive(name, toy_objective, 10, seed=3, recommend_every=1)
    _, sparse = drive(name, toy_objective, 10, seed=3, recommend_every=3)
    assert every == quiet
    assert sparse == quiet


def test_random_queries_the_target_and_hyperband_the_target_scale(toy_objective):
    _, asked = drive("random", toy_objective, 5)
    assert all((s, z) == toy_objective.space.target for _, s, z in asked)
    _, asked = drive("hyperband", toy_objective, 13)
    assert all(s == "l" for _, s, _ in asked)
    # first bracket: 9 runs at the shortest rung, then the best 3 at the middle one, then 1 at the target
    assert [z for *_, z in asked] == [100] * 9 + [300] * 3 + [1000]


def test_hyperband_promotes_the_best(toy_objective):
    s, asked = drive("hyperband", toy_objective, 12)
    first = [a for a in asked if a[2] == 100]
    values = [toy_objective.evaluate(Config(dict(zip("abc", w, strict=True)), "l", 100)).value for w, *_ in first]
    best3 = {first[i][0] for i in np.argsort(values)[:3]}
    assert {a[0] for a in asked if a[2] == 300} == best3


def test_regmix_uses_one_proxy_and_recommends_a_mixture(toy_objective):
    s, asked = drive("regmix", toy_objective, 40)
    assert {(sc, z) for _, sc, z in asked} == {("s", 100)}
    rec = s.recommend()
    assert "regression" in rec.source


def test_regmix_gp_ranks_by_the_gp_posterior_mean_and_warm_starts_its_refits():
    import torch

    from mixscale.strategies.regmix import _Regressor

    rng = np.random.default_rng(0)
    W = rng.dirichlet(np.ones(4), 60)
    y = (W - np.array([0.4, 0.3, 0.2, 0.1])) ** 2 @ np.ones(4) + 0.01 * rng.standard_normal(60)
    reg = _Regressor("gp", 0).fit(W, y)
    Z = rng.dirichlet(np.ones(4), 5000)
    with torch.no_grad():
        expected = reg.gp.posterior(torch.from_numpy(np.sqrt(Z))).mean.squeeze(-1).numpy()
    assert np.allclose(reg.predict(Z), expected, atol=1e-9)
    state = {k: v.detach().clone() for k, v in reg.gp.state_dict().items()}
    warm = _Regressor("gp", 0, state).fit(W, y)  # starts at the optimum: stays there
    ls = lambda r: r.gp.covar_module.lengthscale.detach().numpy()  # noqa: E731
    assert np.allclose(ls(warm), ls(reg), rtol=1e-2)


def test_maximized_metrics_are_flipped(toy_objective):
    s = strategies.create("random", toy_objective.space, toy_objective.cost, minimize=False, seed=0)
    for v in (1.0, 3.0, 2.0):
        c = s.ask()
        s.tell(c, Observation(v, 1.0))
    assert s.recommend().value == 3.0


def test_unknown_strategy_and_bad_options():
    from mixscale.errors import ValidationError
    from mixscale.space import Space

    sp = Space(["a", "b"], [("s", 1, 1)], [1])
    with pytest.raises(ValidationError, match="unknown strategy"):
        strategies.create("nope", sp)
    with pytest.raises(ValidationError) as info:
        strategies.create("random", sp, no_such_option=1)
    assert "strategy_options" in info.value.field


@pytest.mark.parametrize("name", ALL)
def test_get_params_rebuilds_the_same_strategy(name, toy_objective):
    """Explicit-keyword estimators: get_params holds every option, resolved, and rebuilds the same proposals."""
    import inspect

    space, cost = toy_objective.space, toy_objective.cost
    s = strategies.create(name, space, cost, True, 4, **FAST.get(name, {}))
    params = s.get_params()
    sig = inspect.signature(type(s).__init__).parameters
    assert not any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.values())
    assert set(params) == set(sig) - {"self", "space", "cost"}
    assert params["seed"] == 4 and params["minimize"] is True
    assert all(v is not None for v in params.values())  # defaults are stored resolved
    t = strategies.create(name, space, cost, **params)
    assert t.get_params() == params
    for _ in range(3):
        a, b = s.ask(), t.ask()
        assert a == b
        obs = toy_objective.evaluate(a, seed=0)
        s.tell(a, obs)
        t.tell(b, obs)


@pytest.mark.parametrize("name", ["random", "mfms"])
def test_reseed_restarts_the_random_stream(name, toy_objective):
    s = strategies.create(name, toy_objective.space, toy_objective.cost, True, 0)
    s.reseed([0, 7])
    a = s.ask()
    s.reseed([0, 7])
    assert s.ask() == a


@pytest.mark.parametrize("name", ALL)
def test_recommend_after_runs_only_below_the_target_scale(name, toy_objective):
    """Warm-start or initial runs may all sit at small scales; every strategy must still recommend a mixture."""
    s = strategies.create(name, toy_objective.space, toy_objective.cost, True, 0, **FAST.get(name, {}))
    for i, w in enumerate(([0.6, 0.2, 0.2], [0.2, 0.6, 0.2], [0.2, 0.2, 0.6])):
        config = Config(dict(zip(toy_objective.space.domains, w, strict=True)), "s", 100)
        s.tell(config, toy_objective.evaluate(config, seed=i))
    rec = s.recommend()
    toy_objective.space.validate_mixture(rec.mixture)
