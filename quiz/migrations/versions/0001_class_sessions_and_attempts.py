"""Class sessions, their predictions, and stored quiz attempts (the first schema).

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "class_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("page", sa.String(64), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("options_json", sa.Text, nullable=False),
        sa.Column("multiple", sa.Integer, nullable=False),
        sa.Column("answer_json", sa.Text, nullable=False),
        sa.Column("explanation", sa.Text, nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("revealed", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("session_id", sa.Integer, sa.ForeignKey("class_sessions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("learner_id", sa.String(64), nullable=False),
        sa.Column("nickname", sa.String(32), nullable=False),
        sa.Column("choice_json", sa.Text, nullable=False),
        sa.Column("submissions", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("session_id", "round", "learner_id", name="uq_prediction_learner"),
    )
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("learner_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.Integer, sa.ForeignKey("class_sessions.id", ondelete="SET NULL"), nullable=True),
        sa.Column("question_id", sa.String(64), nullable=False),
        sa.Column("concept", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("variant_seed", sa.Integer, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("option_json", sa.Text, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_attempts_learner", "attempts", ["learner_id"])
    op.create_index("ix_attempts_session", "attempts", ["session_id"])


def downgrade() -> None:
    op.drop_index("ix_attempts_session", table_name="attempts")
    op.drop_index("ix_attempts_learner", table_name="attempts")
    op.drop_table("attempts")
    op.drop_table("predictions")
    op.drop_table("class_sessions")
