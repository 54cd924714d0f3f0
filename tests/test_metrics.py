"""Several metrics: directions, weighted sums, objectives returning dicts, studies storing every metric."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import mixscale
from mixscale.errors import ValidationError
from mixscale.objective import Observation
from mixscale.objectives.function import FunctionObjective
from mixscale.scalarization import Scalarization, metric_direction
from mixscale.space import Space


def space() -> Space:
    return Space(["a", "b", "c"], [("s", 1e6, 1e4), ("l", 1.6e7, 1e4)], [100, 1000])


def two_losses(mixture, scale, steps, seed=None):
    """loss:a falls with weight on a, loss:b with weight on b; accuracy rises with c. Curves for both losses."""
    base = 1.0 + 100.0 / steps + (0.5 if scale == "s" else 0.0)
    la, lb = base + (1 - mixture["a"]) ** 2, base + 2 * (1 - mixture["b"]) ** 2
    grid = [z for z in (100, 1000) if z <= steps]
    return {
        "loss:a": la,
        "loss:b": lb,
        "accuracy:c": mixture["c"],
        "curves": {"loss:a": [(z, la + 0.1 * (steps / z - 1)) for z in grid], "loss:b": [(z, lb) for z in grid]},
    }


def test_directions_come_from_names_or_declarations():
    assert metric_direction("loss:code") is True
    assert metric_direction("loss") is True
    assert metric_direction("accuracy:hellaswag") is False
    assert metric_direction("my_score", {"my_score": "max"}) is False
    assert metric_direction("loss:code", {"loss:code": "max"}) is False  # declared wins
    with pytest.raises(ValidationError, match="directions.my_score"):
        metric_direction("my_score")


def test_weights_and_directions_are_respected():
    s = Scalarization({"loss:a": 0.5, "loss:b": 0.25, "accuracy:c": -0.2})
    v = s.value({"loss:a": 2.0, "loss:b": 4.0, "accuracy:c": 0.5})
    assert v == pytest.approx(0.5 * 2.0 + 0.25 * 4.0 - 0.2 * 0.5)
    # raising the accuracy lowers the (minimized) value whatever the sign the user wrote; so does lowering a loss
    same = Scalarization({"loss:a": 0.5, "loss:b": 0.25, "accuracy:c": 0.2})
    assert same.value({"loss:a": 2.0, "loss:b": 4.0, "accuracy:c": 0.5}) == pytest.approx(v)
    assert s.value({"loss:a": 2.0, "loss:b": 4.0, "accuracy:c": 0.6}) < v
    assert s.value({"loss:a": 1.9, "loss:b": 4.0, "accuracy:c": 0.5}) < v
    # a weight is an importance: doubling loss:b's weight doubles its slope
    assert Scalarization({"loss:a": 0.5, "loss:b": 0.5}).coefficient("loss:b") == 2 * s.coefficient("loss:b")
    with pytest.raises(ValidationError, match="objective.loss:a"):
        Scalarization({"loss:a": -0.5})
    with pytest.raises(ValidationError, match="did not report 'loss:b'"):
        s.value({"loss:a": 1.0, "accuracy:c": 0.1})


def test_normalization_is_visible_and_changes_the_balance():
    s = Scalarization({"loss:a": 0.5, "loss:b": 0.5}).normalized({"loss:a": [1.0, 1.1, 1.2], "loss:b": [1.0, 3.0, 5.0]})
    assert s.center == {"loss:a": pytest.approx(1.1), "loss:b": pytest.approx(3.0)}
    assert s.spread["loss:b"] == pytest.approx(20 * s.spread["loss:a"])
    assert "(loss:a − 1.1)" in s.describe() and "minimized" in s.describe()
    again = Scalarization.from_spec(s.to_dict())
    assert again.value({"loss:a": 1.15, "loss:b": 2.0}) == pytest.approx(s.value({"loss:a": 1.15, "loss:b": 2.0}))


def test_function_objective_with_several_metrics():
    cfg = space().config({"a": 0.6, "b": 0.3, "c": 0.1}, "l", 1000)
    one = FunctionObjective(space(), two_losses, metric="loss:b")
    obs = one.evaluate(cfg)
    assert obs.value == pytest.approx(obs.metrics["loss:b"])
    assert set(obs.metrics) == {"loss:a", "loss:b", "accuracy:c"}
    assert obs.curve == obs.curves["loss:b"]
    assert obs.info["metrics"] == obs.metrics  # mirrored, so studies store every metric
    assert FunctionObjective(space(), two_losses, metric="accuracy:c").metric.minimize is False
    weighted = FunctionObjective(space(), two_losses, metric={"loss:a": 0.5, "loss:b": 0.5})
    obs = weighted.evaluate(cfg)
    assert obs.value == pytest.approx(0.5 * obs.metrics["loss:a"] + 0.5 * obs.metrics["loss:b"])
    assert obs.curve[-1][1] == pytest.approx(obs.value)  # the scalarized learning curve
    # the weighted objective's best target mixture trades the two losses off
    w, _ = weighted.optimum()
    assert w[0] > 0.2 and w[1] > 0.2
    with pytest.raises(ValidationError, match="loss:zzz"):
        FunctionObjective(space(), two_losses, metric="loss:zzz").evaluate(cfg)


def test_observation_rebuilt_from_stored_info_keeps_metrics():
    obs = Observation(1.0, 0.5, None, metrics={"loss:a": 1.0, "loss:b": 2.0}, curves={"loss:a": [(10, 1.5)]})
    again = Observation(1.0, 0.5, None, dict(obs.info))
    assert again.metrics == obs.metrics and again.curves == {"loss:a": ((10, 1.5),)}


def test_study_stores_every_metric_and_can_be_reread_with_another_weighting(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    objective = FunctionObjective(space(), two_losses, metric="loss:a")
    study = mixscale.create_study(objective, storage=url, name="m", strategy="random", seed=0)
    for _ in range(5):
        trial = study.ask(objective)
        study.tell(trial, objective.evaluate(trial.config, seed=trial.eval_seed))
    stored = [t for t in study.trials if t.state == "complete"]
    assert all(set(t.info["metrics"]) == {"loss:a", "loss:b", "accuracy:c"} for t in stored)
    from mixscale.study.reweigh import reweigh

    scal, table, rec = reweigh(study, {"loss:b": 1.0}, refit=False)
    assert rec is None
    expected = [scal.value(t.info["metrics"]) for t in stored]
    assert np.allclose(table["reweighted"], expected)
    # loss:b alone ranks trials by loss:b, not by the loss:a the study optimized
    assert np.argsort(table["reweighted"].to_numpy()).tolist() == np.argsort(table["loss:b"].to_numpy()).tolist()
    study.release()

    from mixscale.cli import app

    result = CliRunner().invoke(app, ["study", "show", "m", "--storage", url, "--objective", '{"loss:b": 1.0}'])
    assert result.exit_code == 0, result.output
    assert "re-read under" in result.output and "recommended mixture under this weighting" in result.output
    bad = CliRunner().invoke(app, ["study", "show", "m", "--storage", url, "--objective", '{"loss:q": 1.0}'])
    assert bad.exit_code == 2 and "loss:q" in bad.output


def test_multimetric_simulator_evaluates_every_fidelity_with_its_own_curve():
    """Regression: MultiMetricSimulator read the fitted simulator's per-scale evaluation steps as one list."""
    from mixscale.objectives.multimetric import MultiMetricSimulator

    obj = MultiMetricSimulator({"loss:code": 0.5, "loss:books": 0.5})
    w = obj.space.mixture_dict(obj.space.uniform_mixture())
    for scale, steps in obj.space.fidelities():
        obs = obj.evaluate(obj.space.config(w, scale, steps), seed=3)
        assert set(obs.metrics) >= {"loss:code", "loss:books"} and np.isfinite(obs.value)
        assert obs.curve[-1][0] == steps and all(z <= steps for z, _ in obs.curve)
        assert obs.cost == pytest.approx(obj.cost(scale, steps))
    again = obj.evaluate(obj.space.config(w, *obj.space.target), seed=3)
    assert again.metrics == obj.evaluate(obj.space.config(w, *obj.space.target), seed=3).metrics
    with pytest.raises(ValidationError, match="steps"):
        obj.evaluate(obj.space.config(w, obj.space.target[0], 10 * max(obj.space.steps)), seed=0)


def test_multimetric_value_at_is_the_noise_free_weighting_at_any_fidelity():
    """``value_at`` applies the objective's weighting to the simulator's noise-free metrics at a fidelity; at the
    target it is ``target_value``, and the noise of ``evaluate`` is centred on it."""
    from mixscale.objectives.multimetric import MultiMetricSimulator

    obj = MultiMetricSimulator({"loss:code": 0.5, "loss:books": 0.5})
    W = obj.space.sample_mixtures(np.random.default_rng(0), 5)
    np.testing.assert_allclose(obj.value_at(W, *obj.space.target), obj.target_value(W))
    scale, steps = obj.space.fidelities()[0]
    pred = obj.simulator.predict(W, scale, [steps])[0]
    code, books = (pred[:, obj.metrics.index(m)] for m in ("loss:code", "loss:books"))
    np.testing.assert_allclose(
        obj.value_at(W, scale, steps), obj.scalarization.values({"loss:code": code, "loss:books": books})
    )
    noisy = [
        obj.evaluate(obj.space.config(obj.space.mixture_dict(W[0]), scale, steps), seed=s).value for s in range(40)
    ]
    assert abs(np.mean(noisy) - obj.value_at(W[:1], scale, steps)[0]) < 4 * np.std(noisy) / np.sqrt(40)
