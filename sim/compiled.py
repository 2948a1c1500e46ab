"""The compiled engine kernel (numba): the untraced run of one engine, pass by pass.

A port of what ``sim.engine`` does for one colocated engine without a trace, inside the family that
``sim.fastpath`` admits (continuous, static, prefill-first or chunked batching, first come first served,
paged memory that can never run short, no whole prompt longer than the pass's token cap): SimPy's clock
(two processes, arrivals and the engine, events in time order and, at equal times, in the order they
were scheduled), the four strategies' ``plan`` on a ``CohortScheduler``, the decode cohort's counts and
prefix sums (``sim.cohort``), ``price_stretch`` and the recorder's accounting. Every float is computed
with the same operations in the same order as the Python path, and numba compiles without fastmath, so
the results are the same bits. In this family nobody is ever
preempted and the cohort never dissolves; anything else the kernel meets stops it with ``FALLBACK`` and
the Python path runs the config from the start.

All state lives in arrays (``S`` integers, ``T`` floats, one row per request in ``SI``/``SF``), so a call
can stop when its growable buffers (the cohort's per-pass arrays, the token-gap records) are nearly full
and ``sim.fastpath`` calls it again with larger ones (``NEED_ROOM``). Imported only to build the kernel's
machine code (``sim.native``, once per machine): a run links that code and never imports numba, which
with its cached kernel cost ~0.4 s a process.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.kernel_layout import TRACED
from sim.compiled_cohort import (  # noqa: F401 (the layout, re-exported for sim.fastpath)
    A_NEXT, A_DONE, E_STATE, EID, A_EID, E_EID, W_HEAD, N_ARR, NMEM, TICK, CTX, NPASS, LEFT, STORED, HELD, COUNT,
    MAXCONC, NGAP, STATUS, NPF, PCN, PLEAVES, NCLS, NSTAGED, BASE, BATCH, PPAD, NOTH, NDEC, S_LEN, A_TIME, E_TIME,
    COHORT_END, BUSY, WASTE, TAREA, KVPEAK, P_START, P_DUR, P_DELAY, ST_T, PENDING, P_TAKEN, T_LEN, PROMPT, OUT,
    CLS, GOAL, COMP, GEN, KV, ANCHOR, FIN, BLK, STALLS, SI_COLS, ARR, ADMIT, FIRST, FINISH, MAXGAP, STALL, LAST,
    GSTALL, SF_COLS, OVH, OVH_SEQ, LIN_C, LIN_M, LIN_ACT, PASS_FIXED, KV_W, KV_TOK, ATT_C, ATT_KV, ATT_TOK,
    ATT_LAUNCH, REORG, EXPOSED, MAX_BATCH, CAP, BS, NUM_BLOCKS, CAPACITY, N, MAX_OUT, MAX_IT, JOINS, PLAN,
    PLAN_CONTINUOUS, PLAN_STATIC, PLAN_PREFILL_FIRST, E_INIT, E_PASS, E_STRETCH, E_IDLE, E_WOKEN, RUNNING, DONE,
    NEED_ROOM, FALLBACK, EXCEEDED, _finish, _promote, _record_gap, _roof, finish_stretch,
    try_stretch, WHERE, IN_COHORT, FINISHED, NOWED, PLAN_CHUNKED, cohort_decoded, members_done
)


@njit(cache=True)
def iteration_time(P, pt, pairs, cached, pseqs, dseqs, pad, ctx, joins, leaves):
    """RooflineCost.iteration_time for a pass without swap traffic (``dseqs`` counts the ``pad`` padding
    slots)."""
    ex = P[EXPOSED]
    tokens = pt + dseqs
    t = P[OVH] + P[OVH_SEQ] * (dseqs + pseqs)
    if tokens:
        c, m = P[LIN_C] * tokens, P[LIN_M]
        t += _roof(c, m, ex) + P[LIN_ACT] * tokens
        t += P[PASS_FIXED] + P[KV_W] * tokens + P[KV_TOK] * pt
    if pt:
        c = P[ATT_C] * pairs
        m = P[ATT_KV] * cached + P[ATT_TOK] * pt
        t += P[ATT_LAUNCH] + _roof(c, m, ex)
    if dseqs > pad:
        c = P[ATT_C] * ctx
        m = P[ATT_KV] * ctx
        t += P[ATT_LAUNCH] + _roof(c, m, ex)
    t += P[REORG] * (joins + leaves)
    return t


@njit(cache=True)
def _notify(S, T, now):
    if S[E_STATE] == E_IDLE:  # the engine sleeps on its wake event: it fires now, before A's next timeout
        S[E_STATE] = E_WOKEN
        T[E_TIME] = now
        S[E_EID] = S[EID]
        S[EID] += 1


@njit(cache=True)
def arrivals_step(S, T, SF, C, first):
    """The arrivals process, from its start (``first``) or from the timeout of request ``A_NEXT``."""
    n = C[N]
    now = 0.0 if first else T[A_TIME]
    i = S[A_NEXT]
    if not first:  # its timeout fired: it is added whatever the clock reads
        S[N_ARR] = i + 1
        _notify(S, T, now)
        i += 1
    while i < n and not SF[i, ARR] > now:
        S[N_ARR] = i + 1
        _notify(S, T, now)
        i += 1
    if i < n:
        T[A_TIME] = now + (SF[i, ARR] - now)
        S[A_EID] = S[EID]
        S[EID] += 1
        S[A_NEXT] = i
    else:
        S[A_DONE] = 1


@njit(cache=True)
def _decodes(S, SI, C, mem, oth):
    """CohortScheduler.schedule_running's decodes: the cohort (its due blocks given first), and every running
    sequence outside it that decodes (a new block each where its last one is full). The others are owed
    prompt tokens (a chunked prompt); beside a cohort they are never mixed, and a traced run (no cohort)
    lists its decodes first (sim.compiled_trace.partition). False: leave the family."""
    bs, nm, tick = C[BS], S[NMEM], S[TICK]
    ndec = 0
    for i in range(S[NOTH]):
        if SI[oth[i], GEN] > 0:
            ndec += 1
    if ndec and ndec != S[NOTH] and not C[TRACED]:
        return False
    due = 0
    for m in range(nm):
        if SI[mem[m], BLK] <= tick:
            due += 1
    for i in range(ndec):
        if SI[oth[i], COMP] >= SI[oth[i], KV]:
            due += 1
    if due > C[NUM_BLOCKS] - S[HELD] // bs:
        return False  # a block shortage would dissolve the cohort: the Python path decides who waits
    for m in range(nm):
        seq = mem[m]
        if SI[seq, BLK] <= tick:
            SI[seq, KV] += bs
            S[HELD] += bs
            SI[seq, BLK] += bs
    for i in range(ndec):
        seq = oth[i]
        if SI[seq, COMP] >= SI[seq, KV]:
            SI[seq, KV] += bs
            S[HELD] += bs
    S[PCN] = nm
    S[NDEC] = ndec
    return True


@njit(cache=True)
def _give_owed(S, SI, C, oth, pf, budget):
    """Scheduler._give_work's owed prompt tokens: each running sequence still prefilling (in batch order)
    gets a chunk within the budget, its KV grown to hold it. Returns the budget left (-1: a shortage)."""
    bs = C[BS]
    npf = S[NPF]
    for i in range(S[NDEC], S[NOTH]):
        seq = oth[i]
        n = min(SI[seq, PROMPT] - SI[seq, COMP], budget)
        if n <= 0:
            break
        tokens = SI[seq, COMP] + n
        if tokens > SI[seq, KV]:
            need = -(-tokens // bs) - SI[seq, KV] // bs
            if need > C[NUM_BLOCKS] - S[HELD] // bs:
                return -1  # make_room would preempt someone: not this kernel's family
            SI[seq, KV] += need * bs
            S[HELD] += need * bs
        pf[0, npf] = seq
        pf[1, npf] = n
        npf += 1
        budget -= n
    S[NPF] = npf
    S[NOWED] = npf
    return budget


@njit(cache=True)
def _admit(S, SI, SF, C, pf, now, budget, whole):
    """Scheduler.admit: waiting requests join in arrival order while a slot, the budget and KV memory allow,
    with their whole prompt (``whole``) or a chunk of it. False: a prompt the cap would chunk (not this
    kernel's family)."""
    bs = C[BS]
    npf = S[NPF]
    running = S[NMEM] + S[NOTH] - S[NOWED]
    while S[W_HEAD] < S[N_ARR]:
        if budget <= 0 or running + npf >= C[MAX_BATCH]:
            break
        seq = S[W_HEAD]
        pending = SI[seq, PROMPT]
        if whole and pending > budget:
            if npf or pending <= C[CAP]:
                break  # waits for a pass with room for its whole prompt
            return False
        chunk = min(pending, budget)
        blocks = -(-chunk // bs)
        if blocks > C[NUM_BLOCKS] - S[HELD] // bs:
            break
        SI[seq, KV] = blocks * bs
        S[HELD] += blocks * bs
        S[W_HEAD] += 1
        pf[0, npf] = seq
        pf[1, npf] = chunk
        npf += 1
        arr = SF[seq, ARR]
        SF[seq, ADMIT] = arr if arr > now else now
        budget -= chunk
    S[NPF] = npf
    return True


@njit(cache=True)
def plan_pass(S, T, SI, SF, C, mem, oth, pf, now):
    """The strategy's plan() on a CohortScheduler: Continuous (decodes, then whole prompts within the cap),
    Chunked (decodes, owed prompt chunks, then newcomers' chunks within the budget), Static (a batch decodes
    until its last sequence ends, then the next is admitted) or PrefillFirst (a pass with newcomers prefills
    only them, every running sequence sits it out). False: FALLBACK."""
    S[PLEAVES] = S[LEFT]
    S[LEFT] = 0
    S[PCN] = S[PPAD] = S[NPF] = S[NDEC] = S[NOWED] = 0
    T[P_START] = now
    T[P_TAKEN] = 0.0
    kind, nm = C[PLAN], S[NMEM]
    if kind == PLAN_PREFILL_FIRST:
        if not _admit(S, SI, SF, C, pf, now, C[CAP], True):
            return False
        if S[NPF]:
            T[P_TAKEN] = 1.0  # the decodes sit this pass out (price_pass sets how long)
            return True
        return _decodes(S, SI, C, mem, oth)
    running = nm + S[NOTH]  # a traced run has no cohort (sim.compiled_trace): its batch is all others
    if kind == PLAN_STATIC and running:
        S[PPAD] = max(0, S[BATCH] - running)
        S[PLEAVES] = 0  # nobody leaves a static batch early: no reorganization until it ends
        return _decodes(S, SI, C, mem, oth)
    if not _decodes(S, SI, C, mem, oth):
        return False
    budget = _give_owed(S, SI, C, oth, pf, C[CAP] - S[PCN] - S[NDEC])
    if budget < 0 or not _admit(S, SI, SF, C, pf, now, budget, kind != PLAN_CHUNKED):
        return False
    if kind == PLAN_STATIC:
        S[BATCH] = S[NPF]
    return True


@njit(cache=True)
def price_pass(S, T, SI, P, oth, pf):
    """EngineProc.run_plan: the pass's duration, the prefill delay it adds to the decodes and, when a
    prefill took the pass, how long the decodes sat it out (price_stalls)."""
    npf, nm, pad = S[NPF], S[PCN], S[PPAD]
    pt = cached = 0
    pairs = 0.0
    for i in range(npf):
        n, c = pf[1, i], SI[pf[0, i], COMP]
        pt += n
        cached += c
        pairs += n * (c + (n + 1) / 2)  # each new token attends to the cache and earlier new tokens
    ctx = S[CTX] if nm else 0
    for i in range(S[NDEC]):
        ctx += SI[oth[i], COMP]
    dseqs = nm + S[NDEC] + pad
    d = iteration_time(P, pt, pairs, cached, npf, dseqs, pad, ctx, npf - S[NOWED], S[PLEAVES])
    if 1e-9 > d:
        d = 1e-9
    delay = 0.0
    if npf and dseqs > pad:
        x = d - iteration_time(P, 0, 0.0, 0, 0, dseqs, pad, ctx, 0, S[PLEAVES])
        delay = 0.0 if 0.0 > x else x
    T[P_DUR] = d
    T[P_DELAY] = delay
    if T[P_TAKEN] and (S[NMEM] or S[NOTH]):  # plan.stalled: the running decodes that sat it out
        T[P_TAKEN] = d
    else:
        T[P_TAKEN] = 0.0
    return d


@njit(cache=True)
def _record_pass_gaps(S, gcls, gval, gcnt, cls_count, cls_order, gap, step_gap):
    """DecodeCohort.decoded's token gaps as _settle records them: the pass's own gap for each class with
    members, or (the cohort sat out time before) its own gap for every class it has seen, even at 0."""
    for i in range(S[NCLS]):
        c = cls_order[i]
        if gap == step_gap:
            if cls_count[c]:
                _record_gap(S, gcls, gval, gcnt, c, step_gap, cls_count[c])
        else:
            _record_gap(S, gcls, gval, gcnt, c, gap, cls_count[c])


@njit(cache=True)
def _apply_prefill(S, SI, SF, pf, tmp, end):
    """Scheduler._apply_prefill: each chunk is credited; a prompt now whole gives its first token. Returns how
    many of those go on (their rows in ``tmp``)."""
    steady = 0
    for i in range(S[NPF]):
        seq, n = pf[0, i], pf[1, i]
        SI[seq, COMP] += n
        S[STORED] += n
        if SI[seq, COMP] < SI[seq, PROMPT]:
            continue  # a chunk of its prompt: it goes on prefilling
        SI[seq, GEN] = 1
        SF[seq, FIRST] = end
        SF[seq, LAST] = end
        if 1 >= SI[seq, OUT]:
            _finish(S, SI, SF, seq, end)
        else:
            tmp[steady] = seq
            steady += 1
    return steady


@njit(cache=True)
def decode_token(SI, SF, seq, start, end, extra, goals):
    """One decoded token of a running sequence outside the cohort (Scheduler._apply_decodes): its counts,
    its last token's time, and the stall it carried (a stall when its gap is over the class's goal).
    Returns (tokens generated, the time of its previous token)."""
    SI[seq, COMP] += 1
    g = SI[seq, GEN] + 1
    SI[seq, GEN] = g
    last = SF[seq, LAST]
    SF[seq, LAST] = end
    gs = SF[seq, GSTALL] + extra
    if gs:
        SF[seq, GSTALL] = 0.0
        SF[seq, STALL] += gs
        if (end - start if last == start else end - last) > goals[SI[seq, GOAL]]:
            SI[seq, STALLS] += 1
    return g, last


@njit(cache=True)
def _apply_others(S, SI, SF, oth, tmp, steady, start, end, extra, goals, gcls, gval, gcnt):
    """Scheduler._apply_decodes for the running sequences outside the cohort (they sat out prefill passes):
    one token each, its own gap, the stall it carried. Those that go on are appended to ``tmp``."""
    step_gap = end - start
    for i in range(S[NDEC]):
        seq = oth[i]
        g, last = decode_token(SI, SF, seq, start, end, extra, goals)
        gap = step_gap if last == start else end - last
        _record_gap(S, gcls, gval, gcnt, SI[seq, CLS], gap, 1)
        if gap > SF[seq, MAXGAP]:
            SF[seq, MAXGAP] = gap
        if g >= SI[seq, OUT]:
            _finish(S, SI, SF, seq, end)
        else:
            tmp[steady] = seq
            steady += 1
    return steady


@njit(cache=True)
def post_pass(S, T, SI, SF, C, mem, oth, pf, tmp, goals, pgap, pcum, pover, built, gcls, gval, gcnt, cls_count,
              cls_order):
    """CohortScheduler.update for the pass just ended, then the loop's count and record_pass."""
    start = T[P_START]
    end = start + T[P_DUR]
    steady = _apply_prefill(S, SI, SF, pf, tmp, end)
    n = S[PCN]
    S[STORED] += n + S[NDEC]
    step_gap = end - start
    if T[P_TAKEN]:  # a prefill took the pass: the cohort carries it as one, the others each
        for i in range(S[NOTH]):
            SF[oth[i], GSTALL] += T[P_TAKEN]
        if S[NMEM] and not n:
            T[PENDING] += T[P_TAKEN]
    if n:
        gap = cohort_decoded(S, T, n, end, goals, pgap, pcum, pover, built)
        _record_pass_gaps(S, gcls, gval, gcnt, cls_count, cls_order, gap, step_gap)
        members_done(S, SI, SF, mem, end, goals, pgap, pcum, pover, built, cls_count)
    steady = _apply_others(S, SI, SF, oth, tmp, steady, start, end, T[P_DELAY], goals, gcls, gval, gcnt)
    if n or S[NMEM] == 0:  # members share their last token time: join only a cohort that just decoded
        for i in range(steady):
            _promote(S, T, SI, mem, tmp[i], end, pcum, built, cls_count, cls_order)
    _running_outside(S, SI, oth, pf)
    _account(S, T, C, n + S[NDEC] + S[NPF])


@njit(cache=True)
def _running_outside(S, SI, oth, pf):
    """The running sequences outside the cohort after the pass, in batch order: those that were outside it
    before, then this pass's newcomers, less the finished and the promoted."""
    w = 0
    for i in range(S[NOTH]):
        seq = oth[i]
        if SI[seq, WHERE] == 0:
            oth[w] = seq
            w += 1
    for i in range(S[NOWED], S[NPF]):
        seq = pf[0, i]
        if SI[seq, WHERE] == 0:
            oth[w] = seq
            w += 1
    S[NOTH] = w


@njit(cache=True)
def _account(S, T, C, running):
    """The loop's pass count (with its safety cap) and Recorder.record_pass."""
    S[COUNT] += 1
    if S[COUNT] > C[MAX_IT]:
        S[STATUS] = EXCEEDED
    d = T[P_DUR]
    T[BUSY] += d
    cap = C[CAPACITY]
    T[WASTE] += (S[HELD] - S[STORED]) / cap * d
    T[TAREA] += d
    util = S[HELD] / cap
    if util > T[KVPEAK]:
        T[KVPEAK] = util
    if running > S[MAXCONC]:
        S[MAXCONC] = running


@njit(cache=True)
def engine_step(S, T, SI, SF, C, P, mem, oth, pf, tmp, staged, crossings, goals, pgap, pcum, pover, built, gcls,
                gval, gcnt, cls_count, cls_order):
    """One resumption of the engine process (sim.loop.engine_loop): apply what it waited for, then skip a
    stretch, idle, or plan and price the next pass."""
    now = T[E_TIME]
    state = S[E_STATE]
    if state == E_PASS:
        post_pass(S, T, SI, SF, C, mem, oth, pf, tmp, goals, pgap, pcum, pover, built, gcls, gval, gcnt, cls_count,
                  cls_order)
        if S[STATUS] != RUNNING:
            return
    elif state == E_STRETCH:
        finish_stretch(S, T, SI, SF, mem, staged, goals, pgap, pcum, pover, built, cls_count)
    horizon = np.inf if S[A_DONE] else T[A_TIME]  # env.peek(): the arrivals' next timeout
    stretched = try_stretch(S, T, SI, C, P, mem, staged, crossings, now, horizon, pgap, pcum, pover, built, gcls,
                            gval, gcnt, cls_count, cls_order)
    if S[STATUS] != RUNNING:
        return
    if stretched:
        S[E_STATE] = E_STRETCH
        T[E_TIME] = now + (T[ST_T] - now)
    else:
        if not plan_pass(S, T, SI, SF, C, mem, oth, pf, now):
            S[STATUS] = FALLBACK
            return
        if S[NPF] == 0 and S[PCN] == 0 and S[NDEC] == 0:
            S[E_STATE] = E_IDLE  # sleeps until an arrival wakes it
            return
        S[E_STATE] = E_PASS
        T[E_TIME] = now + price_pass(S, T, SI, P, oth, pf)
    S[E_EID] = S[EID]
    S[EID] += 1


@njit(cache=True)
def start_events(S, T, SF, C):
    """SimPy's first events, on a loop's first call: both processes start, the arrivals' first."""
    if S[E_STATE] == E_INIT and S[EID] == 0:
        S[EID] = 2  # the two processes' start events
        arrivals_step(S, T, SF, C, True)


@njit(cache=True)
def arrivals_turn(S, T, SF, C):
    """Take SimPy's next event if it is not the engine's: nothing left (STATUS DONE), or the arrivals' timeout
    (earlier than the engine's, as early and scheduled first, or the engine asleep). False: the engine's turn."""
    idle = S[E_STATE] == E_IDLE
    if idle and S[A_DONE]:
        S[STATUS] = DONE
        return True
    if not S[A_DONE] and (idle or T[A_TIME] < T[E_TIME] or (T[A_TIME] == T[E_TIME] and S[A_EID] < S[E_EID])):
        arrivals_step(S, T, SF, C, False)
        return True
    return False


@njit(cache=True)
def run_events(S, T, SI, SF, C, P, mem, oth, pf, tmp, staged, crossings, goals, pgap, pcum, pover, built, gcls,
               gval, gcnt, cls_count, cls_order, n_cls):
    """The event loop: the arrivals' and the engine's events in SimPy's order (time, then scheduling
    order), until both are done, a buffer is nearly full (NEED_ROOM) or the run leaves the family."""
    margin = C[MAX_OUT] + 4  # the most passes one event can add (a stretch ends by a member's last token)
    start_events(S, T, SF, C)
    while S[STATUS] == RUNNING:
        # records: a stretch's passes x classes, or a pass's classes + one per decode outside the cohort
        if S[NPASS] + margin >= len(pgap) or S[NGAP] + margin * n_cls + C[MAX_BATCH] >= len(gval):
            S[STATUS] = NEED_ROOM
        elif not arrivals_turn(S, T, SF, C):
            engine_step(S, T, SI, SF, C, P, mem, oth, pf, tmp, staged, crossings, goals, pgap, pcum, pover, built,
                        gcls, gval, gcnt, cls_count, cls_order)
