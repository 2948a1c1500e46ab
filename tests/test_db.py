"""The database layer (quiz/db.py, quiz/schema.py, Alembic migrations) on SQLite and a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from dbfix import ROOT, db_url, engine, postgres_server  # noqa: F401  (fixtures)

from quiz import classroom as cr
from quiz import db, results


def test_default_is_a_sqlite_file_in_the_users_data_folder(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    assert db.database_url(env) == f"sqlite:///{tmp_path / 'xdg' / 'batch-lab' / 'batch-lab.sqlite3'}"
    env = {"HOME": "/home/learner"}
    assert db.data_dir(env).name == "batch-lab"
    assert db.database_url({db.ENV_URL: "postgresql://u@h/d"}) == "postgresql://u@h/d"


def test_migrations_build_exactly_the_schema_the_code_queries(engine):
    """Alembic's autogenerate comparison finds no difference between the migrated database and
    quiz/schema.py: a column added to one and not the other fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from quiz.schema import metadata
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert db.current_revision(engine) == "0001"


def test_upgrade_is_idempotent_and_downgrade_removes_everything(engine):
    db.upgrade(engine)  # a second process starting on a migrated database
    assert db.current_revision(engine) == "0001"
    from alembic import command
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        command.downgrade(db._alembic_config(conn), "base")
    from sqlalchemy import inspect
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}


def test_an_unreachable_server_is_one_clear_message():
    with pytest.raises(db.DatabaseUnavailable) as e:
        db.get_engine("postgresql://nobody@127.0.0.1:1/none")
    assert "cannot be reached" in e.value.message and "127.0.0.1" in e.value.message
    with pytest.raises(db.DatabaseUnavailable, match="not a database URL"):
        db.get_engine("::not a url::")


def test_an_unwritable_sqlite_folder_is_one_clear_message(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "file").write_text("x")
    with pytest.raises(db.DatabaseUnavailable):
        db.get_engine(f"sqlite:///{ro / 'file' / 'sub' / 'db.sqlite3'}")


def test_a_locked_sqlite_database_is_one_clear_message(tmp_path, monkeypatch):
    """Another process holding the write lock past the busy timeout: the app says so, it does not crash."""
    path = tmp_path / "db.sqlite3"
    e = db.make_engine(f"sqlite:///{path}")
    db.upgrade(e)
    code, secret = cr.start(e, cr.LivePrompt("step-by-step", "Q?", ("a", "b"), (0,)))
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_S", 0.2)
    e2 = db.make_engine(f"sqlite:///{path}")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
        "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(5)"), str(path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(db.DatabaseUnavailable, match="locked"):
            cr.submit(e2, code, "learner-0001", [1])
    finally:
        holder.kill()
        holder.wait()
    assert cr.submit(e2, code, "learner-0001", [1]) == (1,)  # and it works again once the lock is gone


def test_attempts_survive_a_restart_of_the_process(tmp_path):
    """One process records attempts and exits; a new process (a restarted app) reads them back."""
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path))
    env.pop(db.ENV_URL, None)
    write = ("from quiz import db, results; e = db.get_engine(); "
             "results.record(e, 'learner-abcdef', 'c5-fragmentation', 'C5', 'single', 7, 'external', [2], 0.0); "
             "results.record(e, 'learner-abcdef', 'c1-iteration', 'C1', 'single', 3, 'one pass', [0], 1.0)")
    read = ("from quiz import db, results; e = db.get_engine(); "
            "print([(a.question_id, a.variant_seed, a.score) for a in results.history(e, 'learner-abcdef')])")
    subprocess.run([sys.executable, "-c", write], cwd=ROOT, env=env, check=True)
    out = subprocess.run([sys.executable, "-c", read], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[('c5-fragmentation', 7, 0.0), ('c1-iteration', 3, 1.0)]"
    assert (tmp_path / "batch-lab" / "batch-lab.sqlite3").exists()


def test_times_come_back_as_utc(engine):
    t = datetime(2026, 12, 1, 22, 0, tzinfo=timezone.utc)
    results.record(engine, "learner-zz-0001", "q1", "C1", "single", 0, "a", [0], 1.0, now=t)
    got = results.history(engine, "learner-zz-0001")[0].created_at
    assert got == t and got.utcoffset() == timedelta(0)
