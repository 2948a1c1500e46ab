"""AppTest of 'What one iteration costs': the prediction hides the answer and the curves until chosen,
the answer is the cost model's own number, and a preset change changes the figure data."""

import json
import os

from streamlit.testing.v1 import AppTest

from viz import roofline as vr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(ROOT, "pages", "iteration-cost.py")


def page(**query) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = str(v)
    at.run()
    assert not at.exception, at.exception
    return at


def charts(at) -> dict:
    out = {}
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        out[spec["layout"]["title"]["text"]] = spec
    return out


def test_prediction_hides_then_reveals_the_cost_models_answer():
    at = page()
    assert not charts(at)  # nothing that answers the question before a prediction
    assert any("Make your prediction" in c.value for c in at.caption)
    at.radio(key="w_p_double").set_value("same").run()
    assert not at.exception
    ratio = vr.doubling_ratio("llama-3-8b", "a100-80gb", 16, 1024)
    text = " ".join(x.value for x in list(at.success) + list(at.error))
    assert f"{ratio:.2f} x" in text
    assert "Time of one forward pass against tokens in it" in charts(at)
    assert at.query_params["p_double"] == "same"
    assert "Not this time" in text  # +17% on an A100 with Llama-3-8B: 'somewhat longer', not 'about the same'


def test_preset_change_changes_the_figure_data():
    pick = "some"
    a = charts(page(p_double=pick))["Time of one forward pass against tokens in it"]
    b = charts(page(p_double=pick, preset="llama-3-70b on 4xh100-80gb"))["Time of one forward pass against tokens in it"]
    assert a["data"][0]["y"] != b["data"][0]["y"]
    assert a["data"][2]["name"] != b["data"][2]["name"]  # the weights-read floor moved
    shown = page(p_double=pick, preset="llama-3-70b on 4xh100-80gb")
    labels = {m.label: m.value for m in shown.metric}
    assert labels["Peak compute"].startswith("3,956")  # 4 x 989 TFLOP/s: the preset's numbers are visible


def test_curves_are_the_simulators_cost_model():
    from sim.cost_model import build_cost_model, pass_shape
    spec = charts(page(p_double="double", ctx=2048))["Time of one forward pass against tokens in it"]
    cost = build_cost_model("llama-3-8b", "a100-80gb")
    xs, ys = spec["data"][1]["x"], spec["data"][1]["y"]
    import base64
    import numpy as np

    def arr(v):
        if isinstance(v, dict) and "bdata" in v:
            return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
        return list(v)
    xs, ys = arr(xs), arr(ys)
    for n, y in list(zip(xs, ys))[::10]:
        assert abs(y - cost.iteration_time(pass_shape(decode=int(n), context=2048)) * 1e3) < 1e-9
