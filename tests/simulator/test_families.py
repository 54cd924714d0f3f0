"""Model families, their cross-validated choice, and tables shaped like users' (final losses, own schedules)."""

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from mixscale import runs as runs_table
from mixscale.cli import app
from mixscale.runs import metric_columns
from mixscale.simulator import regression
from mixscale.simulator.families import FAMILIES, MixingLawModel
from mixscale.simulator.families.base import group_folds, run_groups
from mixscale.simulator.fitted import FittedSimulator
from mixscale.simulator.synth import SynthLaw, parse_scales, synth_table
from mixscale.space import Config

torch.set_num_threads(1)
SMALL = (("xs", 2e7, 1e9, 150), ("m", 1.5e8, 8e9, 60), ("l", 1e9, 2.5e10, 30))


@pytest.fixture(scope="module")
def small():
    return synth_table(5, SMALL, seed=3, noise=0.002)


# (R² floor, Spearman floor) on the noise-free law at the target scale, 200 fresh mixtures; measured values are
# poly 0.92/0.97, mixlaw 0.92/0.92, gbm 0.86/0.91, gp 0.98/0.99, mlp (one member, to stay fast) 0.8+/0.79
FLOORS = {"poly": (0.8, 0.9), "mixlaw": (0.85, 0.85), "gbm": (0.7, 0.8), "gp": (0.9, 0.93), "mlp": (0.75, 0.7)}
FAST = {"mlp": {"members": 1}}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_recovers_the_known_law_at_the_target_scale(small, family):
    df, law = small
    X, Y = regression.table_features(df), df[metric_columns(df)].to_numpy(float)
    model = regression.make_model(family, 5, **FAST.get(family, {})).fit(X, Y)
    W = law.sample_mixtures(200, np.random.default_rng(9))
    pred = model.predict(regression.features(W, 1e9, 2.5e10, 2.5e10))[:, -1]
    true = law.truth(W, 1e9, 2.5e10)[:, -1]
    r2_floor, rho_floor = FLOORS[family]
    assert regression.r2(true, pred) > r2_floor
    assert regression.spearman(true, pred) > rho_floor


def test_mixing_law_recovers_its_own_law_exactly():
    """Data drawn from the mixlaw form itself (no noise): the fit predicts fresh points almost perfectly."""
    rng = np.random.default_rng(0)
    k, n = 4, 300
    W = rng.dirichlet(np.ones(k), n)
    logn = np.log(rng.choice([1e7, 1e8, 1e9], n))
    logd = logn + np.log(20.0)
    t, v = np.array([0.8, -0.5, 0.2, -0.4]), np.array([0.1, -0.1, 0.05, 0.0])

    def law(W, logn, logd):
        a, b = logn - 18.4, logd - 21.4
        return 1.7 + np.exp(-0.3 * a - 0.5) + np.exp(-0.25 * b + W @ t + b * (W @ v))

    X = np.column_stack([W, logn, logd, np.ones(n)])
    model = MixingLawModel(k, penalty=0.0).fit(X, law(W, logn, logd)[:, None])
    W2 = rng.dirichlet(np.ones(k), 100)
    X2 = np.column_stack([W2, np.full(100, np.log(3e9)), np.full(100, np.log(6e10)), np.ones(100)])
    truth = law(W2, X2[:, k], X2[:, k + 1])
    assert regression.r2(truth, model.predict(X2)[:, 0]) > 0.98


def test_mixing_law_predicts_a_mean_column_as_the_mean(small):
    df, _ = small
    X, Y = regression.table_features(df), df[metric_columns(df)].to_numpy(float)
    pred = MixingLawModel(5, iterations=30).fit(X, Y).predict(X[:20])
    assert np.allclose(pred[:, -1], pred[:, :-1].mean(axis=1))


class _Spy:
    """A family that records what it was trained on and predicts zeros."""

    seen: list = []

    def __init__(self, k, **_):
        self.k = k

    def fit(self, X, Y):
        _Spy.seen.append(X.copy())
        return self

    def predict(self, X):
        _Spy.seen.append(("test", X.copy()))
        return np.zeros((len(X), 3))


def _curves():
    rng = np.random.default_rng(1)
    rows = []
    for scale, n in (("s", 1e4), ("l", 1e5)):
        for i in range(12):
            w = rng.dirichlet(np.ones(3))
            for step in (10, 20, 30, 40):
                la = 3 - 0.01 * step + w[0] + np.log(n) * 0.01
                rows.append(
                    {"run_id": f"{scale}{i}", "scale": scale, "params": int(n), "tokens_per_step": 8}
                    | {"step": step, "max_steps": 40, "seed": 0, "w:a": w[0], "w:b": w[1], "w:c": w[2]}
                    | {"loss:a": la, "loss:b": la + 0.1, "loss:avg": la + 0.05}
                )
    return pd.DataFrame(rows)


def test_cross_validation_never_trains_on_a_held_out_runs_curve(monkeypatch):
    df = _curves()
    monkeypatch.setitem(FAMILIES, "spy", _Spy)
    _Spy.seen = []
    out = regression.cross_validate(df, "spy", folds=4, seed=3)
    assert len(out) == df["run_id"].nunique()  # one final point per run, every run predicted once
    pairs = list(zip(_Spy.seen[::2], _Spy.seen[1::2], strict=True))
    assert len(pairs) == 4
    X = regression.table_features(df)
    for train, (_, test) in pairs:
        train_runs = {tuple(np.round(r[:4], 9)) for r in train}  # (w, log N) identifies a run here
        test_runs = {tuple(np.round(r[:4], 9)) for r in test}
        assert not train_runs & test_runs
        assert len(train) + len(test) == len(X)
        assert len(test) % 4 == 0  # whole curves: 4 points per run
    # families' own inner validation (poly's ridge, mlp's early stopping) also holds out whole runs
    groups = run_groups(X, 3)
    fold = group_folds(groups, 4, seed=0)
    for g in np.unique(groups):
        assert len(set(fold[groups == g])) == 1
    assert len(np.unique(groups)) == df["run_id"].nunique()


def test_choose_reports_r2_and_spearman_per_scale_and_picks_the_best(small):
    df, _ = small
    best, scores, tables = regression.choose(df, ("poly", "gbm"), folds=3)
    assert set(scores) == {"poly", "gbm", "poly+gbm"} or set(scores) == {"poly", "gbm", "gbm+poly"}
    assert best == max(scores, key=scores.get)
    t = tables["poly"]
    assert list(t.index) == ["xs", "m", "l"]
    assert {"r2", "spearman"} == set(t.columns.get_level_values(0))
    assert t[("spearman", "loss:avg")].loc["l"] > 0.5
    assert scores["poly"] == pytest.approx(regression.selection_score(t))


def test_final_losses_only_table_with_its_own_schedule_per_scale(small):
    """One row per run, no step/seed columns, nats: each scale's own schedule features its final point."""
    df, law = small
    user = df.drop(columns=["step", "seed"])
    sim = FittedSimulator("loss:avg", runs=user, method="poly", noise=0.0)
    assert sim.unit == "nats_per_token"
    sched = {s: int(g.iloc[0]) for s, g in df.groupby("scale")["max_steps"]}
    assert sim.schedules == sched and len(set(sched.values())) == 3
    assert sim.space.target == ("l", sched["l"]) and set(sched.values()) <= set(sim.space.steps)
    for scale, params, _, _ in SMALL:  # predictions of final points match the law at each scale's own D
        W = law.sample_mixtures(50, np.random.default_rng(2))
        pred = sim.value_at(W, scale, sched[scale])
        true = law.truth(W, params, sched[scale] * df.loc[df["scale"] == scale, "tokens_per_step"].iloc[0])[:, -1]
        assert np.abs(pred - true).mean() < 0.1 * np.abs(true - true.mean()).mean() + 0.02
    obs = sim.evaluate(Config(dict(zip(sim.space.domains, W[0], strict=True)), "xs", sched["xs"]), seed=1)
    assert obs.curve == ((sched["xs"], obs.value),)


def test_synth_table_shape_law_and_cli(tmp_path):
    df, law = synth_table(6, parse_scales("a:1e7:5e8:20,b:1e8:4e9:8"), seed=1, curve_points=3)
    runs_table.validate(df)
    assert df.groupby("scale")["run_id"].nunique().to_dict() == {"a": 20, "b": 8}
    assert df.groupby("run_id").size().eq(3).all() and (df["unit"] == "nats_per_token").all()
    final = df[df["step"] == df["max_steps"]]
    assert np.allclose(final[[f"loss:{d}" for d in law.domains]].mean(axis=1), final["loss:avg"])
    # the best mixture moves with scale: rankings at a small and a large scale differ
    W = law.sample_mixtures(300, np.random.default_rng(0))
    small_, large = law.truth(W, 2e7, 1e9)[:, -1], law.truth(W, 1e9, 2.5e10)[:, -1]
    assert regression.spearman(small_, large) < 0.97
    assert isinstance(SynthLaw.draw(3), SynthLaw)
    out = tmp_path / "t.parquet"
    r = CliRunner().invoke(app, ["simulator", "synth", "--domains", "4", "--scales", "a:1e7:5e8:10", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert runs_table.read(out)["run_id"].nunique() == 10
    r = CliRunner().invoke(app, ["simulator", "synth", "--scales", "a:1e7", "--out", str(out)])
    assert r.exit_code == 2 and "scales[0]" in r.output


def test_cli_fit_prints_r2_spearman_and_the_choice(small, tmp_path, monkeypatch):
    monkeypatch.setattr("mixscale.simulator.fitted._cache_dir", lambda: tmp_path / "cache")
    df, _ = small
    df.to_parquet(tmp_path / "t.parquet")
    r = CliRunner().invoke(app, ["simulator", "fit", str(tmp_path / "t.parquet"), "--methods", "poly,gbm"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "R² / Spearman ρ" in text and "chosen method:" in text and "nats per token" in text
    chosen = text.split("chosen method: ")[1].split()[0]
    assert FittedSimulator("loss:avg", runs=tmp_path / "t.parquet").chosen_method == chosen
