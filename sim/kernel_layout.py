"""The compiled kernel's array layout, shared by the kernel (``sim.compiled``, ``sim.compiled_cohort``) and
its callers (``sim.fastpath``, ``sim.native``): which slot of which state array holds what.

Plain integers and no numba, so a process that runs the kernel from its cached native code
(``sim.native``) reads the layout without importing numba.
"""

# S: integer state.
A_NEXT, A_DONE, E_STATE, EID, A_EID, E_EID, W_HEAD, N_ARR, NMEM, TICK, CTX, NPASS, LEFT, STORED, HELD, \
    COUNT, MAXCONC, NGAP, STATUS, NPF, PCN, PLEAVES, NCLS, NSTAGED, BASE, BATCH, PPAD, NOTH, NDEC, NOWED = range(30)
# S, disaggregated runs (sim.compiled_disagg): the event heap's size, the prefill engine's state (its queue is
# requests [P_WHEAD, P_NARR); W_HEAD and N_ARR are then the decode engine's queue of hand-offs), each engine's
# wake event (its generation and whether it has fired), the link (users, its FIFO queue), running_now.
HSIZE, P_NARR, P_WHEAD, P_NRUN, P_HELD, P_STORED, P_LEFT, P_PLEAVES, P_NPF, P_NOWED, P_STATE, P_GEN, P_TRIG, \
    D_GEN, D_TRIG, D_NJOIN, LINK_USERS, LQ_HEAD, LQ_TAIL, RUN_P, RUN_D = range(30, 51)
# S, traced runs (sim.compiled_trace): trace rows and request rows written, the queue's length at the plan.
NTR, NTID, P_WAIT = range(51, 54)
S_LEN = 54
# T: float state.
A_TIME, E_TIME, COHORT_END, BUSY, WASTE, TAREA, KVPEAK, P_START, P_DUR, P_DELAY, ST_T, PENDING, P_TAKEN = range(13)
# T, disaggregated runs: the prefill engine's pass (start, duration) and busy time (the decode engine's are above).
PP_START, PP_DUR, BUSY_P = range(13, 16)
T_LEN = 16
# SI / SF columns: one row per request.
# WHERE: 0 waiting or running outside the cohort, IN_COHORT, or FINISHED.
# Disaggregated runs: KV is the decode engine's slots, KVP the prefill engine's, READY: its KV has crossed the
# link, XB: the bytes its transfer moves.
PROMPT, OUT, CLS, GOAL, COMP, GEN, KV, ANCHOR, FIN, BLK, STALLS, WHERE, KVP, READY, XB = range(15)
SI_COLS = 15
IN_COHORT, FINISHED = 1, 2
ARR, ADMIT, FIRST, FINISH, MAXGAP, STALL, LAST, GSTALL = range(8)
SF_COLS = 8
# P: the cost model's per-unit prices (RooflineCost), in the order fastpath packs them.
OVH, OVH_SEQ, LIN_C, LIN_M, LIN_ACT, PASS_FIXED, KV_W, KV_TOK, ATT_C, ATT_KV, ATT_TOK, ATT_LAUNCH, REORG, \
    EXPOSED, LINK_BPS = range(15)
# C: integer settings.
# JOINS: the strategy's joins_mid_batch (0: a request-level batch, static batching, with its padding);
# PLAN: whose plan() the kernel follows (PLAN_* below, set by sim.fastpath from the strategy's class).
# Disaggregated runs: CAP is the decode engine's token cap, P_BUDGET the prefill engine's budget, P_CAP its
# cap (one prompt may exceed the budget up to it), KVB the KV bytes per token.
# TRACED: 1 for a traced run (sim.compiled_trace: every pass planned and recorded).
MAX_BATCH, CAP, BS, NUM_BLOCKS, CAPACITY, N, MAX_OUT, MAX_IT, JOINS, PLAN, P_BUDGET, P_CAP, KVB, TRACED = range(14)
PLAN_CONTINUOUS, PLAN_STATIC, PLAN_PREFILL_FIRST, PLAN_CHUNKED, PLAN_DISAGG = range(5)
# Engine states (E_STATE) and statuses (STATUS).
E_INIT, E_PASS, E_STRETCH, E_IDLE, E_WOKEN = range(5)
RUNNING, DONE, NEED_ROOM, FALLBACK, EXCEEDED = range(5)
# The event heap of a disaggregated run (SimPy's queue): rows of evi are (priority, event id, kind, a, b), the
# times in evt. Kinds: a process's end or a stale wake (no-op), the arrivals' start (a=1) or timeout, engine a's
# start or timeout, engine a's wake event of generation b, a transfer's start, its link grant, its timeout, and
# a link release.
URGENT, NORMAL = 0, 1
EV_NOOP, EV_ARR, EV_ENG, EV_WAKE, EV_TR_INIT, EV_REQ, EV_TR_TO, EV_REL = range(8)
EV_COLS = 5
# A traced run's trace (sim.compiled_trace), in the arrays a pipeline uses for its event heap: per pass a row
# of TR_COLS integers (its chunks, decodes, stalls and finishes counted; the queue after the plan; sequences in
# the batch; KV stored, held, reserved and internal after it; how many of its chunks were owed by running
# sequences, the rest being newcomers'), its start and end times, and the request rows of its prefill chunks
# (row, tokens), decodes, stalls and finishes, one after another.
TR_NPF, TR_NDEC, TR_NST, TR_NFIN, TR_WAIT, TR_RUN, TR_STORED, TR_HELD, TR_RES, TR_INT, TR_NOWED = range(11)
TR_COLS = 11
