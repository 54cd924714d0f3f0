import numpy as np
import pandas as pd
import pytest

from mixscale import bench
from mixscale.bench.harness import BenchResult
from mixscale.objectives.function import FunctionObjective
from mixscale.simulator import AnalyticSimulator
from mixscale.space import Space


def trace(strategy, seed, points):
    return [
        {"strategy": strategy, "seed": seed, "cost": c, "queries": i + 1, "regret": r, "ask_seconds": 0.0}
        for i, (c, r) in enumerate(points)
    ]


def test_speedup_arithmetic_on_hand_made_traces():
    rows = []
    # baseline B: median trace reaches its final median regret 0.1 at cost 8
    for seed in range(3):
        rows += trace("B", seed, [(1, 0.5), (8, 0.1), (10, 0.1)])
    # method A reaches 0.1 at cost 2, 4 and never (stays above)
    rows += trace("A", 0, [(1, 0.3), (2, 0.05), (10, 0.05)])
    rows += trace("A", 1, [(1, 0.3), (4, 0.09), (10, 0.02)])
    rows += trace("A", 2, [(1, 0.3), (10, 0.2)])
    res = BenchResult(pd.DataFrame(rows), budget=10.0, metric="loss", optimum=0.0)
    s = res.speedup("B", "A")
    assert s.target_regret == pytest.approx(0.1)
    assert s.baseline_cost == pytest.approx(8.0, rel=0.03)
    # per-seed speedups 8/2 = 4, 8/4 = 2 and 0 (never reached): median 2
    assert s.median == pytest.approx(2.0, rel=0.05)
    assert s.q75 == pytest.approx(3.0, rel=0.05) and s.q25 == pytest.approx(1.0, rel=0.05)
    assert s.reached == pytest.approx(2 / 3)
    assert res.speedup("B", "B").median == pytest.approx(1.0, rel=0.03)
    final = res.final()
    assert final.loc["A", "median_regret"] == pytest.approx(0.05)


def test_bootstrap_interval_of_the_median_speedup():
    """Seeds of both strategies are resampled: an interval around the median, reproducible, on one side of 1 only
    when every resampled median is (A always 4x faster), and containing 1 when A is faster on half the seeds only."""
    rows = []
    for seed in range(8):
        rows += trace("B", seed, [(1, 0.5), (8, 0.1), (10, 0.1)])
        rows += trace("A", seed, [(1, 0.3), (2, 0.05), (10, 0.05)])  # reaches 0.1 at 2: 4x on every seed
        # C: 4x faster on half the seeds, never reaches the target on the others
        rows += trace("C", seed, [(1, 0.3), (2, 0.05), (10, 0.05)] if seed % 2 else [(1, 0.3), (10, 0.2)])
    res = BenchResult(pd.DataFrame(rows), budget=10.0, metric="loss", optimum=0.0)
    a = res.speedup("B", "A", n_boot=200)
    assert a.lo == pytest.approx(a.median, rel=0.05) and a.hi == pytest.approx(a.median, rel=0.05)
    assert a.median == pytest.approx(4.0, rel=0.05) and a.settled is True
    c = res.speedup("B", "C", n_boot=200)
    assert c.lo <= 1.0 <= c.hi and c.settled is False
    assert c.lo == 0.0 and c.hi == pytest.approx(4.0, rel=0.05)
    again = res.speedup("B", "C", n_boot=200)
    assert (again.lo, again.hi) == (c.lo, c.hi)
    plain = res.speedup("B", "C")
    assert np.isnan(plain.lo) and plain.settled is None and plain.median == c.median
    table = res.speedup_table(["A", "C"], ["B"], n_boot=200)
    assert table.set_index("method").loc["C", "boot_hi"] == pytest.approx(c.hi)


def test_a_method_must_stay_below_the_target_regret():
    rows = trace("B", 0, [(1, 0.5), (10, 0.1)])
    rows += trace("A", 0, [(1, 0.05), (2, 0.4), (6, 0.08), (10, 0.08)])  # a lucky dip does not count
    res = BenchResult(pd.DataFrame(rows), budget=10.0, metric="loss", optimum=0.0)
    assert res.speedup("B", "A").median == pytest.approx(10 / 6, rel=0.03)


def test_regret_of_the_optimum_is_zero_and_positive_elsewhere():
    sim = AnalyticSimulator()
    w, v = sim.optimum()
    assert bench.regret_of(sim, sim.space.mixture_dict(w), v) == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(0)
    W = sim.space.sample_mixtures(rng, 500)
    assert (sim.target_value(W) >= v - 1e-9).all()


def test_analytic_optimum_moves_with_scale():
    sim = AnalyticSimulator()
    rng = np.random.default_rng(0)
    W = sim.space.sample_mixtures(rng, 5000)
    best_small = W[np.argmin(sim.value_at(W, "20M", 6000))]
    best_target = W[np.argmin(sim.target_value(W))]
    assert np.abs(best_small - best_target).sum() > 0.2


def test_small_benchmark_mfms_beats_random(tmp_path):
    sim = AnalyticSimulator()
    res = bench.run(sim, ["random", "mfms"], seeds=3, budget=1.0, strategy_options={"mfms": {"n_init": 6}})
    final = res.final()
    assert final.loc["mfms", "median_regret"] < final.loc["random", "median_regret"]
    res.save(tmp_path)
    again = BenchResult.load(tmp_path)
    assert len(again.traces) == len(res.traces)


def test_function_objective_outside_callable_with_all_six_strategies():
    """5 domains, 7 named scales, 3 step levels and a per-(m, z) cost table: no mixscale code touched."""
    domains = ["d1", "d2", "d3", "d4", "d5"]
    scales = [f"s{i}" for i in range(7)]
    steps = [10, 20, 40]
    space = Space(domains, scales, steps)
    table = {(s, z): (2.0**i) * z for i, s in enumerate(scales) for z in steps}  # any positive numbers

    def train(mixture, scale, steps):
        w = np.array([mixture[d] for d in domains])
        i = scales.index(scale)
        centre = np.array([0.3, 0.25, 0.2, 0.15, 0.1]) + 0.02 * (i - 3) * np.array([1, 0, 0, 0, -1])
        return float(3.0 - 0.1 * i - 0.01 * np.log(steps) + ((w - centre) ** 2).sum())

    objective = FunctionObjective(space, train, cost=table)
    assert objective.cost("s6", 40) == 1.0
    names = ["random", "hyperband", "mfbo", "regmix", "mfms-paper", "mfms"]
    res = bench.run(
        objective,
        names,
        seeds=1,
        budget=2.0,
        strategy_options={"mfms-paper": {"n_init": 6}, "mfms": {"n_init": 5}},
    )
    assert set(res.strategies) == set(names)
    final = res.final()
    assert (final["median_regret"] >= -1e-9).all() and np.isfinite(final["median_regret"]).all()
    table_ = res.speedup_table(["mfms", "mfms-paper"], ["random", "hyperband", "mfbo", "regmix"])
    assert len(table_) == 8


def test_cost_to_stay_is_the_first_cost_from_which_the_trace_stays_at_or_below_the_target():
    from mixscale.bench.harness import cost_to_stay

    costs = [0.5, 1.0, 1.5, 2.0, 2.5]
    assert cost_to_stay(costs, [0.3, 0.1, 0.2, 0.1, 0.1], 0.15) == 2.0  # dipped at 1.0, but did not stay
    assert cost_to_stay(costs, [0.1, 0.1, 0.1, 0.1, 0.1], 0.15) == 0.5
    assert cost_to_stay(costs, [0.1, 0.1, 0.1, 0.1, 0.2], 0.15) == float("inf")  # ends above
    assert cost_to_stay([], [], 0.15) == float("inf")


def test_ratio_of_two_speedups_and_its_paired_interval():
    """A problem on which the method is 4x faster against one where it is 2x (every seed): ratio 2, interval
    [2, 2]; the same traces on both sides give exactly 1 in every paired draw; a method that is 4x faster on half
    the seeds only gives an interval that spans 1."""
    fast, slow, half = [], [], []
    for seed in range(8):
        for rows in (fast, slow, half):
            rows += trace("B", seed, [(1, 0.5), (8, 0.1), (10, 0.1)])
        fast += trace("A", seed, [(1, 0.3), (2, 0.05), (10, 0.05)])  # 8 / 2 = 4x
        slow += trace("A", seed, [(1, 0.3), (4, 0.05), (10, 0.05)])  # 8 / 4 = 2x
        half += trace("A", seed, [(1, 0.3), (2, 0.05), (10, 0.05)] if seed % 2 else [(1, 0.3), (10, 0.2)])
    a, b, c = (BenchResult(pd.DataFrame(r), budget=10.0, metric="loss", optimum=0.0) for r in (fast, slow, half))
    ratio, lo, hi = bench.speedup_ratio(a, b, "B", "A", n_boot=200)
    assert ratio == pytest.approx(2.0, rel=0.05) and lo == pytest.approx(2.0, rel=0.05)
    assert hi == pytest.approx(2.0, rel=0.05)
    assert bench.speedup_ratio(c, c, "B", "A", n_boot=200) == (1.0, 1.0, 1.0)
    ratio, lo, hi = bench.speedup_ratio(c, b, "B", "A", n_boot=200)
    assert lo == 0.0 and hi == pytest.approx(2.0, rel=0.05) and lo <= ratio <= hi
    assert bench.speedup_ratio(c, b, "B", "A", n_boot=200) == (ratio, lo, hi)  # seeded: reproducible
    point, nlo, nhi = bench.speedup_ratio(a, b, "B", "A", n_boot=0)
    assert point == pytest.approx(2.0, rel=0.05) and np.isnan(nlo) and np.isnan(nhi)
