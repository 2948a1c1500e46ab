"""AppTest checks of the app frame, Home, the step-by-step page and the playground: each runs without an
exception, and changing a key widget changes what is drawn (the plotly spec) or the metrics."""

import json
import os

import pytest
from streamlit.testing.v1 import AppTest

from sim import scenario, simulate

TIMEOUT = 60
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(path, **params):
    at = AppTest.from_file(os.path.join(ROOT, path), default_timeout=TIMEOUT)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _spec(at, index=0) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def _lanes(at) -> dict:
    """The spec of the first chart whose title is a batch timeline."""
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        if "timeline" in spec.get("layout", {}).get("title", {}).get("text", "").lower():
            return spec
    raise AssertionError("no timeline chart on the page")


def test_app_router_and_presentation_mode():
    # AppTest reruns only the page script after the first run of an st.navigation app, so each check
    # here is a fresh first run.
    at = _run("app.py")
    assert at.title[0].value == "Batch Lab"  # the default page is Home
    assert at.sidebar.toggle(key="present").value is False
    # The app's style blocks are st.html elements (app.py says why); the menu's headings carry their own
    # font-size, so the check looks for presentation mode's own rule.
    larger = "html { font-size: 20px; }"
    assert not [m for m in list(at.markdown) + list(at.html) if larger in m.value]
    at2 = _run("app.py", present="1")
    assert at2.sidebar.toggle(key="present").value is True
    assert [m for m in list(at2.markdown) + list(at2.html) if larger in m.value], \
        "presentation mode adds its larger-type CSS"


def test_home_links_and_live_comparison():
    at = _run("app.py")  # through the router, so st.page_link finds the registered pages
    values = {m.label: m.value for m in at.metric}
    static = values["Standard batching: all done"]
    cont = values["Continuous batching: all done"]
    assert static.endswith("ms") and cont.endswith("ms")
    assert float(cont.split()[0]) < float(static.split()[0])  # continuous finishes the book's example sooner
    assert any("step-by-step" in str(el.proto) for el in at.get("page_link"))


def test_step_by_step_stepping_changes_narration_and_figures():
    at = _run("pages/step-by-step.py")
    assert "Before iteration 1" in at.info[0].value
    step = next(b for b in at.button if b.label == "Step")
    step.click().run()
    assert not at.exception
    assert at.info[0].value.startswith("Iteration 1:")
    assert at.query_params["it"] in ("1", ["1"])
    slots_1 = _spec(at, 0)
    next(b for b in at.button if b.label == "Step").click().run()
    assert at.info[0].value.startswith("Iteration 2: x1 and x2 decode")
    assert _spec(at, 0) != slots_1
    next(b for b in at.button if b.label == "Step back").click().run()
    assert at.info[0].value.startswith("Iteration 1:")


def test_step_by_step_prediction_is_checked():
    at = _run("pages/step-by-step.py", it="3")
    assert at.info[0].value.startswith("Iteration 3:")
    at.multiselect(key="sbs_guess_prefill").set_value(["x3"])
    at.multiselect(key="sbs_guess_decode").set_value(["x1"])  # x2 decodes too: one category wrong
    next(b for b in at.button if b.label == "Check my prediction and step").click().run()
    assert not at.exception
    assert at.info[0].value.startswith("Iteration 4:")
    feedback = at.warning[0].value
    assert "3 of 4 right" in feedback and "the trace says x1, x2" in feedback


def test_step_by_step_standard_batching_toggle():
    at = _run("pages/step-by-step.py", it="4")
    assert "x3 arrives; its prompt is prefilled" in at.info[0].value
    at.toggle(key="w_standard").set_value(True).run()
    assert not at.exception
    # The other replay starts at its beginning, not at the position the URL kept from this one (issue 11).
    assert at.info[0].value.startswith("Before iteration 1")
    for _ in range(4):
        next(b for b in at.button if b.label == "Step").click().run()
    assert "x3 waits in the queue" in at.info[0].value and "standard" in at.info[0].value


def _metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def test_playground_strategy_changes_timeline_and_metrics():
    at = _run("pages/playground.py", requests="30")
    lanes = _lanes(at)
    assert lanes["layout"]["xaxis"]["title"]["text"] == "time (ms)"
    assert len(lanes["frames"]) <= 300
    before = _metrics(at)
    at.selectbox(key="w_policy@chat").set_value("static").run()
    assert not at.exception
    assert _lanes(at)["data"] != lanes["data"]
    assert _metrics(at)["TTFT p50 / p99"] != before["TTFT p50 / p99"]
    assert at.query_params["policy"] in ("static", ["static"])


def test_playground_new_session_draws_the_timeline_first():
    """A new session's first run sends the timeline and, in place of the composition and KV charts, a note and
    the script-only component whose trigger (sent by the browser once it has drawn the timeline) reruns the
    page's views with both charts; every later run draws all three at once."""
    at = _run("pages/playground.py", requests="30")
    titles = lambda: [json.loads(el.proto.spec)["layout"]["title"]["text"] for el in at.get("plotly_chart")]  # noqa: E731
    first = titles()
    assert len(first) == 1 and "timeline" in first[0].lower(), first
    note = [c.value for c in at.caption if "drawn next" in c.value]
    assert note == ["The batch composition and KV cache charts are drawn next, once the timeline is on screen."]
    assert at.session_state["_drawn_pg_charts"] is True
    at.run()  # the browser's trigger
    assert not at.exception
    assert len(titles()) == 3 and titles()[0] == first[0]
    assert not [c.value for c in at.caption if "drawn next" in c.value]
    at.selectbox(key="w_policy@chat").set_value("static").run()
    assert len(titles()) == 3


def test_playground_reads_the_url():
    at = _run("pages/playground.py", scenario="book-example", policy="static", max_batch="3")
    assert at.selectbox(key="w_policy@book-example").value == "static"
    assert _metrics(at)["Completed / rejected"] == "5 / 0"
    n = len(simulate(scenario("book-example", policy="static")).iterations)  # 14 since the book's retiming
    assert any(f"{n} iterations" in c.value for c in at.caption)


def test_playground_bad_expression_names_the_field():
    at = _run("pages/playground.py", requests="20", order="custom", expr="__import__('os')")
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("**expr**")
    at.text_input(key="w_expr@chat").input("priority * 10 + prompt_tokens / 1000").run()
    assert not at.exception and not at.error
    assert _lanes(at)


def test_uploaded_trace_errors_name_field_and_row():
    from pages import common
    ok = common.trace_workload_from_upload("t.csv", b"arrival_s,prompt_tokens,output_tokens\n0,10,5\n0.1,20,3\n")
    assert len(ok.script) == 2
    with pytest.raises(common.ConfigError) as e:
        common.trace_workload_from_upload("t.csv", b"arrival_s,prompt_tokens,output_tokens\n0,10,5\n0.1,abc,3\n")
    assert common.error_text(e.value) == "**prompt_tokens** (row 2): expected a number, got 'abc'"
    with pytest.raises(common.ConfigError) as e:
        common.trace_workload_from_upload("t.jsonl", b'{"arrival_s": 0, "prompt_tokens": 4}\n')
    assert common.error_text(e.value).startswith("**output_tokens** (row 1)")
    with pytest.raises(common.ConfigError) as e:
        common.trace_workload_from_upload("t.csv", b"\xff\xfe\x00")
    assert common.error_text(e.value).startswith("**workload**")


def test_playground_rate_changes_the_run():
    at = _run("pages/playground.py", requests="30", rate="2")
    a = _metrics(at)["TTFT p50 / p99"]
    at.number_input(key="w_rate@chat").set_value(20.0).run()
    assert not at.exception
    assert _metrics(at)["TTFT p50 / p99"] != a


@pytest.mark.parametrize("page", ["pages/playground.py", "pages/prefill-vs-decode.py", "pages/priorities.py",
                                  "pages/memory.py", "pages/step-by-step.py", "pages/disaggregation.py"])
def test_hostile_or_stale_url_values_fall_back_to_defaults(page):
    """A shared link with garbage in it must open the page, never a traceback; nothing in it is executed."""
    at = _run(page, requests="inf", rate="nan", seed="-1e99", max_batch="1e400", budget="abc", kv="inf",
              policy="__import__('os')", scenario="../../etc/passwd", a="static;drop", it="9" * 40,
              expr="__import__('os').system('echo pwned')", p_tbt="a", p_waste="paged",
              p_disagg="lower")  # predictions made: charts shown
    assert at.get("plotly_chart")
