"""Which engine runs a simulation: the Python reference (``sim.engine``) or the compiled kernel (``sim.compiled``).

The compiled kernel is a numba port of the untraced run for the family of configs it covers (``covered``,
then ``_fits`` on the drawn stream): one engine with continuous, static, prefill-first or chunked batching,
or the disaggregated pipeline of one prefill engine and one decode engine (``sim.compiled_disagg``); an
order whose key is the arrival order, paged memory that a full batch can never fill (so no decode engine
ever preempts and the decode cohort never dissolves), no more running sequences than the pass's token
budget, no whole prompt longer than the pass's token cap (where prompts are admitted whole), the roofline
cost model. A run that meets a shortage anyway (a prefill engine full of KV waiting for the link) is
handed back and the reference runs it. Its results are the Python path's, bit for bit
(``tests/test_compiled.py``, ``tests/test_compiled_disagg.py``); the Python path stays the reference.
A traced run (every page's) of one engine, whatever its strategy, without the KV layout goes to the kernel's
traced mode (``sim.compiled_trace``: every pass planned as the traced Python path plans it, its records rebuilt
by ``sim.compiled_records``; the same Iteration list, ``tests/test_compiled_trace.py``).

``BATCH_LAB_ENGINE`` chooses: ``python`` (always the reference), ``compiled`` (the kernel whenever it
covers the config), or unset / ``auto``: the kernel for runs of at least ``AUTO_MIN_REQUESTS`` requests
(linking the kernel's native code costs ~0.07 s, more than a small run takes), and for traced runs of any
size once the kernel is linked in this process (the app's server links it as it starts: ``pages.runtime``).
The kernel runs as the native code numba made for it, loaded by ``sim.native`` without importing numba;
numba is imported only to build that code on a machine's first run. Without numba the Python path runs.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Sequence

import numpy as np

from sim import compiled_records as records
from sim import kernel_layout as k
from sim import loop, native
from sim.batching import STRATEGIES, Chunked, Continuous, PrefillFirst, PrefillOnly, Static
from sim.cost_model import MODELS, RooflineCost, build_cost_model
from sim.errors import ConfigError
from sim.kv_memory import KV_MANAGERS, make_kv
from sim.loop import kv_capacity, tbt_goals
from sim.metrics import DEFAULT_TBT_SLO_S, _Columns, compute_metrics
from sim.preemption import PREEMPT_MODES
from sim.queue_order import ORDERS, QueueOrder
from sim.recorder import Recorder
from sim.trace import RequestResult, SimResult
from sim.workload import draw, generate, request_ids

ENGINE_ENV = "BATCH_LAB_ENGINE"
AUTO_MIN_REQUESTS = 5_000  # below this the Python path finishes before numba has been imported
# Strategies the kernel is a port of (their plan(), on a CohortScheduler), by class, not by name, in the order
# of the kernel's codes for them (sim.compiled_cohort.PLAN_*); the value: does the plan admit whole prompts
# only (then a prompt longer than the pass's token cap would be cut into chunks: outside the family)?
KERNEL_STRATEGIES = {Continuous: True, Static: False, PrefillFirst: True, Chunked: False}
# Pipelines of engines the kernel is a port of (sim.compiled_disagg), by each engine's strategy class and role
# as the policy's engines() lists them: one prefill engine handing off to one decode engine.
KERNEL_PIPELINES = {((PrefillOnly, "prefill"), (Continuous, "decode")): k.PLAN_DISAGG}
# Plans whose traced runs the kernel records (sim.compiled_trace), by the kernel's codes for them.
TRACED_PLANS = (k.PLAN_CONTINUOUS, k.PLAN_STATIC, k.PLAN_PREFILL_FIRST, k.PLAN_CHUNKED)
NO_CAP = 2**62  # the token cap of a strategy without one (static batching: no per-pass budget)


def engine_choice() -> str:
    """``python``, ``compiled`` or ``auto`` from BATCH_LAB_ENGINE (anything else: a ConfigError)."""
    v = os.environ.get(ENGINE_ENV, "auto").strip().lower() or "auto"
    if v not in ("python", "compiled", "auto"):
        raise ConfigError("engine", f"{ENGINE_ENV}={v!r}; use python, compiled or auto")
    return v


def covered(cfg) -> bool:
    """Does the kernel's family hold this config (before drawing the requests)? Read from the policy
    classes' capabilities and the config, never from a policy's name. An invalid config raises the
    ConfigError the Python path would."""
    cfg.validate()
    order, preempt = ORDERS[cfg.order], PREEMPT_MODES[cfg.preempt]
    if _plan_code(cfg) is None or (cfg.record_iterations and not _traceable(cfg)):
        return False
    kv = KV_MANAGERS[cfg.memory]  # its capabilities are the class's: no manager (a free list) is built to ask
    # The waiting queue is first in, first out: a constant primary key, fixed while requests wait.
    return (not order.time_dependent and not order.may_preempt and order.primary is QueueOrder.primary
            and not preempt.reserves_maximum and not kv.reserves_maximum and not kv.has_holes
            and "block_size" in kv.knobs
            and cfg.max_batch <= _cap(cfg, _decoder(cfg)))  # a budget that stalls decodes would dissolve the cohort


def _traceable(cfg) -> bool:
    """Does the kernel's traced mode (sim.compiled_trace) cover this traced run: one engine (continuous,
    static, prefill-first or chunked batching), no KV layout?"""
    return not cfg.record_layout and _plan_code(cfg) in TRACED_PLANS


def _pipeline(cfg) -> tuple:
    """(strategy class, role) of each engine the policy runs for ``cfg``."""
    return tuple((type(s), role) for _, s, role in STRATEGIES[cfg.policy].engines(cfg))


def _plan_code(cfg) -> int | None:
    """The kernel's code for the policy's engines (sim.kernel_layout.PLAN_*), None when it has no port of them."""
    engines = _pipeline(cfg)
    if engines in KERNEL_PIPELINES:
        return KERNEL_PIPELINES[engines]
    if len(engines) == 1 and engines[0][0] in KERNEL_STRATEGIES:
        return list(KERNEL_STRATEGIES).index(engines[0][0])
    return None


def _decoder(cfg) -> type:
    """The strategy of the engine whose running sequences decode in the kernel's cohort (the last one)."""
    return _pipeline(cfg)[-1][0]


def _whole(cfg) -> bool:
    """Is every prompt admitted whole (then one longer than the pass's cap leaves the kernel's family)? A
    pipeline's prefill engine chunks prompts as the kernel does."""
    return _plan_code(cfg) not in KERNEL_PIPELINES.values() and KERNEL_STRATEGIES[_decoder(cfg)]


def wanted(cfg) -> bool:
    choice = engine_choice()
    if choice == "python":
        return False
    cfg.validate()  # an invalid config gets the reference's ConfigError, whatever its size reads as
    w = cfg.workload
    n = len(w.script) if w.arrival == "scripted" else w.n_requests
    # The size first: under auto a small run goes to the reference without asking more, unless it is traced
    # (every page's run) and the kernel is linked in this process already (the app links it as it starts).
    return (choice == "compiled" or n >= AUTO_MIN_REQUESTS or (cfg.record_iterations and native.ready())) \
        and covered(cfg)


def _kernel():
    """The kernel's layout module when its native code can be had in this process (``sim.native``: from
    the cached object file, or built by numba), else None: numba or llvmlite missing or broken."""
    return k if native.kernel() is not None else None


def _prices(cost: RooflineCost, cfg) -> np.ndarray:
    """The cost model's per-unit prices (sim.kernel_layout's P), and the link's bytes per second as
    Simulation.transfer computes them."""
    return np.array([cost.overhead_s, cost.overhead_per_seq_s, cost._lin_c, cost._lin_m, cost._lin_act,
                     cost._pass_fixed, cost._kv_w, cost._kv_tok, cost._att_c, cost._att_kv, cost._att_tok,
                     cost._att_launch, cost.reorg_s, cost.eff.exposed, cfg.link_gb_per_s * 1e9], dtype=np.float64)


def _prepare(cfg):
    """(kernel module, cost model, KV manager, stream) when the kernel takes this run, else None."""
    k = _kernel()
    if k is None:
        return None
    cfg.validate()
    cost = build_cost_model(cfg.model, cfg.hardware, cfg.reorg_s, cfg.overhead_s, cfg.linear_cost)
    if type(cost) is not RooflineCost:
        return None
    kv = make_kv(cfg.memory, kv_capacity(cfg), cfg.block_size)
    stream = _stream(cfg)
    if not _fits(cfg, stream, kv) or (cfg.record_iterations and len(stream["names"]) > 62):
        return None  # (the traced kernel keeps a pass's classes as the bits of one integer)
    return k, cost, kv, stream


def engine_for(cfg) -> str:
    """The engine ``sim.engine.simulate(cfg)`` will run on, decided as it decides (``sim bench`` prints it)."""
    return "compiled" if wanted(cfg) and _prepare(cfg) is not None else "python"


def warm() -> None:
    """Build the kernel's native code and its cache file, if numba is here (a first build compiles for 15-60 s, by the machine)."""
    from sim.config import scenario
    if _kernel() is not None and covered(cfg := scenario("chat", requests=2, record_iterations=False)):
        simulate(cfg)


def simulate(cfg):
    """The run on the compiled kernel, or None when it does not apply (the caller runs the Python path)."""
    prep = _prepare(cfg)
    if prep is None:
        return None
    k, cost, kv, stream = prep
    packed = _pack(k, cfg, stream, kv)
    state = _run(k, packed, _prices(cost, cfg))
    if state is None:
        return None
    recorder = _recorder(cfg, packed, state)
    col = _columns(k, stream, packed)
    engines = tuple(name for name, _, _ in STRATEGIES[cfg.policy].engines(cfg))
    metrics, by_class = compute_metrics(None, recorder, cfg.workload, len(engines), col)
    requests, iterations, samples = _results(k, stream, packed), [], {}
    if cfg.record_iterations:  # a page's run: a few hundred requests, read row by row, so plain records
        iterations = records.iterations(state["S"], state["trace"], stream["ids"], engines[0], kv.capacity_tokens)
        requests = records.simpy_zero(iterations, list(requests))
        samples = recorder.tbt_samples()
    return SimResult(config=cfg, requests=requests, iterations=iterations, transfers=[],
                     metrics=metrics, by_class=by_class, engines=engines, kv_capacity_tokens=kv.capacity_tokens,
                     tbt_samples=samples, cost_description=cost.describe(), simulated_by="compiled")


def _stream(cfg) -> dict:
    """The run's requests as arrays in arrival order, with what a RequestResult carries besides: generated
    streams straight from the draw (no Request objects), scripted ones from ``generate``."""
    w = cfg.workload
    if w.arrival == "scripted":
        reqs = generate(w, cfg.seed)
        names = list(dict.fromkeys(r.cls for r in reqs))
        code = {c: i for i, c in enumerate(names)}
        return {"ids": [r.id for r in reqs], "arrival": np.array([r.arrival_s for r in reqs], np.float64),
                "prompt": np.array([r.prompt_tokens for r in reqs], np.int64),
                "output": np.array([r.output_tokens for r in reqs], np.int64),
                "code": np.array([code[r.cls] for r in reqs], np.int64), "names": names,
                "priority": [r.priority for r in reqs], "deadline": [r.deadline_s for r in reqs]}
    w.validate()
    d = draw(w, cfg.seed)
    ids = request_ids(w.n_requests)
    order = np.argsort(d.arrivals, kind="stable")  # generate's stable sort by arrival (usually no change)
    moved = bool((order != np.arange(len(order))).any())
    pick = (lambda a: a[order]) if moved else (lambda a: a)
    if moved:
        ids = [ids[i] for i in order.tolist()]
    classes = w.classes
    return {"ids": ids, "arrival": pick(d.arrivals), "prompt": pick(d.prompts), "output": pick(d.outputs),
            "code": pick(d.which).astype(np.int64), "names": [c.name for c in classes],
            "priority": [c.priority for c in classes], "after": [c.deadline_after_s for c in classes]}


def _cap(cfg, strategy: type) -> int:
    """The most tokens ``strategy`` puts in one pass: its token budget (a strategy whose knobs include one,
    within the pass's cap), the pass's cap, or none (request-level batching)."""
    if not strategy.iteration_level:
        return NO_CAP
    if "token_budget" in strategy.knobs:
        return min(cfg.token_budget, cfg.max_batched_tokens)
    return cfg.max_batched_tokens


def _fits(cfg, st: dict, kv) -> bool:
    """No prompt longer than the pass's token cap (none is chunked), and a full batch of the longest requests
    fits the KV memory (no block shortage, so nobody is preempted and the cohort never dissolves)."""
    prompt, out = st["prompt"], st["output"]
    most = int((prompt + out - 1).max())  # the most slots one sequence ever holds (its last token is not fed back)
    return ((not _whole(cfg) or int(prompt.max()) <= _cap(cfg, _decoder(cfg)))
            and cfg.max_batch * -(-most // kv.block_size) <= kv.num_blocks)


def _pack(k, cfg, st: dict, kv) -> dict:
    """The stream as the kernel's arrays (one row per request) and its settings."""
    prompt, out = st["prompt"], st["output"]
    n, bs = len(prompt), kv.block_size
    goal_of = tbt_goals(cfg)
    cls_goal = [goal_of.get(c, DEFAULT_TBT_SLO_S) for c in st["names"]]
    goals = list(dict.fromkeys(cls_goal))
    SI = np.zeros((n, k.SI_COLS), np.int64)
    SF = np.zeros((n, k.SF_COLS), np.float64)
    SI[:, k.PROMPT], SI[:, k.OUT], SI[:, k.CLS] = prompt, out, st["code"]
    SI[:, k.GOAL] = np.array([goals.index(g) for g in cls_goal], np.int64)[st["code"]]
    SF[:, k.ARR] = st["arrival"]
    SF[:, k.ADMIT:k.FINISH + 1] = np.nan
    engines = _pipeline(cfg)
    first, decoder = engines[0][0], engines[-1][0]
    C = np.array([cfg.max_batch, _cap(cfg, decoder), bs, kv.num_blocks, kv.capacity_tokens, n, int(out.max()),
                  loop.MAX_ITERATIONS, int(decoder.joins_mid_batch), _plan_code(cfg), _cap(cfg, first),
                  cfg.max_batched_tokens, MODELS[cfg.model].kv_bytes_per_token, int(cfg.record_iterations)], np.int64)
    return {"SI": SI, "SF": SF, "C": C, "names": st["names"], "goals": np.asarray(goals, np.float64)}


def _run(k, packed: dict, prices: np.ndarray) -> dict | None:
    """Call the kernel until the run is over, growing its buffers when it asks; None: leave it to Python."""
    C, SI, SF, goals = packed["C"], packed["SI"], packed["SF"], packed["goals"]
    mb, bs, n_cls = int(C[k.MAX_BATCH]), int(C[k.BS]), len(packed["names"])
    S = np.zeros(k.S_LEN, np.int64)
    T = np.zeros(k.T_LEN, np.float64)
    T[k.A_TIME] = T[k.E_TIME] = 0.0
    S[k.E_STATE] = k.E_INIT
    S[k.E_EID] = 1
    # members, others running, the plan's prefills (row 0) and their chunks (row 1), steady, staged
    ints = [np.zeros(mb + 1, np.int64), np.zeros(mb + 1, np.int64), np.zeros((2, mb + 1), np.int64),
            np.zeros(mb + 1, np.int64), np.zeros(mb + 1, np.int64)]
    crossings = np.zeros(bs, np.int64)
    built = np.zeros(len(goals), np.int64)
    cls_count = np.full(n_cls, -1, np.int64)
    cls_order = np.zeros(n_cls, np.int64)
    # Room for ~32 passes a request from the start (np.zeros maps pages lazily, so unused room costs no
    # memory); a light load of 10,000 requests needs ~380,000, and each doubling copies what is full.
    size = max(4096, 4 * (int(C[k.MAX_OUT]) + 4), min(32 * int(C[k.N]), 1 << 20))
    pgap, pcum, pover = np.zeros(size), np.zeros(size + 1), np.zeros((len(goals), size + 1), np.int64)
    gsize = size * n_cls + 2 * mb
    gcls, gval, gcnt = np.zeros(gsize, np.int64), np.zeros(gsize), np.zeros(gsize, np.int64)
    events = records.trace_buffers(int(C[k.N]), mb) if C[k.TRACED] else _events(k, C)
    while True:
        S[k.STATUS] = k.RUNNING
        if not native.kernel()(S, T, SI, SF, C, prices, *ints, crossings, goals, pgap, pcum, pover, built, gcls,
                               gval, gcnt, cls_count, cls_order, *events, n_cls):
            return None  # the kernel raised: the reference runs the config
        status = int(S[k.STATUS])
        if status == k.NEED_ROOM:  # double what is full; the state is all in these arrays
            if C[k.TRACED] and records.room_for_trace(S, C, events):
                events = records.grown(S, C, events)
            elif not C[k.TRACED] and S[k.NPASS] + C[k.MAX_OUT] + 4 >= len(pgap):  # the kernel's margins (run_events)
                pgap, pcum, pover = _grown(pgap), _grown(pcum), _grown(pover)
            else:
                gcls, gval, gcnt = _grown(gcls), _grown(gval), _grown(gcnt)
            continue
        if status == k.EXCEEDED:
            raise ConfigError("requests", f"run exceeded {int(C[k.MAX_IT]):,} iterations; use fewer requests")
        if status != k.DONE or np.isnan(SF[:, k.FINISH]).any():
            return None
        ngap = int(S[k.NGAP])
        return {"S": S, "T": T, "gcls": gcls[:ngap], "gval": gval[:ngap], "gcnt": gcnt[:ngap], "trace": events}


def _events(k, C) -> tuple:
    """A pipeline's event heap (times; priority, id, kind, a, b) and its queues (hand-offs, the link, the prefill
    engine's running prompts, the pass's other decodes: sim.compiled_disagg); placeholders for one engine."""
    if C[k.PLAN] != k.PLAN_DISAGG:
        return np.zeros(1), np.zeros((1, k.EV_COLS), np.int64), np.zeros((4, 1), np.int64)
    # Pending at once: per transfer in flight (at most a full decode batch) its next event, a release and its
    # end; per engine its pass and a stale wake or two; the arrivals' timeout and end.
    h = 4 * int(C[k.MAX_BATCH]) + 64
    return np.zeros(h), np.zeros((h, k.EV_COLS), np.int64), np.zeros((4, int(C[k.N]) + 1), np.int64)


def _grown(a: np.ndarray) -> np.ndarray:
    shape = list(a.shape)
    shape[-1] *= 2
    b = np.zeros(shape, a.dtype)
    b[..., :a.shape[-1]] = a
    return b


def _columns(k, st: dict, packed: dict):
    """The metrics' per-request columns straight from the kernel's arrays (what _Columns reads from the
    RequestResults), classes in order of first appearance."""
    SI, SF = packed["SI"], packed["SF"]
    code = st["code"]
    present, first = np.unique(code, return_index=True)
    ranked = present[np.argsort(first)]
    recode = np.zeros(len(st["names"]), np.int64)
    recode[ranked] = np.arange(len(ranked))
    return _Columns.of_arrays(len(code), [st["names"][c] for c in ranked.tolist()],
                              arrival=SF[:, k.ARR].copy(), first=SF[:, k.FIRST].copy(), finish=SF[:, k.FINISH].copy(),
                              admitted=SF[:, k.ADMIT].copy(), output=SI[:, k.OUT].copy(),
                              max_gap=SF[:, k.MAXGAP].copy(),
                              stalls=SI[:, k.STALLS].copy(), stall_time=SF[:, k.STALL].copy(), cls=recode[code],
                              priority=np.array(st["priority"], np.int64)[code if "after" in st else slice(None)])


class RequestTable(Sequence):
    """The run's RequestResults held as columns, each one built when it is read (a million of them built at
    once would cost seconds and ~300 MB). It reads like the list the Python engine returns, and compares
    equal to it. Rows of the compiled engine's family: nobody preempted, nobody rejected."""

    BLOCK = 65_536  # rows turned into Python numbers at a time while iterating

    def __init__(self, ids: list, names: list, cols: dict):
        self._ids, self._names, self._cols = ids, names, cols

    def __len__(self) -> int:
        return len(self._ids)

    def _rows(self, lo: int, hi: int) -> list:
        c, names = self._cols, self._names
        cut = {k: v[lo:hi].tolist() for k, v in c.items()}
        nan = lambda x: None if x != x else x  # noqa: E731 (NaN marks a time that never came)
        return [RequestResult(rid, names[code], pr, arr, p, o, gen, nan(adm), nan(first), nan(fin), 0, stalls, gap,
                              "", nan(dl), stall)
                for rid, code, pr, arr, p, o, gen, adm, first, fin, stalls, gap, dl, stall
                in zip(self._ids[lo:hi], cut["code"], cut["priority"], cut["arrival"], cut["prompt"], cut["output"],
                       cut["generated"], cut["admitted"], cut["first"], cut["finish"], cut["stalls"], cut["max_gap"],
                       cut["deadline"], cut["stall"])]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._rows(i, i + 1)[0]

    def __iter__(self):
        for lo in range(0, len(self), self.BLOCK):
            yield from self._rows(lo, min(lo + self.BLOCK, len(self)))

    def __eq__(self, other) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None

    def __repr__(self) -> str:
        return f"RequestTable({len(self)} requests)"


def _results(k, st: dict, packed: dict) -> RequestTable:
    """The per-request results as sim.loop.request_result would build them, kept as columns."""
    SI, SF, code = packed["SI"], packed["SF"], st["code"]
    if "after" in st:  # generated: priority and deadline from the class (a deadline is arrival + its offset)
        priority = np.array(st["priority"], np.int64)[code]
        after = np.array([np.nan if a is None else a for a in st["after"]], np.float64)[code]
        deadline = SF[:, k.ARR] + after
    else:
        priority = np.array(st["priority"], np.int64)
        deadline = np.array([np.nan if d is None else d for d in st["deadline"]], np.float64)
    cols = {"code": code, "priority": priority, "arrival": SF[:, k.ARR].copy(), "prompt": SI[:, k.PROMPT].copy(),
            "output": SI[:, k.OUT].copy(), "generated": SI[:, k.GEN].copy(), "admitted": SF[:, k.ADMIT].copy(),
            "first": SF[:, k.FIRST].copy(), "finish": SF[:, k.FINISH].copy(), "stalls": SI[:, k.STALLS].copy(),
            "max_gap": SF[:, k.MAXGAP].copy(), "deadline": deadline, "stall": SF[:, k.STALL].copy()}
    return RequestTable(st["ids"], st["names"], cols)


def _recorder(cfg, packed: dict, state: dict) -> Recorder:
    """A Recorder holding what the Python path's would: busy time, KV use, token gaps per class."""
    S, T = state["S"], state["T"]
    rec = Recorder(cfg.record_iterations, cfg.record_layout)
    rec.count = int(S[k.COUNT])
    names = [name for name, _, _ in STRATEGIES[cfg.policy].engines(cfg)]
    busy = [T[k.BUSY_P], T[k.BUSY]] if len(names) == 2 else [T[k.BUSY]]  # a pipeline: prefill, then decode
    rec.busy_s = {name: float(b) for name, b in zip(names, busy)}
    rec.kv_peak, rec.waste_area, rec.time_area = float(T[k.KVPEAK]), float(T[k.WASTE]), float(T[k.TAREA])
    rec.max_concurrent = int(S[k.MAXCONC])
    gcls, names = state["gcls"], packed["names"]
    firsts = np.unique(gcls, return_index=True)[1] if len(gcls) else []
    for c in gcls[np.sort(firsts)].tolist() if len(gcls) else []:
        mask = gcls == c
        vals, counts = array("d"), array("q")
        vals.frombytes(np.ascontiguousarray(state["gval"][mask]).tobytes())
        counts.frombytes(np.ascontiguousarray(state["gcnt"][mask]).tobytes())
        rec.gaps[names[c]] = (vals, counts)
    return rec
