"""Alembic's environment for Batch Lab: migrations run on the connection quiz.db hands over.

quiz.db.upgrade() passes its open connection in ``config.attributes["connection"]``; there is no
alembic.ini and no URL here, so the migration always runs against the database the app itself uses.
"""

from alembic import context

from quiz.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
