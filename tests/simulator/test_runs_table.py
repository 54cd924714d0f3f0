import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mixscale import runs as runs_table
from mixscale.cli import app
from mixscale.errors import ValidationError


def _table():
    rows = []
    for r in range(3):
        for step in (10, 20):
            rows.append(
                {
                    "run_id": f"r{r}",
                    "scale": "s",
                    "params": 1000,
                    "tokens_per_step": 64,
                    "step": step,
                    "max_steps": 20,
                    "seed": 0,
                    "w:a": 0.25 * r,
                    "w:b": 1 - 0.25 * r,
                    "loss:a": 3.0 - 0.01 * step,
                    "loss:avg": 3.1,
                }
            )
    return pd.DataFrame(rows)


def test_valid_table_passes_and_round_trips(tmp_path):
    df = runs_table.validate(_table())
    df.to_parquet(tmp_path / "r.parquet")
    df.to_csv(tmp_path / "r.csv", index=False)
    assert runs_table.read(tmp_path / "r.parquet").shape == df.shape
    assert runs_table.read(tmp_path / "r.csv")["params"].dtype == np.int64


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.drop(columns="max_steps"), "max_steps"),
        (lambda d: d.assign(unit="bits"), "unit"),
        (lambda d: d.assign(unit=["nats_per_token"] * 3 + ["bits_per_byte"] * 3), "unit"),
        (lambda d: d.drop(columns=["loss:a", "loss:avg"]), "loss:<domain>"),
        (lambda d: d.drop(columns=["w:b"]), "w:<domain>"),
        (lambda d: d.assign(**{"w:a": 0.9}), "w:<domain>"),
        (lambda d: d.assign(params=-3), "params"),
        (lambda d: d.assign(step=1.5), "step"),
        (lambda d: d.assign(step=30), "step"),
        (lambda d: d.assign(**{"loss:a": np.nan}), "loss:a"),
        (lambda d: d.assign(**{"loss:a": "high"}), "loss:a"),
        (lambda d: d.assign(params=np.arange(len(d)) + 1), "scale"),
    ],
)
def test_bad_tables_are_rejected_naming_the_column(mutate, field):
    with pytest.raises(ValidationError) as e:
        runs_table.validate(mutate(_table()))
    assert e.value.field == field


def test_cli_rejects_a_bad_file_with_exit_code_2(tmp_path):
    bad = _table().drop(columns="max_steps")
    bad.to_csv(tmp_path / "bad.csv", index=False)
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    runner = CliRunner()
    r = runner.invoke(app, ["simulator", "fit", str(tmp_path / "bad.csv")])
    assert r.exit_code == 2 and "max_steps" in " ".join(r.output.split())
    r = runner.invoke(app, ["simulator", "fit", str(tmp_path / "junk.parquet")])
    assert r.exit_code == 2 and "could not be read" in " ".join(r.output.split())
    assert (tmp_path / "junk.parquet").read_bytes() == b"not parquet at all"
    r = runner.invoke(app, ["simulator", "fit", str(tmp_path / "missing.parquet")])
    assert r.exit_code == 2 and "no such file" in " ".join(r.output.split())
