"""Database fixtures for the class tests: a fresh SQLite file, and a fresh database on a real PostgreSQL.

The PostgreSQL server is Debian's (scripts/local_postgres.py starts one per test run in a temporary
folder), or the one named by BATCH_LAB_TEST_POSTGRES_URL. Without PostgreSQL's binaries the PostgreSQL
cases are skipped with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import local_postgres  # noqa: E402

_counter = itertools.count()


@pytest.fixture(scope="session")
def postgres_server():
    """The URL of a running PostgreSQL server (its admin database)."""
    url = os.environ.get("BATCH_LAB_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    reason = local_postgres.missing()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL tests cannot run on CI: {reason}")
        pytest.skip(reason)
    folder = tempfile.mkdtemp(prefix="batchlab-pg-")
    try:
        yield local_postgres.start(folder)
    finally:
        local_postgres.stop(folder)


def fresh_postgres_db(server_url: str) -> str:
    """A new, empty database on the server; returns its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    u = make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"t{os.getpid()}_{next(_counter)}"
    admin = create_engine(u, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return u.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A URL to an empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'batch-lab.sqlite3'}"
    return fresh_postgres_db(request.getfixturevalue("postgres_server"))


@pytest.fixture
def engine(db_url):
    from quiz import db
    e = db.make_engine(db_url)
    db.upgrade(e)
    yield e
    e.dispose()
