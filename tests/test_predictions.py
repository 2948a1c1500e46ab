"""AppTest per concept page's prediction moment (issue 12 §5): before the learner answers, the key result is
hidden; after, it shows with the simulator's own number. The choice lives in the URL (?p_<key>=)."""

import os

from streamlit.testing.v1 import AppTest

from sim import scenario, simulate
from sim.config import resolve_workload

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def page(name: str, **query) -> AppTest:
    at = AppTest.from_file(os.path.join(ROOT, "pages", f"{name}.py"), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = str(v)
    at.run()
    assert not at.exception, at.exception
    return at


def revealed(at) -> str:
    return " ".join(x.value for x in list(at.success) + list(at.error))


def ms(s: float) -> str:
    from pages.common import ms as fmt
    return fmt(s)


def test_prefill_vs_decode_hides_the_comparison_until_predicted():
    at = page("prefill-vs-decode", rate=8.0, requests=30)
    assert not at.metric and not at.get("plotly_chart") and not revealed(at)
    at.radio(key="w_p_tbt").set_value("b").run()
    assert not at.exception and at.query_params["p_tbt"] == "b"
    wl = resolve_workload("chat", 30, 8.0)
    a = simulate(scenario("chat", policy="static", workload=wl)).metrics["tbt_p99_s"]
    b = simulate(scenario("chat", policy="continuous", workload=wl)).metrics["tbt_p99_s"]
    text = revealed(at)
    assert ms(a) in text and ms(b) in text
    assert ("holds" in text) == (b < a * 0.95)  # the simulator decides whether "B is steadier" was right
    assert at.metric and at.get("plotly_chart")


def test_memory_hides_the_waste_until_predicted():
    at = page("memory")
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert not titles and not revealed(at)
    at.radio(key="w_p_waste").set_value("paged").run()
    assert not at.exception
    wl = resolve_workload("fragmentation", 60)
    base = dict(workload=wl, kv_capacity_tokens=12_000, block_size=16, seed=0, record_layout=True)
    wc = simulate(scenario("fragmentation", memory="contiguous", **base)).metrics["kv_waste_fraction"]
    wp = simulate(scenario("fragmentation", memory="paged", **base)).metrics["kv_waste_fraction"]
    text = revealed(at)
    assert f"{wc:.1%}" in text and f"{wp:.1%}" in text and "Not this time" in text  # contiguous wastes more
    assert at.get("plotly_chart")


def test_disaggregation_hides_the_comparison_until_predicted():
    at = page("disaggregation", requests=20)
    n_before = len(at.get("plotly_chart"))
    assert not revealed(at) and not any("vs colocated" in (m.delta or "") for m in at.metric)
    at.radio(key="w_p_disagg").set_value("lower").run()
    assert not at.exception
    assert "The simulator: TBT p99" in revealed(at)
    assert len(at.get("plotly_chart")) > n_before  # the latency comparison appears
