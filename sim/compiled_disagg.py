"""The compiled kernel for disaggregated serving (numba): one prefill engine, one decode engine, one KV link.

A port of what ``sim.engine`` does for ``disaggregated`` with one engine of each role and no trace: a
``PrefillOnly`` engine batches prompts (chunked within its token budget, one prompt up to the pass's cap)
and hands each prefilled sequence to a ``Continuous`` decode engine on a ``CohortScheduler``, which admits
it at once (a slot and KV memory) but decodes it only once a transfer process has moved its KV over the
shared link (a SimPy ``Resource`` of capacity 1, first come first served); the prefill engine frees its copy
when the transfer ends.

SimPy's clock is replayed exactly (``sim.compiled_events``: every event SimPy would schedule, the no-op ones
included, on a heap keyed as SimPy keys its queue), because the decode engine's steady stretches stop at
``env.peek()``, the time of the queue's head whatever it is. The decode engine's cohort and stretches are
``sim.compiled_cohort``'s, the pass prices ``sim.compiled``'s; every float is computed as the Python path
computes it. Anything outside the family (a KV shortage that would preempt, a cohort that would dissolve)
stops the run with ``FALLBACK`` and the Python path runs the config from the start. The layout
(``sim.kernel_layout``): ``W_HEAD``/``N_ARR`` are here the decode engine's queue of hand-offs (row 0 of
``qs``), row 1 is the link's queue, row 2 the prefill engine's running prompts, row 3 the ready decodes
outside the cohort of the pass being planned.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.compiled import _account, decode_token, iteration_time, run_events
from sim.compiled_trace import run_traced
from sim.compiled_events import _arrivals, _idle, _notify, _on_finished, _pop, _push, _transfer
from sim.compiled_cohort import (_finish, _promote, _record_gap, cohort_decoded, finish_stretch, members_done,
                                  try_stretch)
from sim.kernel_layout import (
    ADMIT, ARR, BLK, BS, BUSY_P, CAP, CAPACITY, CLS, COHORT_END, COMP, COUNT, CTX, DONE, D_GEN, D_NJOIN, EID,
    EV_ARR, EV_ENG, EV_NOOP, EV_TR_INIT, EV_WAKE, EXCEEDED, E_IDLE, E_PASS, E_STATE, E_STRETCH, FALLBACK, FIN,
    FINISH, FINISHED, FIRST, GEN, GOAL, GSTALL, HELD, HSIZE, KV, KVP, KVPEAK, LAST, LEFT, MAXCONC, MAXGAP,
    MAX_BATCH, MAX_IT, MAX_OUT, NCLS, NDEC, NEED_ROOM, NGAP, NMEM, NORMAL, NOTH, NPASS, NSTAGED, NUM_BLOCKS, N_ARR,
    OUT, PCN, PENDING, PLAN, PLAN_DISAGG, PLEAVES, PP_DUR, PP_START, PROMPT, P_BUDGET, P_CAP, P_DELAY, P_DUR,
    P_GEN, P_HELD, P_LEFT, P_NARR, P_NOWED, P_NPF, P_NRUN, P_PLEAVES, P_START, P_STATE, P_STORED, P_TAKEN, P_WHEAD,
    READY, RUNNING, RUN_D, RUN_P, STALL, STALLS, STATUS, STORED, ST_T, TAREA, TICK, TRACED, URGENT, WASTE, WHERE, W_HEAD
)


@njit(cache=True)
def _prefill_plan(S, T, SI, SF, C, pf, qs, now):
    """PrefillOnly.plan: prompts still owed tokens get chunks within the budget (in batch order), then waiting
    requests join while a slot, the budget and KV memory allow (the first of a pass with no chunk yet may
    take up to the pass's cap). False: a chunk that would need a preemption."""
    S[P_PLEAVES] = S[P_LEFT]
    S[P_LEFT] = 0
    T[PP_START] = now
    bs, prun = C[BS], qs[2]
    budget = C[P_BUDGET]
    npf = 0
    for i in range(S[P_NRUN]):
        seq = prun[i]
        n = min(SI[seq, PROMPT] - SI[seq, COMP], budget)
        if n <= 0:
            break
        tokens = SI[seq, COMP] + n
        if tokens > SI[seq, KVP]:
            need = -(-tokens // bs) - SI[seq, KVP] // bs
            if need > C[NUM_BLOCKS] - S[P_HELD] // bs:
                return False
            SI[seq, KVP] += need * bs
            S[P_HELD] += need * bs
        pf[0, npf], pf[1, npf] = seq, n
        npf += 1
        budget -= n
    S[P_NOWED] = npf
    while S[P_WHEAD] < S[P_NARR]:
        if budget <= 0 or S[P_NRUN] >= C[MAX_BATCH]:
            break
        seq = S[P_WHEAD]
        chunk = min(SI[seq, PROMPT], C[P_CAP] if npf == 0 else budget)
        blocks = -(-chunk // bs)
        if blocks > C[NUM_BLOCKS] - S[P_HELD] // bs:
            break
        SI[seq, KVP] = blocks * bs
        S[P_HELD] += blocks * bs
        S[P_WHEAD] += 1
        prun[S[P_NRUN]] = seq
        S[P_NRUN] += 1
        pf[0, npf], pf[1, npf] = seq, chunk
        npf += 1
        arr = SF[seq, ARR]
        SF[seq, ADMIT] = arr if arr > now else now
        budget -= chunk
    S[P_NPF] = npf
    return True


@njit(cache=True)
def _prefill_price(S, T, SI, P, pf):
    """EngineProc.run_plan for a prefill pass (no decodes, so no stall to price)."""
    npf = S[P_NPF]
    pt = cached = 0
    pairs = 0.0
    for i in range(npf):
        n, c = pf[1, i], SI[pf[0, i], COMP]
        pt += n
        cached += c
        pairs += n * (c + (n + 1) / 2)
    d = iteration_time(P, pt, pairs, cached, npf, 0, 0, 0, npf - S[P_NOWED], S[P_PLEAVES])
    if 1e-9 > d:
        d = 1e-9
    T[PP_DUR] = d
    return d


@njit(cache=True)
def _prefill_post(S, T, SI, SF, C, pf, qs, evt, evi):
    """The prefill pass ended: CohortScheduler.update (chunks credited; a whole prompt gives its first token,
    and the sequence finishes or is handed off), the loop's count and record_pass, then Simulation.hand_off
    and on_finished."""
    start = T[PP_START]
    d = T[PP_DUR]
    end = start + d
    npf = S[P_NPF]
    nfin = 0
    for i in range(npf):
        seq, n = pf[0, i], pf[1, i]
        SI[seq, COMP] += n
        S[P_STORED] += n
        if SI[seq, COMP] < SI[seq, PROMPT]:
            continue
        SI[seq, GEN] = 1
        SF[seq, FIRST] = end
        SF[seq, LAST] = end
        if 1 >= SI[seq, OUT]:
            SF[seq, FINISH] = end
            SI[seq, WHERE] = FINISHED
            S[P_HELD] -= SI[seq, KVP]
            SI[seq, KVP] = 0
            S[P_STORED] -= SI[seq, COMP]
            S[P_LEFT] += 1
            nfin += 1
    prun, w = qs[2], 0
    for i in range(S[P_NRUN]):  # the running prompts: those still owed tokens
        seq = prun[i]
        if SI[seq, COMP] < SI[seq, PROMPT]:
            prun[w] = seq
            w += 1
    S[P_NRUN] = w
    S[COUNT] += 1
    if S[COUNT] > C[MAX_IT]:
        S[STATUS] = EXCEEDED
        return
    cap = C[CAPACITY]
    T[BUSY_P] += d
    T[WASTE] += (S[P_HELD] - S[P_STORED]) / cap * d
    T[TAREA] += d
    util = S[P_HELD] / cap
    if util > T[KVPEAK]:
        T[KVPEAK] = util
    S[RUN_P] = npf
    if S[RUN_P] + S[RUN_D] > S[MAXCONC]:
        S[MAXCONC] = S[RUN_P] + S[RUN_D]
    for i in range(npf):  # hand_off, in the pass's order
        seq = pf[0, i]
        if SI[seq, COMP] >= SI[seq, PROMPT] and SI[seq, WHERE] != FINISHED:
            qs[0, S[N_ARR]] = seq
            S[N_ARR] += 1
            _notify(S, evt, evi, 1, end)
    if nfin:
        _on_finished(S, evt, evi, end)


@njit(cache=True)
def _prefill_resume(S, T, SI, SF, C, P, pf, qs, evt, evi, now):
    """One resumption of the prefill engine's process: apply the pass it waited for, then plan the next."""
    if S[P_STATE] == E_PASS:
        _prefill_post(S, T, SI, SF, C, pf, qs, evt, evi)
        if S[STATUS] != RUNNING:
            return
    if not _prefill_plan(S, T, SI, SF, C, pf, qs, now):
        S[STATUS] = FALLBACK
        return
    if S[P_NPF] == 0:
        _idle(S, 0)
        return
    S[P_STATE] = E_PASS
    _push(S, evt, evi, now + _prefill_price(S, T, SI, P, pf), NORMAL, EV_ENG, 0, 0)


@njit(cache=True)
def _decode_plan(S, T, SI, C, mem, oth, qs, evt, evi, now):
    """Continuous.plan on the decode engine's CohortScheduler: the cohort and every ready sequence outside it
    decode (new blocks where due), then hand-offs join while a slot, the cap and KV memory allow, each
    starting its transfer. False: a block shortage (the cohort would dissolve or someone be preempted)."""
    S[PLEAVES] = S[LEFT]
    S[LEFT] = 0
    S[PCN] = S[NDEC] = S[D_NJOIN] = 0
    T[P_START] = now
    T[P_TAKEN] = 0.0
    bs, tick, nm, dec = C[BS], S[TICK], S[NMEM], qs[3]
    ndec = due = 0
    for i in range(S[NOTH]):
        seq = oth[i]
        if SI[seq, READY]:  # its KV has arrived: its prompt is in the cache, one token is owed
            dec[ndec] = seq
            ndec += 1
            if SI[seq, COMP] >= SI[seq, KV]:
                due += 1
    for m in range(nm):
        if SI[mem[m], BLK] <= tick:
            due += 1
    if due > C[NUM_BLOCKS] - S[HELD] // bs:
        return False
    for m in range(nm):
        seq = mem[m]
        if SI[seq, BLK] <= tick:
            SI[seq, KV] += bs
            S[HELD] += bs
            SI[seq, BLK] += bs
    for i in range(ndec):
        if SI[dec[i], COMP] >= SI[dec[i], KV]:
            SI[dec[i], KV] += bs
            S[HELD] += bs
    S[PCN], S[NDEC] = nm, ndec
    budget = C[CAP] - nm - ndec
    while S[W_HEAD] < S[N_ARR]:
        if budget <= 0 or nm + S[NOTH] >= C[MAX_BATCH]:
            break
        seq = qs[0, S[W_HEAD]]
        blocks = -(-(SI[seq, COMP] + 1) // bs)
        if blocks > C[NUM_BLOCKS] - S[HELD] // bs:
            break
        SI[seq, KV] = blocks * bs
        S[HELD] += blocks * bs
        S[STORED] += SI[seq, COMP]
        S[W_HEAD] += 1
        oth[S[NOTH]] = seq
        S[NOTH] += 1
        S[D_NJOIN] += 1
        _push(S, evt, evi, now, URGENT, EV_TR_INIT, seq, 0)  # env.process(transfer): its start event
        budget -= 1
    return True


@njit(cache=True)
def _decode_price(S, T, SI, P, qs):
    """EngineProc.run_plan for a decode pass (no prefill shares it: no stall to price)."""
    nm, ndec, dec = S[PCN], S[NDEC], qs[3]
    ctx = S[CTX] if nm else 0
    for i in range(ndec):
        ctx += SI[dec[i], COMP]
    d = iteration_time(P, 0, 0.0, 0, 0, nm + ndec, 0, ctx, S[D_NJOIN], S[PLEAVES])
    if 1e-9 > d:
        d = 1e-9
    T[P_DUR] = d
    T[P_DELAY] = 0.0
    return d


@njit(cache=True)
def _stepped(S, SI, SF, gcls, gval, gcnt, cls_count, cls_order, dec, n, gap, step_gap, start):
    """Scheduler._settle's records of a decode pass, up to the other decodes' own gaps: the ``stepped`` counts
    (the cohort's classes when its gap is the pass's own, then the other decodes whose last token came as the
    pass began), those that are not 0, then the cohort's own gap per class when it sat out time. Returns
    where the ``gaps`` records start (the other decodes' own gaps merge into them by class and gap)."""
    j0 = S[NGAP]
    m = 0
    if n and gap == step_gap:
        for i in range(S[NCLS]):
            c = cls_order[i]
            gcls[j0 + m], gval[j0 + m], gcnt[j0 + m] = c, step_gap, cls_count[c]
            m += 1
    for i in range(S[NDEC]):
        seq = dec[i]
        if SF[seq, LAST] == start:
            c = SI[seq, CLS]
            k = j0
            while k < j0 + m and gcls[k] != c:
                k += 1
            if k == j0 + m:
                gcls[k], gval[k], gcnt[k] = c, step_gap, 0
                m += 1
            gcnt[k] += 1
    w = j0
    for k in range(j0, j0 + m):
        if gcnt[k]:
            gcls[w], gval[w], gcnt[w] = gcls[k], gval[k], gcnt[k]
            w += 1
    S[NGAP] = w
    if n and gap != step_gap:
        for i in range(S[NCLS]):
            c = cls_order[i]
            _record_gap(S, gcls, gval, gcnt, c, gap, cls_count[c])
    return w


@njit(cache=True)
def _own_gap(S, gcls, gval, gcnt, g0, c, gap):
    """gaps[(cls, gap)] += 1 among this pass's gap records from g0."""
    for k in range(g0, S[NGAP]):
        if gcls[k] == c and gval[k] == gap:
            gcnt[k] += 1
            return
    _record_gap(S, gcls, gval, gcnt, c, gap, 1)


@njit(cache=True)
def _decode_others(S, SI, SF, dec, tmp, start, end, extra, goals, gcls, gval, gcnt, g0):
    """Scheduler._apply_decodes for the decodes outside the cohort: one token each, its gap, the stall it
    carried. Returns how many go on (their rows in ``tmp``)."""
    step_gap = end - start
    steady = 0
    for i in range(S[NDEC]):
        seq = dec[i]
        g, last = decode_token(SI, SF, seq, start, end, extra, goals)
        if last == start:
            if step_gap > SF[seq, MAXGAP]:
                SF[seq, MAXGAP] = step_gap
        else:
            gap = end - last
            _own_gap(S, gcls, gval, gcnt, g0, SI[seq, CLS], gap)
            if gap > SF[seq, MAXGAP]:
                SF[seq, MAXGAP] = gap
        if g >= SI[seq, OUT]:
            _finish(S, SI, SF, seq, end)
        else:
            tmp[steady] = seq
            steady += 1
    return steady


@njit(cache=True)
def _decode_post(S, T, SI, SF, C, mem, oth, tmp, goals, pgap, pcum, pover, built, gcls, gval, gcnt, cls_count,
                 cls_order, qs):
    """The decode pass ended: CohortScheduler.update (DecodeCohort.decoded, the other decodes, promotions),
    the loop's count and record_pass. Returns how many sequences finished."""
    start = T[P_START]
    end = start + T[P_DUR]
    step_gap = end - start
    n, dec = S[PCN], qs[3]
    S[STORED] += n + S[NDEC]
    gap = 0.0
    if n:
        gap = cohort_decoded(S, T, n, end, goals, pgap, pcum, pover, built)
    g0 = _stepped(S, SI, SF, gcls, gval, gcnt, cls_count, cls_order, dec, n, gap, step_gap, start)
    if n:
        members_done(S, SI, SF, mem, end, goals, pgap, pcum, pover, built, cls_count)
    steady = _decode_others(S, SI, SF, dec, tmp, start, end, T[P_DELAY], goals, gcls, gval, gcnt, g0)
    if n or S[NMEM] == 0:  # members share their last token time: join only a cohort that just decoded
        for i in range(steady):
            _promote(S, T, SI, mem, tmp[i], end, pcum, built, cls_count, cls_order)
    w = 0
    for i in range(S[NOTH]):  # running outside the cohort, in batch order: less the finished and promoted
        seq = oth[i]
        if SI[seq, WHERE] == 0:
            oth[w] = seq
            w += 1
    S[NOTH] = w
    S[RUN_D] = n + S[NDEC]
    _account(S, T, C, S[RUN_D] + S[RUN_P])
    return S[LEFT]


@njit(cache=True)
def _decode_resume(S, T, SI, SF, C, P, mem, oth, tmp, staged, crossings, goals, pgap, pcum, pover, built, gcls,
                   gval, gcnt, cls_count, cls_order, evt, evi, qs, now):
    """One resumption of the decode engine's process: apply the pass or stretch it waited for (waking the
    engines with a queue if someone finished), then skip a stretch up to the queue's next event, idle, or
    plan and price the next pass."""
    state = S[E_STATE]
    fin = 0
    if state == E_PASS:
        fin = _decode_post(S, T, SI, SF, C, mem, oth, tmp, goals, pgap, pcum, pover, built, gcls, gval, gcnt,
                           cls_count, cls_order, qs)
        if S[STATUS] != RUNNING:
            return
    elif state == E_STRETCH:
        fin = S[NSTAGED]
        finish_stretch(S, T, SI, SF, mem, staged, goals, pgap, pcum, pover, built, cls_count)
    if fin:
        _on_finished(S, evt, evi, now)
    horizon = evt[0] if S[HSIZE] else np.inf  # env.peek()
    if try_stretch(S, T, SI, C, P, mem, staged, crossings, now, horizon, pgap, pcum, pover, built, gcls, gval,
                   gcnt, cls_count, cls_order):
        S[E_STATE] = E_STRETCH
        _push(S, evt, evi, now + (T[ST_T] - now), NORMAL, EV_ENG, 1, 0)
        return
    if S[STATUS] != RUNNING:
        return
    if not _decode_plan(S, T, SI, C, mem, oth, qs, evt, evi, now):
        S[STATUS] = FALLBACK
        return
    if S[PCN] + S[NDEC] == 0:
        _idle(S, 1)
        return
    S[E_STATE] = E_PASS
    _push(S, evt, evi, now + _decode_price(S, T, SI, P, qs), NORMAL, EV_ENG, 1, 0)


@njit(cache=True)
def run_disagg(S, T, SI, SF, C, P, mem, oth, pf, tmp, staged, crossings, goals, pgap, pcum, pover, built, gcls,
               gval, gcnt, cls_count, cls_order, n_cls, evt, evi, qs):
    """The event loop: SimPy's queue, one event at a time, until it is empty, a buffer is nearly full
    (NEED_ROOM, before the event is taken) or the run leaves the family."""
    margin = C[MAX_OUT] + 4
    if S[EID] == 0:  # the processes' start events: arrivals, then the engines in order
        _push(S, evt, evi, 0.0, URGENT, EV_ARR, 1, 0)
        _push(S, evt, evi, 0.0, URGENT, EV_ENG, 0, 0)
        _push(S, evt, evi, 0.0, URGENT, EV_ENG, 1, 0)
    while True:
        if S[NPASS] + margin >= len(pgap) or S[NGAP] + margin * n_cls + 2 * C[MAX_BATCH] >= len(gval):
            S[STATUS] = NEED_ROOM
            return
        if S[HSIZE] == 0:
            S[STATUS] = DONE
            return
        j = _pop(S, evt, evi)
        now, kind, a, b = evt[j], evi[j, 2], evi[j, 3], evi[j, 4]
        if kind == EV_WAKE:  # it resumes the engine only if the engine waits on this very event
            state = S[P_STATE] if a == 0 else S[E_STATE]
            kind = EV_ENG if state == E_IDLE and b == S[P_GEN if a == 0 else D_GEN] else EV_NOOP
        if kind == EV_ARR:
            _arrivals(S, T, SF, C, evt, evi, a == 1, now)
        elif kind == EV_ENG and a == 0:
            _prefill_resume(S, T, SI, SF, C, P, pf, qs, evt, evi, now)
        elif kind == EV_ENG:
            _decode_resume(S, T, SI, SF, C, P, mem, oth, tmp, staged, crossings, goals, pgap, pcum, pover, built,
                           gcls, gval, gcnt, cls_count, cls_order, evt, evi, qs, now)
        elif kind >= EV_TR_INIT:
            _transfer(S, SI, C, P, qs, evt, evi, kind, a, now)
        if S[STATUS] != RUNNING:
            return



@njit(cache=True)
def run_kernel(S, T, SI, SF, C, P, mem, oth, pf, tmp, staged, crossings, goals, pgap, pcum, pover, built, gcls,
               gval, gcnt, cls_count, cls_order, evt, evi, qs, n_cls):
    """The native entry's body (``sim.native``): the pipeline's event loop, or the one engine's."""
    if C[TRACED]:  # one engine, every pass recorded: its trace rides in the pipeline's event arrays
        run_traced(S, T, SI, SF, C, P, mem, oth, pf, tmp, goals, gcls, gval, gcnt, n_cls, evt, evi, qs)
    elif C[PLAN] == PLAN_DISAGG:
        run_disagg(S, T, SI, SF, C, P, mem, oth, pf, tmp, staged, crossings, goals, pgap, pcum, pover, built, gcls,
                   gval, gcnt, cls_count, cls_order, n_cls, evt, evi, qs)
    else:
        run_events(S, T, SI, SF, C, P, mem, oth, pf, tmp, staged, crossings, goals, pgap, pcum, pover, built, gcls,
                   gval, gcnt, cls_count, cls_order, n_cls)
