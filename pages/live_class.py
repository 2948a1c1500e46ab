"""Class-session pieces that pages share (a helper module, not a page): the learner's pseudonymous id,
the presenter panel any page with a prediction moment draws, the learner's live prediction, and the
storing of quiz attempts.

The logic and every check live in quiz/classroom.py and quiz/results.py; this module only draws. Text
that learners typed (nicknames) is shown with st.text / dataframes, and option texts are escaped before
they reach a Markdown label, so nothing a learner types runs as HTML or Markdown in another browser. When
the database is unreachable or locked, each function shows one message and returns, and the page that
called it goes on (a page's own, local prediction never depends on the database).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import time
from urllib.parse import urlencode, urlsplit

import streamlit as st

from pages import common  # noqa: F401  (cached runs, url helpers)
from quiz import classroom as cr
from quiz import db, results
from viz.classroom import prediction_bars

COOKIE = "batchlab_learner"  # the pseudonymous learner id, kept by the browser for a year
COOKIE_MAX_AGE_S = 365 * 24 * 3600
PRESENTER_REFRESH_S = 1.0  # the presenter's chart follows the room this often
LEARNER_REFRESH_S = 2.0  # a learner's view notices a reveal or a new question this often
RETRY_DB_AFTER_S = 20.0  # after a failure, pages do not wait for the database again before this
_ID = re.compile(r"^[0-9a-f]{24}$")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: str) -> str:
    """Text for a Markdown label, shown literally (every Markdown character escaped)."""
    return _MD_SPECIAL.sub(r"\\\1", text)


# ---- the database, or one message ----------------------------------------------------------------------

def engine():
    """The process's database engine, or None after showing why it cannot be used (once per rerun)."""
    failed = st.session_state.get("_class_db_failed")
    if failed and time.monotonic() - failed[0] < RETRY_DB_AFTER_S:
        _unavailable(failed[1])
        return None
    try:
        e = db.get_engine()
        st.session_state.pop("_class_db_failed", None)
        return e
    except db.DatabaseUnavailable as e:
        st.session_state["_class_db_failed"] = (time.monotonic(), e.message)
        _unavailable(e.message)
        return None


def _unavailable(message: str) -> None:
    st.warning(f"Class sessions and saved quiz results are unavailable right now ({message}). Everything "
               "else works as usual, and predictions stay on this device.", icon=":material/cloud_off:")


def _guard(fn, *args, **kw):
    """Call a quiz.classroom / quiz.results function; a refusal or an outage becomes one message."""
    try:
        return fn(*args, **kw), None
    except cr.ClassError as e:
        return None, e.message
    except db.DatabaseUnavailable as e:
        st.session_state["_class_db_failed"] = (time.monotonic(), e.message)
        return None, f"the class database is unavailable ({e.message})"


# ---- the learner's pseudonymous id ---------------------------------------------------------------------

def learner_id() -> str:
    """A random id for this browser: read from its cookie, else made now and stored in the cookie.

    Streamlit reads cookies (st.context.cookies) but has no call to set one, so a tiny script sets it;
    the id is random hex made here, never anything the learner typed. Inside a third-party iframe over
    https the cookie needs SameSite=None; Secure, which the script adds there.
    """
    lid = st.session_state.get("_learner_id")
    if lid:
        return lid
    from_cookie = st.context.cookies.get(COOKIE, "")
    from_cookie = from_cookie if isinstance(from_cookie, str) else ""  # AppTest has no browser cookies
    lid = from_cookie if _ID.match(from_cookie) else secrets.token_hex(12)
    st.session_state["_learner_id"] = lid
    if lid != from_cookie:
        st.html(f"""<script>
        (function() {{
          var extra = location.protocol === "https:" ? "; SameSite=None; Secure" : "; SameSite=Lax";
          document.cookie = "{COOKIE}={lid}; Max-Age={COOKIE_MAX_AGE_S}; Path=/" + extra;
        }})();
        </script>""", unsafe_allow_javascript=True, width=1)
    return lid


# ---- links ----------------------------------------------------------------------------------------------

def app_base_url() -> str:
    """The app's address as the browser sees it (scheme, host, port and any path prefix), no trailing /."""
    url = st.context.url
    url = url if isinstance(url, str) and url.startswith(("http://", "https://")) else "http://127.0.0.1:8501/"
    parts = urlsplit(url)
    prefix = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"{parts.scheme}://{parts.netloc}" + (f"/{prefix}" if prefix else "")


def join_url(code: str) -> str:
    return f"{app_base_url()}/join?{urlencode({'code': code})}"


def presenter_url(code: str, secret: str) -> str:
    return f"{app_base_url()}/presenter?{urlencode({'code': code, 'key': secret})}"


def qr_html(url: str) -> str:
    """The join link as a QR code: SVG drawn here (segno, pure Python; nothing fetched), in an <img> with
    the link as its text alternative."""
    import base64
    import html

    import segno
    svg = segno.make(url, error="m").svg_inline(scale=6, border=2, dark="#000000", light="#ffffff")
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    alt = html.escape(f"QR code that opens {url}", quote=True)
    return f'<img src="data:image/svg+xml;base64,{data}" alt="{alt}" style="width:220px;max-width:100%">'


# ---- the presenter -------------------------------------------------------------------------------------

def presenting() -> dict | None:
    """{code, secret, page} of the session this browser session presents, if any."""
    return st.session_state.get("class_presenter")


def presenter_panel(page: str, prompts: dict[str, cr.LivePrompt] | None) -> None:
    """The class session box of a page with a prediction moment.

    ``prompts`` maps a short label to each question the page can ask the room now (e.g. for the next
    iteration: who is prefilled, who decodes, ...); None when the page has nothing to ask at the moment.
    Without a session it offers to start one; with one it poses the chosen question (a new round when it
    changes), shows the join code, link and QR code, and the live chart with reveal, reset and close.
    """
    me = presenting()
    with st.container(border=True):
        st.markdown("**Class session: ask the room to predict** (learners join on their own devices)")
        if me is None:
            if not prompts:
                st.caption("Nothing to predict at this point of the page.")
                return
            st.caption("Start a session and project this page: learners join with the code or the QR code, "
                       "predict, and you reveal the simulator's answer to everyone.")
            if st.button("Start a class session", icon=":material/groups:", key=f"class_start_{page}"):
                e = engine()
                if e is None:
                    return
                first = next(iter(prompts.values()))
                out, err = _guard(cr.start, e, first)
                if err:
                    st.warning(err)
                    return
                code, secret = out
                st.session_state["class_presenter"] = {"code": code, "secret": secret, "page": page,
                                                       "posed": _prompt_key(first)}
                st.rerun()
            return
        _pose_chosen(me, page, prompts)
        left, right = st.columns([0.34, 0.66])
        with left:
            _join_box(me["code"])
        with right:
            _presenter_live(me["code"])
        with st.expander("Presenter link (private: do not project; it can reveal and close)"):
            st.caption("Open it on another device, or after reloading this page, to keep presenting.")
            st.code(presenter_url(me["code"], me["secret"]), language=None)


def _prompt_key(p: cr.LivePrompt) -> tuple:
    return (p.page, p.title, p.options, p.answer, p.multiple)


def _pose_chosen(me: dict, page: str, prompts: dict[str, cr.LivePrompt] | None) -> None:
    if not prompts:
        st.caption("Nothing new to predict at this point; the room keeps the last question.")
        return
    labels = list(prompts)
    label = labels[0]
    if len(labels) > 1:
        label = st.radio("Ask the room", labels, horizontal=True, key=f"class_ask_{page}",
                         help="Changing the question starts a new round: the chart starts again from zero.")
    p = prompts[label]
    if _prompt_key(p) != me.get("posed") or me.get("page") != page:
        e = engine()
        if e is None:
            return
        _, err = _guard(cr.pose, e, me["code"], me["secret"], p)
        if err:
            st.warning(err)
            return
        me["posed"] = _prompt_key(p)
        me["page"] = page


def _join_box(code: str) -> None:
    """The code, the join link and its QR code, large enough to read off a projector."""
    url = join_url(code)
    st.markdown(f"Join code: **{code}**")
    st.markdown(f"Learners open **{plain(app_base_url())}/join** and type the code, or scan the QR code.")
    st.html(qr_html(url))
    st.code(url, language=None, wrap_lines=True)


@st.fragment(run_every=PRESENTER_REFRESH_S)
def _presenter_live(code: str) -> None:
    """The live part: redrawn every PRESENTER_REFRESH_S without a manual refresh."""
    me = presenting()
    if me is None or me["code"] != code:
        return
    e = engine()
    if e is None:
        return
    v, err = _guard(cr.presenter_view, e, code, me["secret"])
    if err:
        st.warning(err)
        return
    draw_presenter_view(v)
    b1, b2, b3 = st.columns(3)
    if b1.button("Reveal the answer", type="primary", icon=":material/visibility:", disabled=v.revealed or v.closed,
                 key="class_reveal", width="stretch"):
        _act(cr.reveal, e, code, me["secret"])
    if b2.button("Ask again (reset)", icon=":material/restart_alt:", disabled=v.closed, key="class_reset",
                 width="stretch"):
        _act(cr.reset, e, code, me["secret"])
    if b3.button("Close the session", icon=":material/cancel:", disabled=v.closed, key="class_close",
                 width="stretch"):
        _act(cr.close, e, code, me["secret"])


def _act(fn, e, code, secret) -> None:
    _, err = _guard(fn, e, code, secret)
    if err:
        st.warning(err)
    else:
        st.rerun()  # the whole page: a reveal or a reset also changes what the page around the chart says


def draw_presenter_view(v: cr.PresenterView) -> None:
    state = "closed" if v.closed else ("answer revealed" if v.revealed else "collecting predictions")
    st.markdown(f"**Round {v.round}: {plain(v.title)}** ({state})")
    fig = prediction_bars(v.options, v.counts, v.responses, answer=v.answer if v.revealed else None,
                          title="The room's predictions")
    common.plot(fig, key="class_chart")
    common.explain("One bar per option: how many learners chose it (a learner may choose several when the "
                   "question allows). After the reveal the simulator's answer is labelled and hatched.")
    with st.expander("The chart as a table"):
        st.dataframe([{"option": o, "learners": c, "simulator's answer": ("yes" if i in v.answer else "no")
                       if v.revealed else "(not revealed)"} for i, (o, c) in enumerate(zip(v.options, v.counts))],
                     hide_index=True, width="stretch")
    line = f"{v.responses} {'prediction' if v.responses == 1 else 'predictions'} so far"
    if v.revealed:
        line += f"; {v.exactly_right} exactly right"
    st.text(line)
    if v.nicknames:
        st.text("Nicknames: " + ", ".join(v.nicknames))
    if v.revealed and v.explanation:
        st.text(v.explanation)


# ---- the learner ---------------------------------------------------------------------------------------

@st.fragment(run_every=LEARNER_REFRESH_S)
def learner_live(code: str, nickname: str) -> None:
    """A learner's view of the session: the question, their prediction, and after the reveal the answer."""
    e = engine()
    if e is None:
        return
    lid = learner_id()
    v, err = _guard(cr.learner_view, e, code, lid)
    if err:
        st.warning(err)
        return
    if v.kind == "quiz":
        st.markdown("This code is a **quiz link**: your quiz answers count for this class.")
        return
    st.markdown(f"**Round {v.round}: {plain(v.title)}**")
    if v.closed:
        st.info("The presenter closed this session.")
    key = f"class_pred_{v.code}_{v.round}"
    done = v.revealed or v.closed
    if v.multiple:
        st.caption("Select every option that applies (none is a valid answer), then send.")
        picks = [i for i, o in enumerate(v.options)
                 if st.checkbox(plain(o), key=f"{key}_{i}", disabled=done,
                                value=bool(v.my_choice and i in v.my_choice))]
    else:
        mine = v.my_choice[0] if v.my_choice else None
        i = st.radio("Your prediction", list(range(len(v.options))), index=mine, key=key, disabled=done,
                     format_func=lambda k: plain(v.options[k]))
        picks = [] if i is None else [i]
    if not done and st.button("Send my prediction", type="primary", key=f"{key}_send", icon=":material/send:"):
        stored, err = _guard(cr.submit, e, code, lid, picks, nickname)
        if err:
            st.warning(err)
        else:
            v = dataclasses.replace(v, my_choice=stored)
    if v.my_choice is not None:
        chosen = ", ".join(v.options[i] for i in v.my_choice) or "none of them"
        st.text(f"Your prediction: {chosen}" + ("" if done else " (sent; you can change it until the reveal)"))
    if v.revealed:
        right = ", ".join(v.options[i] for i in v.answer) or "none of them"
        ok = v.my_choice is not None and sorted(v.my_choice) == sorted(v.answer)
        (st.success if ok else st.info)(f"The simulator's answer: {plain(right)}" +
                                        (" - you predicted it." if ok else ""))
        if v.explanation:
            st.text(v.explanation)
        common.plot(prediction_bars(v.options, v.counts, v.responses, answer=v.answer), key="class_learner_chart")
        common.explain("How the room predicted, option by option; the simulator's answer is labelled and hatched.")
    elif not v.closed:
        st.caption("Waiting for the presenter to reveal the answer; this view updates by itself.")


# ---- quiz attempts -------------------------------------------------------------------------------------

def quiz_class_session(raw: str | None = None) -> int | None:
    """The class session the quiz is taken under (the page's ``?class=CODE``, once; then kept), or None."""
    if raw and raw != st.session_state.get("_quiz_class_raw"):
        st.session_state["_quiz_class_raw"] = raw
        e = engine()
        if e is None:
            return None
        sid, err = _guard(cr.session_id, e, raw)
        if err:
            st.warning(f"Class link: {err}. Your answers are kept for you alone.")
            st.session_state.pop("_quiz_class", None)
        else:
            st.session_state["_quiz_class"] = sid
            st.session_state["_quiz_class_code"] = cr.normalise_code(raw)
    return st.session_state.get("_quiz_class")


def store_attempt(q, v, raw, answer_text: str, g) -> None:
    """Save one graded attempt (pseudonymous id, question, seed, answer, score); a failure is one caption."""
    if v.kind == "single":
        options = [] if raw is None else [raw]
    elif v.kind == "multiple":
        options = list(raw)
    else:
        options = []
    e = engine()
    if e is None:
        return
    _, err = _guard(results.record, e, learner_id(), q.id, q.concept, q.kind, v.seed, answer_text, options, g.score,
                    session=quiz_class_session())  # the session this browser session joined, if any
    if err:
        st.caption(f"Not saved: {err}")


def history_rows() -> list[dict]:
    """This browser's earlier attempts (across visits), newest first, for the quiz page."""
    e = engine()
    if e is None:
        return []
    rows, err = _guard(results.history, e, learner_id())
    if err:
        st.caption(f"Your history is unavailable: {err}")
        return []
    return [{"when (UTC)": a.created_at.strftime("%Y-%m-%d %H:%M"), "question": a.question_id, "concept": a.concept,
             "your answer": a.answer, "score": a.score} for a in reversed(rows)]
