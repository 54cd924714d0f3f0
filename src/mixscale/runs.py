"""The runs table: every pre-training run's learning curve, one row per (run, evaluation step).

Schema (Parquet or CSV; `validate` checks it and names the first bad column and row):

| column | type | meaning |
|---|---|---|
| `run_id` | str | one training run (same id on all rows of its curve) |
| `scale` | str | scale name on the ladder |
| `params` | int > 0 | non-embedding parameters N |
| `tokens_per_step` | int > 0 | batch size × context |
| `max_steps` | int > 0 | the run's planned length (its learning-rate schedule ends there); may differ by scale |
| `w:<domain>` | float ≥ 0 | mixture weights, summing to 1 per row |
| `loss:<domain>`, `loss:avg` | float | validation cross-entropy (minimized), in the table's `unit` |

Optional, with defaults: `step` (int, step ≤ max_steps; default `max_steps`: a table of final values, one row per
run), `seed` (int; default 0), `unit` (one of `UNITS`, the same on every row; default `bits_per_byte`, what our
sweep records — a table that mixes units is rejected, never converted).

Optional repetition columns: `epochs:<domain>` (float ≥ 0), how many times the run went through the domain's unique
tokens by that row's step (our trainer counts the sequences it draws per domain; imported tables may omit them), and
`unique_tokens:<domain>` (the domain's unique training tokens, when capped to match a target's repetition).

Optional provenance columns written by our sweep: `flops` (6·N·tokens so far), `train_seconds`, `code_version`,
`hardware`, `torch`, `tokenizer_sha256`, `corpus_sha256` (JSON of domain → hash), `mixture_index`.

An external table only needs the required columns (and at least one `loss:` or `accuracy:` metric column), so
runs made with any stack import the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mixscale.errors import ValidationError
from mixscale.space import training_flops

REQUIRED = ("run_id", "scale", "params", "tokens_per_step", "max_steps")
UNITS = ("bits_per_byte", "nats_per_token", "bits_per_token", "nats_per_byte")
DEFAULT_UNIT = "bits_per_byte"


def unit_of(df: pd.DataFrame) -> str:
    """The unit of the table's `loss:` metrics (its `unit` column, else the default)."""
    return str(df["unit"].iloc[0]) if "unit" in df.columns and len(df) else DEFAULT_UNIT


def weight_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("w:")]


def metric_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("loss:") or c.startswith("accuracy")]


def validate(df: pd.DataFrame, where: str = "runs table") -> pd.DataFrame:
    """Check the schema; return the table with canonical dtypes. Raises `ValidationError` naming the problem."""
    for col in REQUIRED:
        if col not in df.columns:
            raise ValidationError(col, f"{where} lacks the required column {col!r} (columns: {list(df.columns)})")
    wcols, mcols = weight_columns(df), metric_columns(df)
    if len(wcols) < 2:
        raise ValidationError("w:<domain>", f"{where} needs at least two mixture weight columns named 'w:<domain>'")
    if not mcols:
        raise ValidationError("loss:<domain>", f"{where} needs at least one metric column ('loss:…' or 'accuracy…')")
    if df.empty:
        raise ValidationError("run_id", f"{where} has no rows")
    df = df.copy()
    if "step" not in df.columns:
        df["step"] = df["max_steps"]
    if "seed" not in df.columns:
        df["seed"] = 0
    if "unit" in df.columns:
        units = df["unit"].astype(str)
        bad = ~units.isin(UNITS)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValidationError(
                "unit", f"{where} row {row}: unit must be one of {list(UNITS)}, got {units.iloc[row]!r}"
            )
        if units.nunique() > 1:
            raise ValidationError("unit", f"{where} mixes units {sorted(units.unique())}; convert to one first")
        df["unit"] = units
    for col in ("params", "tokens_per_step", "step", "max_steps", "seed"):
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() | (values != np.round(values))
        if col != "seed":
            bad |= values <= 0
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValidationError(col, f"{where} row {row}: must be a positive integer, got {df[col].iloc[row]!r}")
        df[col] = values.astype(np.int64)
    if (df["step"] > df["max_steps"]).any():
        row = int(np.flatnonzero((df["step"] > df["max_steps"]).to_numpy())[0])
        raise ValidationError("step", f"{where} row {row}: step exceeds max_steps")
    for col in wcols + mcols:
        values = pd.to_numeric(df[col], errors="coerce")
        if not np.isfinite(values.to_numpy(dtype=float)).all():
            row = int(np.flatnonzero(~np.isfinite(values.to_numpy(dtype=float)))[0])
            raise ValidationError(col, f"{where} row {row}: must be a finite number, got {df[col].iloc[row]!r}")
        df[col] = values.astype(float)
    W = df[wcols].to_numpy()
    if (W < 0).any() or not np.allclose(W.sum(axis=1), 1.0, atol=1e-4):
        row = int(np.flatnonzero((W < 0).any(axis=1) | ~np.isclose(W.sum(axis=1), 1.0, atol=1e-4))[0])
        raise ValidationError("w:<domain>", f"{where} row {row}: mixture weights must be ≥ 0 and sum to 1")
    df["run_id"] = df["run_id"].astype(str)
    df["scale"] = df["scale"].astype(str)
    per_scale = df.groupby("scale")[["params", "tokens_per_step"]].nunique()
    if (per_scale > 1).any().any():
        scale = per_scale.index[(per_scale > 1).any(axis=1)][0]
        raise ValidationError("scale", f"{where}: scale {scale!r} has more than one params / tokens_per_step value")
    return df


def read(path: str | Path) -> pd.DataFrame:
    """Read and validate a runs table from Parquet or CSV (never pickle)."""
    p = Path(path)
    if not p.is_file():
        raise ValidationError("runs", f"no such file: {p}")
    try:
        if p.suffix == ".parquet":
            df = pd.read_parquet(p)
        elif p.suffix == ".csv":
            df = pd.read_csv(p)
        else:
            raise ValidationError("runs", f"{p}: expected a .parquet or .csv file")
    except (ValueError, OSError) as e:
        raise ValidationError("runs", f"{p} could not be read as a table: {e}") from None
    return validate(df, str(p))


def records_to_table(records: list[dict]) -> pd.DataFrame:
    """Our trainer's run records (each with its `run_id` added) → the tidy runs table (one row per curve point)."""
    rows = []
    for r in records:
        cfg = r["config"]
        run_id = r["run_id"]
        tps = cfg["batch_size"] * cfg["context"]
        for point in r["curve"]:
            row = {
                "run_id": run_id,
                "scale": cfg["scale"],
                "params": r["params_non_embedding"],
                "tokens_per_step": tps,
                "step": point["step"],
                "max_steps": cfg["steps"],
                "seed": cfg["seed"],
            }
            row.update({f"w:{d}": w for d, w in sorted(cfg["mixture"].items())})
            frac = point["step"] / cfg["steps"]  # epochs so far, pro rata of the run's own count
            row.update({f"epochs:{d}": e * frac for d, e in sorted(r.get("epochs", {}).items())})
            if cfg.get("unique_tokens"):
                row.update({f"unique_tokens:{d}": n for d, n in sorted(cfg["unique_tokens"].items())})
            row.update({f"loss:{k}": v for k, v in point.items() if k not in ("step", "train_loss")})
            row.update(
                {
                    "train_loss_nats": point["train_loss"],
                    "flops": training_flops(r["params_non_embedding"], tps * point["step"]),
                    "train_seconds": r["train_seconds"],
                    "code_version": r["code_version"],
                    "hardware": r["hardware"],
                    "torch": r["torch"],
                    "tokenizer_sha256": r["tokenizer_sha256"],
                    "corpus_sha256": json.dumps(r["corpus_sha256"], sort_keys=True),
                }
            )
            rows.append(row)
    df = pd.DataFrame(rows)
    wcols = sorted(c for c in df.columns if c.startswith("w:"))
    df[wcols] = df[wcols].fillna(0.0)
    return df


def collect(out: str | Path) -> Path:
    """Gather `out/runs/*/record.json` into `out/runs.parquet` (sorted, validated) and return its path."""
    out = Path(out)
    records = []
    for p in sorted((out / "runs").glob("*/record.json")):
        r = json.loads(p.read_text())
        r["run_id"] = p.parent.name
        records.append(r)
    path = out / "runs.parquet"
    if records:
        df = validate(records_to_table(records)).sort_values(["params", "run_id", "step"]).reset_index(drop=True)
        df.to_parquet(path.with_suffix(".tmp"), index=False)
        path.with_suffix(".tmp").replace(path)
    return path
