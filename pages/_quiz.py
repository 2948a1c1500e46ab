"""Quiz (C1-C12): one question at a time with immediate feedback, hints, links into the simulator, fresh
variants of the simulator-computed questions, session score and progress, a summary naming the concepts
to revisit, and the results as CSV. All logic lives in quiz/ (bank, generate/parse/grade, session).

The file is _quiz.py, served at /quiz (quiz/catalog.py): a pages/quiz.py would shadow the quiz package whenever
Streamlit runs the page as the main script (pages/ first on sys.path), and Streamlit's legacy pages/ mode,
which a fresh server's first visit goes through, strips the underscore and finds this file at /quiz too."""

import streamlit as st

from quiz import catalog
from pages import common
from pages import live_class
from quiz import CONCEPT_NAMES, CONCEPTS, InvalidSubmission, cached_bank, generate, grade, parse
from quiz.bank import BankError, by_id
from quiz.links import claim_metrics, evidence_rows
from quiz.session import Session

common.reroute_first_visit()  # first, on every run: a fresh server's first visits go through app.py's router

ALL = "All concepts"
DIFFICULTY = {1: "easy", 2: "medium", 3: "hard"}

st.title("Quiz")
common.intro(
    "Check yourself on the twelve ideas of the course. Each answer gets feedback at once, and every "
    "option explains *why* it is right or wrong. Questions marked **computed by the simulator** draw "
    "fresh numbers each time; their answers come from running the same simulator as the other pages, "
    "so you can check any of them with the *Open in the simulator* link.")

try:
    bank = cached_bank()
except BankError as e:  # a broken bank file is named, never a traceback
    st.error(f"The question bank cannot be loaded: {e}")
    st.stop()

if live_class.quiz_class_session(st.query_params.get("class")) is not None:
    st.info(f"You are taking this quiz with class {st.session_state['_quiz_class_code']}: your instructor sees "
            "how the class answered, never who you are.", icon=":material/groups:")

# ---- choose what to practise -----------------------------------------------------------------------------
labels = [ALL] + [f"{c}: {CONCEPT_NAMES[c]}" for c in CONCEPTS]
with st.sidebar:
    st.subheader("Quiz")
    # Streamlit forgets a widget's value when another page is shown; the choice is kept under a key of its
    # own and handed back to the widget on return, so the filter and the session's progress survive.
    if "quiz_concept" not in st.session_state and st.session_state.get("quiz_for") in labels:
        st.session_state["quiz_concept"] = st.session_state["quiz_for"]
    pick = st.selectbox("Concept", labels, key="quiz_concept",
                        help="Practise one concept, or all twelve in a shuffled order.")
    restart = st.button("Start over", key="quiz_restart", help="A new shuffled set; your score starts at 0.")
concept = None if pick == ALL else pick.split(":")[0]

s: Session | None = st.session_state.get("quiz_session")
if s is None or restart or st.session_state.get("quiz_for") != pick:
    s = Session.start(bank, concept, seed=st.session_state.get("quiz_seed"))
    st.session_state["quiz_session"] = s
    st.session_state["quiz_for"] = pick
    st.session_state.pop("quiz_result", None)

# ---- score and progress ------------------------------------------------------------------------------------
c1, c2, c3 = st.columns(3)
c1.metric("Score", f"{s.score:g} / {s.answered}", help="Points on the questions answered so far (latest attempt).")
c2.metric("Question", f"{min(s.position + 1, s.total)} of {s.total}")
c3.metric("Answered", f"{s.answered}")
st.progress(s.answered / s.total if s.total else 0.0, text=f"{s.answered} of {s.total} answered")


def _answer_widgets(v, key: str, done: bool):
    """Draw the input for the variant's kind; return the raw submission and its text for the results."""
    if v.kind == "single":
        i = st.radio("Your answer", list(range(len(v.options))), index=None, key=key, disabled=done,
                     format_func=lambda k: v.options[k].text)
        return i, ("" if i is None else v.options[i].text)
    if v.kind == "multiple":
        st.caption("Select every option that applies.")
        picks = [k for k, o in enumerate(v.options) if st.checkbox(o.text, key=f"{key}_{k}", disabled=done)]
        return picks, " | ".join(v.options[k].text for k in picks)
    if v.kind == "numeric":
        text = st.text_input(f"Your answer{f' ({v.unit})' if v.unit else ''}", key=key,
                             placeholder="a number, e.g. 12 or 3.5", disabled=done)
        return text, text
    st.caption("Choose which item goes in each position, from first to last.")
    order = []
    for pos in range(len(v.options)):
        order.append(st.selectbox(f"Position {pos + 1}", list(range(len(v.options))), index=None,
                                  key=f"{key}_pos{pos}", format_func=lambda k: v.options[k].text,
                                  placeholder="choose an item", disabled=done))
    return order, " > ".join("?" if k is None else v.options[k].text for k in order)


@st.cache_data(show_spinner="Running the simulator on the linked scenario...", max_entries=32)
def _claim_metrics(link, claim) -> dict:
    return claim_metrics(link, claim)


def _show_evidence(q) -> None:
    """After an answer: the linked scenario under both compared policies, run now by the simulator."""
    m = _claim_metrics(q.link, q.claim)
    c = q.claim
    st.markdown(f"**What the simulator shows.** The linked scenario run under `{c.better}` and under `{c.worse}` "
                f"({'higher' if c.higher_is_better else 'lower'} `{c.metric}` is better):")
    st.dataframe(evidence_rows(c, m), hide_index=True, width="stretch")


def _show_result(g) -> None:
    (st.success if g.correct else st.error)(f"**Score {g.score:g}.** {g.message}")
    for text, ok, why in g.details:
        st.markdown(f"{':material/check_circle:' if ok else ':material/cancel:'} **{text}** - {why}")


if not s.finished:
    q = by_id(bank, s.current_id)
    v = generate(q, s.seed_of(q.id))
    tags = f"{q.concept}: {CONCEPT_NAMES[q.concept]} - {DIFFICULTY[q.difficulty]}"
    if q.parameterized:
        tags += " - computed by the simulator"
    st.caption(tags)
    st.markdown(f"**{v.stem}**")
    if v.hint:
        with st.expander("Hint"):
            st.markdown(v.hint)
    if q.link is not None:
        title = catalog.page(q.link.page).title  # the bank only loads links to catalog pages
        # A relative link, so it also works when the app is served under a path prefix.
        st.markdown(f":material/open_in_new: [Open in the simulator: {title}]({q.link.url().lstrip('/')})")
        st.caption("Preloads " + ", ".join(f"`{k}={val}`" for k, val in q.link.params) + ".")

    key = f"ans_{q.id}_{v.seed}"
    result = st.session_state.get("quiz_result")
    graded = result is not None and result[0] == q.id and result[1] == v.seed
    raw, answer_text = _answer_widgets(v, key, graded)
    if not graded:
        if st.button("Check my answer", type="primary", key=f"submit_{key}"):
            parsed = parse(v, raw)
            if isinstance(parsed, InvalidSubmission):
                st.warning(f"{parsed.message} This entry was not graded and costs nothing.")
            else:
                g = grade(v, parsed)
                s.record(q, v, answer_text, g)
                live_class.store_attempt(q, v, raw, answer_text, g)  # the learner's history, the class's results
                st.session_state["quiz_result"] = (q.id, v.seed, g)
                st.rerun()
    else:
        _show_result(result[2])
        if q.claim is not None:
            _show_evidence(q)
        if common.claims_for_question(q.id):
            # The comparisons this question rests on (quiz/claims.py), with their conditions and numbers.
            st.markdown("**What the simulator checks for this question** (in CI, on five seeds):")
            common.claim_numbers([c.id for c in common.claims_for_question(q.id)], here="quiz")
        b1, b2 = st.columns(2)
        if b1.button("Next question", type="primary", key=f"next_{key}"):
            s.advance()
            st.session_state.pop("quiz_result", None)
            st.rerun()
        if q.parameterized and b2.button("Try a fresh variant", key=f"retry_{key}",
                                         help="New numbers, the answer computed again by the simulator."):
            s.retry(q.id)
            st.session_state.pop("quiz_result", None)
            st.rerun()
else:
    st.subheader("Summary")
    share = s.score / s.total if s.total else 0.0
    st.markdown(f"You scored **{s.score:g} of {s.total}** ({share:.0%}).")
    rows = [{"concept": c, "name": CONCEPT_NAMES[c], "score": round(sc, 2), "questions": n}
            for c, (sc, n) in s.by_concept().items()]
    st.dataframe(rows, hide_index=True, width="stretch")
    revisit = s.to_revisit()
    if revisit:
        st.markdown("**Concepts to revisit:**\n" + "\n".join(
            f"- **{c}: {name}** ({pct:.0%} of the points)" for c, name, pct in revisit))
    else:
        st.success("Full marks on every concept you answered.")
    if st.button("Start a new round", type="primary", key="quiz_again"):
        st.session_state.pop("quiz_session", None)
        st.rerun()

if s.attempts:
    st.download_button("Download my results (CSV)", s.to_csv(), file_name="batch-lab-quiz-results.csv",
                       mime="text/csv", key="quiz_csv")

with st.expander("My earlier answers (this browser, across visits)"):
    past = live_class.history_rows()
    if past:
        st.dataframe(past, hide_index=True, width="stretch")
    else:
        st.caption("Nothing saved yet: answers are saved under a random id kept in this browser.")
