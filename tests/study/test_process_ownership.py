"""Issue 12, item 2: an external training command dies with the trial that started it, whatever kills the driver;
what a previous driver left running is reaped before the trial runs again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import study_helpers

from mixscale.objectives import command
from mixscale.objectives.command import CommandTrainer
from mixscale.space import Config, Space

HERE = Path(__file__).parent
SRC = str(Path(command.__file__).resolve().parents[2])

# A launcher that starts a child of its own, notes both pids, and trains "forever".
LAUNCHER = """
import os, subprocess, sys, time, pathlib
d = pathlib.Path(sys.argv[1])
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
(d / str(child.pid)).touch()
(d / str(os.getpid())).touch()
time.sleep(300)
"""


def _study(tmp_path) -> Path:
    (tmp_path / "pids").mkdir()
    (tmp_path / "launcher.py").write_text(LAUNCHER)
    argv = json.dumps([sys.executable, str(tmp_path / "launcher.py"), str(tmp_path / "pids")])
    path = tmp_path / "s.toml"
    path.write_text(
        f'strategy = "random"\nbudget = 100.0\ndomains = ["a", "b"]\nsteps = [100, 200]\n'
        f'target = {{ scale = "big", steps = 200 }}\n[[scales]]\nname = "tiny"\n[[scales]]\nname = "big"\n'
        f'[objective]\ntype = "command"\nargv = {argv}\nruns_dir = "{tmp_path / "runs"}"\n'
        f"cost = {{ tiny = 1.0, big = 4.0 }}\n"
    )
    return path


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_external_commands_die_with_a_killed_driver(tmp_path, sig):
    path = _study(tmp_path)
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "mixscale.cli", "optimize", str(path), "--storage", f"sqlite:///{tmp_path}/k.db"]
    # A shell that starts pytest in the background without job control makes it ignore SIGINT, and children
    # inherit that; the driver must see Ctrl-C as a user's terminal delivers it.
    driver = subprocess.Popen(cmd + ["--workers", "2"], env=env, start_new_session=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    pids: list[int] = []
    try:
        deadline = time.time() + 90
        while len(pids) < 4 and time.time() < deadline and driver.poll() is None:
            time.sleep(0.1)
            pids = [int(p.name) for p in (tmp_path / "pids").iterdir()]
        assert len(pids) == 4, driver.stderr.read().decode()[-2000:] if driver.poll() is not None else pids
        os.kill(driver.pid, sig)  # the driver alone: its workers and their commands must follow by themselves
        driver.wait(timeout=60)
        assert study_helpers.wait_gone(pids, timeout=20) == []
    finally:
        for pid in [driver.pid, *pids]:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _trainer(tmp_path) -> CommandTrainer:
    argv = [sys.executable, str(HERE / "fake_trainer.py"), "--mixture-file", "{mixture_file}",
            "--mixture-json", "{mixture_json}", "--steps", "{steps}", "--out", "{output_dir}"]  # fmt: skip
    space = Space(["a", "b"], ["tiny", "big"], [100, 200])
    return CommandTrainer(space, argv, cost={"tiny": 1.0, "big": 4.0}, runs_dir=tmp_path / "runs")


def _orphan(trial_dir: Path, attempt: int, start: str | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    d = trial_dir / f"attempt-{attempt}"
    d.mkdir(parents=True)
    (d / command.PIDFILE).write_text(json.dumps({"pgid": proc.pid, "start": start or command._start_time(proc.pid)}))
    return proc


def test_an_orphaned_command_of_an_earlier_attempt_is_reaped_before_the_trial_runs_again(tmp_path):
    trial_dir = tmp_path / "runs" / "s" / "trial-00001"
    orphan = _orphan(trial_dir, 1)  # as a driver killed together with its watchdogs would leave it
    stranger = _orphan(trial_dir, 2, start="1")  # same pid, other start time: a recycled pid, never signalled
    try:
        obs = _trainer(tmp_path).evaluate(Config({"a": 0.5, "b": 0.5}, "tiny", 100), run_name="s/trial-00001/attempt-3")
        assert obs.value > 0
        assert orphan.wait(timeout=10) == -signal.SIGKILL
        assert stranger.poll() is None
        assert not (trial_dir / "attempt-1" / command.PIDFILE).exists()
        assert not (trial_dir / "attempt-3" / command.PIDFILE).exists()  # removed when the command ended
    finally:
        for p in (orphan, stranger):
            p.kill()
            p.wait()


def test_a_finished_launcher_leaves_no_stragglers(tmp_path):
    script = tmp_path / "leaves.py"
    script.write_text(
        "import subprocess, sys, json, pathlib\n"
        "p = subprocess.Popen(['sleep', '300'])\n"
        "out = pathlib.Path(sys.argv[1])\n"
        "(out / 'straggler').write_text(str(p.pid))\n"
        "(out / 'metrics.json').write_text(json.dumps({'loss': 1.0}))\n"
    )
    space = Space(["a", "b"], ["tiny", "big"], [100, 200])
    trainer = CommandTrainer(space, [sys.executable, str(script), "{output_dir}"], cost={"tiny": 1.0, "big": 4.0},
                             runs_dir=tmp_path / "runs")  # fmt: skip
    obs = trainer.evaluate(Config({"a": 0.5, "b": 0.5}, "tiny", 100), run_name="one")
    straggler = int((Path(obs.info["output_dir"]) / "straggler").read_text())
    assert study_helpers.wait_gone([straggler], timeout=10) == []


def test_local_executor_shutdown_is_bounded_and_leaves_no_worker(monkeypatch):
    """A driver told to stop must stop: even when the pool's own join never returns (pebble ignores its timeout
    once a pool is stopped), ``shutdown`` gives up on it and kills the workers that are still running a trial."""
    import multiprocessing

    from mixscale.study.executors import Job, LocalExecutor

    executor = LocalExecutor(workers=2)
    executor.start(study_helpers.objective(delay=300.0))
    for n in range(2):
        executor.submit(Job(n, 1, {"a": 0.2, "b": 0.3, "c": 0.5}, "s", 100, seed=n))
    deadline = time.time() + 60
    while len([c for c in multiprocessing.active_children() if c.name.startswith("pebble")]) < 2:
        assert time.time() < deadline, "the workers never started"
        time.sleep(0.1)
    pool = executor._pool
    monkeypatch.setattr(pool, "join", lambda *a, **k: time.sleep(3600))  # as if pebble's join hung
    import threading

    stopper = threading.Thread(target=executor.shutdown, kwargs={"timeout": 1.0}, daemon=True)
    stopper.start()
    stopper.join(120)  # a liveness bound, not a timing claim: without the bound, shutdown never returns
    assert not stopper.is_alive(), "shutdown hung on the pool's join"
    assert executor._pool is None and executor.running() == 0
    assert [c for c in multiprocessing.active_children() if c.name.startswith("pebble")] == []
