"""Alembic migrations of the Batch Lab database (see quiz/db.py)."""
