"""The event queue of the compiled disaggregated kernel (numba): SimPy's queue on arrays, and the processes
that only schedule events (arrivals, KV transfers over the link, engine wake-ups).

SimPy orders its queue by (time, priority, event id), every scheduled event taking the next id, and
``env.peek()`` reads the head whatever it is, so every event SimPy would schedule is pushed here, the no-op
ones included (a process's end, a wake event nobody waits on, a link release). The heap rows are
``evt`` (times) and ``evi`` (priority, event id, kind, a, b; ``sim.kernel_layout``). The link is SimPy's
``Resource`` of capacity 1: a request is granted when it is made if nobody holds the link, else when the
release before it is processed (``Resource._trigger_put``); the holder leaves it when its release is made.
"""

from __future__ import annotations

from numba import njit

from sim.kernel_layout import (
    ARR, A_DONE, A_NEXT, COMP, D_GEN, D_TRIG, EID, EV_ARR, EV_NOOP, EV_REL, EV_REQ, EV_TR_INIT, EV_TR_TO, EV_WAKE,
    E_IDLE, E_STATE, FALLBACK, HSIZE, KVB, KVP, LINK_BPS, LINK_USERS, LQ_HEAD, LQ_TAIL, N, NORMAL, N_ARR, P_GEN,
    P_HELD, P_LEFT, P_NARR, P_STATE, P_STORED, P_TRIG, P_WHEAD, READY, STATUS, W_HEAD, XB
)


@njit(cache=True)
def _before(evt, evi, i, j):
    """Does heap row i come before row j (SimPy's key: time, priority, event id)?"""
    if evt[i] != evt[j]:
        return evt[i] < evt[j]
    if evi[i, 0] != evi[j, 0]:
        return evi[i, 0] < evi[j, 0]
    return evi[i, 1] < evi[j, 1]


@njit(cache=True)
def _swap(evt, evi, i, j):
    evt[i], evt[j] = evt[j], evt[i]
    for c in range(evi.shape[1]):
        evi[i, c], evi[j, c] = evi[j, c], evi[i, c]


@njit(cache=True)
def _push(S, evt, evi, t, prio, kind, a, b):
    """Environment.schedule: every scheduled event takes the next event id."""
    j = S[HSIZE]
    if j >= len(evt):
        S[STATUS] = FALLBACK  # a guard: the heap is sized for every event a full batch can have pending
        return
    evt[j] = t
    evi[j, 0], evi[j, 1], evi[j, 2], evi[j, 3], evi[j, 4] = prio, S[EID], kind, a, b
    S[EID] += 1
    S[HSIZE] = j + 1
    while j > 0:
        p = (j - 1) // 2
        if not _before(evt, evi, j, p):
            break
        _swap(evt, evi, j, p)
        j = p


@njit(cache=True)
def _pop(S, evt, evi):
    """Take the head of the heap; it is left in row S[HSIZE] (read it before the next push)."""
    last = S[HSIZE] - 1
    _swap(evt, evi, 0, last)
    S[HSIZE] = last
    j = 0
    while True:
        c = 2 * j + 1
        if c >= last:
            break
        if c + 1 < last and _before(evt, evi, c + 1, c):
            c += 1
        if not _before(evt, evi, c, j):
            break
        _swap(evt, evi, j, c)
        j = c
    return last


@njit(cache=True)
def _notify(S, evt, evi, e, now):
    """EngineProc.notify for engine e (0 prefill, 1 decode): its wake event fires unless it has already."""
    trig, gen = (P_TRIG, P_GEN) if e == 0 else (D_TRIG, D_GEN)
    if S[trig] == 0:
        S[trig] = 1
        _push(S, evt, evi, now, NORMAL, EV_WAKE, e, S[gen])


@njit(cache=True)
def _idle(S, e):
    """The engine waits on a new wake event (engine_loop's empty plan)."""
    state, trig, gen = (P_STATE, P_TRIG, P_GEN) if e == 0 else (E_STATE, D_TRIG, D_GEN)
    S[state] = E_IDLE
    S[trig] = 0
    S[gen] += 1


@njit(cache=True)
def _on_finished(S, evt, evi, now):
    """Simulation.on_finished: every engine with a queue is woken, prefill first."""
    if S[P_WHEAD] < S[P_NARR]:
        _notify(S, evt, evi, 0, now)
    if S[W_HEAD] < S[N_ARR]:
        _notify(S, evt, evi, 1, now)


@njit(cache=True)
def _arrivals(S, T, SF, C, evt, evi, first, now):
    """The arrivals process, from its start or from the timeout of request A_NEXT: each request reached is
    queued at the prefill engine, which is woken; at the end the process's own end event."""
    n = C[N]
    i = S[A_NEXT]
    if not first:  # its timeout fired: it is added whatever the clock reads
        S[P_NARR] = i + 1
        _notify(S, evt, evi, 0, now)
        i += 1
    while i < n and not SF[i, ARR] > now:
        S[P_NARR] = i + 1
        _notify(S, evt, evi, 0, now)
        i += 1
    if i < n:
        S[A_NEXT] = i
        _push(S, evt, evi, now + (SF[i, ARR] - now), NORMAL, EV_ARR, 0, 0)
    else:
        S[A_DONE] = 1
        _push(S, evt, evi, now, NORMAL, EV_NOOP, 0, 0)


@njit(cache=True)
def _grant(S, evt, evi, qs, now):
    """Resource._trigger_put: the link is granted to the head of its queue if nobody holds it."""
    if S[LQ_HEAD] < S[LQ_TAIL] and S[LINK_USERS] < 1:
        S[LINK_USERS] = 1
        seq = qs[1, S[LQ_HEAD]]
        S[LQ_HEAD] += 1
        _push(S, evt, evi, now, NORMAL, EV_REQ, seq, 0)


@njit(cache=True)
def _transfer(S, SI, C, P, qs, evt, evi, kind, seq, now):
    """Simulation.transfer, one event at a time: it requests the link, waits for the grant, moves the KV, then
    releases the link, the prefill engine frees its copy, and both engines are woken."""
    if kind == EV_TR_INIT:
        SI[seq, XB] = SI[seq, COMP] * C[KVB]
        qs[1, S[LQ_TAIL]] = seq
        S[LQ_TAIL] += 1
        _grant(S, evt, evi, qs, now)
    elif kind == EV_REQ:
        _push(S, evt, evi, now + SI[seq, XB] / P[LINK_BPS], NORMAL, EV_TR_TO, seq, 0)
    elif kind == EV_TR_TO:
        S[LINK_USERS] = 0  # Release: the user leaves now; the queue is served when its event is processed
        _push(S, evt, evi, now, NORMAL, EV_REL, 0, 0)
        S[P_HELD] -= SI[seq, KVP]
        SI[seq, KVP] = 0
        S[P_STORED] -= SI[seq, COMP]
        S[P_LEFT] += 1
        _notify(S, evt, evi, 0, now)
        SI[seq, READY] = 1
        _notify(S, evt, evi, 1, now)
        _push(S, evt, evi, now, NORMAL, EV_NOOP, 0, 0)  # the transfer process's end
    else:
        _grant(S, evt, evi, qs, now)
