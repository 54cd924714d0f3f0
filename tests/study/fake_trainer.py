"""A stand-in for a user's training script: reads its mixture, writes metrics as JSON or CSV."""

import argparse
import json
import sys
import time
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("--mixture-file")
p.add_argument("--mixture-json")
p.add_argument("--scale")
p.add_argument("--steps", type=int)
p.add_argument("--seed", type=int)
p.add_argument("--out")
p.add_argument("--format", default="json")
p.add_argument("--exit", type=int, default=0)
p.add_argument("--sleep", type=float, default=0.0)
args = p.parse_args()
out = Path(args.out)
(out / "argv.json").write_text(json.dumps(sys.argv[1:]))
print(f"training {args.scale} for {args.steps} steps")
print("a warning on stderr", file=sys.stderr)
if args.sleep:
    time.sleep(args.sleep)
if args.exit:
    print("CUDA out of memory (pretend)", file=sys.stderr)
    sys.exit(args.exit)
mixture = json.loads(Path(args.mixture_file).read_text())
assert mixture == json.loads(args.mixture_json)
loss = 3.0 + (mixture["a"] - 0.5) ** 2 + 100.0 / args.steps
curve = [(s, loss + 10.0 / s) for s in range(50, args.steps + 1, 50)]
if args.format == "json":
    (out / "metrics.json").write_text(json.dumps({"loss": loss, "curve": curve}))
else:
    rows = ["step,loss"] + [f"{s},{v}" for s, v in curve] + [f"{args.steps},{loss}"]
    (out / "metrics.csv").write_text("\n".join(rows) + "\n")
