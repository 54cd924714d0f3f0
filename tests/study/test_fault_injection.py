"""Issue 12: the driver killed (SIGKILL) at 20+ seeded random points of one study; after every kill and resume no
completed trial is lost, changed or duplicated and no worker outlives its driver; the study then ends exactly where
an uninterrupted run in deterministic mode does."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import study_helpers

import mixscale
from mixscale.study.storage import Storage

HERE = Path(__file__).parent
KILLS = 20


def _trials(url: str) -> list:
    try:
        return mixscale.load_study("s", url).trials
    except mixscale.ValidationError:  # killed before the study was created
        return []


def _events(url: str) -> int | None:
    """The study's event counter while a driver holds it (None before that)."""
    try:
        store = Storage(url, read_only=True)
    except mixscale.ValidationError:
        return None
    try:
        row = store.study("s")
    except mixscale.ValidationError:
        return None
    finally:
        store.dispose()
    return row.events if row.driver is not None else None


def test_twenty_seeded_kills_lose_nothing_orphan_nothing_and_end_like_an_uninterrupted_run(db, dbs, tmp_path, request):
    # Sized so that 20 kills cannot finish the study on a fast machine: one driver lives at most ~3 events plus
    # one trial's delay past its start, i.e. a few trials, so 20 kills complete well under 100 trials.
    n_trials, workers, delay = 100, 2, "0.15"
    objective = study_helpers.objective(delay=float(delay))
    reference = mixscale.create_study(objective, storage=dbs.new(), name="s", strategy="random", seed=3)
    reference.optimize(objective, n_trials=n_trials, workers=workers, deterministic=True)

    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    cmd = [sys.executable, str(HERE / "study_driver.py"), db, "s", "random", str(workers), str(n_trials), delay,
           str(pid_dir)]  # fmt: skip
    rng = random.Random(2026)
    complete: dict[int, tuple] = {}
    kills = 0
    while kills < KILLS:
        driver = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        request.addfinalizer(driver.kill)  # a failing check leaves no driver behind
        # Kill at a random point of progress: after 0-3 more events (asks, results, recommendations) than the
        # study held when this driver took it, plus a random fraction of a trial: in replay, between an ask and
        # its commit, with trials running, while results are being stored.
        deadline, target = time.time() + 120, None
        while driver.poll() is None and time.time() < deadline:
            events = _events(db)
            if events is not None and target is None:
                target = events + rng.randint(0, 3)
            if target is not None and events is not None and events >= target:
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, float(delay)))
        if driver.poll() is not None:
            assert driver.returncode == 0, driver.stderr.read().decode()[-2000:]
            break  # finished before this kill: the remaining checks still apply
        os.kill(driver.pid, signal.SIGKILL)  # the driver alone: its workers must not outlive it
        driver.wait()
        kills += 1
        assert study_helpers.wait_gone([int(p.name) for p in pid_dir.iterdir()], timeout=15) == []
        trials = _trials(db)
        assert [t.number for t in trials] == list(range(len(trials)))  # nothing duplicated
        now = {t.number: (t.value, t.finished_at, t.config) for t in trials if t.state == "complete"}
        assert all(now.get(n) == v for n, v in complete.items())  # no completed trial lost or changed
        complete = now
    assert kills == KILLS, f"the study finished after {kills} kills: make it longer"
    assert 0 < len(complete) < n_trials

    final = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr[-2000:]
    resumed = mixscale.load_study("s", db)
    summary = [(t.number, t.state, t.config, t.value, t.eval_seed) for t in resumed.trials]
    assert summary == [(t.number, t.state, t.config, t.value, t.eval_seed) for t in reference.trials]
    assert resumed.recommendation == reference.recommendation
    assert all(resumed.trials[n].finished_at == v[1] for n, v in complete.items())
