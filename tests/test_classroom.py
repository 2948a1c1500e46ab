"""Live class sessions and quiz results (quiz/classroom.py, quiz/results.py) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from dbfix import db_url, engine, postgres_server  # noqa: F401  (fixtures)

from quiz import classroom as cr
from quiz import results

T0 = datetime(2026, 12, 1, 22, 0, tzinfo=timezone.utc)
PROMPT = cr.LivePrompt("step-by-step", "Which requests will be prefilled in iteration 4?",
                       ("x1", "x2", "x3"), (2,), multiple=True, explanation="x3 joins; x1, x2 decode.")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_learners_predict_presenter_sees_distribution_then_reveals(engine):
    code, secret = cr.start(engine, PROMPT, now=T0)
    assert len(code) == cr.CODE_LENGTH and secret not in code
    cr.submit(engine, code, "learner-0001", [2], nickname="Ada", now=at(1))
    cr.submit(engine, code.lower(), "learner-0002", [0, 2], now=at(2))  # codes are typed in any case
    cr.submit(engine, f"{code[:3]}-{code[3:]}", "learner-0003", [0, 1], nickname="  Bo  ", now=at(3))
    v = cr.presenter_view(engine, code, secret, now=at(4))
    assert v.counts == (2, 1, 2) and v.responses == 3 and v.exactly_right == 1
    assert v.nicknames == ("Ada", "Bo") and not v.revealed
    lv = cr.learner_view(engine, code, "learner-0002", now=at(4))
    assert lv.my_choice == (0, 2) and lv.answer is None and lv.counts is None and lv.explanation is None
    cr.reveal(engine, code, secret, now=at(5))
    lv = cr.learner_view(engine, code, "learner-0003", now=at(6))
    assert lv.revealed and lv.answer == (2,) and lv.counts == (2, 1, 2) and lv.responses == 3
    assert lv.explanation == "x3 joins; x1, x2 decode."
    with pytest.raises(cr.ClassError, match="already revealed"):
        cr.submit(engine, code, "learner-0004", [1], now=at(7))


def test_presenter_actions_need_the_secret(engine):
    code, secret = cr.start(engine, PROMPT, now=T0)
    cr.submit(engine, code, "learner-0001", [2], now=at(1))
    for bad in (None, "", "x" * 32, secret[:-1], code):
        with pytest.raises(cr.NotPresenter):
            cr.presenter_view(engine, code, bad, now=at(2))
        for action in (cr.reveal, cr.reset, cr.close):
            with pytest.raises(cr.NotPresenter):
                action(engine, code, bad, now=at(2))
        with pytest.raises(cr.NotPresenter):
            cr.pose(engine, code, bad, PROMPT, now=at(2))
    other_code, other_secret = cr.start(engine, PROMPT, now=T0)
    with pytest.raises(cr.NotPresenter):  # one session's secret opens no other session
        cr.reveal(engine, code, other_secret, now=at(2))
    assert not cr.learner_view(engine, code, now=at(3)).revealed


def test_reset_and_new_question_start_a_new_round(engine):
    code, secret = cr.start(engine, PROMPT, now=T0)
    cr.submit(engine, code, "learner-0001", [2], now=at(1))
    cr.reveal(engine, code, secret, now=at(2))
    cr.reset(engine, code, secret, now=at(3))
    v = cr.presenter_view(engine, code, secret, now=at(4))
    assert v.round == 2 and v.responses == 0 and not v.revealed
    nxt = cr.LivePrompt("step-by-step", "Which requests decode in iteration 5?", ("x1", "x2", "x3"), (0, 1, 2), True)
    cr.pose(engine, code, secret, nxt, now=at(5))
    lv = cr.learner_view(engine, code, "learner-0001", now=at(6))
    assert lv.round == 3 and lv.title == nxt.title and lv.my_choice is None
    cr.close(engine, code, secret, now=at(7))
    with pytest.raises(cr.ClassError, match="closed"):
        cr.submit(engine, code, "learner-0001", [0], now=at(8))
    assert cr.learner_view(engine, code, now=at(9)).closed


def test_join_codes_expire(engine):
    code, secret = cr.start(engine, PROMPT, now=T0)
    later = T0 + cr.SESSION_LIFETIME + timedelta(seconds=1)
    for call in (lambda: cr.learner_view(engine, code, now=later),
                 lambda: cr.submit(engine, code, "learner-0001", [0], now=later),
                 lambda: cr.presenter_view(engine, code, secret, now=later)):
        with pytest.raises(cr.ClassError, match="expired"):
            call()


def test_submissions_are_rate_limited_per_learner(engine):
    code, _ = cr.start(engine, PROMPT, now=T0)
    cr.submit(engine, code, "learner-0001", [0], now=at(0))
    with pytest.raises(cr.RateLimited, match="per second"):
        cr.submit(engine, code, "learner-0001", [1], now=at(0.5))
    cr.submit(engine, code, "learner-0002", [1], now=at(0.5))  # another learner is not slowed down
    for i in range(1, cr.MAX_SUBMISSIONS_PER_ROUND):
        cr.submit(engine, code, "learner-0001", [i % 3], now=at(2 * i))
    with pytest.raises(cr.RateLimited, match="kept as it is"):
        cr.submit(engine, code, "learner-0001", [0], now=at(1000))


@pytest.mark.parametrize("nick, ok", [("x" * cr.MAX_NICKNAME, True), ("x" * (cr.MAX_NICKNAME + 1), False),
                                      ("<img src=x onerror=alert(1)>", True), ("**bold** [a](javascript:1)", True)])
def test_nicknames_are_limited_plain_text(engine, nick, ok):
    code, secret = cr.start(engine, PROMPT, now=T0)
    if not ok:
        with pytest.raises(cr.ClassError, match="nickname"):
            cr.submit(engine, code, "learner-0001", [0], nickname=nick, now=at(1))
        return
    cr.submit(engine, code, "learner-0001", [0], nickname=nick, now=at(1))
    assert cr.presenter_view(engine, code, secret, now=at(2)).nicknames == (nick,)  # stored as typed, shown as text


def test_control_characters_are_dropped_from_nicknames():
    assert cr.clean_text("Ada\u202e\n\tLove\u200d", 32, "nickname") == "Ada Love"


@pytest.mark.parametrize("choice", [[5], [-1], ["a"], [], None, [0, 1]])
def test_bad_predictions_are_refused_with_a_reason(engine, choice):
    single = cr.LivePrompt("memory", "Refused although memory is free?", ("yes", "no"), (0,))
    code, _ = cr.start(engine, single, now=T0)
    with pytest.raises(cr.ClassError, match="prediction"):
        cr.submit(engine, code, "learner-0001", choice, now=at(1))


@pytest.mark.parametrize("code", ["", "ABC", "ABCDEFGH", "ABCD0O", "'; DROP TABLE x; --", None, 123])
def test_malformed_codes_are_refused(engine, code):
    with pytest.raises(cr.ClassError, match="code"):
        cr.learner_view(engine, code)


def test_an_unknown_code_is_refused(engine):
    with pytest.raises(cr.ClassError, match="no class session"):
        cr.learner_view(engine, "ABCDEF")


def test_prompts_are_validated():
    with pytest.raises(cr.ClassError, match="options"):
        cr.LivePrompt("p", "Q", ("only one",), (0,)).validated()
    with pytest.raises(cr.ClassError, match="answer"):
        cr.LivePrompt("p", "Q", ("a", "b"), (3,)).validated()
    with pytest.raises(cr.ClassError, match="exactly one"):
        cr.LivePrompt("p", "Q", ("a", "b"), (0, 1)).validated()


def test_quiz_item_statistics_for_an_instructor(engine):
    code, secret = cr.start(engine, None, kind="quiz", now=T0)
    sid = cr.session_id(engine, code, now=at(1))
    rec = lambda who, q, c, opts, score, t: results.record(engine, who, q, c, "single", 1, f"opt {opts}", opts,  # noqa
                                                            score, session=sid, now=at(t))
    rec("learner-0001", "c5-q", "C5", [2], 0.0, 1)
    rec("learner-0001", "c5-q", "C5", [1], 1.0, 2)  # a retry: the latest attempt counts
    rec("learner-0002", "c5-q", "C5", [2], 0.0, 3)
    rec("learner-0003", "c5-q", "C5", [2], 0.0, 4)
    rec("learner-0002", "c1-q", "C1", [0], 1.0, 5)
    results.record(engine, "learner-0009", "c1-q", "C1", "single", 1, "x", [0], 0.0, now=at(6))  # not in it
    rows = results.for_session(engine, sid)
    stats = {s.question_id: s for s in results.item_stats(rows)}
    assert stats["c5-q"].answered == 3 and stats["c5-q"].attempts == 4
    assert stats["c5-q"].option_counts == {1: 1, 2: 2}  # option 2 is the common misconception
    assert stats["c5-q"].mean_score == pytest.approx(1 / 3)
    assert [s.question_id for s in results.item_stats(rows)] == ["c1-q", "c5-q"]  # by concept number
    assert results.concept_means(rows) == {"C1": (1.0, 1), "C5": (pytest.approx(1 / 3), 3)}
    text = results.to_csv(rows)
    assert text.splitlines()[0] == ",".join(results.CSV_COLUMNS)
    assert "learner-0001" not in text and text.splitlines()[1].startswith("L1,c5-q,C5,single,1,opt [2],2,0,")
    assert len(text.splitlines()) == 6


def test_csv_neutralises_spreadsheet_formulas(engine):
    results.record(engine, "learner-0001", "q", "C1", "numeric", 0, "=HYPERLINK(\"x\")", [], 0.0, now=T0)
    import csv
    row = list(csv.reader(results.to_csv(results.history(engine, "learner-0001")).splitlines()))[1]
    assert row[5] == "'=HYPERLINK(\"x\")"
