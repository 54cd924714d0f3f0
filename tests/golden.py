"""Golden run: one seed of every strategy on the analytic simulator, recorded to catch behaviour drift.

Regenerate (only when a change of behaviour is intended, and say so in the commit):
    python tests/golden.py --write
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

GOLDEN = Path(__file__).parent / "data" / "golden_analytic.json"
STRATEGIES = ("random", "hyperband", "mfbo", "regmix", "mfms-paper", "mfms")
BUDGET = 2.0


def golden_run() -> dict[str, dict]:
    """Per strategy: queries made, final regret and the final recommended mixture (rounded)."""
    import torch

    from mixscale import bench
    from mixscale.simulator import AnalyticSimulator

    torch.set_num_threads(1)
    objective = AnalyticSimulator()
    result = bench.run(objective, strategies=STRATEGIES, seeds=[0], budget=BUDGET, workers=1)
    out = {}
    for name, df in result.traces.groupby("strategy", sort=False):
        last = df.iloc[-1]
        out[name] = {
            "queries": int(last["queries"]),
            "regret": round(float(last["regret"]), 6),
            "mixture": {k: round(v, 4) for k, v in json.loads(last["mixture"]).items()},
        }
    return out


if __name__ == "__main__":
    got = golden_run()
    if "--write" in sys.argv:
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    print(json.dumps(got, indent=1, sort_keys=True))
