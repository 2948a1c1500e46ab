"""The engine loop both executors run, and how an engine's scheduler is built ("one scheduler, two executors").

Per pass: release the arrivals the clock has reached, plan with the scheduler, price or run the plan,
wait that long, apply it, count it (with a safety cap), record it, then let the executor route what the
pass produced (KV hand-offs, finished sequences). An empty plan idles: the executor sleeps until woken
(the simulator) or jumps to the next arrival (the real executor). Only "price or run this plan" and the
clock differ between the two executors, so ``engine_loop`` is a generator that yields how long to wait
(a number of seconds) or ``None`` (idle), and each executor drives it on its own clock.

An executor provides ``name``, ``sched``, ``recorder`` and:

* ``release(now)``: admit arrivals up to ``now`` to the scheduler's queue;
* ``stretch(now) -> end time | None``: passes it could price without planning (the simulator's fast path);
* ``plan(now) -> StepPlan``: ``sched.schedule(now)`` plus what the executor starts with it;
* ``idle()``: called on an empty plan;
* ``run_plan(plan) -> seconds``: price or run it, and ``price_stalls`` it (before ``update`` applies it);
* ``applied(finished)``: after the pass (and after a stretch) has been applied and recorded.
"""

from __future__ import annotations

from sim.batching import STRATEGIES
from sim.cost_model import HARDWARE, MODELS, BatchShape, kv_capacity_tokens
from sim.errors import ConfigError
from sim.kv_memory import make_kv
from sim.metrics import DEFAULT_TBT_SLO_S, compute_metrics
from sim.plan import Seq
from sim.preemption import PREEMPT_MODES
from sim.queue_order import make_order
from sim.scheduler import Scheduler
from sim.trace import RequestResult, SimResult

MAX_ITERATIONS = 20_000_000  # a safety net: no configuration may run forever


def engine_loop(ex):
    """One engine's passes, until the executor stops asking (see the module docstring)."""
    sched, rec, name = ex.sched, ex.recorder, ex.name
    clock, release, stretch = ex.now, ex.release, ex.stretch  # bound once: called every pass
    idle_spins = 0
    while True:
        now = clock()
        release(now)
        t_end = stretch(now)
        if t_end is not None:
            yield t_end - now
            ex.applied(sched.finish_stretch(t_end))  # the stretch's last pass may finish some
            continue
        plan = ex.plan(now)
        if plan.empty:
            ex.idle()
            if plan.preempted and idle_spins < 3:
                idle_spins += 1  # victims were requeued; try again at once
                continue
            idle_spins = 0
            yield None
            continue
        idle_spins = 0
        duration = ex.run_plan(plan)
        yield duration
        end = now + duration
        finished = sched.update(plan, end)
        rec.count += 1
        if rec.count > MAX_ITERATIONS:
            raise ConfigError("requests", f"run exceeded {MAX_ITERATIONS:,} iterations; use fewer requests")
        # Stalled in the trace: no token this pass, or a token gap over the TBT goal that a prefill caused.
        stalled = plan.stalled + [s for s in plan.stall_marks if s not in plan.stalled] if plan.stall_marks \
            else plan.stalled
        rec.record_pass(name, sched, plan, now, end, duration, finished, stalled)
        ex.applied(finished)


def price_stalls(cost, plan, shape: BatchShape, duration: float) -> None:
    """Generation stalls as the book means them: the delay a prefill adds to running sequences' tokens.
    A prefill that shares the pass delays each decode in it by the pass's time minus the same pass
    without the prefill (priced by ``cost``); a prefill that takes the pass (the decodes in
    ``plan.stalled`` sit it out) delays them by the whole pass. ``shape`` is the pass as planned."""
    if not shape.prefill_seqs:
        return
    if shape.decode_seqs > shape.padding_seqs:
        alone = cost.iteration_time(BatchShape(decode_seqs=shape.decode_seqs, padding_seqs=shape.padding_seqs,
                                               decode_context_tokens=shape.decode_context_tokens,
                                               leaves=shape.leaves, swap_tokens=shape.swap_tokens))
        plan.prefill_delay_s = max(duration - alone, 0.0)
    if plan.stalled:
        plan.taken_s = duration


def kv_capacity(cfg) -> int:
    """KV slots per engine: the configured number, or what fits after the weights on the hardware."""
    if cfg.kv_capacity_tokens is not None:
        return cfg.kv_capacity_tokens
    capacity = kv_capacity_tokens(MODELS[cfg.model], HARDWARE[cfg.hardware])
    if cfg.hardware == "tiny-cpu":
        capacity = min(capacity, 65_536)  # the real executor preallocates this much on the CPU
    return capacity


def build_schedulers(cfg, recorder, scheduler_class=Scheduler) -> list[tuple[str, Scheduler]]:
    """(engine name, scheduler) for every engine of ``cfg``'s policy, each with its own KV memory and
    one queue order shared by all (its keys are pure functions of a sequence and the time)."""
    order = make_order(cfg.order, cfg.expr, cfg.aging_step_s)
    capacity = kv_capacity(cfg)
    return [(name, scheduler_class(batching=strategy, order=order, kv=make_kv(cfg.memory, capacity, cfg.block_size),
                                   preemption=PREEMPT_MODES[cfg.preempt](), max_batch=cfg.max_batch,
                                   token_budget=cfg.token_budget, role=role, recorder=recorder,
                                   max_batched_tokens=cfg.max_batched_tokens if strategy.iteration_level else None))
            for name, strategy, role in STRATEGIES[cfg.policy].engines(cfg)]


def tbt_goals(cfg) -> dict[str, float]:
    """Each request class's TBT goal: a token gap over it that a prefill caused is a generation stall."""
    return {c.name: c.tbt_slo_s for c in cfg.workload.classes}


def new_seq(req, seq_no: int, goals: dict) -> Seq:
    return Seq(req, seq_no, goals.get(req.cls, DEFAULT_TBT_SLO_S))


def never_fits(req, scheds) -> str:
    """Why ``req`` can never run on these schedulers ("" if it can)."""
    for s in scheds:
        reason = s.never_fits(req)
        if reason:
            return reason
    return ""


def sweep_unadmitted(seqs: list[Seq]) -> None:
    """After the run: a sequence neither done nor rejected had nothing left to run it (a guard: admission
    always fits an empty engine)."""
    for seq in seqs:
        if not seq.done and not seq.rejected_reason:
            seq.rejected_reason = "never admitted: no engine could fit it"


def request_result(s: Seq) -> RequestResult:
    """A sequence's fate as the run leaves it (final once it is done or the run is over)."""
    req = s.req
    return RequestResult(s.id, req.cls, req.priority, req.arrival_s, req.prompt_tokens, req.output_tokens,
                         s.generated, s.admitted_s, s.first_token_s, s.finish_s if s.done else None,
                         s.preemptions, s.stalls, s.max_gap_s, s.rejected_reason, req.deadline_s, s.stall_s)


def build_result(cfg, seqs: list, recorder, engines: tuple, capacity: int, cost_description: list,
                 consume: bool = False) -> SimResult:
    """Per-request results and metrics from the engine's sequences (both executors). An entry of ``seqs``
    may already be its ``RequestResult`` (the simulator turns a sequence into one as it finishes).
    ``consume``: empty ``seqs`` as the results are built, so a long run never holds both at once."""
    reqs = []
    add = reqs.append
    for i, s in enumerate(seqs):
        add(s if type(s) is RequestResult else request_result(s))
        if consume:
            seqs[i] = None
    if consume:
        seqs.clear()
    metrics, by_class = compute_metrics(reqs, recorder, cfg.workload, len(engines))
    return SimResult(config=cfg, requests=reqs, iterations=recorder.iterations,
                     transfers=recorder.transfers, metrics=metrics, by_class=by_class,
                     engines=engines, kv_capacity_tokens=capacity,
                     tbt_samples=recorder.tbt_samples() if recorder.record_iterations else {},
                     cost_description=cost_description)
