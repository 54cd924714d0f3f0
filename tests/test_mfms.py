"""mfms specifics: the design phase, the fidelities open to refinement, and the scale-ladder kernel."""

import numpy as np
import torch

from mixscale import simplex, strategies
from mixscale.surrogates.gp import ScaleLadderKernel, fit_lbfgs, mfms_model


def test_design_is_a_sobol_set_at_the_cheapest_scale_full_schedule(toy_objective):
    space = toy_objective.space
    s = strategies.create("mfms", space, toy_objective.cost, True, 3, n_init=5)
    expected = simplex.sample_sobol(np.random.default_rng(3), 5, space.k)
    for i in range(5):
        config = s.ask()
        assert (config.scale, config.steps) == ("s", 1000)
        assert np.allclose(config.weights(space.domains), expected[i])
        s.tell(config, toy_objective.evaluate(config, seed=i))
    # After the design, only fidelities costing at least refine_min_cost (0.2 target runs) are asked.
    for i in range(3):
        config = s.ask()
        assert toy_objective.cost(config.scale, config.steps) >= 0.2
        s.tell(config, toy_objective.evaluate(config, seed=10 + i))


def test_pending_design_asks_take_distinct_design_points(toy_objective):
    s = strategies.create("mfms", toy_objective.space, toy_objective.cost, True, 0, n_init=4)
    pending = []
    for _ in range(6):  # two more than the design holds: those are uniform draws
        pending.append(s.ask_pending(pending))
    mixtures = {tuple(np.round(c.weights(toy_objective.space.domains), 12)) for c in pending}
    assert len(mixtures) == 6


def test_expensive_design_falls_back_to_the_cheapest_fidelity(toy_objective):
    s = strategies.create("mfms", toy_objective.space, toy_objective.cost, True, 0, n_init=20)  # 20 x 1/16 > 1
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


def test_target_deviation_stays_at_its_prior_without_target_runs():
    """Runs at the two lower rungs only: the target rung's deviation is not learned from them (prior mode 0.25)."""
    rng = np.random.default_rng(0)
    n = 40
    W = simplex.sample_dirichlet(rng, n, 3)
    u = rng.choice([0.0, 0.5], size=n)
    v = rng.choice([0.0, 1.0], size=n)
    y = (W[:, 0] - 0.3) ** 2 * (1 + u) + 0.5 * (1 - u) + 0.3 * (1 - v) + 0.01 * rng.standard_normal(n)
    X = torch.from_numpy(np.column_stack([np.sqrt(W), u, v, np.arange(n)]))
    model = fit_lbfgs(mfms_model(X, torch.from_numpy(y)[:, None], n_mixture_dims=3, levels=[0.0, 0.5, 1.0]))
    ladder = next(m for m in model.modules() if isinstance(m, ScaleLadderKernel))
    assert abs(float(ladder.deviation.detach()[2]) - 0.25) < 0.02
