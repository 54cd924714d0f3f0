"""A study on local Ray with two workers; a Ray worker that dies mid-trial is retried."""

from __future__ import annotations

import os

import pytest
import ray
import study_helpers

import mixscale
from mixscale import simulator
from mixscale.study.executors import RayExecutor


@pytest.fixture(scope="module")
def local_ray():
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.cloudpickle.register_pickle_by_value(study_helpers)  # Ray workers cannot import the test folder
    yield
    ray.shutdown()


def test_twelve_trials_on_local_ray_with_two_workers(tmp_path, local_ray):
    objective = simulator.load("analytic")
    study = mixscale.create_study(objective, storage=f"sqlite:///{tmp_path}/ray.db", strategy="random", seed=4)
    executor = RayExecutor(workers=2)
    try:
        rec = study.optimize(objective, n_trials=12, executor=executor)
    finally:
        executor.shutdown()
    stored = mixscale.load_study(None, f"sqlite:///{tmp_path}/ray.db").trials
    assert [t.number for t in stored] == list(range(12))
    assert all(t.state == "complete" and t.attempts == 1 and t.value is not None for t in stored)
    assert len({t.worker for t in stored}) >= 1 and all(t.worker for t in stored)
    assert rec == study.recommendation and rec is not None
    assert ray.is_initialized()  # an executor that did not start Ray leaves it running


def test_a_lost_ray_worker_is_retried(tmp_path, local_ray):
    objective = study_helpers.objective(study_helpers.crash_once, marker_dir=str(tmp_path))
    study = mixscale.create_study(objective, storage=f"sqlite:///{tmp_path}/lost.db", strategy="random")
    executor = RayExecutor(workers=2)
    try:
        study.optimize(objective, n_trials=4, executor=executor, max_retries=1)
    finally:
        executor.shutdown()
    t = study.trials[2]
    assert t.state == "complete" and t.attempts == 2 and t.failures == 1
    assert "Ray worker lost" in t.error
    assert all(t.state == "complete" for t in study.trials)
