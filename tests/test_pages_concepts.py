"""AppTest for the concept pages (prefill-vs-decode, memory, reorganization, priorities, disaggregation,
choosing): each runs without exception, a key widget changes the plotted data or the metrics, bad input
gets a message naming the field, and the numbers shown are the simulator's."""

import base64
import json
import os

import numpy as np

import pytest
from streamlit.testing.v1 import AppTest

from sim import scenario, simulate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 60  # generous for a loaded CI machine; the pages themselves rerun in well under a second


def page(name: str, **query) -> AppTest:
    at = AppTest.from_file(os.path.join(ROOT, "pages", f"{name}.py"), default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = str(v)
    at.run()
    assert not at.exception, at.exception
    return at


def specs(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def arr(v) -> list:
    """Plotly 7 sends numeric arrays as base64 typed arrays; decode them back to a plain list."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
    return list(v)


def trace(spec: dict, name: str) -> dict:
    return next(t for t in spec["data"] if t.get("name") == name)


def metrics(at: AppTest) -> dict:
    return {m.label: m.value for m in at.metric}


def test_prefill_vs_decode_policy_change_changes_lanes_and_metrics():
    at = page("prefill-vs-decode", p_tbt="a")
    assert len(at.get("plotly_chart")) == 4
    before_spec, before_metrics = specs(at)[1], metrics(at)
    assert at.query_params["a"] == "static" and at.query_params["b"] == "continuous"
    at.selectbox(key="w_b").set_value("prefill-first").run()
    assert not at.exception
    assert specs(at)[1]["data"] != before_spec["data"]  # B's timeline is redrawn for the new policy
    assert metrics(at) != before_metrics
    assert at.query_params["b"] == "prefill-first"
    # Shared time axis: both timelines end at the same x.
    a, b = specs(at)[:2]
    assert a["layout"]["xaxis"]["range"] == b["layout"]["xaxis"]["range"]


def test_prefill_vs_decode_metrics_are_the_simulators():
    at = page("prefill-vs-decode", rate=8.0, requests=30, p_tbt="a")
    from sim.config import resolve_workload
    res = simulate(scenario("chat", policy="continuous", workload=resolve_workload("chat", 30, 8.0)))
    shown = metrics(at)["B: TTFT p50 (ms)"]
    assert shown == f"{res.metrics['ttft_p50_s'] * 1e3:,.1f}"


def test_prefill_vs_decode_sweep_draws_tradeoffs():
    at = page("prefill-vs-decode", requests=10, p_tbt="a")
    at.button(key="w_sweep").click().run()
    assert not at.exception
    sp = specs(at)
    titles = [s["layout"]["title"]["text"] for s in sp]
    assert "Throughput vs time to first token" in titles
    tt = sp[titles.index("Throughput vs time to first token")]
    assert {t["name"] for t in tt["data"]} == {"static", "continuous", "prefill-first", "chunked"}
    assert all(len(t["x"]) == 5 and t["error_y"]["array"] for t in tt["data"])  # 5 rates, spread over seeds


def test_memory_names_the_refusal_and_slider_moves_the_map():
    at = page("memory", p_waste="contiguous")
    assert at.warning and "refused" in at.warning[0].value and "largest hole" in at.warning[0].value
    first = specs(at)[0]
    inspect = lambda: next(s for s in at.slider if s.label.startswith("Inspect iteration"))  # noqa: E731
    it = inspect().value
    inspect().set_value(max(1, it - 40)).run()
    assert not at.exception
    assert specs(at)[0]["data"][0]["z"] != first["data"][0]["z"]
    assert at.query_params["it"] == str(max(1, it - 40))
    # A new KV size has a refusal of its own: the slider follows it (issue 11: it stayed where it was).
    at.selectbox(key="w_kv").set_value(16_000).run()
    assert not at.exception
    note = next(c.value for c in at.caption if "the state just before the refusal" in c.value)
    state = int(note.split("Iteration ")[-1].split(" is the state")[0])
    assert inspect().value == state


def test_reorganization_hides_the_result_until_a_prediction_then_shows_the_simulators():
    at = page("reorganization")
    text = " ".join(m.value for m in at.markdown)
    assert not at.get("plotly_chart") and "Crossover at about" not in text and not at.success and not at.error
    assert "illustrative 2 ms" in text and "0.2 ms" in text  # the condition of the reversal is stated
    at.radio(key="w_p_reorg").set_value("continuous").run()
    assert not at.exception and at.query_params["p_reorg"] == "continuous"  # the prediction is in the URL
    wl = scenario("many-tiny", policy="static", record_iterations=False)
    static = simulate(wl).metrics["throughput_tokens_per_s"]
    assert at.error and "Not this time" in at.error[0].value and f"{static:,.0f} tokens/s" in at.error[0].value
    assert at.get("plotly_chart")  # the charts appear with the answer
    assert "Holds only when a join or leave costs an illustrative 2 ms" in " ".join(m.value for m in at.markdown)


def test_reorganization_cost_slider_moves_the_ratio_curve():
    at = page("reorganization", p_reorg="static")
    before = trace(specs(at)[0], "ratio")["y"]
    assert "Crossover at about" in " ".join(m.value for m in at.markdown)
    at.slider(key="w_reorg").set_value(0.0).run()
    assert not at.exception
    after = trace(specs(at)[0], "ratio")["y"]
    assert after != before and min(after[1:]) > min(before[1:])  # free reorganization: continuous does better
    assert at.query_params["reorg"] == "0.0"


def test_priorities_bad_expression_names_expr_and_good_one_adds_custom():
    at = page("priorities", requests=100, p_starve="longer")
    names = [t["x"] for t in specs(at)[0]["data"]][0]
    assert "custom" in names
    at.text_input(key="w_expr").set_value("priority +").run()
    assert not at.exception
    assert at.error and "expr" in at.error[0].value
    assert "custom" not in [t["x"] for t in specs(at)[0]["data"]][0]  # the other orders still run
    at.text_input(key="w_expr").set_value("__import__('os')").run()
    assert at.error and "expr" in at.error[0].value


def test_priorities_aging_step_changes_aging_result():
    at = page("priorities", requests=100, p_starve="longer")
    cdf = trace(specs(at)[3], "aging")  # every batch-class wait under aging
    before = metrics(at)["aging"]
    at.slider(key="w_aging").set_value(2.0).run()
    assert not at.exception
    assert arr(trace(specs(at)[3], "aging")["x"]) != arr(cdf["x"])
    assert metrics(at)["aging"] != before  # faster aging: interactive goodput drops toward fcfs


def test_disaggregation_link_bandwidth_changes_transfer_times():
    at = page("disaggregation", requests=20, p_disagg="lower")
    tc = next(s for s in specs(at) if s["layout"]["title"]["text"] == "KV transfer cost")
    at.selectbox(key="w_link").set_value(2.0).run()
    assert not at.exception
    tc2 = next(s for s in specs(at) if s["layout"]["title"]["text"] == "KV transfer cost")
    y1, y2 = arr(tc["data"][0]["y"]), arr(tc2["data"][0]["y"])
    assert len(y1) == len(y2) == 20
    assert y2[0] == pytest.approx(y1[0] * 25.0 / 2.0, rel=1e-6)  # time scales with 1 / bandwidth
    assert any("GB/s" in m.value for m in at.markdown)


def test_choosing_hides_numbers_until_a_prediction_then_shows_the_simulators():
    at = page("choosing")
    assert not at.get("plotly_chart") and not at.metric
    assert at.button(key="legal_run").disabled
    at.radio(key="legal_pred").set_value("static").run()
    at.button(key="legal_run").click().run()
    assert not at.exception
    res = simulate(scenario("legal-archive", policy="chunked", record_iterations=False))
    assert metrics(at)["chunked: documents/h"] == f"{res.metrics['requests_per_s'] * 3600:,.0f}"
    assert at.error and "Not this time" in at.error[0].value  # static is the worst for throughput
    assert at.radio(key="legal_pred").disabled  # the prediction is locked in
    at.radio(key="w_exp").set_value("hybrid-service").run()
    at.radio(key="hybrid_pred").set_value("priority").run()
    at.button(key="hybrid_run").click().run()
    assert not at.exception
    assert at.success and "prediction holds" in at.success[0].value
    pr = simulate(scenario("hybrid-service", order="priority", record_iterations=False))
    bars = specs(at)[0]["data"][0]
    assert bars["y"][bars["x"].index("priority")] == pytest.approx(pr.by_class["interactive"]["slo_attainment"] * 100)


def test_choosing_legal_archive_tells_the_books_answer_and_where_chunked_sits():
    """Picking continuous (the book's answer) is not called a near miss; chunked prefill is explained as
    continuous batching with split prompts, and the throughput of every budget is the simulator's."""
    at = page("choosing")
    at.radio(key="legal_pred").set_value("continuous").run()
    at.button(key="legal_run").click().run()
    assert not at.exception
    info = at.info[0].value
    assert "The book's answer" in info and "Right direction" not in info
    cont = simulate(scenario("legal-archive", policy="continuous", record_iterations=False)).metrics
    assert f"{cont['requests_per_s'] * 3600:,.0f} documents per hour" in info
    text = " ".join(m.value for m in at.markdown)
    assert "Prefilling-prioritized" in text and "Decoding-prioritized" in text and "ridge point" in text
    curve = next(s for s in specs(at) if s["data"][0].get("name") == "chunked prefill")["data"][0]
    tiny = simulate(scenario("legal-archive", policy="chunked", token_budget=64, record_iterations=False))
    assert curve["x"][0] == 64 and curve["y"][0] == pytest.approx(tiny.metrics["requests_per_s"] * 3600)
    assert max(curve["y"]) > cont["requests_per_s"] * 3600 > curve["y"][0]  # gains, then falls for tiny chunks
    assert "Measured (legal-archive, seed 0)" in text and "Checked on seeds 0..4" in text


def test_priorities_hides_starvation_until_a_prediction_then_shows_the_simulators():
    at = page("priorities", requests=100)
    assert "without bound" not in " ".join(m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) == 2 and not at.success and not at.error  # per-class charts only
    at.radio(key="w_p_starve").set_value("shorter").run()
    assert not at.exception and at.query_params["p_starve"] == "shorter"
    assert len(at.get("plotly_chart")) == 4
    assert at.error and "Not this time" in at.error[0].value and "under strict priority" in at.error[0].value
    text = " ".join(m.value for m in at.markdown)
    assert "Measured (hybrid-service, seed 0)" in text and "under aging against" in text


def test_prefill_vs_decode_hides_the_comparison_until_a_prediction_then_shows_the_simulators():
    at = page("prefill-vs-decode", scenario="summarization", a="continuous", b="chunked", rate=3, requests=60)
    assert not at.get("plotly_chart") and not at.metric and not at.success and not at.error
    at.radio(key="w_p_tbt").set_value("a").run()
    assert not at.exception and at.query_params["p_tbt"] == "a"
    wl = dict(requests=60, rate_per_s=3.0, record_iterations=False)
    chunked = simulate(scenario("summarization", policy="chunked", **wl)).metrics["tbt_p99_s"]
    assert at.error and "Not this time" in at.error[0].value  # chunked prefill is the smoother one here
    assert f"{chunked * 1e3:,.1f} ms" in at.error[0].value
    assert at.get("plotly_chart") and at.metric  # the comparison appears with the answer


@pytest.mark.parametrize("name,key", [("prefill-vs-decode", "p_tbt"), ("reorganization", "p_reorg"),
                                      ("priorities", "p_starve")])
def test_a_hostile_prediction_in_the_url_counts_as_no_prediction(name, key):
    at = page(name, requests=100, **{key: "<script>alert(1)</script>"})
    assert not at.success and not at.error  # nothing revealed, nothing crashed
    assert at.radio(key=f"w_{key}").value is None
