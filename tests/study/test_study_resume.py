"""Resume after SIGKILL, failures that do not stop a study, retries, budget, constant liar and exact replay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import study_helpers

import mixscale
from mixscale import strategies
from mixscale.study.storage import Storage
from mixscale.study.trial import FAILED_CHARGE

HERE = Path(__file__).parent


def _complete(url: str, name: str) -> list:
    try:
        return [t for t in mixscale.load_study(name, url).trials if t.state == "complete"]
    except Exception:  # noqa: BLE001 - the driver may not have created the study yet
        return []


def _summary(study):
    return [(t.number, t.state, t.config, t.value, t.eval_seed) for t in study.trials]


def test_sigkill_mid_study_then_resume_matches_an_uninterrupted_run(dbs):
    n_trials, workers = 10, 2
    # Reference: the same study, never interrupted.
    objective = study_helpers.objective(delay=0.05)
    reference = mixscale.create_study(objective, storage=dbs.new(), name="s",
                                      strategy="random", seed=3)  # fmt: skip
    reference.optimize(objective, n_trials=n_trials, workers=workers, deterministic=True)

    url = dbs.new()
    cmd = [sys.executable, str(HERE / "study_driver.py"), url, "s", "random", str(workers), str(n_trials), "0.4"]
    driver = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while len(_complete(url, "s")) < 3 and time.time() < deadline and driver.poll() is None:
        time.sleep(0.1)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and its worker processes, mid-study
    driver.wait()
    before = {t.number: t for t in mixscale.load_study("s", url).trials}
    done_before = {n: t for n, t in before.items() if t.state == "complete"}
    running_before = [n for n, t in before.items() if t.state == "running"]
    assert 3 <= len(done_before) < n_trials, driver.stderr.read().decode()[-2000:]
    assert running_before, "the kill should catch trials running"

    out = subprocess.run(cmd[:-1] + ["0.05"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    resumed = mixscale.load_study("s", url)
    trials = resumed.trials
    assert [t.number for t in trials] == list(range(n_trials))  # nothing duplicated
    assert all(t.state == "complete" for t in trials)
    for n, t in done_before.items():  # completed trials kept as they were
        after = trials[n]
        assert (after.value, after.attempts, after.finished_at) == (t.value, t.attempts, t.finished_at)
    for n in running_before:  # trials that were running were run again
        assert trials[n].attempts == before[n].attempts + 1
    assert _summary(resumed) == _summary(reference)
    assert resumed.recommendation == reference.recommendation
    assert resumed.driver == (None, None)  # the lease was released


def test_failing_trials_are_recorded_and_the_study_goes_on(tmp_path):
    objective = study_helpers.objective(study_helpers.troubled)
    study = mixscale.create_study(objective, storage=f"sqlite:///{tmp_path}/f.db", strategy="random", seed=0)
    study.optimize(objective, n_trials=6, workers=2, timeout=1.0, max_retries=1)
    trials = {t.number: t for t in study.trials}
    assert [trials[n].state for n in range(6)] == ["complete", "failed", "failed", "failed", "complete", "complete"]
    assert "ValueError: the trainer blew up" in trials[1].error
    assert "nan" in trials[2].error and "invalid" in trials[2].error
    assert "timed out after 1 s" in trials[3].error
    for n in (1, 2, 3):
        assert trials[n].attempts == 2 and trials[n].failures == 2  # retried once, then given up
        assert trials[n].value is None  # failure policy: charged its expected cost (FAILED_CHARGE = 1.0)
        assert trials[n].cost == pytest.approx(
            FAILED_CHARGE * objective.cost(trials[n].config.scale, trials[n].config.steps)
        )
    assert study.recommendation is not None and len(study.recommendations) == 3


def test_a_worker_process_that_dies_is_retried(tmp_path):
    objective = study_helpers.objective(study_helpers.crash_once, marker_dir=str(tmp_path))
    study = mixscale.create_study(objective, storage=f"sqlite:///{tmp_path}/c.db", strategy="random", seed=0)
    study.optimize(objective, n_trials=4, workers=2, max_retries=1)
    t = study.trials[2]
    assert t.state == "complete" and t.attempts == 2 and t.failures == 1
    assert "lost" in t.error and "died" in t.error
    assert all(t.state == "complete" for t in study.trials)


def test_budget_prunes_the_overrunning_proposal_and_a_rerun_adds_nothing(db):
    objective = study_helpers.objective()
    url = db
    study = mixscale.create_study(objective, storage=url, strategy="random", seed=0)
    study.optimize(objective, budget=2.5, workers=1)
    states = [t.state for t in study.trials]
    assert states == ["complete", "complete", "pruned"]  # random asks full target runs (cost 1 each)
    assert "budget 2.5" in study.trials[-1].error
    assert study.spent == pytest.approx(2.0)
    again = mixscale.load_study(None, url)
    again.optimize(objective, budget=2.5, workers=1)
    assert len(again.trials) == 3
    again.optimize(objective, budget=4.0, workers=1)  # a larger budget continues the same study
    assert [t.state for t in again.trials].count("complete") == 4


def test_replay_rebuilds_a_model_based_strategy_exactly(tmp_path):
    objective = study_helpers.objective()
    url = f"sqlite:///{tmp_path}/m.db"
    options = {"n_init": 2, "n_pool": 64, "n_targets": 16}
    study = mixscale.create_study(objective, storage=url, strategy="mfms", seed=1, strategy_options=options)
    study.optimize(objective, n_trials=4, workers=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a replay that diverges from the stored asks warns
        fresh = mixscale.load_study(None, Storage(url))
        strategy = fresh._replay(objective)
    assert strategy.recommend() == study.recommendation  # warm-started GP state identical
    assert len(strategy.history) == 4


def test_constant_liar_spreads_pending_proposals():
    objective = study_helpers.objective()
    s = strategies.create("mfms", objective.space, objective.cost, True, 0, n_init=2, n_pool=64, n_targets=16)
    for _ in range(3):
        c = s.ask()
        s.tell(c, objective.evaluate(c))
    before = (len(s.history), s.history.revision)
    s.rng = __import__("numpy").random.default_rng(5)
    first = s.ask()
    s.rng = __import__("numpy").random.default_rng(5)
    second = s.ask_pending([first])
    assert len(s.history) == before[0] and s.history.revision > before[1]  # lies removed, caches invalidated
    assert second != first


def test_incompatible_objective_and_duplicate_names_are_refused(tmp_path):
    objective = study_helpers.objective()
    url = f"sqlite:///{tmp_path}/i.db"
    mixscale.create_study(objective, storage=url, name="x", strategy="random")
    with pytest.raises(mixscale.ValidationError, match="already exists"):
        mixscale.create_study(objective, storage=url, name="x", strategy="random")
    with pytest.raises(mixscale.ValidationError) as err:
        mixscale.create_study(objective, storage=url, name="x", strategy="mfms", load_if_exists=True)
    assert err.value.field == "strategy"
    from mixscale import simulator

    other = simulator.load("analytic")
    with pytest.raises(mixscale.ValidationError) as err:
        mixscale.load_study("x", url).optimize(other, n_trials=1)
    assert err.value.field == "domains"
