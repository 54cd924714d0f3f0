"""An objective that really trains: each query runs our GPT trainer on the built corpora.

`TrainingObjective(data, scales, steps)` turns a query (w, m, z) into a training run of the ladder scale m for z
steps on mixture w and answers the validation bits per byte of `metric` (with the learning curve). The space's
scales carry their exact non-embedding parameter counts and tokens per step, so the cost is FLOPs in target-run
units like every other objective. Runs are cached on disk by configuration: a study resumed after a crash does not
retrain what already finished, and an interrupted run resumes from its checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from mixscale.data.tokenizer import TokenizedCorpus
from mixscale.errors import ValidationError
from mixscale.objective import Metric, Observation
from mixscale.space import Config, Scale, Space
from mixscale.train.ladder import CPU_LADDER, GPU_LADDER, LadderScale
from mixscale.train.model import GPT
from mixscale.train.trainer import TrainConfig, train


def _ladder_scale(spec, where: str) -> LadderScale:
    known = {s.name: s for s in CPU_LADDER + GPU_LADDER}
    if isinstance(spec, str):
        if spec not in known:
            raise ValidationError(where, f"unknown ladder scale {spec!r}; known: {list(known)} (or give a table)")
        return known[spec]
    if isinstance(spec, dict):
        try:
            return LadderScale(
                str(spec["name"]), int(spec["n_layer"]), int(spec["n_head"]), int(spec["d_model"]), 0,
                float(spec.get("lr", 3e-3)), 0,
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as e:
            raise ValidationError(where, f"a scale table needs name, n_layer, n_head, d_model (and lr): {e}") from None
    raise ValidationError(where, f"must be a ladder scale name or a table, got {spec!r}")


class TrainingObjective:
    def __init__(
        self,
        data: str | Path,
        scales: list,
        steps: list[int],
        metric: str = "loss:avg",
        target: tuple[str, int] | None = None,
        runs_dir: str | Path = "runs",
        batch_size: int = 8,
        context: int = 64,
        threads: int = 1,
        device: str = "cpu",
    ) -> None:
        self.corpus = TokenizedCorpus.open(data)
        domains = self.corpus.domains
        names = {f"loss:{d}" for d in domains} | {"loss:avg"}
        if metric not in names:
            raise ValidationError("objective.metric", f"must be one of {sorted(names)}, got {metric!r}")
        if not isinstance(scales, list) or not scales:
            raise ValidationError("scales", "must be a non-empty list")
        self.ladder = {}
        space_scales = []
        for i, spec in enumerate(scales):
            s = _ladder_scale(spec, f"scales[{i}]")
            n = GPT(TrainConfig({domains[0]: 1.0}, 1, s.n_layer, s.n_head, s.d_model, context=context).gpt(
                self.corpus.vocab_size
            )).non_embedding_params()  # fmt: skip
            self.ladder[s.name] = s
            space_scales.append(Scale(s.name, float(n), float(batch_size * context)))
        space_scales.sort(key=lambda s: s.params)
        self.space = Space(domains, tuple(space_scales), tuple(steps), target)
        self.metric = Metric(metric, minimize=True)
        self.runs_dir = Path(runs_dir)
        self.batch_size, self.context, self.threads, self.device = batch_size, context, threads, device

    def cost(self, scale: str, steps: int) -> float:
        return self.space.cost(scale, steps)

    def config_for(self, config: Config, seed: int | None) -> TrainConfig:
        s = self.ladder[config.scale]
        w = self.space.validate_mixture(config.mixture)
        mixture = dict(zip(self.space.domains, map(float, w), strict=True))
        seed = 0 if seed is None else int(seed) % 2**31
        return s.train_config(mixture, int(config.steps), seed, self.batch_size, self.context)

    def evaluate(self, config: Config, seed: int | None = None) -> Observation:
        cfg = self.config_for(config, seed)
        key = hashlib.sha256(json.dumps(cfg.__dict__, sort_keys=True).encode()).hexdigest()[:16]
        torch.set_num_threads(self.threads)
        record = train(cfg, self.corpus, self.runs_dir / f"{cfg.scale}-{cfg.steps}-{key}", self.device)
        name = self.metric.name.split(":", 1)[1]
        curve = tuple((int(p["step"]), float(p[name])) for p in record["curve"])
        info = {"train_seconds": record["train_seconds"], "tokens_per_second": record["tokens_per_second"]}
        return Observation(curve[-1][1], self.cost(config.scale, config.steps), curve, info)
