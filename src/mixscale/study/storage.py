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
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, func, inspect, select, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from mixscale.errors import ValidationError
from mixscale.space import Config
from mixscale.study._sqlite import inspect_sqlite_file, read_only_uri, sqlite_path, sqlite_pragmas
from mixscale.study.errors import StorageError, StudyLockedError
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

if TYPE_CHECKING:
    from mixscale.strategies.base import Recommendation


#: Seconds after which a driver's heartbeat no longer holds the study.
LEASE_TTL = 60.0


class Storage:
    """A connection to one study database. ``Storage(url)`` validates before it writes anything.

    ``read_only``: for readers (``study list / show / export / report``): a database that does not exist is an
    error rather than created, no schema is ever written, and a SQLite file is opened read-only (so a file the
    user cannot write is still readable). :attr:`url` is the URL with any password masked (for messages).
    """

    def __init__(self, url: str, lease_ttl: float = LEASE_TTL, read_only: bool = False) -> None:
        if not isinstance(url, str) or not url:
            raise StorageError(f"expected a database URL such as sqlite:///study.db, got {url!r}")
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StorageError("the value is not a database URL (e.g. sqlite:///study.db)") from None
        self.url = parsed.render_as_string(hide_password=True) if parsed.password else url
        url = self.url
        self.read_only = read_only
        self.lease_ttl = float(lease_ttl)
        path = sqlite_path(parsed)
        file_tables: set[str] = set()
        if path is not None:
            if not path.parent.is_dir():
                raise StorageError(f"directory {path.parent} does not exist (for {url})")
            if path.is_dir():
                raise StorageError(f"{path} is a directory, not a database file (for {url})")
            if path.exists():
                file_tables, meta = inspect_sqlite_file(path)
                self._check_existing(file_tables, meta)
            elif read_only:
                raise StorageError(f"no database at {path} (for {url}); nothing was created")
        kwargs: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            if path is None:
                kwargs["poolclass"] = StaticPool  # one in-memory database shared by every session
            elif read_only:
                uri = read_only_uri(path)
                kwargs = {"creator": lambda: sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)}
        try:
            self.engine: Engine = create_engine(parsed if not read_only or path is None else "sqlite://", **kwargs)
        except (ArgumentError, ImportError) as exc:
            raise StorageError(f"cannot open {url}: {exc}") from None
        if parsed.get_backend_name() == "sqlite" and not read_only:
            event.listen(self.engine, "connect", sqlite_pragmas)
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
            self._empty = fresh and read_only  # a reader of an empty database: no studies, nothing written
            if fresh and not read_only:
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
            row = None if self._empty else s.scalar(select(StudyRow).where(StudyRow.name == name))
        if row is None:
            known = ", ".join(self.study_names()) or "none"
            raise ValidationError("study", f"no study named {name!r} in {self.url} (studies: {known})")
        return row

    def study_names(self) -> list[str]:
        if self._empty:
            return []
        with self.read() as s:
            return list(s.scalars(select(StudyRow.name).order_by(StudyRow.id)))

    def studies(self) -> list[StudyRow]:
        if self._empty:
            return []
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
            with self._writing(), self._session() as s, s.begin():
                s.add(row)
        except IntegrityError:
            raise ValidationError("study", f"a study named {row.name!r} already exists in {self.url}") from None
        return row

    @contextmanager
    def write(self, study_id: int, driver: str) -> Iterator[tuple[Session, StudyRow]]:
        """A transaction of the lease holder ``driver``: fails with :class:`StudyLockedError` if it lost the lease.

        The heartbeat is refreshed in the same transaction (compare-and-swap on the driver id: fencing).
        """
        with self._writing(), self._session() as s, s.begin():
            res = s.execute(
                update(StudyRow).where(StudyRow.id == study_id, StudyRow.driver == driver).values(heartbeat=time.time())
            )
            if res.rowcount != 1:
                raise StudyLockedError(f"this driver ({driver}) no longer holds the study; another driver took it")
            row = s.get(StudyRow, study_id)
            yield s, row

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A failed write (disk full, database gone read-only, server down) is a :class:`StorageError` naming the
        URL, not a traceback; the transaction was rolled back, so the study is as it was before it."""
        if self.read_only:
            raise RuntimeError("internal: a write through a read-only Storage")
        try:
            yield
        except OperationalError as exc:
            raise StorageError(f"cannot write to {self.url}: {str(exc.orig).strip().splitlines()[0]}") from None

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
        self,
        study_id: int,
        driver: str,
        number: int,
        error: str,
        finished: float,
        retry: bool = False,
        charge: float | None = None,
    ) -> Trial:
        """An attempt failed: the trial waits to be retried (``retry``) or ends ``failed``, charged ``charge``."""
        with self.write(study_id, driver) as (s, row):
            t = _trial_row(s, study_id, number)
            t.failures += 1
            t.error = f"attempt {t.attempts}: {error}"
            t.finished_at = finished
            if retry:
                t.state = "pending"
            else:
                t.state, t.cost = "failed", charge
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
        with self._writing(), self._session() as s, s.begin():
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
        with self._writing(), self._session() as s, s.begin():
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
