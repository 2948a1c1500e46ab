"""Class presenter (instructors): the page a presenter link opens. It checks the link's secret on the
server, keeps it in this browser session and removes it from the address bar (so a projected page never
shows it), then shows the live predictions with reveal / reset / close, and the quiz results of the class:
how many answered each question, how each option was chosen, the mean score per concept, and a CSV.
Without a valid secret it shows nothing of the class."""

import streamlit as st

from pages import common
from pages import live_class
from quiz import CONCEPT_NAMES, cached_bank, generate
from quiz import classroom as cr
from quiz import results
from quiz.bank import BankError

common.reroute_first_visit()  # first, on every run: a fresh server's first visits go through app.py's router

st.title("Class presenter")

code_q, key_q = st.query_params.get("code"), st.query_params.get("key")
if code_q and key_q:
    e = live_class.engine()
    if e is not None:
        code, err = live_class._guard(cr.check_presenter, e, code_q, key_q)
        if err:
            st.error(f"This presenter link does not open a class session: {err}.")
        else:
            st.session_state["class_presenter"] = {"code": code, "secret": key_q, "page": None, "posed": None}
    del st.query_params["key"]  # never leave the secret in the address bar or the browser history
    st.query_params["code"] = code_q

me = live_class.presenting()
if me is None:
    st.markdown(
        "Start a **live session** from a page with a prediction moment (*Continuous batching, step by step*: "
        "the *Class session* box under the prediction), or a **quiz link** here: learners who open the quiz "
        "from it are counted in this class's quiz results. Opening a presenter link brings you back to a "
        "session.")
    common.page_link("step-by-step", label="Start a live session on: Continuous batching, step by step")
    if st.button("Start a quiz link", icon=":material/link:"):
        e = live_class.engine()
        if e is not None:
            out, err = live_class._guard(cr.start, e, None, kind="quiz")
            if err:
                st.warning(err)
            else:
                st.session_state["class_presenter"] = {"code": out[0], "secret": out[1], "page": None,
                                                       "posed": None, "kind": "quiz"}
                st.rerun()
    st.stop()

e = live_class.engine()
if e is None:
    st.stop()
view, err = live_class._guard(cr.presenter_view, e, me["code"], me["secret"])
if err:
    st.error(err)
    if st.button("Forget this session"):
        st.session_state.pop("class_presenter", None)
        st.rerun()
    st.stop()

st.markdown(f"Presenting class **{view.code}** (expires {view.expires_at:%H:%M} UTC).")
if view.kind == "live":
    left, right = st.columns([0.34, 0.66])
    with left:
        live_class._join_box(view.code)
    with right:
        live_class._presenter_live(view.code)
    if me.get("page"):
        common.page_link(me["page"], label="Back to the page you present")
    else:
        common.page_link(view.page, label="Open the page this session started on")
else:
    url = f"{live_class.app_base_url()}/quiz?class={view.code}"
    st.markdown("Share this quiz link; answers given through it appear below.")
    st.code(url, language=None)
    st.html(live_class.qr_html(url))

with st.expander("Presenter link (private: do not project; it can reveal and close)"):
    st.code(live_class.presenter_url(view.code, me["secret"]), language=None)

# ---- quiz results of this class -------------------------------------------------------------------------
st.subheader("Quiz results of this class")
sid, err = live_class._guard(cr.session_id, e, view.code)
rows, err2 = live_class._guard(results.for_session, e, sid) if sid is not None else (None, err)
if err or err2:
    st.warning(err or err2)
    st.stop()
if not rows:
    st.caption(f"No quiz answers yet. Learners take the quiz from the join page or from "
               f"{live_class.app_base_url()}/quiz?class={view.code}.")
    st.stop()

try:
    bank = cached_bank()
except BankError:
    bank = ()
stats = results.item_stats(rows)
learners = len({a.learner_id for a in rows})
st.markdown(f"**{learners}** learners, **{len(rows)}** graded attempts (a question counts each learner's latest).")
table = []
for s in stats:
    q = next((x for x in bank if x.id == s.question_id), None)
    labels, correct = {}, set()
    if q is not None and q.kind in ("single", "multiple"):
        v = generate(q, 0)
        labels = {i: o.text for i, o in enumerate(v.options)}
        correct = {i for i, o in enumerate(v.options) if o.correct}
    wrong = [(n, i) for i, n in s.option_counts.items() if i not in correct]
    common_wrong = max(wrong) if wrong and correct else None
    table.append({
        "question": s.question_id, "concept": s.concept, "answered": s.answered, "attempts": s.attempts,
        "mean score": round(s.mean_score, 2),
        "options chosen": "; ".join(f"{labels.get(i, f'option {i + 1}')}: {n}" + (" (correct)" if i in correct else "")
                                    for i, n in s.option_counts.items()) or "(numbers or orderings)",
        "most common wrong choice": (f"{labels.get(common_wrong[1], common_wrong[1])} ({common_wrong[0]})"
                                     if common_wrong else "-")})
st.dataframe(table, hide_index=True, width="stretch")
st.caption("Per question, over each learner's latest attempt: how many answered, how often each option was "
           "chosen (a popular wrong option is a common misconception), and the mean score (0..1).")
means = results.concept_means(rows)
st.dataframe([{"concept": c, "name": CONCEPT_NAMES.get(c, c), "mean score": round(m, 2), "answers": n}
              for c, (m, n) in means.items()], hide_index=True, width="stretch")
st.download_button("Download every attempt (CSV)", results.to_csv(rows), file_name=f"batch-lab-class-{view.code}.csv",
                   mime="text/csv", key="class_csv",
                   help="One row per graded attempt; learners appear as L1, L2, ... (never their id).")
