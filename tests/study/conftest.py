"""``db``: a fresh, empty study database on each backend — a SQLite file, and a new database on the PostgreSQL
server named by ``MIXSCALE_TEST_POSTGRES`` (started by ``.ci/postgres``; without it the PostgreSQL cases skip,
unless ``MIXSCALE_REQUIRE_POSTGRES=1``, as in ``.ci/run``, makes that a failure)."""

from __future__ import annotations

import os
import uuid

import pytest

BACKENDS = ["sqlite", "postgresql"]


def postgres_url() -> str | None:
    url = os.environ.get("MIXSCALE_TEST_POSTGRES")
    if not url:
        if os.environ.get("MIXSCALE_REQUIRE_POSTGRES") == "1":
            pytest.fail("MIXSCALE_REQUIRE_POSTGRES=1 but MIXSCALE_TEST_POSTGRES is not set (see .ci/postgres)")
        pytest.skip('no PostgreSQL server: eval "$(.ci/postgres start)" to run these')
    return url


class _Databases:
    def __init__(self, backend: str, tmp_path) -> None:
        self.backend, self.tmp_path, self.created = backend, tmp_path, []

    def new(self) -> str:
        """The URL of a new, empty database."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        if self.backend == "sqlite":
            return f"sqlite:///{self.tmp_path}/{name}.db"
        import psycopg
        from sqlalchemy.engine import make_url

        admin = make_url(postgres_url())
        with psycopg.connect(_dsn(admin), autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return admin.set(database=name).render_as_string(hide_password=False)

    def drop(self) -> None:
        if not self.created:
            return
        import psycopg
        from sqlalchemy.engine import make_url

        admin = make_url(postgres_url())
        with psycopg.connect(_dsn(admin), autocommit=True) as con:
            for name in self.created:
                con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _dsn(url) -> str:
    return f"host={url.host} port={url.port} user={url.username} password={url.password} dbname={url.database}"


@pytest.fixture(params=BACKENDS)
def dbs(request, tmp_path):
    """A factory of fresh databases on one backend: ``dbs.new()`` → URL; ``dbs.backend``."""
    if request.param == "postgresql":
        postgres_url()
    d = _Databases(request.param, tmp_path)
    yield d
    d.drop()


@pytest.fixture
def db(dbs) -> str:
    """The URL of one fresh database (each backend)."""
    return dbs.new()
