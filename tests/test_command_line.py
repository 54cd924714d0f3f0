import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mixscale.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
runner = CliRunner()


def test_optimize_analytic_example():
    result = runner.invoke(app, ["optimize", str(EXAMPLES / "analytic.toml"), "--budget", "0.15"])
    assert result.exit_code == 0, result.output
    assert "recommended mixture" in result.output
    assert "predicted loss:c4 at target" in result.output
    assert "true target loss:c4" in result.output


def test_optimize_callable_example(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    result = runner.invoke(app, ["optimize", str(EXAMPLES / "callable.toml"), "--budget", "0.5"])
    assert result.exit_code == 0, result.output
    assert "recommended mixture" in result.output


def write(tmp_path, text, name="study.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = """
strategy = "random"
budget = 1.0
[objective]
type = "simulator"
"""


@pytest.mark.parametrize(
    "text, field",
    [
        (GOOD.replace('"random"', '"bogus"'), "strategy"),
        (GOOD.replace("1.0", "-2"), "budget"),
        (GOOD.replace('type = "simulator"', 'type = "simulator"\nmetric = "loss:nope"'), "metric"),
        (GOOD + "\nsurprise = 1\n", "surprise"),
        (GOOD.replace("budget = 1.0", "budget = "), "config"),
        (
            GOOD + "[[initial]]\nmixture = { wikipedia = 0.5, stackexchange = 0.6, github = 0, arxiv = 0, book = 0 }\n",
            "initial[0].mixture",
        ),
        (
            GOOD + "[[initial]]\nmixture = { wikipedia = 1.0, reddit = 0.0 }\n",
            "initial[0].mixture.stackexchange",
        ),
        (
            GOOD.replace('type = "simulator"', 'type = "callable"\nfunction = "nope:fn"') + 'domains = ["a", "b"]\n',
            "domains",
        ),
    ],
)
def test_bad_study_files_exit_2_naming_the_field(tmp_path, text, field):
    path = write(tmp_path, text)
    before = path.read_bytes()
    result = runner.invoke(app, ["optimize", str(path)])
    assert result.exit_code == 2, result.output
    assert field in result.output
    assert "Traceback" not in result.output
    assert path.read_bytes() == before


def test_yaml_study_and_missing_file(tmp_path):
    path = write(tmp_path, "strategy: random\nbudget: 1.0\nobjective: {type: simulator}\n", "s.yaml")
    result = runner.invoke(app, ["optimize", str(path), "--budget", "1.0"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["optimize", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_benchmark_cli_small_run(tmp_path):
    out = tmp_path / "bench"
    result = runner.invoke(
        app,
        [
            "benchmark",
            "--seeds",
            "2",
            "--budget",
            "1.0",
            "--strategies",
            "random,hyperband",
            "--workers",
            "1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "traces.parquet").exists() and (out / "regret.png").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["budget"] == 1.0 and len(summary["final"]) == 2


def test_benchmark_cli_rejects_unknown_strategy(tmp_path):
    result = runner.invoke(app, ["benchmark", "--strategies", "random,magic", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "strategies" in result.output and "magic" in result.output


def test_optimize_says_when_warm_runs_leave_a_domain_at_zero(tmp_path):
    import pandas as pd

    rows = [
        {
            "run_id": f"old{i}", "scale": "20M", "params": 20e6, "tokens_per_step": 524288, "step": 6000,
            "max_steps": 6000, "seed": 0, "w:wikipedia": a, "w:stackexchange": 0.2, "w:github": 0.2,
            "w:arxiv": 0.6 - a, "loss:c4": 3.5 + a,
        }
        for i, a in enumerate((0.1, 0.3, 0.5))
    ]  # fmt: skip
    runs = tmp_path / "old.csv"
    pd.DataFrame(rows).to_csv(runs, index=False)
    study = write(tmp_path, 'strategy = "random"\nbudget = 0.05\n[objective]\ntype = "simulator"\nname = "analytic"\n')
    result = runner.invoke(app, ["optimize", str(study), "--warm-start", str(runs)])
    assert result.exit_code == 0, result.output
    assert "3 runs used" in result.output
    assert "every warm run has book at 0" in " ".join(result.output.split())
