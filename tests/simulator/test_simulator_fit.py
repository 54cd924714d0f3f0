"""The fitted simulator on a synthetic runs table generated from a known function."""

import numpy as np
import pandas as pd
import pytest

from mixscale.bench import regret_of
from mixscale.errors import ValidationError
from mixscale.simulator import load
from mixscale.simulator import regression as fitting
from mixscale.simulator.fitted import FittedSimulator, ReplaySimulator, seed_noise
from mixscale.space import Config

SCALES = {"xs": 1e4, "s": 4e4, "m": 1.6e5, "l": 6.4e5}
RUNS = {"xs": 40, "s": 30, "m": 24, "l": 20}
TPS, MAX_STEPS = 256, 400
STEPS = np.arange(40, 401, 40)
W_STAR = np.array([0.5, 0.3, 0.2])
SIGMA = 0.01


def truth(w, params, tokens):
    """Known losses: power laws in N and D plus a bowl around W_STAR (domain a and b see it differently)."""
    w = np.atleast_2d(w)
    base = 1.0 + 2.0 * (params / 1e4) ** -0.3 + 3.0 * (tokens / 1e4) ** -0.35
    a = base + 1.5 * ((w - W_STAR) ** 2).sum(-1)
    b = base + 0.8 * (w[:, 1] - 0.6) ** 2
    return np.stack([a, b, (a + b) / 2], -1)


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    rows = []
    for scale, n in SCALES.items():
        for i in range(RUNS[scale]):
            w = rng.dirichlet(np.ones(3)) if i else np.full(3, 1 / 3)
            for seed in range(3 if i < 3 else 1):
                offset = SIGMA * rng.standard_normal()
                for step in STEPS:
                    la, lb, lavg = truth(w, n, step * TPS)[0] + offset
                    rows.append(
                        {"run_id": f"{scale}-{i}-{seed}", "scale": scale, "params": int(n), "tokens_per_step": TPS}
                        | {"step": int(step), "max_steps": MAX_STEPS, "seed": seed}
                        | {"w:a": w[0], "w:b": w[1], "w:c": w[2], "loss:a": la, "loss:b": lb, "loss:avg": lavg}
                    )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("method", "options"), [("poly", {}), ("mlp", {"iterations": 400, "members": 1})])
def test_cross_validated_fit_recovers_known_function(table, method, options):
    r2 = fitting.r2_table(fitting.cross_validate(table, method, folds=3, **options))
    assert list(r2.index) == ["xs", "s", "m", "l"]
    assert r2.loc["l", "loss:avg"] > 0.9
    assert r2.to_numpy().min() > 0.6


def test_fitted_simulator_predicts_target_and_finds_the_optimum(table):
    sim = FittedSimulator(metric="loss:a", runs=table, method="poly")
    assert sim.space.domains == ("a", "b", "c") and sim.space.target == ("l", MAX_STEPS)
    assert sim.space.steps == (80, 200, 400) or sim.space.steps[-1] == MAX_STEPS
    W = np.random.default_rng(1).dirichlet(np.ones(3), 200)
    pred, true = sim.target_value(W), truth(W, SCALES["l"], MAX_STEPS * TPS)[:, 0]
    assert np.corrcoef(pred, true)[0, 1] > 0.97
    w_opt, _ = sim.optimum()
    assert np.abs(w_opt - W_STAR).max() < 0.12
    # regret of the true optimum under the fitted simulator is small compared with a vertex's
    best = regret_of(sim, dict(zip("abc", W_STAR, strict=True)), sim.optimum()[1])
    vertex = regret_of(sim, {"a": 0.0, "b": 0.0, "c": 1.0}, sim.optimum()[1])
    assert best < 0.1 * vertex


def test_seed_noise_is_estimated_from_replicates(table):
    a, b = seed_noise(table, "loss:a")
    sigma = np.exp(a + b * np.log(list(SCALES.values())))
    assert np.all((sigma > 0.3 * SIGMA) & (sigma < 3 * SIGMA))


def test_evaluate_returns_a_noisy_curve_and_flops_cost(table):
    sim = FittedSimulator(metric="loss:avg", runs=table, method="poly")
    cfg = Config({"a": 0.2, "b": 0.5, "c": 0.3}, "s", 200)
    o1, o2 = sim.evaluate(cfg, seed=1), sim.evaluate(cfg, seed=1)
    assert o1 == o2 and o1.curve[-1] == (200, o1.value)
    assert [t for t, _ in o1.curve] == [40, 80, 120, 160, 200]
    assert sim.evaluate(cfg, seed=2).value != o1.value
    assert o1.cost == pytest.approx(SCALES["s"] * 200 / (SCALES["l"] * MAX_STEPS))
    quiet = FittedSimulator(metric="loss:avg", runs=table, method="poly", noise=0.0)
    assert quiet.evaluate(cfg, seed=1).value == pytest.approx(quiet.value_at(np.array([[0.2, 0.5, 0.3]]), "s", 200)[0])
    with pytest.raises(ValidationError, match="schedule length"):
        sim.evaluate(Config({"a": 0.2, "b": 0.5, "c": 0.3}, "s", 800))


def test_replay_answers_only_observed_configurations(table):
    sim = ReplaySimulator("loss:a", runs=table)
    w = sim.mixtures("l")[0]
    obs = sim.evaluate(Config(dict(zip("abc", w, strict=True)), "l", 160))
    row = table[(table["run_id"] == obs.info["run_id"]) & (table["step"] == 160)]
    assert obs.value == pytest.approx(float(row["loss:a"].iloc[0]))
    assert len(obs.curve) == 4
    with pytest.raises(ValidationError, match="no run of this mixture"):
        sim.evaluate(Config({"a": 0.01, "b": 0.01, "c": 0.98}, "l", 160))


def test_load_by_name_and_unknown_metric(table):
    assert isinstance(load("replay", runs=table, metric="loss:b", noise=1.0), ReplaySimulator)
    with pytest.raises(ValidationError) as e:
        load("fitted", runs=table, metric="loss:zz")
    assert e.value.field == "metric"
    with pytest.raises(ValidationError) as e:
        load("nope")
    assert e.value.field == "simulator"
