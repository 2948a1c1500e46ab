"""The compiled kernel's traced mode (numba): every pass planned, applied and recorded, as a traced run of
``sim.engine`` does it.

A traced run (the per-iteration records every page draws) plans each pass on the per-sequence path
(``Scheduler``): no decode cohort and no skipped stretches, whose prefix sums round differently from
planning every pass. So this loop is the untraced kernel's (``sim.compiled``) with every running sequence
outside the cohort (nobody is promoted, no stretch is tried), plus what ``Recorder._record`` writes: per
pass a row of counts and KV numbers, its start and end, and the request rows of its prefill chunks,
decodes, stalls and finishes (``sim.kernel_layout``'s TR_* layout, in the arrays a pipeline uses for its
event heap). Token gaps are recorded as ``Scheduler._settle`` records them (per class the pass's own gap,
then each other gap with its count, in first-seen order), so the trace's TBT samples come out in the same
order. Chunked prefill mixes decodes and owed prompt chunks in one batch: each plan reads the batch with
its decodes first (``partition``, each part in batch order, as ``Scheduler._classify`` sorts it), while
``oth`` keeps the batch order newcomers join in. ``sim.compiled_records`` rebuilds the ``Iteration``
records; the family (``sim.fastpath``) is one engine with continuous, static, prefill-first or chunked
batching, a trace without the KV layout.
"""

from __future__ import annotations

from numba import njit

from sim.compiled import _apply_prefill, _running_outside, _account, arrivals_turn, decode_token, plan_pass, \
    price_pass, start_events
from sim.compiled_cohort import _finish, _record_gap
from sim.kernel_layout import (
    CLS, COMP, E_EID, E_IDLE, E_PASS, E_STATE, E_TIME, EID, FALLBACK, FINISHED, GEN, GSTALL, HELD, KV, LAST, MAX_BATCH,
    MAXGAP, N_ARR, NDEC, NEED_ROOM, NGAP, NOTH, NOWED, NPF, NTID, NTR, OUT, P_DELAY, P_DUR, P_START, P_TAKEN, P_WAIT,
    PCN, PPAD, PROMPT, RUNNING, STALLS, STATUS, STORED, TR_HELD, TR_INT, TR_NDEC, TR_NFIN, TR_NOWED, TR_NPF, TR_NST,
    TR_RES, TR_RUN, TR_STORED, TR_WAIT, W_HEAD, WHERE
)


@njit(cache=True)
def partition(S, SI, oth, part):
    """The running sequences (``oth``, in batch order) as ``part``: those decoding first, then those owed
    prompt tokens, each in batch order."""
    w = 0
    for i in range(S[NOTH]):
        if SI[oth[i], GEN] > 0:
            part[w] = oth[i]
            w += 1
    for i in range(S[NOTH]):
        if SI[oth[i], GEN] == 0:
            part[w] = oth[i]
            w += 1


@njit(cache=True)
def _same_gap(SI, SF, a, b, start, end):
    """Do decodes ``a`` and ``b`` of this pass share a class and an own gap (neither decoded last pass)?"""
    la, lb = SF[a, LAST], SF[b, LAST]
    return la != start and lb != start and SI[a, CLS] == SI[b, CLS] and end - la == end - lb


@njit(cache=True)
def settle_gaps(S, SI, SF, oth, start, end, gcls, gval, gcnt):
    """Scheduler._settle's gap records for this pass's decodes, read before their tokens move LAST: per class
    (first seen first) how many had the pass's own gap, then each (class, own gap) with its count."""
    ndec = S[NDEC]
    seen = 0  # classes already counted, as bits (the family has fewer than 63 classes)
    for i in range(ndec):
        seq = oth[i]
        c = SI[seq, CLS]
        if SF[seq, LAST] != start or seen & (1 << c):
            continue
        seen |= 1 << c
        count = 0
        for j in range(i, ndec):
            if SF[oth[j], LAST] == start and SI[oth[j], CLS] == c:
                count += 1
        _record_gap(S, gcls, gval, gcnt, c, end - start, count)
    for i in range(ndec):
        seq = oth[i]
        if SF[seq, LAST] == start:
            continue
        first = True
        for j in range(i):
            if _same_gap(SI, SF, oth[j], seq, start, end):
                first = False
                break
        if first:
            count = 1
            for j in range(i + 1, ndec):
                if _same_gap(SI, SF, oth[j], seq, start, end):
                    count += 1
            _record_gap(S, gcls, gval, gcnt, SI[seq, CLS], end - SF[seq, LAST], count)


@njit(cache=True)
def _decode_all(S, SI, SF, oth, tid, at, start, end, delay, goals):
    """Scheduler._apply_decodes for this pass's decodes (every running sequence: there is no cohort); the rows
    of those whose token closed a stall go to ``tid`` from ``at`` (the trace's stall marks). Returns how many."""
    marks = 0
    for i in range(S[NDEC]):
        seq = oth[i]
        before = SI[seq, STALLS]
        g, last = decode_token(SI, SF, seq, start, end, delay, goals)
        gap = end - start if last == start else end - last
        if gap > SF[seq, MAXGAP]:
            SF[seq, MAXGAP] = gap
        if SI[seq, STALLS] != before:
            tid[0, at + marks] = seq
            marks += 1
        if g >= SI[seq, OUT]:
            _finish(S, SI, SF, seq, end)
    return marks


@njit(cache=True)
def _kv_split(S, SI, oth):
    """Scheduler.kv_snapshot's reserved and internal slots over the running sequences (after the pass)."""
    reserved = internal = 0
    for i in range(S[NOTH]):
        seq = oth[i]
        comp = SI[seq, COMP]
        future = SI[seq, PROMPT] + SI[seq, OUT] - 1 - comp
        slack = SI[seq, KV] - comp
        if slack < future:
            r = slack
        elif future > 0:
            r = future
        elif slack < 0:
            r = slack
        else:
            r = 0
        reserved += r
        internal += slack - r
    rest = S[HELD] - S[STORED] - reserved - internal  # KV held by no running sequence
    return reserved, internal + (rest if rest > 0 else 0)


@njit(cache=True)
def traced_post(S, T, SI, SF, C, oth, part, pf, tmp, goals, gcls, gval, gcnt, tf, ti, tid):
    """Scheduler.update for the pass just ended, the loop's count and record_pass, and the pass's trace row
    (``part``: the batch as planned, decodes first; ``oth``: in batch order)."""
    start = T[P_START]
    end = start + T[P_DUR]
    row, at = S[NTR], S[NTID]
    npf, ndec, nrun = S[NPF], S[NDEC], S[NOTH]
    for i in range(npf):  # the plan's prefill chunks, then its decodes
        tid[0, at] = pf[0, i]
        tid[0, at + 1] = pf[1, i]
        at += 2
    for i in range(ndec):
        tid[0, at + i] = part[i]
    at += ndec
    taken = T[P_TAKEN]
    nst = 0
    if taken:  # a prefill took the pass: every running decode sat it out (plan.stalled)
        for i in range(nrun):
            tid[0, at + i] = oth[i]
            SF[oth[i], GSTALL] += taken
        nst = nrun
    _apply_prefill(S, SI, SF, pf, tmp, end)
    S[STORED] += ndec
    settle_gaps(S, SI, SF, part, start, end, gcls, gval, gcnt)
    nst += _decode_all(S, SI, SF, part, tid, at + nst, start, end, T[P_DELAY], goals)
    at += nst
    nfin = 0
    for i in range(npf + ndec):  # finished in this pass: prefills first, then decodes, as update finds them
        seq = pf[0, i] if i < npf else part[i - npf]
        if SI[seq, WHERE] == FINISHED:
            tid[0, at + nfin] = seq
            nfin += 1
    at += nfin
    _running_outside(S, SI, oth, pf)
    _account(S, T, C, ndec + npf)
    reserved, internal = _kv_split(S, SI, oth)
    r = ti[row]
    r[TR_NPF], r[TR_NDEC], r[TR_NST], r[TR_NFIN] = npf, ndec, nst, nfin
    r[TR_WAIT], r[TR_RUN], r[TR_STORED], r[TR_HELD] = S[P_WAIT], ndec + npf + S[PPAD], S[STORED], S[HELD]
    r[TR_RES], r[TR_INT], r[TR_NOWED] = reserved, internal, S[NOWED]
    tf[2 * row] = start
    tf[2 * row + 1] = end
    S[NTR] = row + 1
    S[NTID] = at


@njit(cache=True)
def traced_step(S, T, SI, SF, C, P, mem, oth, pf, tmp, goals, gcls, gval, gcnt, tf, ti, tid):
    """One resumption of the engine process: apply and record the pass it waited for, then plan and price the
    next (or sleep until an arrival wakes it)."""
    now = T[E_TIME]
    part = mem  # no cohort here: its members' array holds the batch as planned
    if S[E_STATE] == E_PASS:
        traced_post(S, T, SI, SF, C, oth, part, pf, tmp, goals, gcls, gval, gcnt, tf, ti, tid)
        if S[STATUS] != RUNNING:
            return
    partition(S, SI, oth, part)
    if not plan_pass(S, T, SI, SF, C, tmp, part, pf, now):
        S[STATUS] = FALLBACK
        return
    if S[NPF] == 0 and S[PCN] == 0 and S[NDEC] == 0:
        S[E_STATE] = E_IDLE
        return
    S[P_WAIT] = S[N_ARR] - S[W_HEAD]  # plan.waiting: the queue once the plan is made
    S[E_STATE] = E_PASS
    T[E_TIME] = now + price_pass(S, T, SI, P, part, pf)
    S[E_EID] = S[EID]
    S[EID] += 1


@njit(cache=True)
def run_traced(S, T, SI, SF, C, P, mem, oth, pf, tmp, goals, gcls, gval, gcnt, n_cls, tf, ti, tid):
    """The traced event loop: arrivals and the engine in SimPy's order until both are done, a buffer is nearly
    full (NEED_ROOM: the trace's rows or request rows, or the gap records) or the run leaves the family."""
    mb = C[MAX_BATCH]
    start_events(S, T, SF, C)
    while S[STATUS] == RUNNING:
        full = S[NTR] + 2 >= ti.shape[0] or S[NTID] + 6 * mb + 8 >= tid.shape[1]
        if full or S[NGAP] + 2 * mb + n_cls + 2 >= len(gval):
            S[STATUS] = NEED_ROOM
        elif not arrivals_turn(S, T, SF, C):
            traced_step(S, T, SI, SF, C, P, mem, oth, pf, tmp, goals, gcls, gval, gcnt, tf, ti, tid)
