"""Objectives for the study tests. They live in a module (not a test file) so worker processes can import them."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

from mixscale.objectives.function import FunctionObjective
from mixscale.space import Space

STRIDE = 100003  # mixscale.study.EVAL_SEED_STRIDE: eval seed = study seed * STRIDE + trial number


def toy_space() -> Space:
    return Space(["a", "b", "c"], [("s", 1e6, 1e4), ("m", 4e6, 1e4), ("l", 1.6e7, 1e4)], [100, 300, 1000])


def bowl(mixture, scale, steps, seed=None, delay=0.0):
    """Deterministic given (config, seed); sleeps ``delay`` seconds to stand in for training time."""
    if delay:
        time.sleep(delay)
    w = np.array([mixture[d] for d in ("a", "b", "c")])
    size = {"s": 1.0, "m": 2.0, "l": 4.0}[scale]
    noise = 0.0 if seed is None else 0.01 * np.random.default_rng(seed).standard_normal()
    value = 2.0 + 1.0 / size + 1000.0 / steps / size + float(((w - [0.5, 0.3, 0.2]) ** 2).sum()) + noise
    return {"value": value, "curve": [(s, value + 0.1 * (steps / s - 1)) for s in (100, 300, 1000) if s <= steps]}


def troubled(mixture, scale, steps, seed=None):
    """Trial 1 raises, trial 2 returns NaN, trial 3 hangs; the others are fine."""
    number = seed % STRIDE
    if number == 1:
        raise ValueError("the trainer blew up")
    if number == 2:
        return math.nan
    if number == 3:
        time.sleep(60)
    return bowl(mixture, scale, steps, seed)


def crash_once(mixture, scale, steps, seed=None, marker_dir=""):
    """The worker process dies (as if the machine went away) on the first attempt of trial 2."""
    number = seed % STRIDE
    marker = Path(marker_dir) / f"crashed-{number}"
    if number == 2 and not marker.exists():
        marker.write_text("x")
        os._exit(13)
    return bowl(mixture, scale, steps, seed)


def objective(fn=bowl, **kwargs) -> FunctionObjective:
    import functools

    return FunctionObjective(toy_space(), functools.partial(fn, **kwargs) if kwargs else fn)


def always_fails(mixture, scale, steps, seed=None):
    """Every trial raises (as an out-of-memory trainer would)."""
    raise RuntimeError("OOM")


def recording(mixture, scale, steps, seed=None, pid_dir="", delay=0.0):
    """``bowl``, noting which process evaluated it (so a test can check that no worker outlives its driver)."""
    if pid_dir:
        (Path(pid_dir) / str(os.getpid())).touch()
    return bowl(mixture, scale, steps, seed, delay)


def gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie waiting for a reaper counts as gone: it runs nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def wait_gone(pids, timeout: float = 10.0) -> list[int]:
    """The pids still running after ``timeout`` seconds."""
    deadline = time.time() + timeout
    alive = list(pids)
    while alive and time.time() < deadline:
        alive = [p for p in alive if not gone(p)]
        if alive:
            time.sleep(0.05)
    return alive
