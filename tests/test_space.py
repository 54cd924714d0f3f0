import numpy as np
import pytest

from mixscale.errors import ValidationError
from mixscale.objective import make_cost
from mixscale.objectives.function import FunctionObjective
from mixscale.space import Space


def space():
    return Space(["web", "code"], [("s", 1e6, 1000), ("l", 1e7, 2000)], [100, 1000])


def test_cost_is_6ND_in_target_units():
    sp = space()
    assert sp.cost("l", 1000) == 1.0
    assert sp.flops("s", 100) == 6 * 1e6 * 1000 * 100
    assert np.isclose(sp.cost("s", 100), (1e6 * 1000 * 100) / (1e7 * 2000 * 1000))


@pytest.mark.parametrize(
    "mixture, field",
    [
        ({"web": 0.5}, "mixture.code"),
        ({"web": 0.5, "code": 0.5, "books": 0.0}, "mixture.books"),
        ({"web": -0.1, "code": 1.1}, "mixture.web"),
        ({"web": float("nan"), "code": 1.0}, "mixture.web"),
        ({"web": "a lot", "code": 1.0}, "mixture.web"),
        ({"web": 0.6, "code": 0.6}, "mixture"),
        ([0.5, 0.2, 0.3], "mixture"),
    ],
)
def test_invalid_mixtures_name_the_field(mixture, field):
    with pytest.raises(ValidationError) as info:
        space().validate_mixture(mixture)
    assert info.value.field == field


def test_valid_mixture_in_either_form():
    sp = space()
    assert np.allclose(sp.validate_mixture({"code": 0.25, "web": 0.75}), [0.75, 0.25])
    assert np.allclose(sp.validate_mixture([0.75, 0.25]), [0.75, 0.25])


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(domains=["a"]), "domains"),
        (dict(domains=["a", "a"]), "domains"),
        (dict(steps=[1000, 100]), "steps"),
        (dict(target=("xl", 1000)), "target.scale"),
        (dict(target=("l", 500)), "target.steps"),
        (dict(scales=[("s", -1, 10)]), "scales.s.params"),
    ],
)
def test_bad_space_names_the_field(kwargs, field):
    args = dict(domains=["web", "code"], scales=[("s", 1e6, 1000), ("l", 1e7, 2000)], steps=[100, 1000])
    args.update(kwargs)
    with pytest.raises(ValidationError) as info:
        Space(**args)
    assert info.value.field == field


def test_named_scales_need_a_cost_from_the_objective():
    sp = Space(["a", "b"], ["small", "big"], [10, 20])
    with pytest.raises(ValidationError):
        sp.cost("small", 10)
    with pytest.raises(ValidationError):
        FunctionObjective(sp, lambda m, s, z: 0.0)
    per_step = make_cost(sp, {"small": 1.0, "big": 4.0})
    assert per_step("big", 20) == 1.0 and per_step("small", 10) == 10 / 80
    table = make_cost(sp, {("small", 10): 2.0, ("small", 20): 3.0, ("big", 10): 5.0, ("big", 20): 8.0})
    assert table("big", 20) == 1.0 and table("small", 10) == 0.25
    with pytest.raises(ValidationError):
        make_cost(sp, {("small", 10): 2.0})
    with pytest.raises(ValidationError):
        make_cost(sp, {"small": 1.0, "big": -4.0})
