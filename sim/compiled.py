"""The compiled engine kernel (numba): the untraced run of one continuous or static engine, pass by pass.

A port of what ``sim.engine`` does for one colocated engine without a trace, inside the family that
``sim.fastpath`` admits (continuous or static batching, first come first served, paged memory that can
never run short, no prompt longer than the pass's token cap): SimPy's clock (two processes, arrivals and
the engine, events in time order and, at equal times, in the order they were scheduled),
``Continuous.plan`` and ``Static.plan`` on a ``CohortScheduler``, the decode cohort's counts and prefix sums (``sim.cohort``), ``price_stretch`` and the
recorder's accounting. Every float is computed with the same operations in the same order as the Python
path, and numba compiles without fastmath, so the results are the same bits. In this family nobody is ever
preempted and the cohort never dissolves; anything else the kernel meets stops it with ``FALLBACK`` and
the Python path runs the config from the start.

All state lives in arrays (``S`` integers, ``T`` floats, one row per request in ``SI``/``SF``), so a call
can stop when its growable buffers (the cohort's per-pass arrays, the token-gap records) are nearly full
and ``sim.fastpath`` calls it again with larger ones (``NEED_ROOM``). Imported only when the compiled path
is taken: importing numba costs ~0.2 s.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.compiled_cohort import (  # noqa: F401 (the layout, re-exported for sim.fastpath)
    A_NEXT, A_DONE, E_STATE, EID, A_EID, E_EID, W_HEAD, N_ARR, NMEM, TICK, CTX, NPASS, LEFT, STORED, HELD, COUNT,
    MAXCONC, NGAP, STATUS, NPF, PCN, PLEAVES, NCLS, NSTAGED, BASE, BATCH, PPAD, S_LEN, A_TIME, E_TIME, COHORT_END, BUSY, WASTE,
    TAREA, KVPEAK, P_START, P_DUR, P_DELAY, ST_T, T_LEN, PROMPT, OUT, CLS, GOAL, COMP, GEN, KV, ANCHOR, FIN, BLK,
    STALLS, SI_COLS, ARR, ADMIT, FIRST, FINISH, MAXGAP, STALL, SF_COLS, OVH, OVH_SEQ, LIN_C, LIN_M, LIN_ACT,
    PASS_FIXED, KV_W, KV_TOK, ATT_C, ATT_KV, ATT_TOK, ATT_LAUNCH, REORG, EXPOSED, MAX_BATCH, CAP, BS, NUM_BLOCKS,
    CAPACITY, N, MAX_OUT, MAX_IT, JOINS, E_INIT, E_PASS, E_STRETCH, E_IDLE, E_WOKEN, RUNNING, DONE, NEED_ROOM, FALLBACK,
    EXCEEDED, _finish, _leave, _promote, _record_gap, _add_pass, _roof, finish_stretch, try_stretch
)


@njit(cache=True)
def iteration_time(P, pt, pairs, pseqs, dseqs, pad, ctx, joins, leaves):
    """RooflineCost.iteration_time for a pass with no cached prompt tokens and no swap (``dseqs`` counts
    the ``pad`` padding slots)."""
    ex = P[EXPOSED]
    tokens = pt + dseqs
    t = P[OVH] + P[OVH_SEQ] * (dseqs + pseqs)
    if tokens:
        c, m = P[LIN_C] * tokens, P[LIN_M]
        t += _roof(c, m, ex) + P[LIN_ACT] * tokens
        t += P[PASS_FIXED] + P[KV_W] * tokens + P[KV_TOK] * pt
    if pt:
        c = P[ATT_C] * pairs
        m = P[ATT_KV] * 0 + P[ATT_TOK] * pt
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
def plan_pass(S, T, SI, SF, C, mem, pf, now):
    """Continuous.plan (Static.plan without JOINS) on a CohortScheduler: the cohort decodes (growing its due
    blocks), then waiting requests join in arrival order while a slot, the token cap and KV memory allow (a
    static batch only once the last one has ended). False: FALLBACK."""
    bs = C[BS]
    S[PLEAVES] = S[LEFT]
    S[LEFT] = 0
    nm = S[NMEM]
    budget = C[CAP]
    if nm:
        tick = S[TICK]
        due = 0
        for m in range(nm):
            if SI[mem[m], BLK] <= tick:
                due += 1
        if due > C[NUM_BLOCKS] - S[HELD] // bs:
            return False  # a block shortage would dissolve the cohort: the Python path decides who waits
        for m in range(nm):
            seq = mem[m]
            if SI[seq, BLK] <= tick:
                SI[seq, KV] += bs
                S[HELD] += bs
                SI[seq, BLK] += bs
    S[PCN] = nm
    S[PPAD] = 0
    S[NPF] = 0
    T[P_START] = now
    if nm and not C[JOINS]:  # Static.plan: the batch decodes until its last sequence ends
        S[PPAD] = max(0, S[BATCH] - nm)
        S[PLEAVES] = 0  # nobody leaves a static batch early: no reorganization until it ends
        return True
    budget -= nm
    npf = 0
    while S[W_HEAD] < S[N_ARR]:
        if budget <= 0 or nm + npf >= C[MAX_BATCH]:
            break
        seq = S[W_HEAD]
        pending = SI[seq, PROMPT]
        if pending > budget:
            if npf or pending <= C[CAP]:
                break  # waits for a pass with room for its whole prompt
            return False  # a prompt longer than the cap would be chunked: not this kernel's family
        blocks = -(-pending // bs)
        if blocks > C[NUM_BLOCKS] - S[HELD] // bs:
            break
        SI[seq, KV] = blocks * bs
        S[HELD] += blocks * bs
        S[W_HEAD] += 1
        pf[npf] = seq
        npf += 1
        arr = SF[seq, ARR]
        SF[seq, ADMIT] = arr if arr > now else now
        budget -= pending
    S[NPF] = npf
    if not C[JOINS]:
        S[BATCH] = npf
    return True


@njit(cache=True)
def price_pass(S, T, SI, P, pf):
    """EngineProc.run_plan: the pass's duration and the prefill delay it adds to the decodes (price_stalls)."""
    npf, nm = S[NPF], S[PCN]
    pt = 0
    pairs = 0.0
    for i in range(npf):
        n = SI[pf[i], PROMPT]
        pt += n
        pairs += n * (0 + (n + 1) / 2)
    ctx, pad = S[CTX], S[PPAD]
    d = iteration_time(P, pt, pairs, npf, nm + pad, pad, ctx, npf, S[PLEAVES])
    if 1e-9 > d:
        d = 1e-9
    delay = 0.0
    if npf and nm > 0:
        x = d - iteration_time(P, 0, 0.0, 0, nm + pad, pad, ctx, 0, S[PLEAVES])
        delay = 0.0 if 0.0 > x else x
    T[P_DUR] = d
    T[P_DELAY] = delay
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
def post_pass(S, T, SI, SF, C, mem, pf, tmp, goals, pgap, pcum, pover, built, gcls, gval, gcnt, cls_count,
              cls_order):
    """CohortScheduler.update for the pass just ended, then the loop's count and record_pass."""
    end = T[P_START] + T[P_DUR]
    steady = 0
    for i in range(S[NPF]):  # _apply_prefill: the whole prompt is in; its first token comes out
        seq = pf[i]
        SI[seq, COMP] = SI[seq, PROMPT]
        S[STORED] += SI[seq, PROMPT]
        SI[seq, GEN] = 1
        SF[seq, FIRST] = end
        if 1 >= SI[seq, OUT]:
            _finish(S, SI, SF, seq, end)
        else:
            tmp[steady] = seq
            steady += 1
    n = S[PCN]
    S[STORED] += n
    step_gap = end - T[P_START]
    if n:  # DecodeCohort.decoded
        S[TICK] += 1
        gap = end - T[COHORT_END]
        T[COHORT_END] = end
        _add_pass(S, gap, 0.0 + T[P_DELAY], goals, pgap, pcum, pover, built)
        S[CTX] += n
        _record_pass_gaps(S, gcls, gval, gcnt, cls_count, cls_order, gap, step_gap)
        m = 0
        while m < S[NMEM]:
            seq = mem[m]
            if SI[seq, FIN] <= S[TICK]:
                _leave(S, SI, SF, mem, m, end, goals, pgap, pcum, pover, built, cls_count)
                _finish(S, SI, SF, seq, end)
            else:
                m += 1
    for i in range(steady):
        _promote(S, T, SI, mem, tmp[i], end, pcum, built, cls_count, cls_order)
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
    running = n + S[NPF]
    if running > S[MAXCONC]:
        S[MAXCONC] = running


@njit(cache=True)
def engine_step(S, T, SI, SF, C, P, mem, pf, tmp, staged, crossings, goals, pgap, pcum, pover, built, gcls,
                gval, gcnt, cls_count, cls_order):
    """One resumption of the engine process (sim.loop.engine_loop): apply what it waited for, then skip a
    stretch, idle, or plan and price the next pass."""
    now = T[E_TIME]
    state = S[E_STATE]
    if state == E_PASS:
        post_pass(S, T, SI, SF, C, mem, pf, tmp, goals, pgap, pcum, pover, built, gcls, gval, gcnt, cls_count,
                  cls_order)
        if S[STATUS] != RUNNING:
            return
    elif state == E_STRETCH:
        finish_stretch(S, T, SI, SF, mem, staged, goals, pgap, pcum, pover, built, cls_count)
    horizon = np.inf if S[A_DONE] else T[A_TIME]  # env.peek(): the arrivals' next timeout
    if try_stretch(S, T, SI, C, P, mem, staged, crossings, now, horizon, pgap, pcum, pover, built, gcls, gval,
                   gcnt, cls_count, cls_order):
        S[E_STATE] = E_STRETCH
        T[E_TIME] = now + (T[ST_T] - now)
    else:
        if not plan_pass(S, T, SI, SF, C, mem, pf, now):
            S[STATUS] = FALLBACK
            return
        if S[NPF] == 0 and S[PCN] == 0:
            S[E_STATE] = E_IDLE  # sleeps until an arrival wakes it
            return
        S[E_STATE] = E_PASS
        T[E_TIME] = now + price_pass(S, T, SI, P, pf)
    S[E_EID] = S[EID]
    S[EID] += 1


@njit(cache=True)
def run_events(S, T, SI, SF, C, P, mem, pf, tmp, staged, crossings, goals, pgap, pcum, pover, built, gcls,
               gval, gcnt, cls_count, cls_order, n_cls):
    """The event loop: the arrivals' and the engine's events in SimPy's order (time, then scheduling
    order), until both are done, a buffer is nearly full (NEED_ROOM) or the run leaves the family."""
    margin = C[MAX_OUT] + 4  # the most passes one event can add (a stretch ends by a member's last token)
    if S[E_STATE] == E_INIT and S[EID] == 0:
        S[EID] = 2  # the two processes' start events
        arrivals_step(S, T, SF, C, True)
    while True:
        if S[NPASS] + margin >= len(pgap) or S[NGAP] + margin * n_cls >= len(gval):
            S[STATUS] = NEED_ROOM
            return
        idle = S[E_STATE] == E_IDLE
        if idle and S[A_DONE]:
            S[STATUS] = DONE
            return
        a_first = not S[A_DONE] and (idle or T[A_TIME] < T[E_TIME]
                                      or (T[A_TIME] == T[E_TIME] and S[A_EID] < S[E_EID]))
        if a_first:
            arrivals_step(S, T, SF, C, False)
        else:
            engine_step(S, T, SI, SF, C, P, mem, pf, tmp, staged, crossings, goals, pgap, pcum, pover, built,
                        gcls, gval, gcnt, cls_count, cls_order)
            if S[STATUS] != RUNNING:
                return
