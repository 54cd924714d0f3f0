"""The scale ladder: rungs of compact GPTs (shape, matched schedule, how many mixtures each trains)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LadderScale:
    """One rung: model shape, its matched schedule (steps, peak learning rate) and how many mixtures it trains."""

    name: str
    n_layer: int
    n_head: int
    d_model: int
    steps: int
    lr: float
    runs: int

    def train_config(self, mixture: dict[str, float], steps: int, seed: int, batch_size: int, context: int):
        """The trainer's configuration for one run of this rung."""
        from mixscale.train.trainer import TrainConfig

        return TrainConfig(
            mixture=mixture,
            steps=steps,
            n_layer=self.n_layer,
            n_head=self.n_head,
            d_model=self.d_model,
            batch_size=batch_size,
            context=context,
            lr=self.lr,
            seed=seed,
            scale=self.name,
        )


# Tiny GPTs that a 2-core CPU trains in seconds to a minute each; 13k → 793k non-embedding parameters (62×).
CPU_LADDER = (
    LadderScale("13k", 1, 2, 32, steps=600, lr=1e-2, runs=100),
    LadderScale("57k", 2, 2, 48, steps=600, lr=8e-3, runs=72),
    LadderScale("100k", 2, 2, 64, steps=600, lr=8e-3, runs=52),
    LadderScale("336k", 3, 4, 96, steps=600, lr=6e-3, runs=32),
    LadderScale("793k", 4, 4, 128, steps=600, lr=4e-3, runs=26),
)
# A GPU slice: the same recipe continued upwards (context 256, batch 32 — set by `SweepPlan.for_gpu`).
GPU_LADDER = (
    LadderScale("3.2M", 4, 8, 256, steps=2000, lr=2e-3, runs=24),
    LadderScale("12.6M", 8, 8, 384, steps=3000, lr=1.5e-3, runs=16),
)
