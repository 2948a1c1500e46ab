"""AppTest of the quiz page: answer questions through the widgets and watch the score, the progress, the
'not graded' message for an invalid number, the summary naming concepts to revisit, and the CSV."""

import os

import pytest
from streamlit.testing.v1 import AppTest

from quiz import catalog
from quiz import cached_bank, generate
from quiz.bank import by_id

PAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), catalog.page("quiz").file)
BANK = cached_bank()


def _start(concept_label: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["quiz_seed"] = 11  # a fixed shuffle, so the run is repeatable
    at.run()
    assert not at.exception
    at.selectbox(key="quiz_concept").set_value(concept_label).run()
    assert not at.exception
    return at


def _current(at):
    s = at.session_state["quiz_session"]
    q = by_id(BANK, s.current_id)
    return s, q, generate(q, s.seed_of(q.id))


def _fill(at, v, submission) -> str:
    key = f"ans_{v.question_id}_{v.seed}"
    if v.kind == "single":
        at.radio(key=key).set_value(submission)
    elif v.kind == "multiple":
        for k in range(len(v.options)):
            at.checkbox(key=f"{key}_{k}").set_value(k in submission)
    elif v.kind == "numeric":
        at.text_input(key=key).input(str(submission))
    else:
        for pos, k in enumerate(submission):
            at.selectbox(key=f"{key}_pos{pos}").set_value(k)
    return key


def _score(at) -> str:
    return next(m.value for m in at.metric if m.label == "Score")


def test_answering_changes_score_and_feedback_explains():
    at = _start("C12: Scheduling strategy and trade-offs")
    assert _score(at) == "0 / 0"
    s, q, v = _current(at)
    key = _fill(at, v, v.correct_submission())
    at.button(key=f"submit_{key}").click().run()
    assert not at.exception
    assert _score(at) == "1 / 1"
    assert at.success and "Score 1" in at.success[0].value
    details = [md.value for md in at.markdown if ":material/check_circle:" in md.value]
    assert details, "each chosen option (or item) gets its explanation"
    at.button(key=f"next_{key}").click().run()
    s, q, v = _current(at)
    wrong = v.wrong_submissions()[0]
    key = _fill(at, v, wrong)
    at.button(key=f"submit_{key}").click().run()
    assert not at.exception
    assert at.error and _score(at).endswith("/ 2") and not _score(at).startswith("2")


def test_invalid_number_is_not_graded_then_correct_answer_scores():
    at = _start("C10: Disaggregation with pipelined engines")
    for _ in range(3):  # find the numeric question of C10 (the KV transfer, computed by the simulator)
        s, q, v = _current(at)
        if v.kind == "numeric":
            break
        key = _fill(at, v, v.correct_submission())
        at.button(key=f"submit_{key}").click().run()
        at.button(key=f"next_{key}").click().run()
    assert v.kind == "numeric" and q.parameterized
    before = (_score(at), len(s.attempts))
    key = _fill(at, v, "about twenty")
    at.button(key=f"submit_{key}").click().run()
    assert not at.exception
    assert at.warning and "not a number" in at.warning[0].value and "not graded" in at.warning[0].value
    assert (_score(at), len(at.session_state["quiz_session"].attempts)) == before
    _fill(at, v, v.correct_submission())
    at.button(key=f"submit_{key}").click().run()
    answered = int(before[0].split("/")[1]) + 1
    assert _score(at) == f"{answered} / {answered}"
    # A fresh variant: new numbers, answer computed again; the widgets start empty.
    at.button(key=f"retry_{key}").click().run()
    s2, q2, v2 = _current(at)
    assert q2.id == q.id and v2.seed != v.seed and not at.exception


def test_summary_names_concepts_to_revisit_and_offers_csv():
    at = _start("C6: Prefilling-prioritized strategy in continuous batching")
    total = at.session_state["quiz_session"].total
    for i in range(total):
        s, q, v = _current(at)
        sub = v.wrong_submissions()[0] if i == 0 and v.wrong_submissions() else v.correct_submission()
        key = _fill(at, v, sub)
        at.button(key=f"submit_{key}").click().run()
        at.button(key=f"next_{key}").click().run()
        assert not at.exception
    text = " ".join(md.value for md in at.markdown)
    assert "Concepts to revisit" in text and "C6: Prefilling-prioritized strategy" in text
    csv = at.session_state["quiz_session"].to_csv()
    assert csv.count("\n") == total + 1
    assert at.get("download_button")


def test_legal_summarization_answer_shows_the_simulator_evidence():
    at = _start("C12: Scheduling strategy and trade-offs")
    for _ in range(at.session_state["quiz_session"].total):
        s, q, v = _current(at)
        key = _fill(at, v, v.correct_submission())
        at.button(key=f"submit_{key}").click().run()
        if q.id == "seed-legal-summarization":
            break
        at.button(key=f"next_{key}").click().run()
    assert q.id == "seed-legal-summarization" and not at.exception
    assert any("What the simulator shows" in md.value for md in at.markdown)
    table = at.dataframe[0].value
    row = table[table["metric"].str.startswith("throughput")].iloc[0]
    assert row["continuous"] > row["static"]
    link = next(md.value for md in at.markdown if "[Open in the simulator" in md.value)
    assert "(prefill-vs-decode?scenario=legal-archive&a=static&b=continuous&requests=200&seed=0)" in link
    # The claims the question rests on (quiz/claims.py), with the simulator's numbers: chunked beside the book.
    from sim import scenario, simulate
    text = " ".join(md.value for md in at.markdown)
    assert "What the simulator checks for this question" in text and "Chunked prefill (512 tokens per pass)" in text
    chunked = simulate(scenario("legal-archive", policy="chunked", record_iterations=False)).metrics
    assert f"{chunked['requests_per_s'] * 3600:,.0f}/h under chunked" in text


def _distinct_links():
    seen = {}
    for q in BANK:
        if q.link is not None:
            seen.setdefault((q.link.page, q.link.params), q.id)
    return [(catalog.page(page).file, dict(params), qid) for (page, params), qid in seen.items()]


@pytest.mark.parametrize("page_file, params, qid", _distinct_links(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_link_preloads_its_view(page_file, params, qid):
    """Open the linked page with the link's query parameters: it must run, and every parameter it reads
    must keep the link's value (a page replaces a value it does not offer with its default)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, page_file)
    if not os.path.exists(path):
        pytest.fail(f"{qid}: links to {page_file}, which does not exist")
    at = AppTest.from_file(path, default_timeout=120)
    for k, val in params.items():
        at.query_params[k] = val
    at.run()
    assert not at.exception, (qid, at.exception)
    for k, val in params.items():
        got = at.query_params.get(k)
        same = str(got) == val or (val.replace(".", "", 1).isdigit() and float(got) == float(val))
        assert same, f"{qid}: {page_file} shows {k}={got!r}, not the link's {val!r}"
