"""AppTest: where TBT is compared (prefill-vs-decode, playground) the stall metrics and the TBT tail show
the simulator's numbers, with the definition of a stall beside them."""

import os

from streamlit.testing.v1 import AppTest

from sim import scenario, simulate
from sim.config import resolve_workload
from sim.metrics import STALL_DEFINITION

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def page(name: str, **query) -> AppTest:
    at = AppTest.from_file(os.path.join(ROOT, "pages", f"{name}.py"), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = str(v)
    at.run()
    assert not at.exception, at.exception
    return at


def _text(at) -> str:
    return " ".join(c.value for c in at.caption) + " " + " ".join(m.value for m in at.markdown)


def test_prefill_vs_decode_shows_stalls_and_tail_with_the_definition():
    at = page("prefill-vs-decode", scenario="summarization", rate=3.0, requests=30, a="continuous", b="chunked", p_tbt="b")
    res = simulate(scenario("summarization", policy="chunked", workload=resolve_workload("summarization", 30, 3.0)))
    shown = {m.label: m.value for m in at.metric}
    assert shown["B: Longest token gap (ms)"] == f"{res.metrics['tbt_max_s'] * 1e3:,.1f}"
    assert shown["B: Stall time (s)"] == f"{res.metrics['stall_time_s']:,.1f}"
    assert "B: Generation stalls (gaps over the TBT goal)" in shown
    assert STALL_DEFINITION in _text(at)


def test_prefill_vs_decode_sweep_plots_the_longest_gap_and_stalls():
    at = page("prefill-vs-decode", scenario="summarization", requests=10, p_tbt="b")
    at.button(key="w_sweep").click().run()
    assert not at.exception
    import json
    titles = [json.loads(el.proto.spec)["layout"]["title"]["text"] for el in at.get("plotly_chart")]
    assert "Longest gap between tokens against load" in titles
    assert "Generation stalls against load" in titles


def test_playground_cards_show_stalls_and_tail():
    at = page("playground", scenario="summarization", requests=20)
    cfg = scenario("summarization", workload=resolve_workload("summarization", 20, None))
    m = simulate(cfg).metrics
    shown = {c.label: c.value for c in at.metric}
    assert shown["Generation stalls"] == f"{m['stalls']:,}"
    assert shown["Stall time"] == f"{m['stall_time_s']:,.2f} s"
    assert "TBT p99.9 / longest gap" in shown
    assert STALL_DEFINITION in _text(at)


def test_model_and_hardware_presets_are_selectable_with_their_numbers():
    for name, query in (("playground", {"scenario": "summarization", "requests": 20}),
                        ("prefill-vs-decode", {"scenario": "summarization", "requests": 20, "rate": 3.0, "p_tbt": "a"})):
        a = page(name, **query)
        b = page(name, hw="llama-3-8b on h100-80gb", **query)
        assert "989 TFLOP/s" in _text(b) and "312 TFLOP/s" in _text(a)  # the preset's numbers beside it
        ma = {m.label: m.value for m in a.metric}
        mb = {m.label: m.value for m in b.metric}
        assert ma != mb, name  # an H100 prices every pass faster: the metrics move
