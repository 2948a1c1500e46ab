"""The figures the pages draw are what they were: each recorded figure's JSON (as Streamlit sends it to the
browser) hashes to the digest in tests/golden/figures.json. Speed work on the figure builders and trace
queries must leave every one unchanged; a change that alters a figure on purpose records the file again
(``scripts/figure_digests.py -o tests/golden/figures.json``) and says why in its commit message."""

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import figure_digests  # noqa: E402


def test_every_recorded_figure_is_unchanged():
    with open(os.path.join(ROOT, "tests", "golden", "figures.json")) as f:
        want = json.load(f)
    got = figure_digests.digests()
    assert sorted(got) == sorted(want), "the set of recorded figures changed"
    changed = [k for k in want if got[k] != want[k]]
    assert not changed, f"figures whose JSON changed: {changed}"


def test_lean_figure_is_the_figure_plotly_would_build():
    """viz.lean keeps frames as dicts until read: the JSON is the same before and after they are read as
    objects, a copy (presentation mode restyles one) keeps them, and a caller changing its dict changes
    nothing in the figure."""
    import plotly.graph_objects as go
    import plotly.io as pio

    from sim import scenario, simulate
    from viz import timeline as tl
    fig = tl.request_lanes(simulate(scenario("book-example")))
    before = pio.to_json(fig, validate=False)
    d = fig.to_dict()
    d["frames"][0]["data"][-1]["x"][0] = -1.0
    assert pio.to_json(fig, validate=False) == before
    copy = go.Figure(fig)
    assert len(copy.frames) == len(fig.frames) == 11
    assert json.loads(pio.to_json(copy, validate=False)) == json.loads(before)
    assert json.loads(pio.to_json(fig, validate=False)) == json.loads(before)


def test_presentation_copy_is_the_restyled_figure():
    """viz.lean.restyled (presentation mode's larger type) gives the JSON go.Figure(fig).update_layout gave,
    and leaves the shared figure as it was."""
    import plotly.graph_objects as go
    import plotly.io as pio

    from sim import scenario, simulate
    from viz import timeline as tl
    from viz.lean import restyled
    res = simulate(scenario("summarization", policy="disaggregated", requests=30))
    for fig in (tl.request_lanes(res), tl.batch_composition(res), tl.kv_and_queue(res)):
        before = json.loads(pio.to_json(fig, validate=False))
        want = go.Figure(fig)
        want.update_layout(font=dict(size=17), hoverlabel=dict(font_size=17))
        got = restyled(fig, font=dict(size=17), hoverlabel=dict(font_size=17))
        assert json.loads(pio.to_json(got, validate=False)) == json.loads(pio.to_json(want, validate=False))
        assert got.layout.font.size == 17
        assert json.loads(pio.to_json(fig, validate=False)) == before


def test_a_lean_figure_sends_the_json_of_the_figure_it_builds():
    """A lean figure's to_dict copies its own dict (with plotly's template) until something reads it as a
    figure: the JSON is the built figure's, template included, and sending it builds nothing."""
    import plotly.graph_objects as go
    import plotly.io as pio

    from sim import scenario, simulate
    from viz import timeline as tl
    res = simulate(scenario("chat", requests=60, rate_per_s=8.0, kv_capacity_tokens=6000, preempt="recompute"))
    template = json.loads(pio.to_json(go.Figure(), validate=False))["layout"]["template"]
    for make in (tl.request_lanes, tl.batch_composition, tl.kv_and_queue):
        fig = make(res)
        sent = json.loads(pio.to_json(fig, validate=False))
        assert fig.__dict__["_state"] == "lean", "sending a lean figure built its plotly objects"
        assert fig.layout.title.text and fig.__dict__["_state"] == "built"
        assert json.loads(pio.to_json(fig, validate=False)) == sent
        assert sent["layout"]["template"] == template


def test_the_playground_figures_are_orjson_clean():
    """plotly.io.to_json writes with orjson when it is installed (requirements.txt pins it), and falls back to
    a slow walk over the whole figure in Python when orjson refuses a value (an object-dtype numpy array):
    every figure the playground sends, followed or not, goes through orjson as it is, to the JSON the json
    engine writes."""
    orjson = pytest.importorskip("orjson")
    import plotly.io as pio

    from sim import scenario, simulate
    from sim.config import resolve_workload
    from viz import follow as vf
    from viz import timeline as tl
    opts = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
    for policy in ("continuous", "static", "chunked", "disaggregated"):
        res = simulate(scenario("chat", workload=resolve_workload("chat", 40, 8.0), max_batch=16, policy=policy,
                                kv_capacity_tokens=6000))
        lanes, kv = tl.request_lanes(res), tl.kv_and_queue(res)
        rid = res.requests[0].id
        for fig in (lanes, tl.batch_composition(res), kv, vf.follow_lanes(lanes, res, rid), vf.follow_kv(kv, res, rid)):
            sent = orjson.dumps(fig.to_dict(), option=opts)  # raises TypeError on what orjson cannot write
            assert json.loads(sent) == json.loads(pio.to_json(fig, validate=False, engine="json"))


def test_lean_typed_arrays_are_plotlys():
    """viz.lean converts a plain numeric numpy array itself (plotly's detour through narwhals costs ~40 us an
    array): the same typed-array spec as plotly's to_typed_array_spec, or plotly's own answer for the rest."""
    import numpy as np
    from _plotly_utils.utils import to_typed_array_spec

    from viz.lean import _typed
    cases = [np.arange(5, dtype=np.int64), np.array([0, 40_000], dtype=np.int64), np.array([-3, 2**40]),
             np.array([1.5, -2.25]), np.arange(6, dtype=np.float32).reshape(2, 3), np.arange(10.0)[::3],
             np.array([1, 2], dtype=">f8"), np.array([True, False]), np.array([], dtype=float),
             np.array([1, 2], dtype=np.uint64), np.array([3], dtype=np.uint8), np.array(["a", "b"]), np.float64(2.0)]
    for v in cases:
        want, got = to_typed_array_spec(v), _typed(v)
        assert type(got) is type(want), v
        if isinstance(want, dict):
            assert got == want, v
        else:
            assert np.array_equal(got, want), v


def test_lean_text_reads_back_as_the_walk():
    """An unbuilt figure's to_dict parses the text it wrote when made (with orjson) instead of walking its
    dict: the same dict, or no text where it might not be (a NaN, an array in a list, a big integer)."""
    pytest.importorskip("orjson")
    import numpy as np

    from viz.lean import LeanFigure, _copied
    base = {"type": "scatter", "x": np.arange(4.0), "y": np.array([1, 2, 3, 4]), "customdata": [["a", 1], ["b", np.int64(2)]],
            "marker": {"color": np.array([0.5, 1.5, 2.5, 3.5]), "line": {"width": 0}}, "meta": None}
    layout = {"title": {"text": "t"}, "xaxis": {"range": [0, 5]}, "updatemenus": [{"args": [[None], {"a": 1}]}]}
    fig = LeanFigure({"data": [base], "layout": layout})
    assert fig.__dict__["_text"] is not None
    want = {"data": _copied([base]), "layout": _copied(layout)}
    got = fig.to_dict()
    got["layout"].pop("template", None)
    assert got == want
    for odd in ({"y": [1.0, float("nan")]}, {"y": [np.float64("inf")]}, {"y": [np.arange(3)]}, {"y": [2**70]},
                {"x": np.array([2**40, 1])}, {"marker": {"range": np.arange(2)}}):
        fig = LeanFigure({"data": [{**base, **odd}], "layout": layout})
        assert fig.__dict__["_text"] is None, odd
        assert json.dumps(fig.to_dict()["data"], default=str) == json.dumps(_copied([{**base, **odd}]), default=str)
