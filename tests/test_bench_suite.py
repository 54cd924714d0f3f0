"""The problem suite: seeded generators, optima that really are optimal, the structure each family claims."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from mixscale import bench
from mixscale.bench.families import LadderProblem
from mixscale.bench.harness import BenchResult, run_one
from mixscale.bench.suite import LADDERS as SPECS
from mixscale.bench.suite import SuiteResult, checkpoint_grid, collect_suite, family_names, run_suite, save_suite
from mixscale.objective import BenchmarkObjective, dense_optimum

LADDERS = {s.name: s for s in SPECS}


def test_the_suite_spans_what_the_issue_asks():
    families = bench.suite(names=["faithful-vertex", "analytic-c4"])  # bench.suite() is the function
    assert all(isinstance(f, BenchmarkObjective) for f in families.values())
    specs = SPECS
    assert len(specs) >= 8
    assert {s.transfer for s in specs} == {"faithful", "drift", "anti", "top-only"}
    assert {"vertex", "interior"} <= {s.optimum for s in specs} and {"edge", "face"} & {s.optimum for s in specs}
    assert {s.noise for s in specs} == {0.0, 1.0, 2.0}
    assert {s.metric for s in specs} == {"loss", "accuracy"}
    assert min(s.k for s in specs) == 3 and max(s.k for s in specs) == 12
    assert min(s.rungs for s in specs) == 4 and max(s.rungs for s in specs) == 7
    assert {"fitted-avg", "analytic-c4"} <= set(family_names())
    assert sum(n.startswith("fitted-") for n in family_names()) == 4
    assert "fitted-avg-no-latex" in family_names()


@pytest.mark.parametrize("name", list(LADDERS))
def test_generators_are_seeded_and_deterministic(name):
    a, b, c = LadderProblem(LADDERS[name], 0), LadderProblem(LADDERS[name], 0), LadderProblem(LADDERS[name], 1)
    assert isinstance(a, BenchmarkObjective)
    W = np.random.default_rng(5).dirichlet(np.ones(a.space.k), 50)
    for scale in a.space.scale_names:
        assert np.array_equal(a.value_at(W, scale, a.space.steps[0]), b.value_at(W, scale, a.space.steps[0]))
    assert np.array_equal(a.target_value(W), b.target_value(W))
    assert not np.allclose(a.target_value(W), c.target_value(W))
    cfg = a.space.config(W[0], a.space.scale_names[0], a.space.steps[-1])
    assert a.evaluate(cfg, seed=3) == b.evaluate(cfg, seed=3)


@pytest.mark.parametrize("name", list(LADDERS))
def test_each_optimum_is_optimal_on_a_dense_check(name):
    p = LadderProblem(LADDERS[name], 0)
    w, v = p.optimum()
    assert v == pytest.approx(float(p.target_value(w[None])[0]), abs=1e-12)
    rng = np.random.default_rng(0)
    W = np.vstack(
        [np.eye(p.space.k), rng.dirichlet(np.ones(p.space.k), 5000), rng.dirichlet(np.full(p.space.k, 0.2), 5000)]
    )
    W = np.vstack([W, np.clip(w + 0.01 * rng.standard_normal((2000, p.space.k)), 0, None)])
    W = W / W.sum(axis=1, keepdims=True)
    sign = 1 if p.metric.minimize else -1
    assert (sign * p.target_value(W) >= sign * v - 1e-12).all()
    w_dense, v_dense = dense_optimum(p, n=4000)
    assert sign * v <= sign * v_dense + 1e-12


def test_face_and_vertex_optima_have_exact_zeros():
    face = LadderProblem(LADDERS["faithful-face"], 0)
    w, _ = face.optimum()
    assert (w == 0).sum() == face.space.k - face.space.k // 2 and (w > 0).sum() == face.space.k // 2
    vertex = LadderProblem(LADDERS["faithful-vertex"], 0)
    assert sorted(vertex.optimum()[0]) == [0.0] * (vertex.space.k - 1) + [1.0]
    assert (LadderProblem(LADDERS["drift-edge"], 0).optimum()[0] > 0).sum() == 2
    assert (LadderProblem(LADDERS["anti-interior"], 0).optimum()[0] > 0).all()


def _rank_corr(p, scale, steps, n=2000):
    W = np.random.default_rng(1).dirichlet(np.ones(p.space.k), n)
    return spearmanr(p.value_at(W, scale, steps), p.target_value(W))[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_transfer_structures(seed):
    anti = LadderProblem(LADDERS["anti-interior"], seed)
    small = anti.space.scale_names[:2]
    assert all(_rank_corr(anti, s, anti.space.steps[-1]) < -0.3 for s in small)
    assert _rank_corr(anti, anti.space.scale_names[-2], anti.space.steps[-1]) > 0.3
    faithful = LadderProblem(LADDERS["faithful-vertex"], seed)
    assert _rank_corr(faithful, faithful.space.scale_names[0], faithful.space.steps[-1]) > 0.8
    top = LadderProblem(LADDERS["top-only-interior"], seed)
    assert all(abs(_rank_corr(top, s, top.space.steps[-1])) < 0.25 for s in top.space.scale_names[:-1])
    assert _rank_corr(top, top.space.scale_names[-1], top.space.steps[0]) > 0.8
    drift = LadderProblem(LADDERS["drift-interior"], seed)
    W = np.random.default_rng(2).dirichlet(np.ones(drift.space.k), 4000)
    best_small = W[np.argmin(drift.value_at(W, drift.space.scale_names[0], drift.space.steps[-1]))]
    assert np.abs(best_small - drift.optimum()[0]).sum() > 0.2


def test_the_fitted_family_without_latex_is_a_face_whose_cheap_rungs_say_little():
    from mixscale.bench.suite import family

    f = family("fitted-avg-no-latex")
    assert f.space.feasible_region()["latex"] == (0.0, 0.0)
    w, v = f.optimum()
    assert w[f.space.domains.index("latex")] == 0.0
    assert v > family("fitted-avg").optimum()[1] + 0.03  # without latex the best mixture is clearly worse
    sim = f.objective
    W = f.space.sample_mixtures(np.random.default_rng(0), 1500)
    target = sim.target_value(W)

    def rho(scale, steps):
        return spearmanr(sim.value_at(W, scale, steps), target).correlation

    # on this face the cheap rungs rank mixtures almost at random; on the whole simplex they do not
    assert abs(rho("13k", 300)) < 0.2 and abs(rho("57k", 150)) < 0.2
    assert rho("336k", 600) > 0.8
    full = np.random.default_rng(0).dirichlet(np.ones(7), 1500)
    assert spearmanr(sim.value_at(full, "13k", 300), sim.target_value(full)).correlation > 0.4


def test_costs_follow_6ND_and_accuracy_is_maximized():
    p = LadderProblem(LADDERS["drift-edge"], 0)
    s = p.space.scales
    assert p.cost(s[0].name, p.space.steps[-1]) == pytest.approx(s[0].params / s[-1].params)
    co = LadderProblem(LADDERS["faithful-face"], 0)
    c = co.space.scales
    assert co.cost(c[0].name, co.space.steps[-1]) == pytest.approx((c[0].params / c[-1].params) ** 2)
    assert not p.metric.minimize and LadderProblem(LADDERS["anti-face"], 0).metric.minimize


def test_noise_levels():
    quiet = LadderProblem(LADDERS["faithful-vertex"], 0)
    cfg = quiet.space.config(np.full(3, 1 / 3), quiet.space.scale_names[0], quiet.space.steps[-1])
    assert quiet.evaluate(cfg, seed=1).value == quiet.evaluate(cfg, seed=2).value
    loud = LadderProblem(LADDERS["anti-face"], 0)
    assert loud.sigma[0] == pytest.approx(2 * 0.13 * loud.spec.spread)
    values = [loud.evaluate(loud.space.config(np.full(6, 1 / 6), "20M", 4000), seed=s).value for s in range(200)]
    assert np.std(values) == pytest.approx(np.hypot(1, 0.25) * loud.sigma[0], rel=0.2)


def _traces(strategy, seed, points):
    return [
        {"strategy": strategy, "seed": seed, "cost": c, "queries": i + 1, "regret": r, "ask_seconds": 0.0}
        for i, (c, r) in enumerate(points)
    ]


def test_at_budget_cuts_the_traces():
    rows = _traces("A", 0, [(0.5, 0.3), (0.9, 0.2), (2.5, 0.1), (9.0, 0.05)])
    rows += _traces("B", 0, [(2.0, 0.4), (10.0, 0.2)])
    res = BenchResult(pd.DataFrame(rows), budget=10.0, metric="loss", optimum=0.0)
    at1 = res.at_budget(1.0)
    assert at1.final().loc["A", "median_regret"] == pytest.approx(0.2)
    assert at1.final().loc["B", "median_regret"] == np.inf  # nothing recommended by cost 1
    assert res.at_budget(3.0).final().loc["A", "median_regret"] == pytest.approx(0.1)
    assert res.at_budget(3.0).speedup("B", "A").median > 1


def test_robustness_compares_each_strategy_with_the_best_on_every_family():
    def fam(regrets, uniform):
        rows = [row for s, r in regrets.items() for row in _traces(s, 0, [(1.0, r)])]
        return BenchResult(pd.DataFrame(rows), 1.0, "loss", 0.0, {"uniform_regret": uniform})

    suite = SuiteResult(
        {
            "easy": fam({"A": 0.0, "B": 0.4}, uniform=1.0),  # A exact 0: floored at 1 % of the uniform's 1.0
            "hard": fam({"A": 0.3, "B": 0.1}, uniform=0.0),  # no floor
        },
        budgets=(1.0,),
        seeds=[0],
    )
    rob = suite.robustness(1.0)
    assert rob.loc["A", "worst"] == pytest.approx(3.0) and rob.loc["A", "family"] == "hard"
    assert rob.loc["B", "worst"] == pytest.approx(0.41 / 0.01) and rob.loc["B", "family"] == "easy"
    assert rob.loc["A", "geomean"] == pytest.approx(np.sqrt(1.0 * 3.0))
    assert rob.loc["B", "geomean"] == pytest.approx(np.sqrt(41.0 * 1.0))


def test_tiny_suite_runs_resumes_and_saves(tmp_path):
    kw = dict(names=["faithful-vertex"], strategies=["random", "hyperband"], seeds=[0, 1], budgets=[0.5, 1.0])
    first = run_suite(out=tmp_path, **kw)
    files = sorted((tmp_path / "runs").rglob("*.parquet"))
    assert len(files) == 4
    again = run_suite(out=tmp_path, **kw)  # resumed: every run read back, none re-run
    pd.testing.assert_frame_equal(first.results["faithful-vertex"].traces, again.results["faithful-vertex"].traces)
    save_suite(first, tmp_path, command="test")
    summary = json.loads((tmp_path / "suite.json").read_text())
    assert set(summary["families"]["faithful-vertex"]["budgets"]) == {"0.5", "1"}
    assert (tmp_path / "faithful-vertex.png").exists()
    assert first.regrets(1.0).shape == (1, 2)
    assert set(first.cpu_seconds()) == {"random", "hyperband"}
    assert first.results["faithful-vertex"].meta["uniform_regret"] > 0
    assert set(summary["robustness"]["1"][0]) == {"strategy", "worst", "family", "geomean"}
    next(iter((tmp_path / "runs").rglob("hyperband.seed1.*"))).unlink()  # an interrupted run: seed 1 incomplete
    partial = collect_suite(tmp_path, **kw)
    assert partial.seeds == [0] and set(partial.results["faithful-vertex"].traces["seed"]) == {0}


@pytest.mark.parametrize("strategy", ["hyperband", "random"])
def test_a_cut_run_is_judged_like_a_run_at_that_budget(strategy):
    """Strategies are not told their budget: a budget-3 run cut at 1 is the budget-1 run, last recommendation too."""
    problem = LadderProblem(LADDERS["top-only-interior"], 0)
    long = run_one(problem, strategy, 0, 3.0, grid=checkpoint_grid([1.0, 3.0]))
    cut = BenchResult(long, 3.0, "loss", problem.optimum()[1]).at_budget(1.0)
    short = run_one(problem, strategy, 0, 1.0)
    assert cut.traces["queries"].max() == short["queries"].max()
    assert cut.final()["median_regret"].iloc[0] == pytest.approx(short["regret"].iloc[-1])
