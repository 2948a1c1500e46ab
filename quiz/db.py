"""The database of class sessions and quiz attempts: one SQLAlchemy engine per URL, schema by Alembic.

Where the data lives:

* by default an SQLite file, ``$XDG_DATA_HOME/batch-lab/batch-lab.sqlite3`` (``~/.local/share/...`` when
  XDG_DATA_HOME is unset): nothing to install, and it survives a restart;
* ``BATCH_LAB_DATABASE_URL`` when set: any SQLAlchemy URL, e.g. ``postgresql://user:pw@host/db`` (driven by
  psycopg 3) so several app processes behind a proxy share one database.

``get_engine()`` creates the engine once per URL and brings the schema to the newest Alembic revision
before first use. Every failure to reach, lock or write the database becomes ``DatabaseUnavailable`` with
one sentence a page can show; the simulator never touches this module.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError

ENV_URL = "BATCH_LAB_DATABASE_URL"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 5  # a writer waits this long for another process's lock before giving up
CONNECT_TIMEOUT_S = 3  # an unreachable server is reported after this, not after the OS's minutes
_PG_MIGRATION_LOCK = 0x4241544348  # advisory lock id ("BATCH"): one process migrates at a time


class DatabaseUnavailable(Exception):
    """The database cannot be reached, is locked, or refused a write: one sentence for the page."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def data_dir(env=os.environ) -> Path:
    """The user's data folder for Batch Lab (XDG base directory spec)."""
    base = env.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "batch-lab"


def database_url(env=os.environ) -> str:
    """``BATCH_LAB_DATABASE_URL`` if set, else the default SQLite file under the data folder."""
    url = (env.get(ENV_URL) or "").strip()
    if url:
        return url
    return f"sqlite:///{data_dir(env) / 'batch-lab.sqlite3'}"


def _normalise(url: str):
    """postgresql:// means psycopg 3 here (SQLAlchemy's default PostgreSQL driver would be psycopg2)."""
    try:
        u = make_url(url)
    except ArgumentError:
        raise DatabaseUnavailable(f"{ENV_URL} is not a database URL (expected e.g. postgresql://user@host/db)") from None
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u


def describe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return _normalise(url).render_as_string(hide_password=True)
    except DatabaseUnavailable:
        return "(not a URL)"


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (not yet migrated); SQLite gets its folder, a busy timeout and WAL."""
    u = _normalise(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            try:
                Path(u.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise DatabaseUnavailable(f"cannot create the database folder {Path(u.database).parent}: "
                                          f"{e.strerror}") from None
        engine = create_engine(u, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # per connection: SQLite forgets these on close
            # SQLAlchemy, not the sqlite3 module, decides when a transaction begins (see _sqlite_begin).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            # WAL lets the presenter's chart read while learners write (several processes on one file).
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # A writing transaction takes the write lock up front (BEGIN IMMEDIATE), so it waits out the
            # busy timeout for another process instead of failing when its read lock cannot be upgraded.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")
        return engine
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if u.get_backend_name() == "postgresql" else {}
    return create_engine(u, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=connect_args)


def _alembic_config(connection):
    from alembic.config import Config
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with Alembic; safe when several processes start at once."""
    from alembic import command
    with _migration_lock(engine):
        with engine.connect().execution_options(write=True) as conn, conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            command.upgrade(_alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _migration_lock(engine: Engine):
    """SQLite has no advisory locks: processes sharing the file take a lock file beside it."""
    db = engine.url.database if engine.dialect.name == "sqlite" else None
    if not db or db == ":memory:":
        yield
        return
    with open(f"{db}.migrate.lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def get_engine(url: str | None = None) -> Engine:
    """The process's engine for ``url`` (default: ``database_url()``), migrated to the newest revision."""
    url = url or database_url()
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = make_engine(url)
            with unavailable_as_message(url):
                upgrade(engine)
            _engines[url] = engine
        return engine


def reset_engines() -> None:
    """Forget every engine (tests, or after the URL changed)."""
    with _lock:
        for e in _engines.values():
            e.dispose()
        _engines.clear()


@contextlib.contextmanager
def unavailable_as_message(url: str | None = None):
    """Turn any driver or SQLAlchemy failure into DatabaseUnavailable with one clear sentence."""
    try:
        yield
    except (DatabaseUnavailable, IntegrityError):  # a constraint is the caller's business (e.g. a code taken)
        raise
    except DBAPIError as e:
        where = describe(url) if url else "the database"
        reason = str(getattr(e, "orig", e)).strip().splitlines()[0] if str(getattr(e, "orig", e)).strip() else type(e).__name__
        if "locked" in reason.lower():
            msg = f"the class database ({where}) is locked by another process; try again in a moment"
        else:
            msg = f"the class database ({where}) cannot be reached: {reason}"
        raise DatabaseUnavailable(msg) from None
    except (SQLAlchemyError, OSError) as e:
        raise DatabaseUnavailable(f"the class database cannot be used: {e}") from None


@contextlib.contextmanager
def transaction(engine: Engine, write: bool = False):
    """One transaction on ``engine`` (``write``: it will write); failures become DatabaseUnavailable."""
    with unavailable_as_message(str(engine.url)):
        with engine.connect().execution_options(write=write) as conn, conn.begin():
            yield conn
