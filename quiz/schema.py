"""The tables behind class sessions and stored quiz attempts (SQLAlchemy Core metadata).

The schema itself is created and changed only by the Alembic migrations in ``quiz/migrations``; this
metadata is what the code queries, and a test compares it with the migrated database so the two cannot
drift apart.

* ``class_sessions``: one live class (a join code, the hash of the presenter's secret, the question the
  room is asked now, whether its answer is revealed) or one quiz link (``kind = 'quiz'``).
* ``predictions``: one learner's latest prediction per session and round (a reset starts a new round).
* ``attempts``: one graded quiz answer (question id, variant seed, chosen answer, score, time) by a
  pseudonymous learner id, optionally tagged with the class session (quiz link) it was given in.
"""

from __future__ import annotations

from sqlalchemy import (Column, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint)

metadata = MetaData()

class_sessions = Table(
    "class_sessions", metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(12), nullable=False, unique=True),  # what learners type; never the secret
    Column("secret_sha256", String(64), nullable=False),  # only the hash is stored
    Column("kind", String(16), nullable=False),  # "live" (predict-then-observe) or "quiz" (a quiz link)
    Column("page", String(64), nullable=False),  # url_path of the page that started it
    Column("title", Text, nullable=False),  # the question the room is asked in this round
    Column("options_json", Text, nullable=False),  # JSON list of option texts
    Column("multiple", Integer, nullable=False),  # 1: learners may pick several options
    Column("answer_json", Text, nullable=False),  # JSON list of correct option indices (the simulator's)
    Column("explanation", Text, nullable=False),  # shown with the answer once revealed
    Column("round", Integer, nullable=False),  # a reset or a new question starts the next round
    Column("revealed", Integer, nullable=False),  # 1 once the presenter revealed this round's answer
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),  # the join code stops working then
    Column("closed_at", DateTime(timezone=True), nullable=True),
)

predictions = Table(
    "predictions", metadata,
    Column("id", Integer, primary_key=True),
    Column("session_id", Integer, ForeignKey("class_sessions.id", ondelete="CASCADE"), nullable=False),
    Column("round", Integer, nullable=False),
    Column("learner_id", String(64), nullable=False),  # pseudonymous, made by the app
    Column("nickname", String(32), nullable=False),  # "" unless the learner typed one
    Column("choice_json", Text, nullable=False),  # JSON list of chosen option indices
    Column("submissions", Integer, nullable=False),  # how often this learner changed it (rate limit)
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("session_id", "round", "learner_id", name="uq_prediction_learner"),
)

attempts = Table(
    "attempts", metadata,
    Column("id", Integer, primary_key=True),
    Column("learner_id", String(64), nullable=False),
    Column("session_id", Integer, ForeignKey("class_sessions.id", ondelete="SET NULL"), nullable=True),
    Column("question_id", String(64), nullable=False),
    Column("concept", String(8), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("variant_seed", Integer, nullable=False),
    Column("answer", Text, nullable=False),  # the chosen answer as the learner saw it (text)
    Column("option_json", Text, nullable=False),  # JSON list of chosen option indices ([] for numbers)
    Column("score", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_attempts_learner", "learner_id"),
    Index("ix_attempts_session", "session_id"),
)
