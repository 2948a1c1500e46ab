"""The compiled kernel's array layout, shared by the kernel (``sim.compiled``, ``sim.compiled_cohort``) and
its callers (``sim.fastpath``, ``sim.native``): which slot of which state array holds what.

Plain integers and no numba, so a process that runs the kernel from its cached native code
(``sim.native``) reads the layout without importing numba.
"""

# S: integer state.
A_NEXT, A_DONE, E_STATE, EID, A_EID, E_EID, W_HEAD, N_ARR, NMEM, TICK, CTX, NPASS, LEFT, STORED, HELD, \
    COUNT, MAXCONC, NGAP, STATUS, NPF, PCN, PLEAVES, NCLS, NSTAGED, BASE, BATCH, PPAD, NOTH, NDEC, NOWED = range(30)
S_LEN = 30
# T: float state.
A_TIME, E_TIME, COHORT_END, BUSY, WASTE, TAREA, KVPEAK, P_START, P_DUR, P_DELAY, ST_T, PENDING, P_TAKEN = range(13)
T_LEN = 13
# SI / SF columns: one row per request.
# WHERE: 0 waiting or running outside the cohort, IN_COHORT, or FINISHED.
PROMPT, OUT, CLS, GOAL, COMP, GEN, KV, ANCHOR, FIN, BLK, STALLS, WHERE = range(12)
SI_COLS = 12
IN_COHORT, FINISHED = 1, 2
ARR, ADMIT, FIRST, FINISH, MAXGAP, STALL, LAST, GSTALL = range(8)
SF_COLS = 8
# P: the cost model's per-unit prices (RooflineCost), in the order fastpath packs them.
OVH, OVH_SEQ, LIN_C, LIN_M, LIN_ACT, PASS_FIXED, KV_W, KV_TOK, ATT_C, ATT_KV, ATT_TOK, ATT_LAUNCH, REORG, \
    EXPOSED = range(14)
# C: integer settings.
# JOINS: the strategy's joins_mid_batch (0: a request-level batch, static batching, with its padding);
# PLAN: whose plan() the kernel follows (PLAN_* below, set by sim.fastpath from the strategy's class).
MAX_BATCH, CAP, BS, NUM_BLOCKS, CAPACITY, N, MAX_OUT, MAX_IT, JOINS, PLAN = range(10)
PLAN_CONTINUOUS, PLAN_STATIC, PLAN_PREFILL_FIRST, PLAN_CHUNKED = range(4)
# Engine states (E_STATE) and statuses (STATUS).
E_INIT, E_PASS, E_STRETCH, E_IDLE, E_WOKEN = range(5)
RUNNING, DONE, NEED_ROOM, FALLBACK, EXCEEDED = range(5)
