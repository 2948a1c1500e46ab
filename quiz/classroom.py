"""Live class sessions for predict-then-observe, and quiz links: pure Python over the database (quiz.db).

An instructor on a page with a prediction moment starts a session: the room gets a short **join code**, the
instructor a **presenter secret** (only its SHA-256 is stored). Learners join with the code, anonymous (a
nickname at most), and submit a prediction, one option or several of the question's options. The presenter
sees how the room predicted, then reveals the simulator's answer to everyone; a new question (the next
iteration) or a reset starts the next *round*. A quiz link (``kind="quiz"``) is a session whose code tags
the quiz attempts given under it, so its instructor can read the item statistics (quiz.results).

Every presenter action takes the secret and checks it here, on the server, with a constant-time
comparison; learners only ever see the question, their own prediction and, after the reveal, the
distribution and the answer. Join codes expire; a learner can change a prediction at most
``MAX_SUBMISSIONS_PER_ROUND`` times and not faster than every ``MIN_SUBMIT_INTERVAL_S``; nicknames and
options are length-limited plain text (pages show them with st.text / dataframes, never as Markdown).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from quiz.db import transaction
from quiz.schema import class_sessions, predictions

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a projector without doubt
CODE_LENGTH = 6  # 32**6 ~ 1e9 codes: guessing a live one is hopeless within its lifetime
SESSION_LIFETIME = timedelta(hours=4)  # a lecture and then some; the code stops working after it
MAX_NICKNAME = 32
MAX_TITLE = 300
MAX_OPTION = 120
MAX_OPTIONS = 12
MAX_EXPLANATION = 600
MAX_SUBMISSIONS_PER_ROUND = 20
MIN_SUBMIT_INTERVAL_S = 1.0
KINDS = ("live", "quiz")


class ClassError(Exception):
    """A refused class action, with one sentence for the person who tried it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotPresenter(ClassError):
    """The action needs the presenter's secret, and it was missing or wrong."""


class RateLimited(ClassError):
    """Too many or too fast submissions by one learner."""


def clean_text(value, limit: int, field: str) -> str:
    """Learner- or page-supplied text as plain, single-line text of at most ``limit`` characters.

    Control and format characters (newlines, bidi overrides, zero-width joiners) are dropped, so a
    nickname cannot break a table row or reorder what others read; Markdown and HTML are not interpreted
    anywhere the text is shown, so they need no escaping here.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ClassError(f"{field}: must be text")
    s = "".join(" " if ch.isspace() else ch for ch in unicodedata.normalize("NFC", value)
                if ch.isspace() or unicodedata.category(ch)[0] != "C")
    s = " ".join(s.split())
    if len(s) > limit:
        raise ClassError(f"{field}: at most {limit} characters (got {len(s)})")
    return s


@dataclass(frozen=True)
class LivePrompt:
    """A prediction moment any page can pose to the room: a question, its options, the simulator's answer.

    ``answer`` holds the indices of the correct options (several when ``multiple``); ``explanation`` is
    shown with the answer after the reveal (e.g. the iteration's narration).
    """

    page: str
    title: str
    options: tuple[str, ...]
    answer: tuple[int, ...]
    multiple: bool = False
    explanation: str = ""

    def validated(self) -> "LivePrompt":
        title = clean_text(self.title, MAX_TITLE, "title")
        if not title:
            raise ClassError("title: the question must not be empty")
        if not 2 <= len(self.options) <= MAX_OPTIONS:
            raise ClassError(f"options: between 2 and {MAX_OPTIONS} options (got {len(self.options)})")
        opts = tuple(clean_text(o, MAX_OPTION, f"options[{i}]") for i, o in enumerate(self.options))
        if len(set(opts)) != len(opts) or not all(opts):
            raise ClassError("options: must be distinct and non-empty")
        ans = tuple(sorted(set(int(a) for a in self.answer)))
        if any(not 0 <= a < len(opts) for a in ans):
            raise ClassError("answer: an index outside the options")
        if not self.multiple and len(ans) != 1:
            raise ClassError("answer: a single-choice question has exactly one correct option")
        return LivePrompt(clean_text(self.page, 64, "page"), title, opts, ans, bool(self.multiple),
                          clean_text(self.explanation, MAX_EXPLANATION, "explanation"))


@dataclass(frozen=True)
class LearnerView:
    """What any learner who knows the code may see."""

    code: str
    kind: str
    page: str
    title: str
    options: tuple[str, ...]
    multiple: bool
    round: int
    closed: bool
    revealed: bool
    my_choice: tuple[int, ...] | None  # this learner's prediction in this round, if any
    answer: tuple[int, ...] | None  # only once revealed
    explanation: str | None  # only once revealed
    counts: tuple[int, ...] | None  # the room's distribution, only once revealed
    responses: int | None  # only once revealed


@dataclass(frozen=True)
class PresenterView:
    """What the presenter sees: the live distribution and each (nick)name's prediction."""

    code: str
    kind: str
    page: str
    title: str
    options: tuple[str, ...]
    multiple: bool
    answer: tuple[int, ...]
    explanation: str
    round: int
    revealed: bool
    closed: bool
    expires_at: datetime
    counts: tuple[int, ...]  # learners who chose each option
    responses: int  # learners who predicted in this round
    exactly_right: int  # learners whose prediction equals the answer
    nicknames: tuple[str, ...]  # the typed nicknames of this round (no learner ids)


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(timezone.utc)


def _aware(t: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time stored here is UTC."""
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=timezone.utc)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def normalise_code(code) -> str:
    """A typed join code: case and separators do not matter; anything else is refused."""
    if not isinstance(code, str):
        raise ClassError("code: type the join code shown by your instructor")
    c = "".join(ch for ch in code.upper() if ch not in " -_")[:2 * CODE_LENGTH]
    if len(c) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in c):
        raise ClassError(f"code: a join code is {CODE_LENGTH} letters and digits, e.g. K7QF3M")
    return c


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


QUIZ_LINK = LivePrompt("quiz", "Quiz link", (), ())  # a quiz link asks the room nothing live


def start(engine: Engine, prompt: LivePrompt | None, kind: str = "live", now: datetime | None = None) -> tuple[str, str]:
    """A new session posing ``prompt`` (None for a quiz link); returns (join code, presenter secret).
    Only the secret's hash is stored."""
    if kind not in KINDS:
        raise ClassError(f"kind: one of {', '.join(KINDS)}")
    if kind == "quiz":
        p = QUIZ_LINK
    elif prompt is None:
        raise ClassError("a live session needs a question")
    else:
        p = prompt.validated()
    t = _now(now)
    secret = secrets.token_urlsafe(24)
    for _ in range(8):  # a collision among ~1e9 codes is rare; try again rather than fail
        code = new_code()
        try:
            with transaction(engine, write=True) as conn:
                conn.execute(class_sessions.insert().values(
                    code=code, secret_sha256=_hash(secret), kind=kind, page=p.page, title=p.title,
                    options_json=json.dumps(p.options), multiple=int(p.multiple), answer_json=json.dumps(p.answer),
                    explanation=p.explanation, round=1, revealed=0, created_at=t, expires_at=t + SESSION_LIFETIME,
                    closed_at=None))
            return code, secret
        except IntegrityError:
            continue
    raise ClassError("could not find a free join code; try again")


def _row(conn, code: str, now: datetime, *, for_update: bool = False):
    q = select(class_sessions).where(class_sessions.c.code == normalise_code(code))
    if for_update and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).mappings().first()
    if row is None:
        raise ClassError("code: no class session has this code; check it with your instructor")
    if _aware(row["expires_at"]) <= now:
        raise ClassError("code: this class session has expired; ask your instructor for a new code")
    return row


def _check_secret(row, secret) -> None:
    if not isinstance(secret, str) or not secret or not hmac.compare_digest(_hash(secret), row["secret_sha256"]):
        raise NotPresenter("only the presenter link can do this")


def _counts(conn, row) -> tuple[tuple[int, ...], int, int, tuple[str, ...]]:
    options = json.loads(row["options_json"])
    answer = json.loads(row["answer_json"])
    counts = [0] * len(options)
    n = exact = 0
    nicks = []
    q = select(predictions.c.choice_json, predictions.c.nickname).where(
        predictions.c.session_id == row["id"], predictions.c.round == row["round"]).order_by(predictions.c.id)
    for choice_json, nick in conn.execute(q):
        choice = json.loads(choice_json)
        n += 1
        exact += sorted(choice) == sorted(answer)
        for i in choice:
            if 0 <= i < len(counts):
                counts[i] += 1
        if nick:
            nicks.append(nick)
    return tuple(counts), n, exact, tuple(nicks)


def learner_view(engine: Engine, code: str, learner_id: str | None = None, now: datetime | None = None) -> LearnerView:
    t = _now(now)
    with transaction(engine) as conn:
        row = _row(conn, code, t)
        mine = None
        if learner_id:
            c = conn.execute(select(predictions.c.choice_json).where(
                predictions.c.session_id == row["id"], predictions.c.round == row["round"],
                predictions.c.learner_id == learner_id)).scalar()
            mine = None if c is None else tuple(json.loads(c))
        revealed = bool(row["revealed"])
        counts = n = None
        if revealed:
            counts, n, _, _ = _counts(conn, row)
    return LearnerView(code=row["code"], kind=row["kind"], page=row["page"], title=row["title"],
                       options=tuple(json.loads(row["options_json"])), multiple=bool(row["multiple"]),
                       round=row["round"], closed=row["closed_at"] is not None, revealed=revealed, my_choice=mine,
                       answer=tuple(json.loads(row["answer_json"])) if revealed else None,
                       explanation=row["explanation"] if revealed else None, counts=counts, responses=n)


def submit(engine: Engine, code: str, learner_id: str, choice, nickname: str = "",
           now: datetime | None = None) -> tuple[int, ...]:
    """Record (or change) a learner's prediction for the current round; returns the stored choice."""
    try:
        return _submit(engine, code, learner_id, choice, nickname, now)
    except IntegrityError:  # the same learner's first prediction raced itself (a double click, two tabs)
        return _submit(engine, code, learner_id, choice, nickname, now)


def _submit(engine, code, learner_id, choice, nickname, now) -> tuple[int, ...]:
    t = _now(now)
    if not isinstance(learner_id, str) or not 8 <= len(learner_id) <= 64:
        raise ClassError("learner: missing pseudonymous id")
    nick = clean_text(nickname, MAX_NICKNAME, "nickname")
    try:
        picked = tuple(sorted({int(i) for i in choice}))
    except (TypeError, ValueError):
        raise ClassError("prediction: choose among the options") from None
    with transaction(engine, write=True) as conn:
        row = _row(conn, code, t, for_update=True)
        options = json.loads(row["options_json"])
        if row["closed_at"] is not None:
            raise ClassError("this class session is closed")
        if row["revealed"]:
            raise ClassError("the answer is already revealed; wait for the next question")
        if not picked and not row["multiple"]:
            raise ClassError("prediction: choose one option")
        if any(not 0 <= i < len(options) for i in picked):
            raise ClassError("prediction: choose among the options")
        if not row["multiple"] and len(picked) != 1:
            raise ClassError("prediction: choose exactly one option")
        key = (predictions.c.session_id == row["id"], predictions.c.round == row["round"],
               predictions.c.learner_id == learner_id)
        prev = conn.execute(select(predictions.c.submissions, predictions.c.updated_at).where(*key)).first()
        if prev is None:
            conn.execute(predictions.insert().values(
                session_id=row["id"], round=row["round"], learner_id=learner_id, nickname=nick,
                choice_json=json.dumps(picked), submissions=1, updated_at=t))
            return picked
        if prev.submissions >= MAX_SUBMISSIONS_PER_ROUND:
            raise RateLimited(f"you changed your prediction {MAX_SUBMISSIONS_PER_ROUND} times; it is kept as it is")
        if (t - _aware(prev.updated_at)).total_seconds() < MIN_SUBMIT_INTERVAL_S:
            raise RateLimited("one change per second, please; try again")
        conn.execute(predictions.update().where(*key).values(
            choice_json=json.dumps(picked), nickname=nick, submissions=prev.submissions + 1, updated_at=t))
    return picked


def presenter_view(engine: Engine, code: str, secret: str, now: datetime | None = None) -> PresenterView:
    t = _now(now)
    with transaction(engine) as conn:
        row = _row(conn, code, t)
        _check_secret(row, secret)
        counts, n, exact, nicks = _counts(conn, row)
    return PresenterView(code=row["code"], kind=row["kind"], page=row["page"], title=row["title"],
                         options=tuple(json.loads(row["options_json"])), multiple=bool(row["multiple"]),
                         answer=tuple(json.loads(row["answer_json"])), explanation=row["explanation"],
                         round=row["round"], revealed=bool(row["revealed"]), closed=row["closed_at"] is not None,
                         expires_at=_aware(row["expires_at"]), counts=counts, responses=n, exactly_right=exact,
                         nicknames=nicks)


def _presenter_update(engine: Engine, code: str, secret: str, now: datetime | None, **values) -> None:
    t = _now(now)
    with transaction(engine, write=True) as conn:
        row = _row(conn, code, t, for_update=True)
        _check_secret(row, secret)
        if row["closed_at"] is not None and "closed_at" not in values:
            raise ClassError("this class session is closed")
        if values.pop("next_round", False):
            values["round"] = row["round"] + 1
        conn.execute(class_sessions.update().where(class_sessions.c.id == row["id"]).values(**values))


def reveal(engine: Engine, code: str, secret: str, now: datetime | None = None) -> None:
    """Show the simulator's answer (and the room's distribution) to everyone in the session."""
    _presenter_update(engine, code, secret, now, revealed=1)


def reset(engine: Engine, code: str, secret: str, now: datetime | None = None) -> None:
    """Ask the same question again: a new round, nobody has predicted yet, nothing revealed."""
    _presenter_update(engine, code, secret, now, revealed=0, next_round=True)


def pose(engine: Engine, code: str, secret: str, prompt: LivePrompt, now: datetime | None = None) -> None:
    """Ask the room a new question (e.g. the next iteration's): a new round."""
    p = prompt.validated()
    _presenter_update(engine, code, secret, now, revealed=0, next_round=True, page=p.page, title=p.title,
                      options_json=json.dumps(p.options), multiple=int(p.multiple), answer_json=json.dumps(p.answer),
                      explanation=p.explanation)


def close(engine: Engine, code: str, secret: str, now: datetime | None = None) -> None:
    """End the session: learners can no longer submit (the code still shows the last state)."""
    _presenter_update(engine, code, secret, now, closed_at=_now(now))


def check_presenter(engine: Engine, code: str, secret: str, now: datetime | None = None) -> str:
    """The normalised code when ``secret`` is its presenter secret; NotPresenter otherwise."""
    t = _now(now)
    with transaction(engine) as conn:
        row = _row(conn, code, t)
        _check_secret(row, secret)
        return row["code"]


def session_id(engine: Engine, code: str, now: datetime | None = None) -> int:
    with transaction(engine) as conn:
        return _row(conn, code, _now(now))["id"]


def active_sessions(engine: Engine, now: datetime | None = None) -> int:
    """How many sessions can still be joined (for the class server's health line)."""
    t = _now(now)
    with transaction(engine) as conn:
        return conn.execute(select(func.count()).select_from(class_sessions).where(
            class_sessions.c.expires_at > t, class_sessions.c.closed_at.is_(None))).scalar_one()
