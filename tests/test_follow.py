"""Following one request across views (viz/follow.py, sim.trace_query.request_kv_tokens): the highlight
marks exactly that request's lane, slots, KV cache, blocks and log rows, the figures it starts from are
left unchanged, and the numbers beside it are the run's."""

from __future__ import annotations

import pytest

from sim import scenario, simulate
from sim.config import resolve_workload
from sim.trace_query import request_kv_tokens
from viz import follow as vf
from viz import memory as vm
from viz import narration as nr
from viz import timeline as tl


@pytest.fixture(scope="module")
def chat():
    return simulate(scenario("chat", workload=resolve_workload("chat", 60, 8.0), max_batch=16))


@pytest.fixture(scope="module")
def book():
    return simulate(scenario("book-example"))


def _at(series, t):
    v = 0
    for ts, n in series:
        if ts <= t + 1e-12:
            v = n
    return v


def test_request_kv_tokens_add_up_to_the_stored_kv_of_every_pass(chat, book):
    for res in (chat, book):
        series = {r.id: request_kv_tokens(res, r.id) for r in res.requests}
        for it in res.iterations:
            assert sum(_at(s, it.end_s) for s in series.values()) == it.kv_stored, it.index


def test_request_kv_tokens_empty_on_eviction_and_whole_again_after_a_swap():
    res = simulate(scenario("chat", workload=resolve_workload("chat", 60, 30.0), max_batch=64,
                            kv_capacity_tokens=20000, preempt="swap"))
    evictions = [(it, rid) for it in res.iterations for rid in it.preempted]
    assert evictions, "this configuration should preempt"
    for it, rid in evictions:
        s = request_kv_tokens(res, rid)
        i = s.index((it.start_s, 0))  # emptied at the start of the pass that evicted it
        assert i > 0 and s[i - 1][1] > 0
        back = [n for _, n in s[i + 1:] if n]
        if back:  # swapped back in: the cache returns whole, one token larger after its next decode
            assert back[0] == s[i - 1][1] + 1, (rid, it.index, s[i - 1:i + 3])


def test_follow_lanes_outlines_the_lane_and_keeps_the_original(chat):
    fig = tl.request_lanes(chat)
    out = vf.follow_lanes(fig, chat, "r07")
    assert not fig.layout.shapes and "following" not in fig.layout.title.text
    names = [s.name for s in out.layout.shapes]
    assert names.count("follow") == 1 and names.count("follow-dim") == 2
    p = vf.lane_ids(chat).index("r07")
    box = next(s for s in out.layout.shapes if s.name == "follow")
    assert (box.y0, box.y1) == (p - 0.5, p + 0.5)
    assert dict(zip(out.layout.yaxis.tickvals, out.layout.yaxis.ticktext))[p] == "<b>▶ r07</b>"
    # The animation is untouched: same frames, and no frame names a trace the highlight added.
    assert len(out.frames) == len(fig.frames) > 0 and len(out.data) == len(fig.data)
    assert [f.traces for f in out.frames] == [f.traces for f in fig.frames]
    # An id that is not a lane leaves the figure as it was.
    assert vf.follow_lanes(fig, chat, "nobody") is fig


def test_follow_lanes_labels_the_lane_where_a_long_run_labels_only_some():
    res = simulate(scenario("chat", workload=resolve_workload("chat", 120, 8.0), max_batch=16))
    fig = tl.request_lanes(res, animate=False)
    lanes = vf.lane_ids(res)
    unlabelled = next(i for i in range(len(lanes)) if i not in set(fig.layout.yaxis.tickvals))
    out = vf.follow_lanes(fig, res, lanes[unlabelled])
    assert unlabelled in out.layout.yaxis.tickvals


def test_follow_lanes_on_disaggregated_runs_skips_the_engine_lanes():
    res = simulate(scenario("summarization", workload=resolve_workload("summarization", 20, 4.0),
                            policy="disaggregated"))
    lanes = vf.lane_ids(res)
    assert lanes[0].startswith("engine ") and lanes == tl.lane_ids(res)
    out = vf.follow_lanes(tl.request_lanes(res, animate=False), res, res.requests[3].id)
    box = next(s for s in out.layout.shapes if s.name == "follow")
    assert box.y0 == lanes.index(res.requests[3].id) - 0.5 >= len(res.engines) - 0.5


def test_follow_slots_outlines_its_cells_only(book):
    for upto in (3, 6, len(book.iterations)):
        out = vf.follow_slots(tl.slot_grid(book, upto=upto), "x3")
        mark = [t for t in out.data if t.meta == "follow"]
        assert len(mark) == 1
        passes = [it for it in book.iterations[:upto] if vf.role_in(it, "x3")]
        assert sorted(mark[0].x) == sorted(it.index for it in passes)
        for tr in out.data:
            if tr.meta in ("prefill", "decode", "stalled"):
                # The others faded as unselected points; the legend's icon keeps the trace's own opacity.
                assert list(tr.selectedpoints) == [i for i, t in enumerate(tr.text) if t == "x3"]
                assert tr.unselected.marker.opacity == 0.35 and tr.selected.marker.opacity == 1.0
                assert tr.marker.opacity is None or not isinstance(tr.marker.opacity, (list, tuple))


def test_follow_kv_draws_its_own_cache(chat):
    fig = tl.kv_and_queue(chat)
    out = vf.follow_kv(fig, chat, "r07")
    line = next(t for t in out.data if t.meta == "follow")
    peak = max(n for _, n in request_kv_tokens(chat, "r07"))
    assert line.name == f"r07's KV cache (peak {peak:,} tokens)" and max(line.y) == peak
    r = chat.request("r07")
    bands = [s for s in out.layout.shapes if s.name == "follow"]
    assert len(bands) == 2 and {(b.x0, b.x1) for b in bands} == {(round(r.arrival_s * 1e3, 4),
                                                                   round(r.finish_s * 1e3, 4))}
    assert len(fig.data) == len(out.data) - 1


def test_follow_rows_are_the_passes_that_involved_it(chat):
    rows = nr.iteration_table(chat)
    mine = vf.follow_rows(rows, chat, "r07")
    r = chat.request("r07")
    assert len(mine) == sum(1 for it in chat.iterations if vf.role_in(it, "r07")) > 0
    assert mine[0]["r07 in this pass"].startswith(f"prefill of {r.prompt_tokens:,} tokens")
    assert mine[-1]["r07 in this pass"].endswith("last token out")
    assert sum(1 for m in mine if "decode" in m["r07 in this pass"]) == r.generated_tokens - 1
    assert f"it took part in {len(mine):,} forward passes" in vf.follow_sentence(chat, "r07")


def test_follow_blocks_covers_its_layout():
    res = simulate(scenario("fragmentation", workload=resolve_workload("fragmentation", 40), memory="paged",
                            record_layout=True))
    it = next(it for it in res.iterations if len({rid for rid, _, _ in it.layout}) > 3)
    rid, start, n = it.layout[2]
    cell = res.config.block_size
    out = vf.follow_blocks(vm.block_map(res, it.index, cell_tokens=cell), res, it.index, rid, cell)
    mark = next(t for t in out.data if t.meta == "follow")
    cells = {y * 40 + x for x, y in zip(mark.x, mark.y)}
    owned = {c for r, s, k in it.layout if r == rid for c in range(s // cell, (s + k - 1) // cell + 1)}
    assert cells == owned and start // cell in cells


def test_a_hostile_id_is_shown_as_text(chat):
    import dataclasses
    res = dataclasses.replace(chat, requests=[dataclasses.replace(chat.requests[0], id="<a href=x>r</a>")]
                              + chat.requests[1:])
    out = vf.follow_lanes(tl.request_lanes(res, animate=False), res, "<a href=x>r</a>")
    assert "&lt;a href=x&gt;" in out.layout.title.text and "<a href" not in out.layout.title.text
