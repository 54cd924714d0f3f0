"""The pre-training sweep: a scale ladder × mixtures × seeds, run resumably, collected into a runs table.

Design (after the seed paper's 472 OLMo runs): every scale trains the *same* list of mixtures — the uniform mixture,
the k vertices, then Dirichlet(1) draws — and smaller scales train more of them (`runs` per scale). A subset of
configurations (`replicates`) is repeated with extra seeds at every scale to measure seed noise. The schedule is
matched across scales: every scale trains the same number of steps of the same batch (the same tokens, the same
learning-rate schedule length), so one step grid serves the whole ladder and scales compare at equal data; the
peak learning rate falls with width.

The plan is ordered round-robin over scales so that a sweep stopped at any point has runs at every scale in
proportion to the plan. Each run lives in `out/runs/<run_id>/` (checkpoint while running, `record.json` when done);
re-running the sweep skips finished runs and resumes unfinished ones from their checkpoint. `collect` turns the
records into the runs table (`mixscale.runs`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mixscale.errors import ValidationError
from mixscale.train.ladder import CPU_LADDER, GPU_LADDER, LadderScale


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    scale: LadderScale
    mixture_index: int
    mixture: dict[str, float]
    seed: int


@dataclass(frozen=True)
class SweepPlan:
    domains: tuple[str, ...]
    ladder: tuple[LadderScale, ...] = CPU_LADDER
    replicates: tuple[int, ...] = (0, 8, 9, 10)  # uniform + three Dirichlet mixtures
    extra_seeds: tuple[int, ...] = (1, 2)
    mixture_seed: int = 0
    batch_size: int = 8
    context: int = 64

    def mixtures(self) -> list[dict[str, float]]:
        """Uniform, the vertices, then Dirichlet(1) draws — one list shared by every scale."""
        k = len(self.domains)
        n = max(s.runs for s in self.ladder)
        rows = [np.full(k, 1.0 / k)] + [np.eye(k)[i] for i in range(k)]
        rng = np.random.default_rng(self.mixture_seed)
        rows += list(rng.dirichlet(np.ones(k), size=max(0, n - len(rows))))
        return [{d: float(round(x, 6)) for d, x in zip(self.domains, r, strict=True)} for r in rows[:n]]

    def specs(self) -> list[RunSpec]:
        mixtures = self.mixtures()
        per_scale: list[list[RunSpec]] = []
        for s in self.ladder:
            runs = []
            for i in range(s.runs):
                seeds = (0, *self.extra_seeds) if i in self.replicates else (0,)
                w = _normalized(mixtures[i])
                runs += [RunSpec(f"{s.name}-m{i:03d}-s{seed}", s, i, w, seed) for seed in seeds]
            per_scale.append(runs)
        ordered = []  # round-robin over scales, in plan order within a scale
        for j in range(max(len(r) for r in per_scale)):
            ordered += [r[j] for r in per_scale if j < len(r)]
        return ordered


def _normalized(w: dict[str, float]) -> dict[str, float]:
    total = sum(w.values())
    return {d: x / total for d, x in w.items()}


def _train_one(spec: RunSpec, plan: SweepPlan, data: str, out: str, device: str, threads: int) -> tuple[str, float]:
    import torch

    from mixscale.data.tokenizer import TokenizedCorpus
    from mixscale.train.trainer import train

    torch.set_num_threads(threads)  # 1 per process: 2-thread OpenMP collapses when the other core is busy
    cfg = spec.scale.train_config(spec.mixture, spec.scale.steps, spec.seed, plan.batch_size, plan.context)
    record = train(cfg, TokenizedCorpus.open(data), Path(out) / "runs" / spec.run_id, device, checkpoint_every=100)
    return spec.run_id, record["train_seconds"] + record["eval_seconds"]


def run_sweep(
    plan: SweepPlan,
    data: str | Path,
    out: str | Path,
    workers: int = 1,
    threads: int = 1,
    device: str = "cpu",
    limit: int | None = None,
    on_done: Callable[[str, float, int, int], None] | None = None,
) -> Path:
    """Run every unfinished run of the plan (at most `limit` this call) and (re)write `out/runs.parquet`."""
    from mixscale.runs import collect

    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(json.dumps({"domains": plan.domains, "specs": [s.run_id for s in plan.specs()]}))
    todo = [s for s in plan.specs() if not (out / "runs" / s.run_id / "record.json").is_file()]
    if limit is not None:
        todo = todo[:limit]
    total = len(todo)
    if workers <= 1:
        for k, spec in enumerate(todo, 1):
            run_id, seconds = _train_one(spec, plan, str(data), str(out), device, threads)
            collect(out)
            if on_done:
                on_done(run_id, seconds, k, total)
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(_train_one, s, plan, str(data), str(out), device, threads) for s in todo]
            for k, fut in enumerate(as_completed(futures), 1):
                run_id, seconds = fut.result()
                collect(out)
                if on_done:
                    on_done(run_id, seconds, k, total)
    return collect(out)


def plan_for(domains: tuple[str, ...], scales: list[str] | None = None, gpu: bool = False) -> SweepPlan:
    """The default plan on the given domains; `gpu` switches to the larger ladder with longer context."""
    plan = SweepPlan(domains=domains)
    if gpu:
        plan = replace(plan, ladder=GPU_LADDER, batch_size=32, context=256)
    if scales:
        known = {s.name: s for s in plan.ladder}
        bad = [s for s in scales if s not in known]
        if bad:
            raise ValidationError("scales", f"unknown scale {bad[0]!r}; the ladder has {list(known)}")
        plan = replace(plan, ladder=tuple(known[s] for s in scales))
    return plan


def default_threads() -> int:
    return max(1, (os.cpu_count() or 1) // 2)
