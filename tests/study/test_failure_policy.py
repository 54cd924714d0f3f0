"""Issue 12, item 1: a study whose trials keep failing stops with one clear error instead of looping forever."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import study_helpers
from typer.testing import CliRunner

import mixscale
from mixscale.cli import app
from mixscale.study.errors import TrialsFailingError
from mixscale.study.trial import FAILED_CHARGE, MAX_FAILURES

runner = CliRunner()
HERE = Path(__file__).parent


def _flat(result) -> str:
    return " ".join(result.output.split())


def test_a_trial_that_always_fails_stops_the_study_after_max_failures(tmp_path):
    objective = study_helpers.objective(study_helpers.always_fails)
    study = mixscale.create_study(objective, storage=f"sqlite:///{tmp_path}/f.db", strategy="random", seed=0)
    with pytest.raises(TrialsFailingError, match=r"3 trials in a row failed.*RuntimeError: OOM") as err:
        study.optimize(objective, budget=1000.0, workers=1, max_retries=1)
    assert err.value.field == "objective"
    trials = study.trials
    assert [t.state for t in trials] == ["failed"] * MAX_FAILURES
    assert all(t.attempts == 2 for t in trials)  # retried once each, then given up
    assert study.driver == (None, None)  # the lease is released on the way out


def test_failed_trials_are_charged_so_a_budget_also_ends_a_failing_study(tmp_path):
    objective = study_helpers.objective(study_helpers.always_fails)
    study = mixscale.create_study(objective, storage=f"sqlite:///{tmp_path}/b.db", strategy="random", seed=0)
    study.optimize(objective, budget=2.5, max_retries=0, max_failures=100)
    assert [t.state for t in study.trials] == ["failed", "failed", "pruned"]  # random asks target runs (cost 1)
    assert study.spent == pytest.approx(2 * FAILED_CHARGE)
    assert study.trials_dataframe()["spent"].tolist()[:2] == pytest.approx([1.0, 2.0])


def test_a_success_resets_the_count_of_failures_in_a_row(tmp_path):
    objective = study_helpers.objective(study_helpers.troubled)  # trials 1, 2 fail; 3 hangs (timeout)
    study = mixscale.create_study(objective, storage=f"sqlite:///{tmp_path}/r.db", strategy="random", seed=0)
    with pytest.raises(TrialsFailingError, match="2 trials in a row"):
        study.optimize(objective, n_trials=6, max_retries=0, max_failures=2, timeout=1.0)
    assert [t.state for t in study.trials] == ["complete", "failed", "failed"]
    study.optimize(objective, n_trials=6, max_retries=0, max_failures=5, timeout=1.0)  # resumes, goes on
    assert [t.state for t in study.trials] == ["complete", "failed", "failed", "failed", "complete", "complete"]


def _study_file(tmp_path, objective: str, extra: str = "") -> Path:
    path = tmp_path / "s.toml"
    path.write_text(
        f'strategy = "random"\nbudget = 1000.0\n{extra}domains = ["a", "b"]\nsteps = [100, 200]\n'
        f'target = {{ scale = "big", steps = 200 }}\n[[scales]]\nname = "tiny"\n[[scales]]\nname = "big"\n'
        f"[objective]\n{objective}cost = {{ tiny = 1.0, big = 4.0 }}\n"
    )
    return path


SCRIPTS = {
    "exit 3": "import sys; sys.exit(3)",
    "garbage metrics": "import sys; open(sys.argv[1] + '/metrics.json', 'w').write('{not json')",
    "nan metric": "import sys; open(sys.argv[1] + '/metrics.json', 'w').write('{\"loss\": NaN}')",
}


def _command(tmp_path, script: str) -> str:
    path = tmp_path / "train.py"
    path.write_text(script)
    argv = json.dumps([sys.executable, str(path), "{output_dir}"])
    return f'type = "command"\nargv = {argv}\nmetric = "loss"\nruns_dir = "runs"\n'


@pytest.mark.parametrize("how", list(SCRIPTS))
def test_a_command_that_always_fails_ends_optimize_with_one_line_and_exit_2(tmp_path, how):
    path = _study_file(tmp_path, _command(tmp_path, SCRIPTS[how]), "max_failures = 2\n")
    url = f"sqlite:///{tmp_path}/c.db"
    result = runner.invoke(app, ["optimize", str(path), "--storage", url, "--retries", "0"])
    assert result.exit_code == 2, _flat(result)
    assert "error: objective: stopped: 2 trials in a row failed (max_failures 2)" in _flat(result)
    assert [t.state for t in mixscale.load_study(None, url).trials] == ["failed", "failed"]
    again = runner.invoke(app, ["optimize", str(path), "--storage", url, "--retries", "0", "--max-failures", "1"])
    assert again.exit_code == 2 and "max_failures 1" in _flat(again)


def test_a_study_name_that_leaves_the_runs_directory_is_refused_up_front(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _study_file(tmp_path, _command(tmp_path, "pass"))
    for name in ("../../x", "a/b", "..", ".hidden", "x" * 129):
        result = runner.invoke(app, ["optimize", str(path), "--storage", f"sqlite:///{tmp_path}/n.db", "--name", name])
        assert result.exit_code == 2, (name, _flat(result))
        assert "error: name: study name must be" in _flat(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml", "train.py"]  # no database, no runs/
    with pytest.raises(mixscale.ValidationError, match="study name"):
        mixscale.create_study(study_helpers.objective(), name="../../x")
