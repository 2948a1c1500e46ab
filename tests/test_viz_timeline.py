"""Figure builders of viz/timeline.py, checked on real simulator runs (no Streamlit): phases of the book's
example, frame caps, axis titles with units, figure size, narration and the iteration log."""

import json

import plotly.io as pio
import pytest

from sim import scenario, simulate
from sim.config import resolve_workload
from sim import trace_query as tq
from viz import narration as nr
from viz import timeline as tl
from viz.palette import PHASE_COLORS


@pytest.fixture(scope="module")
def book():
    return simulate(scenario("book-example"))


@pytest.fixture(scope="module")
def book_static():
    return simulate(scenario("book-example", policy="static"))


@pytest.fixture(scope="module")
def chat():
    return simulate(scenario("chat"))  # the full 200-request preset: thousands of iterations


def _bars(fig):
    return {t.meta: t for t in fig.data if t.type == "bar"}


def _segments_of(fig, phase, lane):
    """(start ms, length ms, iterations text) of one lane's bars in one phase, read from the figure."""
    t = _bars(fig)[phase]
    return [(float(b), float(x), cd[1]) for b, x, cd in zip(t.base, t.x, t.customdata) if cd[0] == lane]


def test_book_example_phases_and_colours(book):
    fig = tl.request_lanes(book)
    bars = _bars(fig)
    for phase, trace in bars.items():
        assert trace.marker.color == PHASE_COLORS[phase]
    # x3 arrives at 30 ms, during iteration 3: queued until iteration 4 starts, prefilled in iteration 4.
    it1, it4 = book.iterations[0], book.iterations[3]
    (q_start, q_len, _), = _segments_of(fig, "queued", "x3")
    assert q_start == pytest.approx(30.0) and q_start + q_len == pytest.approx(it4.start_s * 1e3, abs=1e-2)
    assert _segments_of(fig, "prefill", "x3")[0][2] == "iteration 4"
    assert [s[2] for s in _segments_of(fig, "prefill", "x1")] == ["iteration 1"]
    # x4 takes x2's slot at iteration 6; x5 waits in the queue until iteration 9.
    assert _segments_of(fig, "prefill", "x4")[0][2] == "iteration 6"
    assert _segments_of(fig, "prefill", "x5")[0][2] == "iteration 9"
    x5_wait = _segments_of(fig, "queued", "x5")
    assert x5_wait and x5_wait[0][0] == pytest.approx(55.0)
    # Every decode step of x2 (iterations 2..5) is blue; no decode after its finish.
    x2_decodes = sorted(s[2] for s in _segments_of(fig, "decode", "x2"))
    assert x2_decodes == [f"iteration {k}" for k in (2, 3, 4, 5)]
    done = next(t for t in fig.data if t.meta == "done")
    assert done.marker.color == PHASE_COLORS["done"] and len(done.x) == 5
    assert it1.start_s == 0


def test_frames_capped_and_lean(chat):
    assert len(chat.iterations) > 300
    fig = tl.request_lanes(chat)
    assert len(fig.frames) == 300
    names = [f.name for f in fig.frames]
    assert names[0] == str(chat.iterations[0].index) and names[-1] == str(chat.iterations[-1].index)
    # A frame only moves the "now" line and the veil: two small traces. It names every bar trace too, with
    # nothing but its type, because plotly.js drops the bar traces a frame leaves out (Play erased them).
    bars = [i for i, t in enumerate(fig.data) if t.type == "bar"]
    for f in fig.frames:
        assert list(f.traces[:-2]) == bars
        assert all(d.to_plotly_json() == {"type": "bar"} for d in f.data[:-2])
        assert all(len(d.x) <= 4 for d in f.data[-2:])
    # One slider step every other frame of the 300 (and the last frame), each naming its frame: Play draws
    # every frame, the slider's handle and value follow the frames that have a step.
    steps = fig.layout.sliders[0].steps
    assert len(steps) == 151 and fig.layout.sliders[0].active == 150
    assert [s.args[0][0] for s in steps] == names[::2] + names[-1:]
    assert len(tl.request_lanes(chat, max_frames=120).layout.sliders[0].steps) == 120
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["Play", "Pause"]
    assert len(tl.request_lanes(chat, max_frames=50).frames) == 50


def test_small_run_animates_every_iteration(book):
    fig = tl.request_lanes(book)
    assert [f.name for f in fig.frames] == [str(it.index) for it in book.iterations]
    assert not tl.request_lanes(book, animate=False).frames
    assert not tl.request_lanes(book, upto=3).frames


def test_upto_cuts_the_timeline(book):
    cut = book.iterations[2].end_s * 1e3
    fig = tl.request_lanes(book, upto=3)
    for t in fig.data:
        if t.type == "bar":
            assert all(b + x <= cut + 1e-3 for b, x in zip(t.base, t.x))  # bars are rounded to 1 µs
    lanes = {cd[0] for t in fig.data if t.type == "bar" for cd in t.customdata}
    assert lanes == {"x1", "x2", "x3"}  # x4 and x5 have not arrived by the end of iteration 3


def test_axis_titles_carry_units(book, chat):
    lanes = tl.request_lanes(book)
    assert lanes.layout.xaxis.title.text == "time (ms)"
    assert "request" in lanes.layout.yaxis.title.text
    comp = tl.batch_composition(book)
    assert comp.layout.xaxis.title.text == "time (ms)" and "tokens" in comp.layout.yaxis.title.text
    assert tl.batch_composition(book, x="iteration").layout.xaxis.title.text == "iteration"
    kv = tl.kv_and_queue(book)
    assert kv.layout.yaxis.title.text == "tokens" and kv.layout.yaxis2.title.text == "requests"
    assert kv.layout.xaxis2.title.text == "time (ms)"
    grid = tl.slot_grid(book)
    assert "iteration" in grid.layout.xaxis.title.text and grid.layout.yaxis.title.text == "engine slot"
    big = tl.batch_composition(chat, max_bars=500)
    assert "mean of" in big.layout.yaxis.title.text  # grouped bars say so


@pytest.mark.parametrize("name,n", [("chat", 60), ("chat", None), ("hybrid-service", None),
                                    ("legal-archive", None)])
def test_figure_json_under_one_megabyte(name, n):
    cfg = scenario(name, workload=resolve_workload(name, n)) if n else scenario(name)
    result = simulate(cfg)
    size = len(pio.to_json(tl.request_lanes(result), validate=False))
    assert size < 1_000_000, f"{name}: animated timeline is {size:,} bytes"


def test_coarsen_bounds_bars_and_keeps_stalls(chat):
    segs = tl.lane_segments(chat, merge=True)
    t_end = chat.iterations[-1].end_s
    few = tl.coarsen(segs, t_end, 800)
    assert len(few) <= 800
    assert {s.lane for s in few} == {s.lane for s in segs}  # no request vanishes
    if any(s.phase == "stalled" for s in segs):
        assert any(s.phase == "stalled" for s in few)


def test_batch_composition_sums_tokens(book):
    fig = tl.batch_composition(book)
    pre = next(t for t in fig.data if t.meta == "prefill")
    dec = next(t for t in fig.data if t.meta == "decode")
    assert sum(pre.y) == sum(it.prefill_tokens for it in book.iterations) == 40
    assert list(dec.y) == [len(it.decode) for it in book.iterations]


def test_kv_and_queue_reads_the_trace(book):
    fig = tl.kv_and_queue(book)
    queue = next(t for t in fig.data if t.meta == "queue")
    assert list(queue.y) == [it.waiting for it in book.iterations]
    stored = next(t for t in fig.data if t.meta == "stored")
    assert list(stored.y) == [it.kv_stored for it in book.iterations]


def test_narration_in_the_books_terms(book, book_static):
    lines = nr.narrations(book)
    assert len(lines) == len(book.iterations)
    assert lines[1].startswith("Iteration 2: x1 and x2 decode")
    assert lines[3].startswith("Iteration 4: x3 arrives; its prompt is prefilled in the same forward pass in "
                               "which x1 and x2 decode")
    assert "x2 produces its last token and leaves the batch" in lines[4]
    assert "x4 and x5 arrive" in lines[5] and "x4's prompt is prefilled" in lines[5]
    assert "x5 waits in the queue" in lines[5] and "3 slots" in lines[5]
    static_lines = nr.narrations(book_static)
    assert "x3 waits in the queue" in static_lines[3] and "standard (request-level)" in static_lines[3]
    assert [nr.narrate_at(book, i) for i in range(len(lines))] == lines
    assert [nr.narrate_at(book_static, i) for i in range(len(static_lines))] == static_lines


def test_padding_of_one_iteration_is_the_runs(book_static):
    """tq.padding_at reads one iteration's padding from the passes since its batch began: what padding_ids
    gives it, on a run with batches that pad for a while and an evicting small cache."""
    chat = simulate(scenario("chat", workload=resolve_workload("chat", 60, 8.0), max_batch=16, seed=3, policy="static",
                             kv_capacity_tokens=6000))
    for res in (book_static, chat):
        pads = tq.padding_ids(res)
        assert any(pads.values())
        assert [tq.padding_at(res, i) for i in range(len(res.iterations))] == [pads.get(it.index, ()) for it in res.iterations]


def test_queue_and_slots_agree_with_the_trace(book, book_static):
    for res in (book, book_static):
        for it in res.iterations:
            assert len(tq.queued_ids(res, it)) == it.waiting
    slots = tq.slot_assignment(book)
    assert slots[4][2] == ("x2", "decode")  # iteration 5: x2 in slot 2
    assert slots[5][2] == ("x4", "prefill")  # iteration 6: x4 takes x2's slot, prefilled
    assert tq.queued_ids(book, book.iterations[5]) == ["x5"]


def test_iteration_table_rows(book):
    rows = nr.iteration_table(book)
    assert len(rows) == len(book.iterations)
    r4 = rows[3]
    assert r4["iteration"] == 4 and r4["prefilled (id:tokens)"] == "x3:8" and r4["decoded"] == "x1, x2"
    assert r4["duration (ms)"] > 0 and 0 <= r4["KV %"] <= 100
    assert rows[4]["finished"] == "x2" and rows[5]["queue"] == 1
    json.dumps(rows)  # plain values only (st.dataframe, downloads)


def test_disaggregated_run_has_engine_lanes_and_transfers():
    res = simulate(scenario("chat", policy="disaggregated", workload=resolve_workload("chat", 20)))
    fig = tl.request_lanes(res)
    bars = _bars(fig)
    assert "transfer" in bars and len(bars["transfer"].x) == len(res.transfers)
    lanes = {cd[0] for t in bars.values() for cd in t.customdata}
    assert {f"engine {e}" for e in res.engines} <= lanes
    comp = tl.batch_composition(res)
    assert comp.layout.yaxis2.title.text  # one row per engine
    assert "engine" in nr.iteration_table(res)[0]


def test_play_pace_long_runs_at_the_display_rate(chat, book):
    """A long run (300 sampled frames) plays with a frame duration under one 60 Hz refresh, so plotly.js
    can draw a frame on every animation tick (>= 30 frames/s where the browser keeps up); a short run
    keeps a readable pace per iteration."""
    def play_ms(fig):
        return fig.layout.updatemenus[0].buttons[0].args[1]["frame"]["duration"]
    assert play_ms(tl.request_lanes(chat)) < 1000 / 60
    assert tl.play_frame_ms(300) < 1000 / 60 and tl.play_frame_ms(241) < 1000 / 60
    assert play_ms(tl.request_lanes(book)) == 700  # 11 iterations: 0.7 s each
    assert tl.play_frame_ms(100) == 120 and tl.play_frame_ms(240) == 50


@pytest.mark.parametrize("policy", ["static", "continuous", "prefill-first", "chunked"])
def test_lanes_walked_in_pass_order_are_the_lanes_of_every_cell(policy):
    """sim.lanes walks a merged run on one engine pass by pass (each request's open stretch kept as it goes);
    its segments are the ones the per-request walk over every sorted cell gives (static pads, recompute
    preempts on a small cache, chunked stalls)."""
    from sim import lanes
    res = simulate(scenario("chat", workload=resolve_workload("chat", 60, 8.0), max_batch=16, seed=1001,
                            policy=policy, kv_capacity_tokens=6000))
    assert lanes._in_order(res)
    want = lanes._from_cells(res, tq._cells(res), merge=True)
    assert lanes.lane_segments(res, merge=True) == lanes._in_pass_order(res, tq.padding_ids(res)) == want
    assert lanes.lane_segments(res) == want  # over 2,500 cells: merged by default


def test_rounded_columns_are_pythons_round():
    """The composition and KV charts round whole columns with numpy (viz.batch_charts._rounded): the same doubles
    as Python's round value by value, near halves (where numpy's rint of the scaled product could land on
    the other side), at ties, for non-finite values and at 0, -0."""
    import math

    import numpy as np

    from viz.batch_charts import _rounded
    rng = np.random.default_rng(7)
    for ndigits, scale in ((4, 1e3), (2, 1.0)):
        base = rng.random(20_000) * rng.choice([1e-3, 1.0, 1e3, 1e5], 20_000)
        halves = (rng.integers(0, 10**7, 20_000) + 0.5) / 10**ndigits / scale
        values = np.concatenate([base, halves, np.nextafter(halves, 0), np.nextafter(halves, 1), -base,
                                 [0.0, -0.0, 19.53125e-3, math.inf, -math.inf, math.nan]]) * scale
        got = _rounded(values, ndigits)
        want = [round(float(v), ndigits) for v in values]
        assert all((g == w or (g != g and w != w)) and math.copysign(1, g) == math.copysign(1, w)
                   for g, w in zip(got.tolist(), want))
