"""Stored quiz attempts and the statistics an instructor reads from them (pure Python over quiz.db).

An attempt is one graded answer: question id, concept, variant seed, the chosen answer (as text, and as
option indices for choice questions), score in 0..1, time, and a pseudonymous learner id (never a name).
Attempts given under a quiz link or a live class carry its session id, so the instructor of that session
(who holds its presenter secret, checked in quiz.classroom) sees per question how many learners answered,
how often each option was chosen (the common misconception) and the mean score; and per concept the mean
score. A learner's own history is read by their pseudonymous id alone.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.engine import Engine

from quiz.db import transaction
from quiz.schema import attempts

MAX_ANSWER = 500  # characters of a stored answer text (a numeric entry, or the chosen options' texts)
CSV_COLUMNS = ("learner", "question_id", "concept", "kind", "variant_seed", "answer", "options", "score", "time_utc")


@dataclass(frozen=True)
class StoredAttempt:
    learner_id: str
    question_id: str
    concept: str
    kind: str
    variant_seed: int
    answer: str
    options: tuple[int, ...]
    score: float
    created_at: datetime


@dataclass(frozen=True)
class ItemStats:
    """One question's statistics over the latest attempt of each learner."""

    question_id: str
    concept: str
    answered: int  # learners
    attempts: int  # every graded attempt, retries included
    mean_score: float
    option_counts: dict[int, int]  # option index -> learners whose latest answer chose it


def record(engine: Engine, learner_id: str, question_id: str, concept: str, kind: str, seed: int, answer: str,
           options, score: float, session: int | None = None, now: datetime | None = None) -> None:
    if not isinstance(learner_id, str) or not 8 <= len(learner_id) <= 64:
        raise ValueError("learner_id: a pseudonymous id of 8..64 characters")
    score = float(score)
    if not 0.0 <= score <= 1.0:
        raise ValueError("score: must lie in 0..1")
    with transaction(engine, write=True) as conn:
        conn.execute(attempts.insert().values(
            learner_id=learner_id, session_id=session, question_id=str(question_id)[:64], concept=str(concept)[:8],
            kind=str(kind)[:16], variant_seed=int(seed), answer=str(answer)[:MAX_ANSWER],
            option_json=json.dumps(sorted(int(i) for i in options)), score=score,
            created_at=now or datetime.now(timezone.utc)))


def _rows(conn, where) -> list[StoredAttempt]:
    q = select(attempts).where(where).order_by(attempts.c.created_at, attempts.c.id)
    out = []
    for r in conn.execute(q).mappings():
        t = r["created_at"]
        out.append(StoredAttempt(r["learner_id"], r["question_id"], r["concept"], r["kind"], r["variant_seed"],
                                 r["answer"], tuple(json.loads(r["option_json"])), r["score"],
                                 t if t.tzinfo else t.replace(tzinfo=timezone.utc)))
    return out


def history(engine: Engine, learner_id: str) -> list[StoredAttempt]:
    """Every attempt of one learner, oldest first (their own history across visits)."""
    with transaction(engine) as conn:
        return _rows(conn, attempts.c.learner_id == learner_id)


def for_session(engine: Engine, session: int) -> list[StoredAttempt]:
    """Every attempt given under one session (the caller has checked the presenter secret)."""
    with transaction(engine) as conn:
        return _rows(conn, attempts.c.session_id == session)


def item_stats(rows: list[StoredAttempt]) -> list[ItemStats]:
    """Per question, over each learner's latest attempt; ordered by concept number, then question id."""
    latest: dict[tuple[str, str], StoredAttempt] = {}
    tries: dict[str, int] = {}
    for a in rows:
        latest[(a.question_id, a.learner_id)] = a
        tries[a.question_id] = tries.get(a.question_id, 0) + 1
    by_q: dict[str, list[StoredAttempt]] = {}
    for (qid, _), a in latest.items():
        by_q.setdefault(qid, []).append(a)
    out = []
    for qid, xs in by_q.items():
        counts: dict[int, int] = {}
        for a in xs:
            for i in a.options:
                counts[i] = counts.get(i, 0) + 1
        out.append(ItemStats(qid, xs[0].concept, len(xs), tries[qid], sum(a.score for a in xs) / len(xs),
                             dict(sorted(counts.items()))))
    return sorted(out, key=lambda s: (_concept_number(s.concept), s.question_id))


def concept_means(rows: list[StoredAttempt]) -> dict[str, tuple[float, int]]:
    """concept -> (mean score over each learner's latest attempt per question, number of such answers)."""
    acc: dict[str, list[float]] = {}
    latest: dict[tuple[str, str], StoredAttempt] = {}
    for a in rows:
        latest[(a.question_id, a.learner_id)] = a
    for a in latest.values():
        acc.setdefault(a.concept, []).append(a.score)
    return {c: (sum(v) / len(v), len(v)) for c, v in sorted(acc.items(), key=lambda kv: _concept_number(kv[0]))}


def _concept_number(c: str) -> int:
    return int(c[1:]) if c[1:].isdigit() else 99


def to_csv(rows: list[StoredAttempt], pseudonyms: bool = True) -> str:
    """Every attempt as CSV; learners appear as L1, L2, ... in order of first attempt (never their id)."""
    names: dict[str, str] = {}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for a in rows:
        who = names.setdefault(a.learner_id, f"L{len(names) + 1}") if pseudonyms else a.learner_id
        w.writerow([who, a.question_id, a.concept, a.kind, a.variant_seed, _csv_safe(a.answer),
                    " ".join(map(str, a.options)), f"{a.score:g}", a.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")])
    return buf.getvalue()


def _csv_safe(text: str) -> str:
    """A spreadsheet runs a cell that starts with = + - @ as a formula: prefix such answers with '."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
