"""External training commands: argv templates without a shell, metrics files, logs, failures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import mixscale
from mixscale.objectives.command import CommandTrainer, TrainerError, render
from mixscale.space import Config, Space

SCRIPT = str(Path(__file__).with_name("fake_trainer.py"))
ARGV = [sys.executable, SCRIPT, "--mixture-file", "{mixture_file}", "--mixture-json", "{mixture_json}",
        "--scale", "{scale}", "--steps", "{steps}", "--seed", "{seed}", "--out", "{output_dir}"]  # fmt: skip
EVIL = "tiny;touch PWNED1 && $(touch PWNED2) `touch PWNED3` | cat > PWNED4"


def space(scale="tiny"):
    return Space(["a", "b"], [scale, "big"], [100, 200])


def trainer(tmp_path, argv=ARGV, scale="tiny", **kw):
    return CommandTrainer(space(scale), argv, cost={scale: 1.0, "big": 4.0}, runs_dir=tmp_path / "runs", **kw)


def test_runs_the_command_and_reads_value_curve_and_logs(tmp_path):
    t = trainer(tmp_path)
    obs = t.evaluate(Config({"a": 0.25, "b": 0.75}, "tiny", 200), seed=11, run_name="trial-1")
    assert obs.value == pytest.approx(3.0 + 0.25**2 + 0.5)
    assert obs.curve[0] == (50, pytest.approx(obs.value + 0.2)) and len(obs.curve) == 4
    assert obs.cost == pytest.approx(200 / (4.0 * 200))
    out = Path(obs.info["output_dir"])
    assert out == (tmp_path / "runs" / "trial-1").resolve()
    assert "training tiny for 200 steps" in (out / "stdout.log").read_text()
    assert "a warning on stderr" in (out / "stderr.log").read_text()
    argv = json.loads((out / "argv.json").read_text())
    assert argv[argv.index("--seed") + 1] == "11" and argv[argv.index("--out") + 1] == str(out)


def test_shell_metacharacters_in_a_config_value_arrive_verbatim_and_run_nothing(tmp_path):
    t = trainer(tmp_path, scale=EVIL)
    obs = t.evaluate(Config({"a": 0.5, "b": 0.5}, EVIL, 100), seed=0, run_name="evil")
    out = Path(obs.info["output_dir"])
    argv = json.loads((out / "argv.json").read_text())
    assert argv[argv.index("--scale") + 1] == EVIL  # one argument, byte for byte
    for where in (out, tmp_path, Path.cwd()):
        assert not any(where.glob("PWNED*"))


def test_csv_metrics_last_row_is_the_value(tmp_path):
    t = trainer(tmp_path, argv=ARGV + ["--format", "csv"], metrics="metrics.csv")
    obs = t.evaluate(Config({"a": 0.5, "b": 0.5}, "tiny", 100), seed=0)
    assert obs.value == pytest.approx(4.0) and obs.curve[-1] == (100, pytest.approx(4.0))


def test_failures_raise_with_the_reason_and_stderr_tail(tmp_path):
    with pytest.raises(TrainerError, match=r"(?s)exited with code 3.*out of memory"):
        trainer(tmp_path, argv=ARGV + ["--exit", "3"]).evaluate(Config({"a": 0.5, "b": 0.5}, "tiny", 100))
    with pytest.raises(TrainerError, match="timed out after 0.5 s"):
        trainer(tmp_path, argv=ARGV + ["--sleep", "30"], timeout=0.5).evaluate(
            Config({"a": 0.5, "b": 0.5}, "tiny", 100)
        )
    with pytest.raises(TrainerError, match="no key 'val_loss'"):
        trainer(tmp_path, metric="val_loss").evaluate(Config({"a": 0.5, "b": 0.5}, "tiny", 100))


@pytest.mark.parametrize(
    "argv, field, message",
    [
        ("python train.py --mix {mixture_file}", "argv", "not one string"),
        (["python", "{mixture_json.__class__}"], "argv[1]", "unknown placeholder"),
        (["python", "--lr={learning_rate}"], "argv[1]", "unknown placeholder"),
        (["python", "a}b"], "argv[1]", "unknown placeholder"),
        ([], "argv", "non-empty"),
    ],
)
def test_bad_templates_are_refused_naming_the_field(tmp_path, argv, field, message):
    with pytest.raises(mixscale.ValidationError, match=message) as err:
        trainer(tmp_path, argv=argv)
    assert err.value.field == field


def test_literal_braces_render_as_braces():
    assert render(["--x={{a}}-{scale}", "{{}}"], {"scale": "tiny"}) == ["--x={a}-tiny", "{}"]


def test_a_study_of_command_trials_keeps_one_directory_per_attempt(tmp_path):
    t = trainer(tmp_path)
    study = mixscale.create_study(t, storage=f"sqlite:///{tmp_path}/cmd.db", name="cmd", strategy="random")
    study.optimize(t, n_trials=2, workers=1, max_retries=0)
    trials = study.trials
    assert [x.state for x in trials] == ["complete", "complete"]
    out = Path(trials[1].info["output_dir"])
    assert out == (tmp_path / "runs" / "cmd" / "trial-00001" / "attempt-1").resolve()
    assert json.loads((out / "mixture.json").read_text()) == trials[1].config.mixture
