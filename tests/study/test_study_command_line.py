"""``mixscale optimize --storage`` (create, resume) and ``mixscale study list|show|export|report``."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

import mixscale
from mixscale.cli import app

runner = CliRunner()
HERE = Path(__file__).parent

STUDY = """
name = "rand"
strategy = "random"
budget = 2.0
seed = 1
[objective]
type = "simulator"
name = "analytic"
metric = "loss:c4"
"""


def _flat(result) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def _write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_optimize_with_storage_then_resume_then_inspect(tmp_path):
    path = _write(tmp_path, STUDY)
    url = f"sqlite:///{tmp_path}/cli.db"
    first = runner.invoke(app, ["optimize", str(path), "--storage", url, "--workers", "2"])
    assert first.exit_code == 0, _flat(first)
    assert "recommended mixture" in _flat(first) and "true target loss:c4" in _flat(first)
    again = runner.invoke(app, ["optimize", str(path), "--storage", url, "--budget", "3"])
    assert again.exit_code == 0, _flat(again)
    assert "resuming study 'rand'" in _flat(again) and "2 complete" in _flat(again)
    study = mixscale.load_study("rand", url)
    assert [t.state for t in study.trials].count("complete") == 3
    assert study.objective_description["type"] == "simulator"

    listed = runner.invoke(app, ["study", "list", "--storage", url])
    assert listed.exit_code == 0 and "rand" in _flat(listed) and "idle" in _flat(listed)
    shown = runner.invoke(app, ["study", "show", "--storage", url])
    assert shown.exit_code == 0 and "recommended mixture" in _flat(shown)
    for suffix, read in (("csv", pd.read_csv), ("parquet", pd.read_parquet)):
        out = tmp_path / f"trials.{suffix}"
        result = runner.invoke(app, ["study", "export", "rand", "--storage", url, "-o", str(out)])
        assert result.exit_code == 0, _flat(result)
        df = read(out)
        assert len(df) == len(study.trials) and "w:wikipedia" in df and "loss:c4" in df
    report = runner.invoke(app, ["study", "report", "rand", "--storage", url, "-o", str(tmp_path / "rep")])
    assert report.exit_code == 0, _flat(report)
    page = (tmp_path / "rep" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "Study rand" in page
    assert (tmp_path / "rep" / "progress.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "rep" / "mixture.png").stat().st_size > 1000


def test_cli_errors_exit_2_naming_the_field_and_leave_files_alone(tmp_path):
    path = _write(tmp_path, STUDY)
    foreign = tmp_path / "notes.db"
    foreign.write_bytes(b"just some text, not a database\n" * 10)
    before = hashlib.sha256(foreign.read_bytes()).hexdigest()
    result = runner.invoke(app, ["optimize", str(path), "--storage", f"sqlite:///{foreign}"])
    assert result.exit_code == 2 and "storage" in _flat(result) and "not an SQLite database" in _flat(result)
    assert hashlib.sha256(foreign.read_bytes()).hexdigest() == before

    url = f"sqlite:///{tmp_path}/ok.db"
    assert runner.invoke(app, ["optimize", str(path), "--storage", url]).exit_code == 0
    other = _write(tmp_path, STUDY.replace('strategy = "random"', 'strategy = "hyperband"'), "other.toml")
    result = runner.invoke(app, ["optimize", str(other), "--storage", url])
    assert result.exit_code == 2 and "strategy" in _flat(result) and "random" in _flat(result)

    held = mixscale.load_study("rand", url)
    held.ask(_sim())  # another driver holds the study
    result = runner.invoke(app, ["optimize", str(path), "--storage", url, "--budget", "3"])
    assert result.exit_code == 2 and "being driven by" in _flat(result)
    held.release()

    for args in (["study", "show", "nope", "--storage", url], ["study", "export", "--storage", url, "-o", "x.xlsx"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "Traceback" not in _flat(result)


def _sim():
    from mixscale import simulator

    return simulator.load("analytic")


def test_a_command_objective_from_a_study_file(tmp_path):
    argv = [sys.executable, str(HERE / "fake_trainer.py"), "--mixture-file", "{mixture_file}"]
    argv += ["--mixture-json", "{mixture_json}", "--scale", "{scale}", "--steps", "{steps}"]
    argv += ["--seed", "{seed}", "--out", "{output_dir}"]
    text = f"""
strategy = "random"
budget = 2.0
domains = ["a", "b", "c"]
scales = [{{ name = "s" }}, {{ name = "l" }}]
steps = [100, 200]
[objective]
type = "command"
argv = {argv!r}
metrics = "metrics.json"
metric = "loss"
cost = {{ s = 1.0, l = 4.0 }}
runs_dir = "runs"
""".replace("'", '"')
    path = _write(tmp_path, text, "cmd.toml")
    url = f"sqlite:///{tmp_path}/cmd.db"
    result = runner.invoke(app, ["optimize", str(path), "--storage", url, "--timeout", "60"])
    assert result.exit_code == 0, _flat(result)
    trials = mixscale.load_study("cmd", url).trials
    assert [t.state for t in trials][:2] == ["complete", "complete"]
    out = Path(trials[0].info["output_dir"])
    assert out.parent.parent.parent == (tmp_path / "runs").resolve() and (out / "stdout.log").exists()
    bad = _write(tmp_path, text.replace('metrics = "metrics.json"', 'metrics = "metrics.xml"'), "bad.toml")
    result = runner.invoke(app, ["optimize", str(bad)])
    assert result.exit_code == 2 and "metrics" in _flat(result)
