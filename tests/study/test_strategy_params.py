"""A study stores every strategy parameter as resolved at creation (``get_params``), so defaults cannot drift."""

import pytest
import study_helpers

import mixscale
from mixscale import strategies
from mixscale.errors import ValidationError


def test_a_study_stores_every_resolved_parameter_and_replays_with_them(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 's.db'}"
    objective = study_helpers.objective()
    study = mixscale.create_study(objective, storage=url, name="p", strategy="mfbo", seed=0)
    stored = study.strategy_options
    probe = strategies.create("mfbo", objective.space, objective.cost, True, 0)
    assert stored == {k: v for k, v in probe.get_params().items() if k not in ("minimize", "seed")}
    study.optimize(objective, budget=0.3)
    study.storage.dispose()

    # A later release changes a default: the stored study still replays with the value it was created with.
    original = strategies.REGISTRY["mfbo"].__init__
    changed = {}

    def init_with_new_default(self, space, cost=None, minimize=True, seed=0, n_init=99, n_targets=128, n_pool=1024):
        changed["n_init"] = n_init
        original(self, space, cost, minimize=minimize, seed=seed, n_init=n_init, n_targets=n_targets, n_pool=n_pool)

    monkeypatch.setattr(strategies.REGISTRY["mfbo"], "__init__", init_with_new_default)
    again = mixscale.load_study("p", url)
    again._replay(objective)
    assert changed["n_init"] == stored["n_init"] != 99
    again.storage.dispose()


def test_resuming_with_options_checks_them_against_the_stored_ones(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    objective = study_helpers.objective()
    first = mixscale.create_study(objective, storage=url, name="p", strategy="mfbo", strategy_options={"n_init": 4})
    first.storage.dispose()
    same = mixscale.create_study(
        objective, storage=url, name="p", strategy="mfbo", strategy_options={"n_init": 4}, load_if_exists=True
    )
    same.storage.dispose()
    with pytest.raises(ValidationError) as info:
        mixscale.create_study(
            objective, storage=url, name="p", strategy="mfbo", strategy_options={"n_init": 7}, load_if_exists=True
        )
    assert info.value.field == "strategy_options"
