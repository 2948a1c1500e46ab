"""AppTest checks of the class pages: the step-by-step page starts a live session and poses the next
iteration's question, a learner joins and predicts on the join page, the presenter reveals, the presenter
page refuses a wrong secret, quiz attempts are stored and read back, and a database outage leaves the
simulator pages working with one message."""

from __future__ import annotations

import os

import pytest
from streamlit.testing.v1 import AppTest

from quiz import classroom as cr
from quiz import db, results

TIMEOUT = 60
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def own_database(tmp_path, monkeypatch):
    """Every test gets its own SQLite file in a fresh data folder (the default location logic)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.delenv(db.ENV_URL, raising=False)
    db.reset_engines()
    yield
    db.reset_engines()


def _app(path, **params) -> AppTest:
    at = AppTest.from_file(os.path.join(ROOT, path), default_timeout=TIMEOUT)
    for k, v in params.items():
        at.query_params[k] = v
    return at


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(at) -> str:
    return "\n".join([t.value for t in at.text] + [m.value for m in at.markdown] + [c.value for c in at.caption])


def _answer_anything(quiz: AppTest) -> None:
    """Give the current question some valid answer, whatever its kind."""
    if quiz.main.radio:
        quiz.main.radio[0].set_value(0)
    elif quiz.main.text_input:
        quiz.main.text_input[0].input("1")
    elif quiz.main.checkbox:
        quiz.main.checkbox[0].check()
    else:
        for i, box in enumerate(quiz.main.selectbox):
            box.set_value(i)


def _start_on_step_by_step() -> tuple[AppTest, str, str]:
    at = _ok(_app("pages/step-by-step.py").run())
    at.button(key="class_start_step-by-step").click()
    _ok(at.run())
    me = at.session_state["class_presenter"]
    return at, me["code"], me["secret"]


def test_step_by_step_starts_a_session_and_poses_the_next_iteration():
    at, code, secret = _start_on_step_by_step()
    text = _texts(at)
    assert f"Join code: **{code}**" in text and "/join?code=" + code in "\n".join(c.value for c in at.code)
    assert secret not in text  # the secret is only inside the private expander's code block
    v = cr.presenter_view(db.get_engine(), code, secret)
    assert v.title.startswith("Iteration 1 (continuous") and "prefilled" in v.title
    assert v.options == ("x1", "x2") and v.answer == (0, 1)  # the trace: iteration 1 prefills x1 and x2
    # Asking another question of the same iteration starts a new round.
    ask = at.radio(key="class_ask_step-by-step")
    ask.set_value(ask.options[1])
    _ok(at.run())
    v2 = cr.presenter_view(db.get_engine(), code, secret)
    assert v2.round == v.round + 1 and "decode" in v2.title and v2.answer == ()


def test_learner_joins_predicts_and_sees_the_revealed_answer():
    presenter, code, secret = _start_on_step_by_step()
    learner = _ok(_app("pages/join.py", code=code.lower()).run())
    assert "which requests will be prefilled" in _texts(learner)
    learner.checkbox(key=f"class_pred_{code}_1_0").check()
    learner.button(key=f"class_pred_{code}_1_send").click()
    _ok(learner.run())
    assert "Your prediction: x1 (sent" in _texts(learner)
    _ok(presenter.run())
    assert "1 prediction so far" in _texts(presenter)
    spec = presenter.get("plotly_chart")
    assert any("The room's predictions (1 learner)" in el.proto.spec for el in spec)
    presenter.button(key="class_reveal").click()
    _ok(presenter.run())
    _ok(learner.run())
    text = _texts(learner)
    assert "The simulator's answer: x1, x2" in "\n".join(s.value for s in learner.info) and "x2" in text


def test_the_presenter_page_checks_the_secret_and_hides_it():
    _, code, secret = _start_on_step_by_step()
    bad = _ok(_app("pages/presenter.py", code=code, key="not-the-secret").run())
    assert "does not open a class session" in bad.error[0].value
    assert "class_presenter" not in bad.session_state
    assert not bad.get("plotly_chart")
    good = _ok(_app("pages/presenter.py", code=code, key=secret).run())
    assert "key" not in good.query_params  # removed from the address bar
    assert good.session_state["class_presenter"]["code"] == code
    assert any("The room's predictions" in el.proto.spec for el in good.get("plotly_chart"))


def test_quiz_attempts_are_stored_for_the_class_and_the_learner():
    e = db.get_engine()
    code, secret = cr.start(e, None, kind="quiz")
    quiz = _app("pages/_quiz.py", **{"class": code})
    quiz.session_state["quiz_seed"] = 11
    _ok(quiz.run())
    assert f"class {code}" in "\n".join(i.value for i in quiz.info)
    _answer_anything(quiz)
    [b for b in quiz.button if b.label == "Check my answer"][0].click()
    _ok(quiz.run())
    lid = quiz.session_state["_learner_id"]
    got = results.history(e, lid)
    assert len(got) == 1 and got[0].question_id == quiz.session_state["quiz_session"].attempts[0].question_id
    assert results.for_session(e, cr.session_id(e, code))[0].learner_id == lid
    pres = _ok(_app("pages/presenter.py", code=code, key=secret).run())
    assert "1** learners" in _texts(pres) and pres.get("download_button")


def test_a_database_outage_is_one_message_and_the_page_still_works(monkeypatch):
    monkeypatch.setenv(db.ENV_URL, "postgresql://nobody@127.0.0.1:1/none")
    db.reset_engines()
    at = _ok(_app("pages/step-by-step.py").run())
    at.button(key="class_start_step-by-step").click()
    _ok(at.run())
    assert any("Class sessions and saved quiz results are unavailable" in w.value for w in at.warning)
    assert at.get("plotly_chart"), "the simulator's charts are still drawn"
    assert "class_presenter" not in at.session_state
    join = _ok(_app("pages/join.py", code="ABCDEF").run())
    assert any("unavailable" in w.value for w in join.warning)
