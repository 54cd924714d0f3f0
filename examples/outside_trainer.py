"""An outside objective for ``examples/callable.toml``: any ``fn(mixture, scale, steps) -> float`` plugs in.

Here a toy stand-in for a user's training script: a loss that falls with scale and steps, with a best mixture
that moves with scale. Replace ``train`` with a call into your own stack.
"""

from __future__ import annotations

import math

SCALES = ["tiny", "small", "base"]


def train(mixture: dict[str, float], scale: str, steps: int) -> float:
    i = SCALES.index(scale)
    best = {"web": 0.5 - 0.1 * i, "code": 0.2 + 0.1 * i, "books": 0.3}
    mismatch = sum((mixture[d] - best[d]) ** 2 for d in best)
    return 3.2 - 0.3 * i - 0.1 * math.log10(steps) + mismatch
