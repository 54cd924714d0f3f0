"""SQLite specifics of :mod:`mixscale.study.storage`: inspecting a file read-only before anything is written, the
read-only URI, and the connection settings (write-ahead log)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mixscale.study.errors import StorageError


def sqlite_path(u) -> Path | None:
    """The file behind a ``sqlite://`` URL (None for in-memory databases and other dialects)."""
    if u.get_backend_name() != "sqlite" or u.database in (None, "", ":memory:"):
        return None
    return Path(u.database)


def read_only_uri(path: Path) -> str:
    """A read-only SQLite URI for ``path``, percent-encoded (a ``#`` or ``?`` in a file name is part of the name,
    not the URI's fragment or query). Without a write-ahead log beside it the file is all there is: open it
    immutable, so that SQLite creates no -shm / -wal files next to a file that may not be ours or is not writable.
    With one, a driver may be writing: plain read-only."""
    live = Path(f"{path}-wal").exists()
    return f"{path.resolve().as_uri()}?mode=ro{'' if live else '&immutable=1'}"


def inspect_sqlite_file(path: Path) -> tuple[set[str], dict[str, str]]:
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
        con = sqlite3.connect(read_only_uri(path), uri=True)
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


def sqlite_pragmas(dbapi_connection, _record) -> None:
    """Write-ahead log: readers (``study show``) never block the driver, and a commit needs no fsync of the main
    file. ``synchronous=NORMAL`` keeps every commit across a crash of the process (what resume relies on); a power
    cut may lose the last commits, which resume then re-runs. Not for SQLite files on network file systems."""
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    try:
        cur.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        pass  # a file we may not write: reading still works; a write then fails as a StorageError
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
