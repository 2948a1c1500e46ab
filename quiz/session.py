"""A learner's quiz session: which questions, where they are, what they answered, and what to revisit.

Plain data plus small methods, so the Streamlit page only draws it (and a test can drive it without a
browser). A graded submission is one ``Attempt``; an invalid entry is never recorded. A question's score
is that of its latest graded attempt (a retry with a fresh variant replaces it); the session score is the
sum over answered questions.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field

from quiz.model import CONCEPT_NAMES, CONCEPTS, Grade, Question, Variant

REVISIT_BELOW = 1.0  # a concept with any question not fully right is worth revisiting
CSV_COLUMNS = ("question_id", "concept", "kind", "attempt", "seed", "answer", "correct_answer", "score", "feedback")


@dataclass(frozen=True)
class Attempt:
    question_id: str
    concept: str
    kind: str
    attempt: int  # 1 for the first graded try of this question, 2 after a retry, ...
    seed: int
    answer: str
    correct_answer: str
    score: float
    feedback: str


@dataclass
class Session:
    """Questions in the order they are asked, a cursor, and every graded attempt."""

    question_ids: list[str]
    concept_of: dict[str, str]
    seed_base: int
    position: int = 0
    seeds: dict[str, int] = field(default_factory=dict)  # current variant seed per question
    attempts: list[Attempt] = field(default_factory=list)

    @classmethod
    def start(cls, questions, concept: str | None = None, seed: int | None = None, shuffle: bool = True) -> "Session":
        """A session over every question (``concept`` None) or one concept's questions."""
        if concept is not None and concept not in CONCEPTS:
            raise ValueError(f"concept: unknown {concept!r}; choose one of {', '.join(CONCEPTS)}")
        chosen = [q for q in questions if concept is None or q.concept == concept]
        seed = random.randrange(1, 2**31) if seed is None else seed
        if shuffle:
            random.Random(seed).shuffle(chosen)
        return cls([q.id for q in chosen], {q.id: q.concept for q in chosen}, seed_base=seed,
                   seeds={q.id: seed + i for i, q in enumerate(chosen)})

    # ---- where we are ---------------------------------------------------------------------------------
    @property
    def total(self) -> int:
        return len(self.question_ids)

    @property
    def finished(self) -> bool:
        return self.position >= self.total

    @property
    def current_id(self) -> str | None:
        return None if self.finished else self.question_ids[self.position]

    def seed_of(self, qid: str) -> int:
        return self.seeds[qid]

    def advance(self) -> None:
        if not self.finished:
            self.position += 1

    def retry(self, qid: str) -> int:
        """A fresh variant of ``qid`` (a new seed); returns the new seed."""
        self.seeds[qid] = self.seeds[qid] + 7919 * (1 + self.tries(qid))  # far from other questions' seeds
        return self.seeds[qid]

    # ---- results --------------------------------------------------------------------------------------
    def tries(self, qid: str) -> int:
        return sum(a.question_id == qid for a in self.attempts)

    def record(self, q: Question, v: Variant, answer_text: str, g: Grade) -> Attempt:
        a = Attempt(question_id=q.id, concept=q.concept, kind=q.kind, attempt=self.tries(q.id) + 1, seed=v.seed,
                    answer=answer_text, correct_answer=v.answer_text(), score=g.score,
                    feedback=" ".join([g.message] + [d[2] for d in g.details]))
        self.attempts.append(a)
        return a

    def latest(self) -> dict[str, Attempt]:
        out: dict[str, Attempt] = {}
        for a in self.attempts:
            out[a.question_id] = a
        return out

    @property
    def answered(self) -> int:
        return len(self.latest())

    @property
    def score(self) -> float:
        return round(sum(a.score for a in self.latest().values()), 6)

    def by_concept(self) -> dict[str, tuple[float, int]]:
        """concept -> (score earned, questions answered), over answered questions."""
        out: dict[str, tuple[float, int]] = {}
        for a in self.latest().values():
            s, n = out.get(a.concept, (0.0, 0))
            out[a.concept] = (s + a.score, n + 1)
        return dict(sorted(out.items(), key=lambda kv: int(kv[0][1:])))

    def to_revisit(self) -> list[tuple[str, str, float]]:
        """(concept, its name, share of points earned) for concepts answered below full marks."""
        out = []
        for c, (s, n) in self.by_concept().items():
            if s / n < REVISIT_BELOW:
                out.append((c, CONCEPT_NAMES[c], s / n))
        return sorted(out, key=lambda x: (x[2], int(x[0][1:])))

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for a in self.attempts:
            w.writerow([a.question_id, a.concept, a.kind, a.attempt, a.seed, a.answer, a.correct_answer,
                        f"{a.score:g}", a.feedback])
        return buf.getvalue()
