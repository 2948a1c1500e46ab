"""The real executor: the simulator's own scheduler objects drive the tiny torch model, and every pass is timed.

"One scheduler, two executors" (DESIGN.md section 2). ``sim.engine`` turns a ``StepPlan`` into a duration
with the cost model; this module runs the same plan on ``sim.real.model.TinyLM`` and measures it. The
scheduler, batching strategy, queue order and KV manager are built exactly as the simulator builds them
(``sim.loop.build_schedulers``) and run in the same engine loop (``sim.loop.engine_loop``); the result
is the simulator's ``SimResult`` (same iteration records, same metrics via ``sim.metrics.compute_metrics``),
so a page or ``python -m sim validate`` can put the two side by side.

Time runs on the model's own clock: it advances by each pass's measured duration
(``time.perf_counter``, after ``torch.cuda.synchronize()`` on a GPU), and jumps to the next arrival when
the engine is idle instead of sleeping. On a shared CPU, ``clock="cpu"`` times a pass by the CPU time of
the thread that runs it (``time.thread_time``; torch runs on that one thread) instead: wall time also
counts the moments the OS gave the core to another program, which is noise from other tenants, not a
cost of the batch. Requests are released when that clock passes their arrival time,
so a 30-second workload does not take 30 seconds when the engine is mostly idle. The scheduler's own
planning time is measured too, but kept off the clock, as in the simulator (``schedule_s``).
``replay`` times every pass of a finished run again on its caches as they were, and ``execute(timings=...)``
lays the same plans on other durations (validation keeps each pass's median over the run and its replays).

Limits: ``disaggregated`` needs two engines and a KV link, which one process does not have; swap
preemption keeps the KV where it is (on the CPU there is no separate host memory to move it to).
"""

from __future__ import annotations

import contextlib
import gc
import time
from dataclasses import dataclass, field

from sim.batching import STRATEGIES
from sim.config import SimConfig
from sim.cost_model import BatchShape, build_cost_model
from sim.errors import ConfigError
from sim.loop import build_result, build_schedulers, engine_loop, never_fits, new_seq, price_stalls, sweep_unadmitted, tbt_goals
from sim.plan import Seq
from sim.recorder import Recorder
from sim.trace import SimResult
from sim.workload import generate

ENGINE = "engine"  # the one colocated engine, named as the simulator names it
CLOCKS = ("wall", "cpu")  # wall: time.perf_counter (the default); cpu: the compute thread's CPU time


@dataclass
class RealRun:
    """A measured run plus what validation needs beyond the ``SimResult``."""

    result: SimResult
    shapes: list[BatchShape]  # the shape of each measured pass, in the order of result.iterations
    durations_s: list[float]  # measured duration of each pass
    device: str
    schedule_s: float  # wall time the scheduler itself took (kept off the model clock, as in the simulator)
    fed: list[dict] = field(default_factory=list)  # per pass: request id -> tokens the model computed
    tokens: dict = field(default_factory=dict)  # request id -> prompt + generated token ids
    # execute(keep_work=True): per pass, (cache, token ids fed, the cache's length before the pass), so
    # ``replay`` can run every pass again exactly (holds every sequence's KV cache until dropped)
    work: list = field(default_factory=list)


class ScheduleDiverged(Exception):
    """execute(timings=...) planned a pass other than the one those timings belong to."""


def load_model(warmup: bool = True):
    """Build the tiny model (seeded weights) on CUDA or the CPU, warmed up so first passes are not outliers."""
    from sim.real.model import TinyLM
    model = TinyLM()
    if warmup:
        for n, d in ((64, 0), (1, 8), (32, 4), (128, 0)):
            work = [(model.new_cache(160), list(range(n)))]
            for _ in range(d):
                c = model.new_cache(160)
                c.length = 64
                work.append((c, [1]))
            run_pass(model, work)
    return model


def run_pass(model, work: list) -> list:
    """One forward pass and greedy sampling: the unit that is timed, here and in calibration."""
    logits = model.forward_mixed(work)
    import torch
    return torch.stack(logits).argmax(dim=-1).tolist()


def effective_clock(clock: str, device) -> str:
    """The clock a pass is really timed by: ``cpu`` (the compute thread's CPU time) only on the CPU. A GPU
    runs the kernels on its own, so the CPU's time cannot see them; there every pass is timed by the wall
    clock between two synchronizes, and reports, cache keys and labels say "wall"."""
    return "wall" if clock == "cpu" and device.type != "cpu" else clock  # anything else is checked by execute()


def timed_pass(model, work: list, clock: str = "wall") -> tuple[list, float]:
    """``run_pass`` with its duration in seconds: wall time (GPU work included: synchronized before and
    after), or with ``clock="cpu"`` on the CPU the compute thread's CPU time."""
    from sim.real.model import synchronize
    if effective_clock(clock, model.device) == "cpu":
        c0 = time.thread_time()
        out = run_pass(model, work)
        return out, time.thread_time() - c0
    synchronize(model.device)
    t0 = time.perf_counter()
    out = run_pass(model, work)
    synchronize(model.device)
    return out, time.perf_counter() - t0


@contextlib.contextmanager
def no_gc():
    """Keep Python's garbage collector out of timed passes (as ``timeit`` does): a collection landing in a
    2 ms pass would add a cost that belongs to no batch shape. Runs are short, so memory is not a concern."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def execute(cfg: SimConfig, model=None, progress=None, clock: str = "wall", between=None, keep_work: bool = False,
            timings: tuple | None = None) -> RealRun:
    """Run ``cfg``'s workload with its scheduler on the real model. ``progress(done, total)`` is called
    whenever a request finishes (for a progress bar). ``between(passes_so_far)`` is called after every
    pass, off the model's clock (validation times calibration shapes there). ``keep_work`` keeps what
    ``replay`` needs.

    ``timings=(shapes, durations)`` lays the same run on other measured durations (validation: the median
    of the run's own timing and its replays): the scheduler plans again, no pass is computed, and pass k
    takes ``durations[k]``. Raises ``ScheduleDiverged`` if a plan differs from ``shapes[k]``, which can
    happen only when requests arrive while the engine works (with a backlog, plans never depend on time)."""
    with no_gc():
        return _execute(cfg, model, progress, clock, between, keep_work, timings)


def replay(model, run: RealRun, clock: str = "wall", between=None) -> list[float]:
    """Time every pass of a finished ``execute(keep_work=True)`` run again, in order, and return the
    durations. Each cache is set back to the length it had before the pass, so the pass computes exactly
    what it computed in the run and writes the same keys and values to the same positions. On a shared
    machine a burst of other programs' load lasts ~0.2 s; the run and its replays meet different bursts,
    so the median of their timings of a pass is its typical cost, not whichever burst hit it."""
    out = []
    with no_gc():
        for k, entries in enumerate(run.work, 1):
            for cache, _, length in entries:
                cache.length = length
            out.append(timed_pass(model, [(cache, toks) for cache, toks, _ in entries], clock)[1])
            if between is not None:
                between(k)
    return out


def _execute(cfg: SimConfig, model, progress, clock: str, between, keep_work: bool, timings) -> RealRun:
    cfg.validate()
    if len(STRATEGIES[cfg.policy].engines(cfg)) != 1:
        raise ConfigError("policy", "the real executor runs one engine; choose static, continuous, prefill-first "
                                    "or chunked")
    if cfg.model != "tiny" or cfg.hardware != "tiny-cpu":
        raise ConfigError("model", "the real executor runs the tiny model: use model=tiny, hardware=tiny-cpu")
    if clock not in CLOCKS:
        raise ConfigError("clock", f"unknown clock {clock!r}; choose one of {', '.join(CLOCKS)}")
    model = model or load_model()
    ex = RealEngine(cfg, model, progress, clock, between, keep_work, timings)
    ex.drive()
    run = ex.run
    if timings is not None and len(run.durations_s) != len(timings[0]):
        raise ScheduleDiverged(f"{len(run.durations_s)} passes, the timed run had {len(timings[0])}")
    how = ("time.thread_time (CPU time)" if effective_clock(clock, model.device) == "cpu" else
           "time.perf_counter" + (", torch.cuda.synchronize() before and after" if model.device.type == "cuda" else ""))
    if timings is not None:
        how += ", the median of the run's own timing and replays of the whole run after it"
    desc = [("device", run.device, f"each pass timed with {how}"),
            ("model", f"tiny, {model.num_params():,} parameters", "sim/real/model.py, seeded random weights"),
            ("scheduler time (off the clock)", f"{run.schedule_s * 1e3:.1f} ms", "as in the simulator")]
    run.result = build_result(cfg, ex.seqs, ex.recorder, (ENGINE,), ex.sched.kv.capacity_tokens, desc)
    run.tokens = ex.tokens
    return run


class RealEngine:
    """The executor side of ``sim.loop.engine_loop`` on the tiny model: the scheduler, queue order, KV
    manager and recorder are built exactly as the simulator builds them (``sim.loop.build_schedulers``),
    and each plan is run on the model and timed (or, with ``timings``, laid on those durations)."""

    def __init__(self, cfg: SimConfig, model, progress, clock: str, between, keep_work: bool, timings):
        from sim.real.model import describe_device
        self.cfg, self.model, self.progress, self.clock, self.between = cfg, model, progress, clock, between
        self.keep_work, self.timings = keep_work, timings
        self.cost = build_cost_model(cfg.model, cfg.hardware, cfg.reorg_s, cfg.overhead_s, cfg.linear_cost)
        self.recorder = Recorder(cfg.record_iterations, cfg.record_layout)
        [(self.name, self.sched)] = build_schedulers(cfg, self.recorder)
        self.reqs = generate(cfg.workload, cfg.seed)
        for r in self.reqs:
            if r.prompt_tokens + r.output_tokens > model.cfg.max_len:
                raise ConfigError("requests", f"request {r.id} needs {r.prompt_tokens + r.output_tokens} positions; "
                                              f"the tiny model has {model.cfg.max_len}")
        self.seqs: list[Seq] = []
        self.tokens: dict[str, list] = {}
        self.caches: dict = {}
        self.pads: list = []  # static batching: dummy slots of finished sequences that still take a decode step
        self.run = RealRun(result=None, shapes=[], durations_s=[], device=describe_device(model.device),
                           schedule_s=0.0)
        self.clock_s = 0.0  # the model's own clock (seconds)
        self.nxt = 0  # the next request to release
        self.goals = tbt_goals(cfg)  # each class's TBT goal, for generation stalls
        self.done = 0  # requests finished or rejected (for progress)
        self._pass = None  # (shape, fed) of the pass being run

    def drive(self) -> None:
        """Run the engine loop on the model's clock: a pass advances it by its duration; idle, it jumps to
        the next arrival instead of sleeping, and the run ends when no arrival is left."""
        reqs = self.reqs
        for wait in engine_loop(self):
            if wait is None:
                if self.nxt >= len(reqs):
                    break
                self.clock_s = max(self.clock_s, reqs[self.nxt].arrival_s)
            else:
                self.clock_s = self.clock_s + wait
        sweep_unadmitted(self.seqs)

    def now(self) -> float:
        return self.clock_s

    def release(self, now: float) -> None:
        from sim.real.model import prompt_tokens
        reqs, sched = self.reqs, self.sched
        while self.nxt < len(reqs) and reqs[self.nxt].arrival_s <= now:  # arrivals the clock has passed
            req = reqs[self.nxt]
            seq = new_seq(req, self.nxt, self.goals)
            self.seqs.append(seq)
            reason = never_fits(req, [sched])
            if reason:
                seq.rejected_reason = reason
                self.done += 1
            else:
                self.tokens[req.id] = prompt_tokens(req.id, req.prompt_tokens, self.model.cfg.vocab, self.cfg.seed)
                sched.add(seq, req.arrival_s)
            self.nxt += 1

    def stretch(self, now: float) -> None:
        return None  # every pass is run: the real executor has no fast path

    def plan(self, now: float):
        t0 = time.perf_counter()
        plan = self.sched.schedule(now)
        self.run.schedule_s += time.perf_counter() - t0
        for s in plan.preempted:
            if not s.swapped:
                self.caches.pop(s.id, None)  # recompute: its KV is dropped and will be prefilled again
        return plan

    def idle(self) -> None:
        pass

    def run_plan(self, plan) -> float:
        shape = plan.shape()  # before update(): the shape reads each sequence's cached length
        run, timings = self.run, self.timings
        if timings is None:
            work, emits, fed = _work(self.model, plan, self.caches, self.tokens, self.pads)
            starts = [cache.length for cache, _ in work]
            out, dt = timed_pass(self.model, work, self.clock)
            for seq, tok in zip(emits, out):
                if seq is not None:
                    self.tokens[seq.id].append(tok)
            if self.keep_work:
                run.work.append([(cache, toks, n) for (cache, toks), n in zip(work, starts)])
        else:
            k = len(run.durations_s)
            if k >= len(timings[0]) or timings[0][k] != shape:
                raise ScheduleDiverged(f"pass {k + 1} differs from the timed run's")
            dt = timings[1][k]
            fed = {seq.id: n for seq, n in plan.prefill}
            fed.update({seq.id: 1 for seq in plan.decode})
        self._pass = (shape, fed, dt)
        price_stalls(self.cost, plan, shape, dt)  # measured time against the cost model's decode-only pass
        return dt

    def applied(self, finished: list) -> None:
        for s in finished:
            self.caches.pop(s.id, None)
        self.done += len(finished)
        shape, fed, dt = self._pass
        run = self.run
        run.shapes.append(shape)
        run.durations_s.append(dt)
        run.fed.append(fed)
        if self.progress is not None and finished:
            self.progress(self.done, len(self.reqs))  # only when a request finishes: a UI update costs CPU
        if self.between is not None:
            self.between(self.recorder.count)


def _work(model, plan, caches: dict, tokens: dict, pads: list) -> tuple[list, list, dict]:
    """Translate a plan into the model's input: (cache, token ids) per entry, who gets a token, who got what."""
    work, emits, fed = [], [], {}
    for seq, n in plan.prefill:
        cache = caches.get(seq.id)
        if cache is None:
            cache = caches[seq.id] = model.new_cache(seq.req.prompt_tokens + seq.req.output_tokens)
        cache.length = seq.computed  # equal already, unless a recompute started over
        work.append((cache, tokens[seq.id][seq.computed:seq.computed + n]))
        emits.append(seq if seq.computed + n >= seq.num_tokens else None)
        fed[seq.id] = n
    for seq in plan.decode:
        cache = caches[seq.id]
        cache.length = seq.computed
        work.append((cache, [tokens[seq.id][seq.computed]]))
        emits.append(seq)
        fed[seq.id] = 1
    while len(pads) < plan.padding:
        pads.append(model.new_cache(1))
    for pad in pads[:plan.padding]:
        pad.length = 0  # a finished sequence's slot in a static batch: real work, thrown away
        work.append((pad, [0]))
        emits.append(None)
    return work, emits, fed
