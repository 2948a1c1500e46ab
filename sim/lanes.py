"""Lanes: each request's phases over a finished run, as stretches (``LaneSegment``) a timeline draws.

Read off the recorded passes by ``sim.trace_query``'s cells (what each request did in each pass); nothing
here re-runs or changes the simulation. A lane's gaps before admission are ``queued``, gaps after an
eviction ``preempted``; big runs merge consecutive same-phase passes of one engine into one stretch.

Two ways to the same segments: ``_from_cells`` sorts every request's cells and walks them one request at a
time (any run); ``_in_pass_order`` walks the passes once, each request's open stretch kept as it goes, for a
merged run on one engine whose passes follow one another in time (the playground's): there every
request's cells already come in time order, so the result is the same segment for segment, without
building, sorting and walking ~50,000 cell tuples (a static run of 60 requests). It takes a run of passes
that only repeat the one before (same decodes, same padding) as one block, so it touches a request's
stretch once per block rather than once per pass.
"""

from __future__ import annotations

from typing import NamedTuple

from sim.trace_query import _DECODE_DETAIL, _PADDING_DETAIL, _SLOWED_DETAIL, _TAKEN_DETAIL, _cells, \
    padding_ids, preempt_times

# Above this many per-iteration cells, consecutive cells of the same phase are merged into one stretch:
# the picture is the same at a whole run's zoom, and a figure of it stays small enough for a browser.
_MERGE_ABOVE_CELLS = 2500
_QUEUED_DETAIL = "waiting in the queue"
_EVICTED_DETAIL = "evicted from the batch, waiting to resume"


class LaneSegment(NamedTuple):
    """A stretch of one lane in one phase. ``first``/``last`` are iteration indices (0 when none)."""

    lane: str
    phase: str
    start_s: float
    end_s: float
    first: int = 0
    last: int = 0
    engine: str = ""
    detail: str = ""


def lane_segments(result, merge: bool | None = None) -> list[LaneSegment]:
    """Every request's lane as phase segments: gaps before admission are ``queued``, gaps after an
    eviction ``preempted``; with ``merge`` (default: only for big runs) consecutive same-phase iterations
    of one engine that touch in time become one segment (its first and last iteration, the detail of its
    first cell, cut before any ":" when its cells' details differ)."""
    pads = padding_ids(result)
    if merge is not False and _in_order(result):
        if merge or _more_cells_than(result, pads, _MERGE_ABOVE_CELLS):
            return _in_pass_order(result, pads)
        merge = False
    cells = _cells(result)
    if merge is None:
        merge = sum(len(c) for c in cells.values()) > _MERGE_ABOVE_CELLS
    return _from_cells(result, cells, merge)


def _in_order(result) -> bool:
    """One engine, no KV transfers, unique request ids, passes in time order (by start, then end): every
    request's cells then come in the order ``_cells`` sorts them into."""
    if result.transfers or len(result.engines) > 1 or len({r.id for r in result.requests}) != len(result.requests):
        return False
    s0 = e0 = float("-inf")
    for it in result.iterations:
        s, e = it.start_s, it.end_s
        if s < s0 or (s == s0 and e < e0):
            return False
        s0, e0 = s, e
    return True


def _more_cells_than(result, pads: dict, limit: int) -> bool:
    """Whether ``_cells`` makes more than ``limit`` cells (one per request per pass it is in, ``in_pass``
    plus padding): counted pass by pass, up to the first pass over the limit (a big run is known to be one
    after a few hundred of its thousands of passes)."""
    n = 0
    for it in result.iterations:
        n += len(it.prefill) + len(it.decode)
        if it.stalled:
            decoding = set(it.decode)
            n += sum(1 for rid in it.stalled if rid not in decoding)
        if pads:
            n += len(pads.get(it.index, ()))
        if n > limit:
            return True
    return False


def _step(lane: list, rid: str, start: float, end: float, phase: str, idx: int, engine: str, detail: str) -> None:
    """Request ``rid``'s next cell on its lane ``[t, open stretch, segments, eviction times]`` (merged):
    first the gap since its last cell, if any, then the cell, each closing or extending the open stretch
    (a list [phase, start, end, first, last, engine, detail], changed in place) as ``_from_cells`` does."""
    t, run, segs = lane[0], lane[1], lane[2]
    if start > t + 1e-9:
        gap_phase = "preempted" if any(t - 1e-9 <= tp <= start + 1e-9 for tp in lane[3]) else "queued"
        gap_detail = _QUEUED_DETAIL if gap_phase == "queued" else _EVICTED_DETAIL
        if run is not None and run[0] == gap_phase and abs(run[2] - t) < 1e-9 and run[5] == "":
            run[2] = start
            if run[6] != gap_detail:
                run[6] = run[6].split(":")[0]
        else:
            if run is not None:
                segs.append(LaneSegment(rid, *run))
            run = [gap_phase, t, start, 0, 0, "", gap_detail]
    if run is not None and run[0] == phase and abs(run[2] - start) < 1e-9 and run[5] == engine:
        run[2], run[3], run[4] = end, run[3] or idx, idx or run[4]
        if run[6] != detail:
            run[6] = run[6].split(":")[0]
    else:
        if run is not None:
            segs.append(LaneSegment(rid, *run))
        run = [phase, start, end, idx, idx, engine, detail]
    lane[1] = run
    if end > t:
        lane[0] = end


def _in_pass_order(result, pads: dict) -> list[LaneSegment]:
    """``lane_segments(result, merge=True)`` for a run ``_in_order`` accepts, in one walk over the passes.

    Most passes only repeat the one before: the same decoding sequences (the recorder hands them the same
    tuple), the same padding, no prefill, no stall, starting where it ended. Each such pass would extend
    every one of its requests' open stretches by one cell (the ~50,000 cells of a static run of 60
    requests), so a run of them is one "block": the passes are only checked, and the members' stretches are
    extended to the block's last pass once, when it ends (``_extend_block``). Any other pass goes cell by
    cell (``_pass``)."""
    pre = preempt_times(result)
    lanes = {r.id: [r.arrival_s, None, [], pre.get(r.id, ())] for r in result.requests}
    # The open block: [decode ids, padding ids, engine, members, last end, last index, latest end, passes
    # taken after its first], or None.
    block = None
    for it in result.iterations:
        start, end, idx = it.start_s, it.end_s, it.index
        pad = pads.get(idx, ()) if pads else ()
        if block is not None:
            dec = it.decode
            if (not it.prefill and not it.stalled and idx and (dec is block[0] or dec == block[0])
                    and (pad is block[1] or pad == block[1]) and it.engine == block[2] and abs(block[4] - start) < 1e-9):
                block[4], block[5] = end, idx
                if end > block[6]:
                    block[6] = end
                block[7] += 1
                continue
            _extend_block(lanes, block)
        _pass(lanes, it, pad)
        block = _block_from(lanes, it, pad)
    if block is not None:
        _extend_block(lanes, block)
    return _closed(result, lanes)


def _block_from(lanes: dict, it, pad: tuple) -> list | None:
    """A block opened by pass ``it`` (just walked cell by cell), or None when no pass can continue it as a
    block: it prefilled or stalled someone, or a request is twice among its decodes and padding (their
    cells would not simply extend a stretch each)."""
    if it.prefill or it.stalled or not it.index:
        return None
    members = [rid for rid in pad if rid in lanes] + [rid for rid in it.decode if rid in lanes]
    if len(set(members)) != len(members):
        return None
    # Each member's open stretch is the one its cell in ``it`` left, which the next cell of the same phase
    # continues (``_pass``'s written-out case); checked, not assumed.
    n_pad = sum(1 for rid in pad if rid in lanes)
    for k, rid in enumerate(members):
        run = lanes[rid][1]
        phase, detail = ("padding", _PADDING_DETAIL) if k < n_pad else ("decode", _DECODE_DETAIL)
        if run[0] != phase or run[2] != it.end_s or run[5] != it.engine or not run[3] or run[6] != detail:
            return None
    return [it.decode, pad, it.engine, members, it.end_s, it.index, it.end_s, 0]


def _extend_block(lanes: dict, block: list) -> None:
    """The passes a block took after its first, applied: each member's stretch (a padding or decode stretch
    ending where the next pass starts, made by the block's first pass) reaches the block's last pass, as
    their cells one by one would have extended it."""
    _, _, _, members, end, idx, latest, taken = block
    if not taken:
        return
    for rid in members:
        lane = lanes[rid]
        run = lane[1]
        run[2], run[4] = end, idx
        if latest > lane[0]:
            lane[0] = latest


def _continue(lane: list, rid: str, start: float, end: float, phase: str, idx: int, eng: str, detail: str) -> None:
    """A cell of ``phase`` that continues its request's open stretch of that phase (touching it in time, on the
    same engine, with the same detail) is written onto it; any other goes through ``_step``."""
    run = lane[1]
    if (run is not None and run[0] == phase and start <= lane[0] + 1e-9 and abs(run[2] - start) < 1e-9
            and run[5] == eng and run[3] and idx and run[6] == detail):
        run[2] = end
        run[4] = idx
        if end > lane[0]:
            lane[0] = end
    else:
        _step(lane, rid, start, end, phase, idx, eng, detail)


def _pass(lanes: dict, it, pad: tuple) -> None:
    """One pass cell by cell, in ``_cells``'s order: padding, prefills, decodes (stalled or not), stalls of
    sequences not decoding. A cell that continues its request's open stretch (a decode step after a decode
    step, padding after padding) is written onto it (``_continue``); any other goes through ``_step``."""
    start, end, idx, eng = it.start_s, it.end_s, it.index, it.engine
    get = lanes.get
    for rid in pad:  # static: a finished member pads each pass to the end of its batch
        lane = get(rid)
        if lane is None:
            continue
        _continue(lane, rid, start, end, "padding", idx, eng, _PADDING_DETAIL)
    for rid, n in it.prefill:
        if rid in lanes:
            _step(lanes[rid], rid, start, end, "prefill", idx, eng, f"prefill of {n} prompt tokens")
    stalled = set(it.stalled) if it.stalled else ()
    for rid in it.decode:
        lane = get(rid)
        if lane is None:
            continue
        if stalled and rid in stalled:
            _step(lane, rid, start, end, "stalled", idx, eng, _SLOWED_DETAIL)
            continue
        _continue(lane, rid, start, end, "decode", idx, eng, _DECODE_DETAIL)
    if stalled:
        decoding = set(it.decode)
        for rid in it.stalled:
            if rid not in decoding and rid in lanes:
                _step(lanes[rid], rid, start, end, "stalled", idx, eng, _TAKEN_DETAIL)


def _closed(result, lanes: dict) -> list[LaneSegment]:
    """Every request's segments in request order, its open stretch closed (a rejected one without cells
    gets its one mark)."""
    segs: list[LaneSegment] = []
    for r in result.requests:
        _, run, own, _ = lanes[r.id]
        segs.extend(own)
        if run is not None:
            segs.append(LaneSegment(r.id, *run))
        elif r.rejected_reason:
            segs.append(LaneSegment(r.id, "queued", r.arrival_s, r.arrival_s, detail=f"rejected: {r.rejected_reason}"))
    return segs


def _from_cells(result, cells: dict, merge: bool) -> list[LaneSegment]:
    """``lane_segments`` from every request's cells, one request at a time (any run)."""
    pre = preempt_times(result)
    segs: list[LaneSegment] = []
    emit = segs.append
    for r in result.requests:
        rid = r.id
        own = cells.get(rid, [])
        evicted = pre.get(rid, [])
        t = r.arrival_s
        # The open stretch, as locals (phase, start, end, first, last, engine, detail): a segment object is
        # made only when it closes. Without ``merge`` every cell closes its own stretch.
        run = None
        for start, end, phase, idx, engine, detail in own:
            if start > t + 1e-9:
                gap_phase = "preempted" if any(t - 1e-9 <= tp <= start + 1e-9 for tp in evicted) else "queued"
                gap = (gap_phase, t, start, 0, 0, "", _QUEUED_DETAIL if gap_phase == "queued" else _EVICTED_DETAIL)
                if run is not None:
                    if merge and run[0] == gap_phase and abs(run[2] - t) < 1e-9 and run[5] == "":
                        run = _extend(run, gap)
                    else:
                        emit(LaneSegment(rid, *run))
                        run = gap
                else:
                    run = gap
            cell = (phase, start, end, idx, idx, engine, detail)
            if run is not None:
                if merge and run[0] == phase and abs(run[2] - start) < 1e-9 and run[5] == engine:
                    run = _extend(run, cell)
                else:
                    emit(LaneSegment(rid, *run))
                    run = cell
            else:
                run = cell
            if end > t:
                t = end
        if run is not None:
            emit(LaneSegment(rid, *run))
        if not own and r.rejected_reason:
            emit(LaneSegment(rid, "queued", r.arrival_s, r.arrival_s, detail=f"rejected: {r.rejected_reason}"))
    return segs


def _extend(run: tuple, s: tuple) -> tuple:
    """The open stretch ``run`` continued by ``s`` (both (phase, start, end, first, last, engine, detail))."""
    detail = run[6] if run[6] == s[6] else run[6].split(":")[0]
    return run[0], run[1], s[2], run[3] or s[3], s[4] or run[4], run[5], detail


def engine_segments(result) -> list[LaneSegment]:
    """Engine lanes (disaggregation): what each engine computed, contiguous same-kind passes merged."""
    segs: list[LaneSegment] = []
    last: dict[str, LaneSegment] = {}
    for it in result.iterations:
        kind = "prefill" if it.prefill and not it.decode else "decode"
        lane = f"engine {it.engine}"
        p = last.get(lane)
        if p and p.phase == kind and abs(p.end_s - it.start_s) < 1e-9:
            last[lane] = LaneSegment(lane, kind, p.start_s, it.end_s, p.first, it.index, it.engine, p.detail)
        else:
            if p:
                segs.append(p)
            last[lane] = LaneSegment(lane, kind, it.start_s, it.end_s, it.index, it.index, it.engine,
                                 f"{kind} passes")
    segs.extend(last.values())
    return segs
