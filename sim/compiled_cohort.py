"""The compiled kernel's decode cohort and steady stretches (numba): sim.cohort's arithmetic on arrays.

On the arrays of ``sim.kernel_layout`` (the ``S``/``T`` state vectors, one row per request in
``SI``/``SF``): the ports of ``DecodeCohort`` (promote, sync and leave, its per-pass gap and prefill-
delay prefix sums, the lazily built per-goal stall counts), ``CohortScheduler.skip_stretch``,
``price_stretch`` and ``Recorder.account_stretch``, with the same float operations in the same order.
Members are a dense array of request rows: only counts depend on their order here, never a float.
"""

from __future__ import annotations

from numba import njit

from sim.kernel_layout import (  # noqa: F401 (the layout, used here and re-exported for sim.compiled)
    A_NEXT, A_DONE, E_STATE, EID, A_EID, E_EID, W_HEAD, N_ARR, NMEM, TICK, CTX, NPASS, LEFT, STORED, HELD, COUNT,
    MAXCONC, NGAP, STATUS, NPF, PCN, PLEAVES, NCLS, NSTAGED, BASE, BATCH, PPAD, NOTH, NDEC, NOWED, S_LEN, A_TIME,
    E_TIME, COHORT_END, BUSY, WASTE, TAREA, KVPEAK, P_START, P_DUR, P_DELAY, ST_T, PENDING, P_TAKEN, T_LEN, PROMPT,
    OUT, CLS, GOAL, COMP, GEN, KV, ANCHOR, FIN, BLK, STALLS, WHERE, SI_COLS, IN_COHORT, FINISHED, ARR, ADMIT,
    FIRST, FINISH, MAXGAP, STALL, LAST, GSTALL, SF_COLS, OVH, OVH_SEQ, LIN_C, LIN_M, LIN_ACT, PASS_FIXED, KV_W,
    KV_TOK, ATT_C, ATT_KV, ATT_TOK, ATT_LAUNCH, REORG, EXPOSED, MAX_BATCH, CAP, BS, NUM_BLOCKS, CAPACITY, N,
    MAX_OUT, MAX_IT, JOINS, PLAN, PLAN_CONTINUOUS, PLAN_STATIC, PLAN_PREFILL_FIRST, PLAN_CHUNKED, E_INIT, E_PASS,
    E_STRETCH, E_IDLE, E_WOKEN, RUNNING, DONE, NEED_ROOM, FALLBACK, EXCEEDED
)


@njit(cache=True)
def _roof(c, m, ex):
    return c + ex * m if c > m else m + ex * c


@njit(cache=True)
def _record_gap(S, gcls, gval, gcnt, cls, gap, count):
    j = S[NGAP]
    gcls[j] = cls
    gval[j] = gap
    gcnt[j] = count
    S[NGAP] = j + 1


@njit(cache=True)
def _over(S, g, goals, pgap, pcum, pover, built):
    """DecodeCohort._over_cum: built on first use from the cohort's passes so far, then kept by _add_pass."""
    if not built[g]:
        goal = goals[g]
        pover[g, 0] = 0
        for j in range(S[NPASS]):
            pover[g, j + 1] = pover[g, j] + (1 if (pcum[j + 1] > pcum[j] and pgap[j] > goal) else 0)
        built[g] = 1


@njit(cache=True)
def _add_pass(S, gap, stall, goals, pgap, pcum, pover, built):
    """DecodeCohort._pass: one cohort pass's token gap and prefill delay."""
    j = S[NPASS]
    pgap[j] = gap
    if stall > 0:
        pcum[j + 1] = pcum[j] + stall
        for g in range(len(built)):
            if built[g]:
                pover[g, j + 1] = pover[g, j] + (1 if gap > goals[g] else 0)
    else:
        pcum[j + 1] = pcum[j]
        for g in range(len(built)):
            if built[g]:
                pover[g, j + 1] = pover[g, j]
    S[NPASS] = j + 1


@njit(cache=True)
def _leave(S, SI, SF, mem, m, end_s, goals, pgap, pcum, pover, built, cls_count):
    """DecodeCohort.sync + leave for member slot ``m``: its counts up to the tick, then out of the cohort."""
    seq = mem[m]
    tick = S[TICK]
    n = tick - SI[seq, ANCHOR]
    if n:
        SI[seq, COMP] += n
        SI[seq, GEN] += n
        lo, hi = SI[seq, ANCHOR] - S[BASE], tick - S[BASE]
        longest = pgap[lo]
        for j in range(lo + 1, hi):
            if pgap[j] > longest:
                longest = pgap[j]
        if longest > SF[seq, MAXGAP]:
            SF[seq, MAXGAP] = longest
        if pcum[hi] > pcum[lo]:
            SF[seq, STALL] += pcum[hi] - pcum[lo]
            g = SI[seq, GOAL]
            _over(S, g, goals, pgap, pcum, pover, built)
            SI[seq, STALLS] += pover[g, hi] - pover[g, lo]
        SI[seq, ANCHOR] = tick
    SI[seq, WHERE] = 0
    last = S[NMEM] - 1
    mem[m] = mem[last]
    S[NMEM] = last
    S[CTX] -= SI[seq, COMP]
    cls_count[SI[seq, CLS]] -= 1


@njit(cache=True)
def _finish(S, SI, SF, seq, t):
    SF[seq, FINISH] = t
    SI[seq, WHERE] = FINISHED
    S[HELD] -= SI[seq, KV]
    SI[seq, KV] = 0
    S[STORED] -= SI[seq, COMP]
    S[LEFT] += 1


@njit(cache=True)
def _promote(S, T, SI, mem, seq, end_s, pcum, built, cls_count, cls_order):
    """DecodeCohort.promote: ``seq`` just gave a token and goes on decoding in the cohort."""
    if S[NMEM] == 0:  # a new cohort: its per-pass arrays start over (the classes seen stay)
        S[NPASS] = 0
        pcum[0] = 0.0
        built[:] = 0
        S[BASE] = S[TICK]
        T[COHORT_END] = end_s
        T[PENDING] = 0.0
    mem[S[NMEM]] = seq
    S[NMEM] += 1
    SI[seq, WHERE] = IN_COHORT
    tick = S[TICK]
    SI[seq, ANCHOR] = tick
    SI[seq, FIN] = tick + SI[seq, OUT] - SI[seq, GEN]
    SI[seq, BLK] = tick + SI[seq, KV] - SI[seq, COMP]
    S[CTX] += SI[seq, COMP]
    c = SI[seq, CLS]
    if cls_count[c] < 0:  # first member of this class: the classes dict keeps insertion order
        cls_count[c] = 0
        cls_order[S[NCLS]] = c
        S[NCLS] += 1
    cls_count[c] += 1


@njit(cache=True)
def _stretch_length(S, SI, C, mem, crossings):
    """next_finish_tick and block_crossings: (passes, crossings) of the stretch from the cohort's tick."""
    t0 = S[TICK]
    bs = C[BS]
    k = SI[mem[0], FIN]
    for m in range(1, S[NMEM]):
        k = min(k, SI[mem[m], FIN])
    k -= t0
    crossings[:bs] = 0
    for m in range(S[NMEM]):
        r = SI[mem[m], BLK] - t0
        if r < 0:
            return -1  # a member overdue for a block: never in this family (a guard for the indexing below)
        if k <= bs:
            if r <= k - 1:
                crossings[r] += 1
        elif r < bs:
            crossings[r] += 1
        elif r < k:
            k = r
    return k


@njit(cache=True)
def price_stretch(S, T, C, P, crossings, k, now, horizon, pgap):
    """sim.cohort.price_stretch, writing the durations after the cohort's passes in ``pgap``. Returns
    (passes, end time, wasted slots x seconds, the last pass's block crossings)."""
    b, bs, ctx0, ex = S[NMEM], C[BS], S[CTX], P[EXPOSED]
    pad = 0 if C[JOINS] else max(0, S[BATCH] - b)  # Static.padding: finished slots of the batch
    tokens = b + pad
    c, m = P[LIN_C] * tokens, P[LIN_M]
    fixed = _roof(c, m, ex) + P[LIN_ACT] * tokens + P[PASS_FIXED] + P[KV_W] * tokens  # RooflineCost.decode_line
    fixed += P[OVH] + P[OVH_SEQ] * tokens
    slope = 0.0
    if tokens > pad:
        fixed += P[ATT_LAUNCH]
        slope = _roof(P[ATT_C], P[ATT_KV], ex)
    c0, c1, m0, m1 = 0.0, slope, 0.0, slope
    free = C[NUM_BLOCKS] - S[HELD] // bs
    unstored = S[HELD] - S[STORED]
    reorg = P[REORG] * S[LEFT] if C[JOINS] else 0.0  # a static batch never reorganizes mid-batch
    need = 0
    x_last = ctx0 + (k - 1) * b
    line = 0
    if m0 + m1 * ctx0 >= c0 + c1 * ctx0 and m0 + m1 * x_last >= c0 + c1 * x_last:
        base, step, line = fixed + m0 + m1 * ctx0, m1 * b, 1
    elif c0 + c1 * ctx0 >= m0 + m1 * ctx0 and c0 + c1 * x_last >= m0 + m1 * x_last:
        base, step, line = fixed + c0 + c1 * ctx0, c1 * b, 1
    else:
        base, step = 0.0, 0.0
    waste_time = 0.0
    t = now
    grow = 0
    done = 0
    j0 = S[NPASS]
    for j in range(k):
        grow = crossings[j % bs]
        if grow:
            need += grow
            if need > free:
                break
            unstored += bs * grow
        unstored -= b
        if line:
            d = base + step * j
        else:
            x = ctx0 + j * b
            comp, mem_ = c0 + c1 * x, m0 + m1 * x
            d = fixed + (comp if comp > mem_ else mem_)
        if reorg:
            d += reorg
            reorg = 0.0
        if d < 1e-9:
            d = 1e-9
        t += d
        waste_time += unstored * d
        pgap[j0 + j] = d
        done += 1
        if t >= horizon:
            break
    return done, t, waste_time, grow


@njit(cache=True)
def _grow(S, SI, C, mem, end):
    """DecodeCohort.grow: the KV blocks the stretch's passes up to tick ``end`` need."""
    bs = C[BS]
    for m in range(S[NMEM]):
        seq = mem[m]
        key = SI[seq, BLK]
        if key < end:
            nb = (end - 1 - key) // bs + 1
            SI[seq, KV] += nb * bs
            S[HELD] += nb * bs
            SI[seq, BLK] = key + nb * bs


@njit(cache=True)
def _stage(S, SI, mem, staged, tick):
    """DecodeCohort.stage_finishes: set aside the members whose last token comes out at ``tick``."""
    tails = slots = 0
    ns = 0
    for m in range(S[NMEM]):
        seq = mem[m]
        if SI[seq, FIN] <= tick:
            staged[ns] = seq
            ns += 1
            slots += SI[seq, KV]
            tails += SI[seq, KV] - (SI[seq, COMP] + tick - SI[seq, ANCHOR])
    S[NSTAGED] = ns
    return tails, slots


@njit(cache=True)
def try_stretch(S, T, SI, C, P, mem, staged, crossings, now, horizon, pgap, pcum, pover, built, gcls, gval,
                gcnt, cls_count, cls_order):
    """CohortScheduler.skip_stretch and Recorder.account_stretch; True when passes were skipped."""
    b = S[NMEM]
    if not b or S[NOTH] or T[COHORT_END] != now or (C[JOINS] and S[W_HEAD] < S[N_ARR]) or b > C[CAP]:
        return False
    k = _stretch_length(S, SI, C, mem, crossings)
    if k < 0:
        S[STATUS] = FALLBACK
        return False
    done, t, waste_time, grow = price_stretch(S, T, C, P, crossings, k, now, horizon, pgap)
    tick = S[TICK]
    _grow(S, SI, C, mem, tick + done)
    if not done:
        return False
    cap = C[CAPACITY]
    j0 = S[NPASS]
    util = S[HELD] / cap
    S[NSTAGED] = 0
    if done == k:
        held_before = S[HELD] - C[BS] * grow
        tails, slots = _stage(S, SI, mem, staged, tick + done)
        waste_time -= tails * pgap[j0 + done - 1]
        util = (S[HELD] - slots) / cap
        if done > 1 and held_before / cap > util:
            util = held_before / cap
    busy = pgap[j0]
    for j in range(j0 + 1, j0 + done):
        busy += pgap[j]
    S[LEFT] = 0
    S[STORED] += done * b
    S[TICK] = tick + done
    S[CTX] += done * b
    T[COHORT_END] = t
    for j in range(j0, j0 + done):  # DecodeCohort._passes: no prefill delay in a stretch
        pcum[j + 1] = pcum[j]
        for g in range(len(built)):
            if built[g]:
                pover[g, j + 1] = pover[g, j]
    S[NPASS] = j0 + done
    T[WASTE] += (waste_time + 0.0) / cap
    T[TAREA] += busy
    T[BUSY] += busy
    for i in range(S[NCLS]):
        c = cls_order[i]
        if cls_count[c]:
            for j in range(j0, j0 + done):
                _record_gap(S, gcls, gval, gcnt, c, pgap[j], cls_count[c])
    S[COUNT] += done
    if util > T[KVPEAK]:
        T[KVPEAK] = util
    T[ST_T] = t
    return True


@njit(cache=True)
def finish_stretch(S, T, SI, SF, mem, staged, goals, pgap, pcum, pover, built, cls_count):
    """CohortScheduler.finish_stretch: the staged members leave and finish at the stretch's end."""
    t = T[ST_T]
    for i in range(S[NSTAGED]):
        seq = staged[i]
        for m in range(S[NMEM]):
            if mem[m] == seq:
                _leave(S, SI, SF, mem, m, t, goals, pgap, pcum, pover, built, cls_count)
                break
        _finish(S, SI, SF, seq, t)
    S[NSTAGED] = 0


@njit(cache=True)
def cohort_decoded(S, T, n, end, goals, pgap, pcum, pover, built):
    """DecodeCohort.decoded: the cohort's ``n`` members each got a token in the pass ending at ``end``;
    returns the members' gap since their last token."""
    S[TICK] += 1
    gap = end - T[COHORT_END]
    T[COHORT_END] = end
    stall = T[PENDING] + T[P_DELAY]
    T[PENDING] = 0.0
    _add_pass(S, gap, stall, goals, pgap, pcum, pover, built)
    S[CTX] += n
    return gap


@njit(cache=True)
def members_done(S, SI, SF, mem, end, goals, pgap, pcum, pover, built, cls_count):
    """The members whose last token came with the pass ending at ``end`` leave the cohort and finish."""
    m = 0
    while m < S[NMEM]:
        seq = mem[m]
        if SI[seq, FIN] <= S[TICK]:
            _leave(S, SI, SF, mem, m, end, goals, pgap, pcum, pover, built, cls_count)
            _finish(S, SI, SF, seq, end)
        else:
            m += 1
