"""Persistence of studies by URL (SQLAlchemy 2.x ORM): ``sqlite:///study.db``, ``postgresql+psycopg://...``.

What is stored
--------------
A study row holds the space, a description of the objective, the metric, the strategy's name, options and seed,
and an **event counter**. Each trial row holds its state (``pending`` / ``running`` / ``complete`` / ``failed`` /
``pruned``), configuration, evaluation seed, value, learning curve, cost, timings, error text and attempt count,
plus two positions in the study's event order: when it was asked (``ask_seq``) and when it ended (``end_seq``).
Each recommendation row holds the mixture, prediction and its own ``seq``. Nothing is pickled: optimizer state is
rebuilt by replaying these events into a fresh strategy (:mod:`mixscale.study`).

Safety
------
* **Never modify what is not ours.** Before anything is written, the database is inspected read-only: a file that
  is not SQLite, a corrupt SQLite file, a database with tables but no mixscale schema, or a newer schema version is
  refused with :class:`StorageError` naming the URL, and the file is left byte-for-byte as it was.
* **One driver per study** (a lease, not a file lock, so that it also works on Postgres and across machines): a
  driver writes its id (``host:pid:nonce``) and a heartbeat into the study row with a compare-and-swap ``UPDATE``;
  every later write of that driver re-checks it in the same transaction (fencing). A second driver gets
  :class:`StudyLockedError` while the heartbeat is fresh. A lease is stale when its heartbeat is older than
  ``lease_ttl`` seconds, or at once when its holder is a dead process on this host (a driver killed by SIGKILL can
  be resumed immediately). Readers (``study show``, ``load_study`` for export) never need the lease.
* Every state change of a trial is one transaction, so a driver killed at any instant leaves each trial either as
  it was or fully updated: a completed trial is never lost, and a running one is found ``running`` and re-run.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, inspect, select, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from mixscale.errors import ValidationError
from mixscale.space import Config
from mixscale.strategies.base import Recommendation
from mixscale.study.schema import (
    APP,
    SCHEMA_VERSION,
    TABLES,
    Base,
    MetaRow,
    RecommendationRow,
    StudyRow,
    TrialRow,
    to_recommendation,
    to_trial,
)
from mixscale.study.trial import CHARGED_STATES, RecommendationRecord, Trial, eval_seed

#: Seconds after which a driver's heartbeat no longer holds the study.
LEASE_TTL = 60.0


class StorageError(ValidationError):
    """The storage URL points at something we must not or cannot use (foreign, corrupt, newer schema)."""

    def __init__(self, message: str) -> None:
        super().__init__("storage", message)


class StudyLockedError(ValidationError):
    """Another live driver holds the study."""

    def __init__(self, message: str) -> None:
        super().__init__("storage", message)


def _sqlite_path(url: str) -> Path | None:
    """The file behind a ``sqlite://`` URL (None for in-memory databases and other dialects)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or u.database in (None, "", ":memory:"):
        return None
    return Path(u.database)


def _inspect_sqlite_file(path: Path) -> tuple[set[str], dict[str, str]]:
    """Table names and mixscale metadata of an existing SQLite file, read-only; refuses non-SQLite and corrupt
    files untouched."""
    with open(path, "rb") as fh:
        header = fh.read(16)
    if header and header != b"SQLite format 3\x00":
        raise StorageError(f"{path} is not an SQLite database (its header is {header[:16]!r}); it was not modified")
    if not header:
        return set(), {}  # an empty file: SQLite treats it as an empty database
    try:
        # Without a write-ahead log beside it the file is all there is: open it immutable, so that SQLite creates
        # no -shm / -wal files next to a file that may not be ours. With one, a driver may be writing: read-only.
        live = Path(f"{path}-wal").exists()
        con = sqlite3.connect(f"file:{path.resolve()}?mode=ro{'' if live else '&immutable=1'}", uri=True)
        try:
            check = con.execute("PRAGMA quick_check").fetchall()
            if check != [("ok",)]:
                detail = "; ".join(str(r[0]) for r in check[:3])
                raise StorageError(f"{path} is a corrupt SQLite database ({detail}); it was not modified")
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            meta = dict(con.execute("SELECT key, value FROM mixscale_meta")) if "mixscale_meta" in names else {}
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path} is a corrupt SQLite database ({exc}); it was not modified") from None
    return names, meta


class Storage:
    """A connection to one study database. ``Storage(url)`` validates before it writes anything."""

    def __init__(self, url: str, lease_ttl: float = LEASE_TTL) -> None:
        if not isinstance(url, str) or not url:
            raise StorageError(f"expected a database URL such as sqlite:///study.db, got {url!r}")
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StorageError(f"{url!r} is not a database URL (e.g. sqlite:///study.db)") from None
        self.url = url
        self.lease_ttl = float(lease_ttl)
        path = _sqlite_path(url)
        file_tables: set[str] = set()
        if path is not None:
            if not path.parent.exists():
                raise StorageError(f"directory {path.parent} does not exist (for {url})")
            if path.exists():
                file_tables, meta = _inspect_sqlite_file(path)
                self._check_existing(file_tables, meta)
        kwargs: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            if path is None:
                kwargs["poolclass"] = StaticPool  # one in-memory database shared by every session
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except (ArgumentError, ImportError) as exc:
            raise StorageError(f"cannot open {url}: {exc}") from None
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            if path is None:  # another dialect or in-memory: inspect through the engine (reads only)
                names = set(inspect(self.engine).get_table_names())
                meta = {}
                if "mixscale_meta" in names:
                    with Session(self.engine) as sess:
                        meta = dict(sess.execute(select(MetaRow.key, MetaRow.value)).all())
                self._check_existing(names, meta)
                fresh = not names
            else:
                fresh = not file_tables
            if fresh:
                Base.metadata.create_all(self.engine)
                with Session(self.engine) as sess, sess.begin():
                    sess.add_all(
                        [MetaRow(key="app", value=APP), MetaRow(key="schema_version", value=str(SCHEMA_VERSION))]
                    )
        except (OperationalError, DatabaseError) as exc:
            self.engine.dispose()
            raise StorageError(f"cannot use {url}: {exc.orig}") from None
        except StorageError:
            self.engine.dispose()
            raise
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def _check_existing(self, names: set[str], meta: dict[str, str]) -> None:
        """Refuse (before anything is written) a database that holds something other than a mixscale study."""
        if not names:
            return
        if "mixscale_meta" not in names:
            shown = ", ".join(sorted(names)[:5])
            raise StorageError(
                f"{self.url} holds other tables ({shown}) and no mixscale schema: not a mixscale study database; "
                "it was not modified (use a new file or an empty database)"
            )
        if meta.get("app") != APP:
            raise StorageError(f"{self.url}: mixscale_meta does not describe a mixscale database; it was not modified")
        version = int(meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{self.url} has schema version {version}, newer than this mixscale's {SCHEMA_VERSION}: "
                "upgrade mixscale; it was not modified"
            )
        missing = TABLES - names
        if missing:
            raise StorageError(f"{self.url} is missing tables {sorted(missing)}; it was not modified")

    def dispose(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ reads
    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._session() as s:
            yield s

    def study(self, name: str) -> StudyRow:
        with self.read() as s:
            row = s.scalar(select(StudyRow).where(StudyRow.name == name))
        if row is None:
            known = ", ".join(self.study_names()) or "none"
            raise ValidationError("study", f"no study named {name!r} in {self.url} (studies: {known})")
        return row

    def study_names(self) -> list[str]:
        with self.read() as s:
            return list(s.scalars(select(StudyRow.name).order_by(StudyRow.id)))

    def studies(self) -> list[StudyRow]:
        with self.read() as s:
            return list(s.scalars(select(StudyRow).order_by(StudyRow.id)))

    def trials(self, study_id: int) -> list[Trial]:
        with self.read() as s:
            q = select(TrialRow).where(TrialRow.study_id == study_id).order_by(TrialRow.number)
            return [to_trial(r) for r in s.scalars(q)]

    def trial(self, study_id: int, number: int) -> Trial:
        with self.read() as s:
            return to_trial(_trial_row(s, study_id, number))

    def recommendations(self, study_id: int) -> list[RecommendationRecord]:
        with self.read() as s:
            q = select(RecommendationRow).where(RecommendationRow.study_id == study_id)
            return [to_recommendation(r) for r in s.scalars(q.order_by(RecommendationRow.seq))]

    # ----------------------------------------------------------------- writes
    def create_study(self, **fields: Any) -> StudyRow:
        row = StudyRow(**fields, events=0)
        try:
            with self._session() as s, s.begin():
                s.add(row)
        except IntegrityError:
            raise ValidationError("study", f"a study named {row.name!r} already exists in {self.url}") from None
        return row

    @contextmanager
    def write(self, study_id: int, driver: str) -> Iterator[tuple[Session, StudyRow]]:
        """A transaction of the lease holder ``driver``: fails with :class:`StudyLockedError` if it lost the lease.

        The heartbeat is refreshed in the same transaction (compare-and-swap on the driver id: fencing).
        """
        with self._session() as s, s.begin():
            res = s.execute(
                update(StudyRow).where(StudyRow.id == study_id, StudyRow.driver == driver).values(heartbeat=time.time())
            )
            if res.rowcount != 1:
                raise StudyLockedError(f"this driver ({driver}) no longer holds the study; another driver took it")
            row = s.get(StudyRow, study_id)
            yield s, row

    def next_seq(self, row: StudyRow) -> int:
        """The next position in the study's event order (call inside :meth:`write`)."""
        seq = row.events
        row.events = seq + 1
        return seq

    # ------------------------------------------------------ trial transitions
    # Each one is a single transaction of the lease holder: a driver killed at any instant leaves the trial either as
    # it was or fully updated.
    def add_trial(
        self, study_id: int, driver: str, config: Config, source: str, state: str = "pending", error: str | None = None
    ) -> Trial:
        """A new trial, numbered next: ``pending``, ``running`` (its first attempt starts now, saving a second
        commit per trial) or ``pruned`` (not run, with ``error`` saying why)."""
        if state not in ("pending", "running", "pruned"):
            raise ValueError(f"a new trial cannot be {state!r}")
        with self.write(study_id, driver) as (s, row):
            number = s.scalar(select(func.count()).select_from(TrialRow).where(TrialRow.study_id == study_id))
            now = time.time()
            seq = self.next_seq(row)
            t = TrialRow(
                study_id=study_id,
                number=number,
                state=state,
                source=source,
                mixture=dict(config.mixture),
                scale=config.scale,
                steps=int(config.steps),
                eval_seed=eval_seed(row.seed, number),
                ask_seq=seq,
                end_seq=self.next_seq(row) if state == "pruned" else None,
                error=error,
                attempts=1 if state == "running" else 0,
                failures=0,
                created_at=now,
                started_at=now if state == "running" else None,
                finished_at=now if state == "pruned" else None,
            )
            s.add(t)
        return to_trial(t)

    def start_trial(self, study_id: int, driver: str, number: int, attempt: int) -> Trial:
        with self.write(study_id, driver) as (s, _):
            t = _trial_row(s, study_id, number)
            t.state, t.attempts, t.started_at, t.worker = "running", attempt, time.time(), None
        return to_trial(t)

    def complete_trial(
        self,
        study_id: int,
        driver: str,
        number: int,
        value: float,
        cost: float,
        curve: list | None,
        info: dict,
        finished: float,
        recommendation: Recommendation,
        started: float | None = None,
        worker: str | None = None,
    ) -> Trial:
        """The trial is complete (it ends now in the event log), and the strategy's recommendation after it."""
        with self.write(study_id, driver) as (s, row):
            charged = (TrialRow.study_id == study_id, TrialRow.state.in_(CHARGED_STATES))
            spent = s.scalar(select(func.coalesce(func.sum(TrialRow.cost), 0.0)).where(*charged))
            done = (TrialRow.study_id == study_id, TrialRow.state == "complete")
            n_complete = s.scalar(select(func.count()).select_from(TrialRow).where(*done)) + 1
            t = _trial_row(s, study_id, number)
            t.state, t.value, t.cost, t.curve, t.info = "complete", value, cost, curve, info
            t.started_at = started or t.started_at
            t.finished_at = finished
            t.duration = None if t.started_at is None else finished - t.started_at
            t.worker = worker or None
            t.end_seq = self.next_seq(row)
            rec = recommendation
            s.add(
                RecommendationRow(
                    study_id=study_id,
                    seq=self.next_seq(row),
                    n_complete=n_complete,
                    spent=spent + cost,
                    mixture=dict(rec.mixture),
                    value=rec.value,
                    std=rec.std,
                    source=rec.source,
                    created_at=time.time(),
                )
            )
        return to_trial(t)

    def fail_attempt(
        self, study_id: int, driver: str, number: int, error: str, finished: float, retry: bool = False
    ) -> Trial:
        """An attempt failed: the trial waits to be retried (``retry``) or ends ``failed``."""
        with self.write(study_id, driver) as (s, row):
            t = _trial_row(s, study_id, number)
            t.failures += 1
            t.error = f"attempt {t.attempts}: {error}"
            t.finished_at = finished
            if retry:
                t.state = "pending"
            else:
                t.state = "failed"
                t.end_seq = self.next_seq(row)
        return to_trial(t)

    def prune_trial(self, study_id: int, driver: str, number: int, reason: str) -> Trial:
        """A waiting trial will not run (it ends ``pruned``)."""
        with self.write(study_id, driver) as (s, row):
            t = _trial_row(s, study_id, number)
            t.state, t.error = "pruned", reason
            t.end_seq = self.next_seq(row)
            t.finished_at = time.time()
        return to_trial(t)

    # ---------------------------------------------------------------- lease
    def acquire(self, study_id: int, driver: str) -> None:
        """Take the study's lease for ``driver`` or raise :class:`StudyLockedError` naming the live holder."""
        with self.read() as s:
            row = s.get(StudyRow, study_id)
            holder, beat = row.driver, row.heartbeat
        if holder is not None and holder != driver:
            age = time.time() - (beat or 0.0)
            if age < self.lease_ttl and _holder_alive(holder):
                raise StudyLockedError(
                    f"study {row.name!r} is being driven by {holder} (heartbeat {age:.0f} s ago); one driver per "
                    f"study: stop it, or wait {self.lease_ttl - age:.0f} s if it has died on another host"
                )
        with self._session() as s, s.begin():
            cond = [StudyRow.id == study_id]
            cond.append(StudyRow.driver.is_(None) if holder is None else StudyRow.driver == holder)
            cond.append(StudyRow.heartbeat.is_(None) if beat is None else StudyRow.heartbeat == beat)
            res = s.execute(update(StudyRow).where(*cond).values(driver=driver, heartbeat=time.time()))
            if res.rowcount != 1:
                raise StudyLockedError(f"study {row.name!r}: another driver took it at the same moment")

    def heartbeat(self, study_id: int, driver: str) -> None:
        with self.write(study_id, driver):
            pass

    def release(self, study_id: int, driver: str) -> None:
        with self._session() as s, s.begin():
            s.execute(
                update(StudyRow)
                .where(StudyRow.id == study_id, StudyRow.driver == driver)
                .values(driver=None, heartbeat=None)
            )


def _trial_row(s: Session, study_id: int, number: int) -> TrialRow:
    row = s.scalar(select(TrialRow).where(TrialRow.study_id == study_id, TrialRow.number == number))
    if row is None:
        raise ValidationError("trial", f"study has no trial {number}")
    return row


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """Write-ahead log: readers (``study show``) never block the driver, and a commit needs no fsync of the main
    file. ``synchronous=NORMAL`` keeps every commit across a crash of the process (what resume relies on); a power
    cut may lose the last commits, which resume then re-runs. Not for SQLite files on network file systems."""
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def new_driver_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _holder_alive(holder: str) -> bool:
    """False only when the holder is provably dead: a process of this host that no longer exists."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
