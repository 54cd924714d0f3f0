"""Storage: what a study stores, refusing foreign / corrupt databases untouched, and one driver per study."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys

import pytest
import study_helpers

import mixscale
from mixscale.study.storage import Storage, StorageError, StudyLockedError


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_study_stores_everything_and_reads_back_in_a_new_connection(db):
    objective = study_helpers.objective()
    url = db
    study = mixscale.create_study(objective, storage=url, name="toy", strategy="random", seed=7,
                                  description={"type": "callable", "function": "study_helpers:bowl"})  # fmt: skip
    study.enqueue({"mixture": {"a": 0.5, "b": 0.3, "c": 0.2}, "scale": "s", "steps": 100})
    study.optimize(objective, n_trials=3, workers=1)

    again = mixscale.load_study(None, Storage(url))
    assert (again.name, again.strategy_name, again.seed) == ("toy", "random", 7)
    assert again.space == objective.space and again.metric == objective.metric
    assert again.objective_description == {"type": "callable", "function": "study_helpers:bowl"}
    trials = again.trials
    assert [t.state for t in trials] == ["complete"] * 3
    first = trials[0]
    assert first.source == "enqueued" and first.config.mixture == {"a": 0.5, "b": 0.3, "c": 0.2}
    assert first.value == pytest.approx(study_helpers.bowl(first.config.mixture, "s", 100, first.eval_seed)["value"])
    assert first.curve == ((100, pytest.approx(first.value)),)
    assert first.cost == pytest.approx(objective.cost("s", 100))
    assert first.attempts == 1 and first.failures == 0 and first.error is None
    assert first.started_at <= first.finished_at and first.duration >= 0 and ":" in first.worker
    assert [t.eval_seed for t in trials] == [7 * 100003 + n for n in range(3)]
    recs = again.recommendations
    assert [r.n_complete for r in recs] == [1, 2, 3]
    assert recs[-1].spent == pytest.approx(again.spent)
    df = again.trials_dataframe()
    assert list(df["number"]) == [0, 1, 2] and {"w:a", "w:b", "w:c", "value", "cost", "duration_s"} <= set(df)


def _foreign_db(path):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    con.execute("INSERT INTO invoices VALUES (1, 9.5)")
    con.commit()
    con.close()


def _corrupt_db(path, tmp_path):
    objective = study_helpers.objective()
    mixscale.create_study(objective, storage=f"sqlite:///{path}", strategy="random").storage.dispose()
    data = bytearray(path.read_bytes())
    data[100:] = b"\xff" * (len(data) - 100)  # keep the header, destroy the pages
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["not sqlite", "foreign", "corrupt", "newer schema"])
def test_foreign_or_corrupt_databases_are_refused_and_left_untouched(tmp_path, kind):
    path = tmp_path / "x.db"
    if kind == "not sqlite":
        path.write_bytes(b"PAR1 this is a parquet file, honest" + bytes(range(256)))
        message = "not an SQLite database"
    elif kind == "foreign":
        _foreign_db(path)
        message = r"holds other tables \(invoices\)"
    elif kind == "corrupt":
        _corrupt_db(path, tmp_path)
        message = "corrupt"
    else:
        mixscale.create_study(study_helpers.objective(), storage=f"sqlite:///{path}").storage.dispose()
        con = sqlite3.connect(path)
        con.execute("UPDATE mixscale_meta SET value='99' WHERE key='schema_version'")
        con.commit()
        con.close()
        message = "schema version 99"
    before = _digest(path)
    with pytest.raises(StorageError, match=message) as err:
        mixscale.create_study(study_helpers.objective(), storage=f"sqlite:///{path}", load_if_exists=True)
    assert err.value.field == "storage"
    with pytest.raises(StorageError):
        mixscale.load_study(None, f"sqlite:///{path}")
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.db"]  # no journal or lock files left behind


def test_a_second_driver_gets_a_clear_lock_error_while_readers_still_read(db):
    objective = study_helpers.objective()
    url = db
    first = mixscale.create_study(objective, storage=url, name="s", strategy="random")
    first.ask(objective)  # the first driver now holds the study (and has a trial running)
    second = mixscale.load_study("s", url)
    with pytest.raises(StudyLockedError, match="being driven by") as err:
        second.optimize(objective, n_trials=2)
    assert err.value.field == "storage"
    with pytest.raises(StudyLockedError):
        second.enqueue({"mixture": {"a": 1.0, "b": 0.0, "c": 0.0}})
    assert [t.state for t in second.trials] == ["running"]  # reading needs no lease
    first.release()
    second.optimize(objective, n_trials=2)  # the lease is free: the second driver re-runs trial 0 and goes on
    assert [t.state for t in second.trials] == ["complete", "complete"]


def test_a_dead_or_silent_driver_does_not_block_the_study(db):
    objective = study_helpers.objective()
    url = db
    study = mixscale.create_study(objective, storage=url, name="s", strategy="random")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = f"{__import__('socket').gethostname()}:{int(gone.stdout)}:deadbeef"
    study.storage.acquire(study._id, dead)  # as if a driver had been killed with SIGKILL
    study.optimize(objective, n_trials=1)  # a dead process on this host: taken over at once
    silent = "elsewhere:1:cafe"
    short = Storage(url, lease_ttl=0.0)  # a remote driver whose heartbeat is older than the lease
    short.acquire(study._id, silent)
    mixscale.load_study("s", short).optimize(objective, n_trials=2)
    assert [t.state for t in study.trials] == ["complete", "complete"]


def test_bad_urls_name_the_storage_field(tmp_path):
    for url in ("", "not a url", f"sqlite:///{tmp_path}/missing/dir/x.db"):
        with pytest.raises(StorageError) as err:
            Storage(url)
        assert err.value.field == "storage"
