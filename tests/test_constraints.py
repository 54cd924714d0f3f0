"""Constraints on the mixture: validation, conflicts named, feasible sampling/projection, strategies stay inside."""

import numpy as np
import pytest

from mixscale.errors import ValidationError
from mixscale.space import Space

DOMAINS = ["web", "code", "books", "math", "forum"]
SCALES = [("s", 1e6, 1e4), ("m", 4e6, 1e4), ("l", 1.6e7, 1e4)]
STEPS = [100, 300, 1000]


def constrained(**extra) -> Space:
    """Bounds + fixed + token availability (binding) + one linear constraint."""
    kw = dict(
        bounds={"forum": (0, 0.05), "web": (0.2, 1)},
        fixed={"math": 0.02},
        tokens={"code": 2e6},  # target tokens 1e4 * 1000 = 1e7, 2 epochs -> code <= 0.4
        max_epochs=2,
        linear=["code + books <= 0.5"],
    )
    kw.update(extra)
    return Space(DOMAINS, SCALES, STEPS, **kw)


def test_region_summary_and_caps():
    sp = constrained()
    region = sp.feasible_region()
    assert region["math"] == pytest.approx((0.02, 0.02))
    assert region["forum"] == pytest.approx((0.0, 0.05))
    assert region["code"] == pytest.approx((0.0, 0.4))
    assert region["web"] == pytest.approx((0.43, 0.98))  # 1 - math - forum - (code + books)
    assert sp.constraints.caps() == {"code": pytest.approx(0.4)}
    assert sp.constrained and not Space(DOMAINS, SCALES, STEPS).constrained


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(bounds={"x": (0, 1)}), "bounds.x"),
        (dict(bounds={"web": (0.5, 0.2)}), "bounds.web"),
        (dict(bounds={"web": 0.2}), "bounds.web"),
        (dict(fixed={"math": 1.5}), "fixed.math"),
        (dict(tokens={"code": -1}), "tokens.code"),
        (dict(tokens={"code": 1e6}, max_epochs=0), "max_epochs"),
        (dict(tokens={"code": 1e6}, max_epochs={"web": 2}), "max_epochs.web"),
        (dict(linear=["web + nope <= 0.3"]), "linear[0].nope"),
        (dict(linear=["web <> 0.3"]), "linear[0]"),
        (dict(linear=[{"weights": {"web": 1}}]), "linear[0]"),
        (dict(linear=[{"weights": {"web": 1}, "max": 1, "upper": 2}]), "linear[0].upper"),
    ],
)
def test_bad_constraints_name_the_field(kwargs, field):
    with pytest.raises(ValidationError) as info:
        Space(DOMAINS, SCALES, STEPS, **kwargs)
    assert info.value.field == field


def test_tokens_need_planned_target_tokens():
    with pytest.raises(ValidationError) as info:
        Space(DOMAINS, ["s", "l"], STEPS, tokens={"code": 1e6})
    assert info.value.field == "target_tokens"
    sp = Space(DOMAINS, ["s", "l"], STEPS, tokens={"code": 1e6}, target_tokens=1e7)
    assert sp.feasible_region()["code"][1] == pytest.approx(0.1)


@pytest.mark.parametrize(
    "kwargs, named, not_named",
    [
        (dict(fixed={"math": 0.6}, bounds={"web": (0.5, 1)}), ["fixed.math", "bounds.web"], []),
        (
            dict(tokens={"code": 1e6}, linear=["code >= 0.3"], bounds={"forum": (0, 0.1)}),
            ["tokens.code", "linear[0]"],
            ["bounds.forum"],
        ),
        (dict(fixed={"web": 0.5, "code": 0.6}, bounds={"books": (0, 0.2)}), ["fixed.web", "fixed.code"], ["books"]),
        (dict(bounds={d: (0, 0.1) for d in DOMAINS}), [f"bounds.{d}" for d in DOMAINS], []),
    ],
)
def test_infeasible_specification_names_the_conflict(kwargs, named, not_named):
    with pytest.raises(ValidationError) as info:
        Space(DOMAINS, SCALES, STEPS, **kwargs)
    assert info.value.field == "constraints"
    for name in named:
        assert name in info.value.message
    for name in not_named:
        assert name not in info.value.message


def test_validate_mixture_names_the_violated_constraint():
    sp = constrained()
    ok = [0.5, 0.2, 0.25, 0.02, 0.03]
    assert np.allclose(sp.validate_mixture(ok), ok)
    cases = [
        ([0.5, 0.2, 0.23, 0.05, 0.02], "mixture.math", "fixed.math"),
        ([0.5, 0.2, 0.2, 0.02, 0.08], "mixture.forum", "bounds.forum"),
        ([0.13, 0.45, 0.35, 0.02, 0.05], "mixture.web", "bounds.web"),
        ([0.2, 0.45, 0.28, 0.02, 0.05], "mixture.code", "tokens.code"),
        ([0.2, 0.35, 0.38, 0.02, 0.05], "mixture", "linear[0]"),
    ]
    for w, field, constraint in cases:
        with pytest.raises(ValidationError) as info:
            sp.validate_mixture(w)
        assert info.value.field == field and constraint in info.value.message
    # past runs told as data may lie outside the constraints
    assert np.allclose(sp.validate_mixture(cases[0][0], feasible=False), cases[0][0])


def test_linear_constraint_forms_agree():
    a = constrained(linear=["code + 2*books - web <= 0.1"])
    b = constrained(linear=[{"weights": {"code": 1, "books": 2, "web": -1}, "max": 0.1}])
    assert a.constraints == b.constraints and a.feasible_region() == b.feasible_region()


def test_sampling_is_feasible_uniform_and_deterministic():
    sp = constrained()
    W = sp.sample_mixtures(np.random.default_rng(0), 4000)
    assert sp.is_feasible(W).all()
    again = sp.sample_mixtures(np.random.default_rng(0), 4000)
    assert np.array_equal(W, again)
    # uniform: a constrained space with only upper bounds is a cut simplex; the forum share is uniform-ish on
    # its range relative to the exact density, so check the sample mean against plain rejection.
    rng = np.random.default_rng(1)
    D = rng.dirichlet(np.ones(4), 200000) * 0.98
    D = np.insert(D, 3, 0.02, axis=1)
    keep = (D[:, 4] <= 0.05) & (D[:, 0] >= 0.2) & (D[:, 1] <= 0.4) & (D[:, 1] + D[:, 2] <= 0.5)
    assert np.allclose(W.mean(0), D[keep].mean(0), atol=0.01)


def test_hit_and_run_matches_rejection_when_acceptance_is_low():
    sp = Space(DOMAINS, SCALES, STEPS, bounds={d: (0.1, 0.3) for d in DOMAINS[:3]}, linear=["web + code >= 0.55"])
    poly = sp.polytope
    exact = poly.sample(np.random.default_rng(0), 6000)  # acceptance ~5%: rejection
    walk = poly._hit_and_run(np.random.default_rng(1), 6000)
    assert sp.is_feasible(walk).all()
    assert np.allclose(exact.mean(0), walk.mean(0), atol=0.01)
    assert np.allclose(exact.std(0), walk.std(0), atol=0.01)


def test_projection_design_and_perturbation_stay_feasible():
    sp = constrained()
    rng = np.random.default_rng(3)
    P = sp.project(rng.normal(size=(200, 5)))
    assert sp.is_feasible(P).all()
    inside = sp.sample_mixtures(rng, 20)
    assert np.allclose(sp.project(inside), inside, atol=1e-9)
    # projection is the nearest feasible point: no sampled feasible point is closer
    v = np.array([0.0, 0.8, 0.1, 0.0, 0.1])
    p = sp.project(v[None])[0]
    W = sp.sample_mixtures(rng, 5000)
    assert np.linalg.norm(p - v) <= np.linalg.norm(W - v, axis=1).min() + 1e-9
    assert sp.is_feasible(sp.sample_design(rng, 30)).all()
    assert sp.is_feasible(sp.perturb(rng, inside[0], 50, 0.1)).all()
    assert sp.is_feasible(sp.uniform_mixture()[None]).all() and sp.is_feasible(sp.extreme_mixtures()).all()


def test_unconstrained_space_draws_as_before():
    from mixscale import simplex

    sp = Space(DOMAINS, SCALES, STEPS, bounds={"web": (0, 1)})
    assert not sp.constrained
    a = sp.sample_mixtures(np.random.default_rng(5), 7)
    assert np.array_equal(a, simplex.sample_dirichlet(np.random.default_rng(5), 7, 5))
    assert np.array_equal(
        sp.sample_design(np.random.default_rng(5), 7), simplex.sample_sobol(np.random.default_rng(5), 7, 5)
    )


# ------------------------------------------------------------------------------------------------ strategies
# Model-based strategies: a 190-run design (told), then 10 (mfms-paper: 5) asks on the fitted model (fast).
OPTIONS = {
    "mfms": dict(n_init=190, n_targets=32, n_pool=256),
    "mfbo": dict(n_init=190, n_targets=32, n_pool=256),
    "mfms-paper": dict(n_init=195, n_starts=1),
    "regmix": dict(n_simulations=2000, regressor="quadratic"),
}


def _objective(space):
    from mixscale.objectives.function import FunctionObjective

    best = np.array([0.1, 0.6, 0.1, 0.1, 0.1])  # outside the constraints (code capped at 0.4)

    def fn(mixture, scale, steps):
        w = np.array([mixture[d] for d in DOMAINS])
        return float(((w - best) ** 2).sum() + 0.1 * (2 - space.scale_index(scale)) + 10.0 / steps)

    return FunctionObjective(space, fn)


@pytest.mark.parametrize("name", ["random", "hyperband", "mfbo", "regmix", "mfms-paper", "mfms"])
def test_every_strategy_asks_and_recommends_only_feasible_mixtures(name):
    from mixscale import strategies

    sp = constrained()
    obj = _objective(sp)
    strat = strategies.create(name, sp, obj.cost, seed=0, **OPTIONS.get(name, {}))
    asks, told = [], 0
    while len(asks) < 200:
        config = strat.ask()
        asks.append(config)
        if told < strat.get_params().get("n_init", 200) or name in ("random", "hyperband", "regmix"):
            strat.tell(config, obj.evaluate(config))
            told += 1
    W = np.array([c.weights(sp.domains) for c in asks])
    assert sp.polytope.violation(W).max() <= 1e-9
    rec = strat.recommend()
    assert sp.polytope.violation(np.array([rec.mixture[d] for d in sp.domains])).max() <= 1e-9
    sp.validate_mixture(rec.mixture)


# ------------------------------------------------------------------------------------------ study files
CONSTRAINED_STUDY = """
name = "capped"
strategy = "{strategy}"
budget = 1.5
seed = 2
[objective]
type = "simulator"
name = "analytic"
metric = "loss:c4"
[constraints]
bounds = {{ arxiv = [0, 0.05] }}
fixed = {{ book = 0.1 }}
tokens = {{ github = 1e9 }}
max_epochs = 4
target_tokens = 2e10
linear = ["wikipedia + stackexchange <= 0.8"]
{strategy_options}
"""


def test_study_file_with_constraints_runs_end_to_end_and_resumes(tmp_path):
    from typer.testing import CliRunner

    import mixscale
    from mixscale.cli import app

    runner = CliRunner()
    path = tmp_path / "s.toml"
    path.write_text(CONSTRAINED_STUDY.format(strategy="hyperband", strategy_options=""))
    url = f"sqlite:///{tmp_path}/c.db"
    first = runner.invoke(app, ["optimize", str(path), "--storage", url])
    out = " ".join(first.output.split())
    assert first.exit_code == 0, out
    assert "feasible region" in out and "recommended mixture" in out
    study = mixscale.load_study("capped", url)
    sp = study.space  # rebuilt from the stored space dict: the constraints survive, so resume checks pass
    assert sp.constrained and sp.feasible_region()["github"][1] == pytest.approx(0.2)
    from mixscale.study import studyfile

    spec = studyfile.load(path)
    assert sp == spec.objective.space
    study.check_compatible(spec.objective)
    W = np.array([t.config.weights(sp.domains) for t in study.trials])
    assert len(W) >= 3 and sp.polytope.violation(W).max() <= 1e-9
    assert study.recommendation is not None
    sp.validate_mixture(study.recommendation.mixture)
    report = runner.invoke(app, ["study", "report", "capped", "--storage", url, "-o", str(tmp_path / "rep")])
    assert report.exit_code == 0 and (tmp_path / "rep" / "mixture.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "replace, field",
    [
        ("arxiv = [0, 0.05]", "constraints.bounds.arxiv"),
        ("book = 0.1", "constraints"),
        ("max_epochs = 4", "constraints.max_epochs"),
    ],
)
def test_bad_constraints_table_fails_naming_the_field(tmp_path, replace, field):
    from typer.testing import CliRunner

    from mixscale.cli import app

    bad = {
        "arxiv = [0, 0.05]": "arxiv = [0.5, 0.05]",
        "book = 0.1": "book = 0.9, arxiv = 0.2",
        "max_epochs = 4": "max_epochs = -1",
    }[replace]
    text = CONSTRAINED_STUDY.format(strategy="random", strategy_options="").replace(replace, bad)
    path = tmp_path / "s.toml"
    path.write_text(text)
    result = CliRunner().invoke(app, ["optimize", str(path)])
    assert result.exit_code == 2
    assert field in result.output
