"""Warm start: earlier runs enter a study as uncharged, marked history; mismatches are skipped with the reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixscale
from mixscale.errors import ValidationError
from mixscale.objectives.function import FunctionObjective
from mixscale.space import Space


def space() -> Space:
    return Space(["a", "b", "c"], [("s", 1e6, 1e4), ("l", 1.6e7, 1e4)], [100, 1000])


def losses(mixture, scale, steps, seed=None):
    base = 1.0 + 100.0 / steps + (0.3 if scale == "s" else 0.0)
    la, lb = base + (1 - mixture["a"]) ** 2, base + 2 * (1 - mixture["b"]) ** 2
    return {"loss:a": la, "loss:b": lb}


def table() -> pd.DataFrame:
    """Six old runs over domains a, b, x (x is not in the new study), two steps each."""
    runs = [
        # run_id, scale, params, mixture (a, b, x), tokenizer
        ("r0", "s", 1e6, (0.5, 0.5, 0.0), "t1"),
        ("r1", "small", 1e6, (0.2, 0.8, 0.0), "t1"),  # other name, same (params, tokens): matched
        ("r2", "l", 1.6e7, (0.7, 0.3, 0.0), "t1"),
        ("r3", "s", 1e6, (0.4, 0.4, 0.2), "t1"),  # weight on x: unusable
        ("r4", "xl", 9e9, (0.5, 0.5, 0.0), "t1"),  # not on the ladder
        ("r5", "s", 1e6, (0.6, 0.4, 0.0), "t2"),  # another tokenizer: used, flagged
    ]
    rows = []
    for rid, scale, params, (a, b, x), tok in runs:
        for step in (100, 1000):
            la, lb = losses({"a": a, "b": b}, "s", step).values()
            rows.append(
                {
                    "run_id": rid, "scale": scale, "params": params, "tokens_per_step": 1e4, "step": step,
                    "max_steps": 1000, "seed": 0, "w:a": a, "w:b": b, "w:x": x, "loss:a": la, "loss:b": lb,
                    "tokenizer_sha256": tok, "corpus_sha256": '{"a": "h1", "b": "h2"}',
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_runs_table_warm_start_is_stored_marked_and_never_charged(tmp_path):
    path = tmp_path / "runs.csv"
    table().to_csv(path, index=False)
    objective = FunctionObjective(space(), losses, metric="loss:a")
    study = mixscale.create_study(
        objective, storage=f"sqlite:///{tmp_path / 's.db'}", name="w", strategy="mfms", seed=0, warm_start=[str(path)]
    )
    warm = [t for t in study.trials if t.source == "warm_start"]
    assert sorted(t.info["warm_start"]["run_id"] for t in warm) == ["r0", "r1", "r2", "r5"]
    assert all(t.state == "complete" and t.cost == 0.0 for t in warm)
    assert study.spent == 0.0
    r1 = next(t for t in warm if t.info["warm_start"]["run_id"] == "r1")
    assert r1.config.scale == "s" and r1.config.mixture == {"a": 0.2, "b": 0.8, "c": 0.0}
    assert r1.value == pytest.approx(r1.info["metrics"]["loss:a"]) and r1.curve[0][0] == 100
    r5 = next(t for t in warm if t.info["warm_start"]["run_id"] == "r5")
    assert r5.info["warm_start"]["provenance_changed"] == ["tokenizer_sha256"]
    report = study.objective_description["warm_start"]
    reasons = {s["run_id"]: s["reason"] for s in report["skipped"]}
    assert reasons["r3"].startswith("domain not in this study: 'x'") and "'xl'" in reasons["r4"]
    assert report["used"] == 4
    assert report["uncovered"] == ["c"]  # no old run had domain c: they say nothing about it
    # the first recommendation exists before any new run and comes from the warm runs alone
    assert study.recommendation is not None and "warm start only" in study.recommendations[0].recommendation.source
    # new trials are charged; the warm ones still are not
    trial = study.ask(objective)
    assert trial.number == 4 and trial.source == "strategy"
    study.tell(trial, objective.evaluate(trial.config))
    assert study.spent == pytest.approx(objective.cost(trial.config.scale, trial.config.steps))
    assert study._strategy.spent == pytest.approx(study.spent)
    assert len(study._strategy.history) == 5  # 4 warm runs + 1 new, all told
    df = study.trials_dataframe()
    assert (df["source"] == "warm_start").sum() == 4
    study.release()


def test_earlier_study_as_a_source_and_bad_sources(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old_space = Space(["a", "b"], [("s", 1e6, 1e4), ("l", 1.6e7, 1e4)], [100, 1000])
    old_obj = FunctionObjective(old_space, losses, metric="loss:a")
    old = mixscale.create_study(old_obj, storage=url, name="old", strategy="random", seed=1)
    for _ in range(3):
        t = old.ask(old_obj)
        old.tell(t, old_obj.evaluate(t.config))
    old.release()
    objective = FunctionObjective(space(), losses, metric={"loss:a": 0.5, "loss:b": 0.5})
    new = mixscale.create_study(
        objective, storage=f"sqlite:///{tmp_path / 'new.db'}", name="new", strategy="random",
        warm_start=[{"storage": url, "study": "old"}],
    )  # fmt: skip
    warm = [t for t in new.trials if t.source == "warm_start"]
    assert len(warm) == 3 and all(t.config.mixture["c"] == 0.0 for t in warm)
    # the weighted value is recomputed from the metrics the old study stored
    assert all(t.value == pytest.approx(objective.scalarization.value(t.info["metrics"])) for t in warm)
    with pytest.raises(ValidationError, match="warm_start"):
        mixscale.create_study(objective, name="x", warm_start=[3.5])
    with pytest.raises(ValidationError, match="runs"):
        mixscale.create_study(objective, name="x", warm_start=[str(tmp_path / "missing.parquet")])


def test_study_file_pareto_weighted_and_warm_start_keys(tmp_path):
    from mixscale.objectives.multimetric import MultiMetricSimulator
    from mixscale.study import studyfile

    spec = studyfile.parse(
        {
            "budget": 2.0,
            "pareto": ["loss:code", "loss:books"],
            "objective": {"type": "simulator", "name": "fitted"},
            "warm_start": {"runs": ["old/runs.parquet"], "studies": [{"storage": "sqlite:///o.db", "study": "o"}]},
        },
        base=tmp_path,
    )
    assert spec.strategy == "pareto" and spec.strategy_options["metrics"] == ["loss:code", "loss:books"]
    assert isinstance(spec.objective, MultiMetricSimulator)
    assert spec.warm_start == [str(tmp_path / "old" / "runs.parquet"), {"storage": "sqlite:///o.db", "study": "o"}]
    weighted = studyfile.parse(
        {"budget": 1.0, "objective": {"type": "simulator", "name": "fitted", "metric": {"loss:code": 1.0}}}
    )
    assert weighted.objective.scalarization.metrics == ("loss:code",)
    with pytest.raises(ValidationError, match="warm_start"):
        studyfile.parse({"budget": 1.0, "objective": {"type": "simulator"}, "warm_start": {"bogus": 1}})
    with pytest.raises(ValidationError, match="strategy"):
        studyfile.parse(
            {"budget": 1.0, "strategy": "mfms", "pareto": ["loss:a", "loss:b"], "objective": {"type": "simulator"}}
        )


def test_runs_with_changed_provenance_share_one_offset_in_the_mfms_model():
    from mixscale import strategies
    from mixscale.objective import Observation

    s = strategies.create("mfms", space(), None, True, 0, n_init=0)
    curve = ((100, 2.0), (1000, 1.5))
    s.tell(space().config({"a": 0.5, "b": 0.5, "c": 0.0}, "s", 1000), Observation(1.5, 0.1, curve))
    flagged = {"warm_start": {"origin": "runs:x", "run_id": "r5", "offset_group": 1}}
    for w in (0.2, 0.7):
        cfg = space().config({"a": w, "b": 1 - w, "c": 0.0}, "s", 1000)
        s.tell(cfg, Observation(1.6, 0.0, curve, flagged))
    assert s._run_ids() == [0, -1001, -1001]
    X, _ = s._training_data()
    assert sorted(set(X[:, -1].tolist())) == [-1001.0, 0.0]  # curve points keep their run's id


def _warm_obs(value: float = 1.5):
    from mixscale.objective import Observation

    return Observation(value, 0.0, ((100, value + 0.5), (1000, value)), {"warm_start": {"origin": "runs:x"}})


def test_mfms_runs_its_own_design_over_a_domain_every_warm_run_left_at_zero():
    from mixscale import strategies

    sp = space()
    s = strategies.create("mfms", sp, None, True, 0)
    for i, a in enumerate(np.linspace(0.05, 0.95, 20)):  # twenty warm runs with c = 0
        s.tell(sp.config({"a": a, "b": 1 - a, "c": 0.0}, "s" if i % 2 else "l", 1000), _warm_obs())
    assert len(s.history) >= s.n_init  # before: the warm runs alone counted as a finished design
    assert s.uncovered_domains() == ["c"]
    asks = []
    while s._in_design():
        config = s.ask()
        asks.append(config)
        s.tell(config, _warm_obs().__class__(1.0, sp.cost(config.scale, config.steps)))
    # 6 runs per uncovered domain at the design fidelity, c varied
    assert len(asks) == 6
    assert {(c.scale, c.steps) for c in asks} == {s.init_fidelity}
    assert sum(c.mixture["c"] > 0.05 for c in asks) >= 4
    again = strategies.create("mfms", sp, None, True, 0)
    for config in s.history.mixtures[:20]:
        again.tell(sp.config(sp.mixture_dict(config), "s", 1000), _warm_obs())
    assert [again._design_point(i).mixture for i in range(6)] == [c.mixture for c in asks]  # seeded
    s2 = strategies.create("mfms", sp, None, True, 0, warm_design=2)
    s2.tell(sp.config({"a": 1.0, "b": 0.0, "c": 0.0}, "s", 1000), _warm_obs())
    assert s2.uncovered_domains() == ["b", "c"] and s2._design_plan()[0] == 4  # 2 per uncovered domain
    rebuilt = strategies.create("mfms", sp, None, **s2.get_params())  # a study's replay: the same design
    rebuilt.tell(sp.config({"a": 1.0, "b": 0.0, "c": 0.0}, "s", 1000), _warm_obs())
    assert [rebuilt._design_point(i).mixture for i in range(4)] == [s2._design_point(i).mixture for i in range(4)]


def test_mfms_warm_runs_covering_every_domain_count_toward_the_design():
    from mixscale import strategies

    sp = space()
    s = strategies.create("mfms", sp, None, True, 0, n_init=4)
    for a in (0.2, 0.4, 0.6, 0.3):
        s.tell(sp.config({"a": a, "b": 0.9 - a, "c": 0.1}, "s", 1000), _warm_obs())
    assert s.uncovered_domains() == []
    assert not s._in_design()  # as before: told runs inside the simplex map the landscape like design runs
    fresh = strategies.create("mfms", sp, None, True, 0, n_init=4)
    assert fresh.uncovered_domains() == [] and fresh._in_design()
    with pytest.raises(ValidationError, match="warm_design"):
        strategies.create("mfms", sp, None, True, 0, warm_design=-1)


def test_uncovered_domains_are_those_every_run_leaves_at_zero_and_the_user_is_told():
    from mixscale.study.warm_start import collect, uncovered_note

    sp = space()
    assert sp.uncovered_domains(np.array([[0.5, 0.5, 0.0], [0.2, 0.8, 0.0]])) == ["c"]
    assert sp.uncovered_domains(np.array([[0.5, 0.5, 0.0], [0.2, 0.7, 0.1]])) == []
    assert sp.uncovered_domains(np.empty((0, 3))) == []
    fixed = sp.with_constraints(fixed={"c": 0.0})  # a domain held at 0 by the space itself is not "uncovered"
    assert fixed.uncovered_domains(np.array([[0.5, 0.5, 0.0]])) == []
    warm = collect([table()], sp, lambda m: float(m["loss:a"]), ["loss:a"])
    assert warm.uncovered == ["c"] and warm.to_dict()["uncovered"] == ["c"]
    assert uncovered_note(["c"]) in warm.summary() and "every warm run has c at 0" in warm.summary()
    covered = table()
    ab = covered["w:a"] + covered["w:b"]
    covered["w:a"], covered["w:b"] = 0.9 * covered["w:a"] / ab, 0.9 * covered["w:b"] / ab
    covered["w:x"], covered["w:c"] = 0.0, 0.1  # every old run now has some c
    assert collect([covered], sp, lambda m: float(m["loss:a"]), ["loss:a"]).uncovered == []
    # warm runs outside a constrained study's feasible set are still data: collected, not rejected
    capped = sp.with_constraints(bounds={"a": (0.0, 0.3)})
    warm = collect([table()], capped, lambda m: float(m["loss:a"]), ["loss:a"])
    assert len(warm.used) == 4 and warm.uncovered == ["c"]
