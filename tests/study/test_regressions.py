"""Issue 12, items 3-12: each reproducer as a test named after the failure (one line and exit 2, or correct
behaviour; nothing written where it should not be)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import pytest
import study_helpers
from sqlalchemy import event
from typer.testing import CliRunner

import mixscale
from mixscale.cli import app
from mixscale.errors import ValidationError
from mixscale.objectives.command import CommandTrainer, TrainerError
from mixscale.space import Config, Space
from mixscale.study import _optimize
from mixscale.study.storage import Storage, StorageError, StudyLockedError

runner = CliRunner()
SRC = str(Path(mixscale.__file__).resolve().parents[1])


def _flat(result) -> str:
    return " ".join(result.output.split())


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stored(url: str, name: str = "s", n: int = 3) -> None:
    objective = study_helpers.objective()
    study = mixscale.create_study(objective, storage=url, name=name, strategy="random", seed=0)
    study.optimize(objective, n_trials=n)
    study.storage.dispose()


# ---------------------------------------------------------------- 3: train --out
def test_train_out_holding_another_runs_record_is_refused_not_returned(tmp_path):
    from mixscale.train.trainer import TrainConfig, train

    class Corpus:  # train() checks the record before it touches any data
        domains = ("a", "b")

    first = TrainConfig({"a": 0.5, "b": 0.5}, steps=10)
    (tmp_path / "record.json").write_text(json.dumps({"config": asdict(first), "final": {"avg": 1.0}}))
    assert train(first, Corpus(), tmp_path)["final"] == {"avg": 1.0}  # the same run: its finished record
    with pytest.raises(ValidationError, match=r"different configuration \(mixture differ\)") as err:
        train(TrainConfig({"a": 0.9, "b": 0.1}, steps=10), Corpus(), tmp_path)
    assert err.value.field == "out_dir"


def test_train_mixture_with_string_weights_is_one_line_and_exit_2(tmp_path):
    result = runner.invoke(app, ["train", "--mixture", '{"a": "0.5", "b": 0.5}', "--data", str(tmp_path)])
    assert result.exit_code == 2 and "error: mixture.a: weights must be numbers, got '0.5'" in _flat(result)


# -------------------------------------------------------- 4: lease during replay
def test_a_second_driver_cannot_take_the_lease_during_a_long_replay(db, monkeypatch):
    _stored(db, n=6)
    ttl = 0.6
    first = mixscale.load_study("s", Storage(db, lease_ttl=ttl))
    second = Storage(db, lease_ttl=ttl)
    propose, seen = _optimize.propose, []

    def slow(*args):  # each replayed ask takes a while: the whole replay outlasts the lease several times
        out = propose(*args)
        threading.Event().wait(0.25)
        if len(seen) == 4:
            try:
                second.acquire(first._id, "elsewhere:1:intruder")
                seen.append("taken")
            except StudyLockedError:
                seen.append("refused")
        seen.append(args[2])
        return out

    monkeypatch.setattr(_optimize, "propose", slow)
    first._acquire()
    first._replay(study_helpers.objective())
    assert "refused" in seen and "taken" not in seen
    first.release()


# ----------------------------------------------------- 5: '#' in a SQLite path
def test_a_hash_in_a_sqlite_path_cannot_bypass_the_foreign_database_check(tmp_path):
    path = tmp_path / "for#eign.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    con.commit()
    con.close()
    before = _digest(path)
    result = runner.invoke(app, ["study", "list", "--storage", f"sqlite:///{path}"])
    assert result.exit_code == 2 and "holds other tables (invoices)" in _flat(result)
    with pytest.raises(StorageError, match="invoices"):
        Storage(f"sqlite:///{path}")
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["for#eign.db"]  # no stray 'for'


# ------------------------------------------------------ 6: read-only databases
def test_a_read_only_database_can_still_be_read(tmp_path):
    path = tmp_path / "ro.db"
    _stored(f"sqlite:///{path}")
    before = _digest(path)
    path.chmod(0o444)
    tmp_path.chmod(0o555)  # not even a -shm / -wal file may be created beside it
    try:
        # Readers open SQLite files with mode=ro (so for SQLite the file is read-only even for root, who ignores
        # file modes): any write, a journal-mode pragma included, would fail here.
        result = runner.invoke(app, ["study", "show", "--storage", f"sqlite:///{path}"])
        assert result.exit_code == 0, _flat(result)
        assert "recommended mixture" in _flat(result)
        assert mixscale.load_study("s", Storage(f"sqlite:///{path}", read_only=True)).spent > 0
    finally:
        tmp_path.chmod(0o755)
    assert _digest(path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["ro.db"]


# ------------------------------------------- 7: read-only / rejected commands write
def test_study_list_and_show_on_a_mistyped_path_create_nothing(tmp_path):
    for args in (["study", "list"], ["study", "show"], ["study", "export", "-o", str(tmp_path / "x.csv")]):
        result = runner.invoke(app, [*args, "--storage", f"sqlite:///{tmp_path}/typo.db"])
        assert result.exit_code == 2 and "no database at" in _flat(result), _flat(result)
    empty = tmp_path / "empty.db"
    empty.touch()
    result = runner.invoke(app, ["study", "list", "--storage", f"sqlite:///{empty}"])
    assert result.exit_code == 0
    assert empty.stat().st_size == 0  # no schema written into it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]


def test_optimize_budget_inf_writes_no_study(tmp_path):
    study_file = tmp_path / "s.toml"
    study_file.write_text('strategy = "random"\nbudget = 2.0\n[objective]\ntype = "simulator"\nname = "analytic"\n')
    url = f"sqlite:///{tmp_path}/s.db"
    for bad in ("inf", "nan", "-1"):
        result = runner.invoke(app, ["optimize", str(study_file), "--storage", url, "--budget", bad])
        assert result.exit_code == 2 and "error: budget: must be a positive finite number" in _flat(result)
    assert not (tmp_path / "s.db").exists()


# ------------------------------------------------------- 8: tracebacks → one line
def test_a_storage_path_that_is_a_directory_is_one_line_and_exit_2(tmp_path):
    result = runner.invoke(app, ["study", "list", "--storage", f"sqlite:///{tmp_path}"])
    assert result.exit_code == 2 and "is a directory" in _flat(result)
    with pytest.raises(StorageError, match="is a directory"):
        Storage(f"sqlite:///{tmp_path}")


def test_a_full_disk_is_a_storage_error_and_loses_no_completed_trial(tmp_path):
    url = f"sqlite:///{tmp_path}/full.db"
    objective = study_helpers.objective()
    study = mixscale.create_study(objective, storage=url, name="s", strategy="random", seed=0)
    study.optimize(objective, n_trials=2)
    study.storage.engine.dispose()
    pages = sqlite3.connect(tmp_path / "full.db").execute("PRAGMA page_count").fetchone()[0]

    @event.listens_for(study.storage.engine, "connect")
    def _full(dbapi_connection, _record):  # the disk is full: no page may be added
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    with pytest.raises(StorageError, match="cannot write to .*full") as err:
        study.optimize(objective, n_trials=400)
    assert err.value.field == "storage"
    again = mixscale.load_study("s", url)
    assert sum(t.state == "complete" for t in again.trials) >= 2


def test_study_report_onto_an_existing_file_is_one_line_and_exit_2(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    _stored(url)
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    result = runner.invoke(app, ["study", "report", "--storage", url, "-o", str(target)])
    assert result.exit_code == 2 and "is a file" in _flat(result)
    assert target.read_text() == "mine"


# -------------------------------------------------------------- 9: credentials
def test_a_postgres_password_is_never_echoed(tmp_path):
    url = "postgresql+psycopg://mix:s3cr3t-pw@127.0.0.1:9/nowhere"  # nothing listens on port 9
    with pytest.raises(StorageError) as err:
        Storage(url)
    assert "s3cr3t-pw" not in str(err.value) and "***" in str(err.value)
    result = runner.invoke(app, ["study", "list", "--storage", url])
    assert result.exit_code == 2 and "s3cr3t-pw" not in result.output


def test_a_postgres_password_is_not_printed_in_the_report(dbs, tmp_path):
    if dbs.backend != "postgresql":
        pytest.skip("a password is a PostgreSQL matter")
    url = dbs.new()
    _stored(url)
    password = url.split(":")[2].split("@")[0]
    result = runner.invoke(app, ["study", "report", "--storage", url, "-o", str(tmp_path / "rep")])
    assert result.exit_code == 0, _flat(result)
    assert password not in (tmp_path / "rep" / "report.html").read_text() and password not in result.output
    shown = runner.invoke(app, ["study", "list", "--storage", url])
    assert password not in shown.output


# ------------------------------------------------------------ 10: metric checks
def _metrics_trainer(tmp_path, metrics: dict) -> CommandTrainer:
    script = tmp_path / "m.py"
    script.write_text(f"import sys, json; open(sys.argv[1] + '/metrics.json', 'w').write({json.dumps(metrics)!r})")
    space = Space(["a", "b"], ["tiny", "big"], [100, 200])
    return CommandTrainer(space, [sys.executable, str(script), "{output_dir}"], cost={"tiny": 1.0, "big": 4.0},
                          runs_dir=tmp_path / "runs")  # fmt: skip


@pytest.mark.parametrize(
    "metrics, message",
    [
        ({"loss": True}, "loss must be a number, got True"),
        ({"loss": "2.0"}, "loss must be a number"),
        ({"loss": 2.0, "curve": [[-5, 3.0], [100, 2.0]]}, "curve step -5 is outside the run's 0..100 steps"),
        ({"loss": 2.0, "curve": [[999999, 2.0]]}, "curve step 999999 is outside"),
    ],
    ids=["true", "string", "step -5", "step 999999"],
)
def test_metric_true_and_curve_steps_outside_the_run_are_refused(tmp_path, metrics, message):
    with pytest.raises(TrainerError, match=message):
        _metrics_trainer(tmp_path, metrics).evaluate(Config({"a": 0.5, "b": 0.5}, "tiny", 100), run_name="r")


def test_a_callable_curve_outside_the_run_is_a_failed_trial(tmp_path):
    def fn(mixture, scale, steps):
        return {"value": 1.0, "curve": [(steps * 10, 1.0)]}

    objective = mixscale.FunctionObjective(study_helpers.toy_space(), fn)
    from mixscale.study.executors import Job, run_job

    out = run_job(objective, Job(0, 1, {"a": 0.2, "b": 0.3, "c": 0.5}, "s", 100, 0))
    assert not out["ok"] and out["kind"] == "invalid" and "step 1000 is outside" in out["error"]


# -------------------------------------------------------------- 11: -m cli --help
def test_python_dash_m_mixscale_cli_help_works():
    out = subprocess.run([sys.executable, "-m", "mixscale.cli", "--help"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": SRC}, timeout=120)  # fmt: skip
    assert out.returncode == 0 and "optimize" in out.stdout, out.stderr[-1500:]


# --------------------------------------------------- 12: export overwrites silently
def test_export_does_not_overwrite_an_existing_file_without_force(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    _stored(url)
    target = tmp_path / "trials.csv"
    target.write_text("precious")
    result = runner.invoke(app, ["study", "export", "--storage", url, "-o", str(target)])
    assert result.exit_code == 2 and "exists; pass --force" in _flat(result)
    assert target.read_text() == "precious"
    result = runner.invoke(app, ["study", "export", "--storage", url, "-o", str(target), "--force"])
    assert result.exit_code == 0 and target.read_text().startswith("number,")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db", "trials.csv"]  # no temporary left


# ------------------------------------------------- constraints survive a reload
def test_a_constrained_space_is_stored_with_its_constraints(tmp_path):
    base = study_helpers.toy_space()
    space = Space(base.domains, base.scales, base.steps, base.target, bounds={"a": (0.1, 0.4)}, fixed={"c": 0.2})
    objective = mixscale.FunctionObjective(space, study_helpers.bowl)
    url = f"sqlite:///{tmp_path}/c.db"
    mixscale.create_study(objective, storage=url, name="s", strategy="random").storage.dispose()
    again = mixscale.load_study("s", url)
    assert again.space.constraints == space.constraints and again.space == space
    with pytest.raises(ValidationError, match="constraints"):
        again.check_compatible(study_helpers.objective())  # the same space without its constraints
