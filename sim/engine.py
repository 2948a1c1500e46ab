"""The discrete-event engine: SimPy processes for arrivals, engine loops, and KV transfers.

``simulate(config)`` is the entry point. One process releases requests at their arrival times; one
process per engine repeats: plan a pass with the scheduler, price it with the cost model, wait that
long, apply it. With ``disaggregated`` there are prefill engines and decode engines, and a process per
handed-off sequence moves its KV cache over a shared link (C10).
"""

from __future__ import annotations

import simpy

from sim import batching
from sim.config import SimConfig
from sim.cost_model import HARDWARE, MODELS, BatchShape, build_cost_model, kv_capacity_tokens
from sim.errors import ConfigError
from sim.kv_memory import make_kv
from sim.metrics import compute_metrics
from sim.preemption import PREEMPT_MODES
from sim.queue_order import make_order
from sim.scheduler import Scheduler, Seq, StepPlan
from sim.trace import Iteration, RequestResult, SimResult, Transfer
from sim.workload import generate

# A decode step counts as a generation stall when a prefill in the same pass made the pass take more
# than this many times as long as the same pass without the prefill (or when it got no step at all).
STALL_FACTOR = 2.0
MAX_ITERATIONS = 20_000_000  # a safety net: no configuration may run forever


class Recorder:
    """Collects what the metrics and timelines need while the engines run."""

    def __init__(self, record_iterations: bool, record_layout: bool):
        self.record_iterations = record_iterations
        self.record_layout = record_layout
        self.iterations: list[Iteration] = []
        self.transfers: list[Transfer] = []
        # Token gaps (TBT) as weighted samples: class -> ([gap_s, ...], [count, ...]). Every decoding
        # sequence of a pass usually shares one gap, so this stays small while counting every gap.
        self.gaps: dict[str, tuple[list[float], list[int]]] = {}
        self.count = 0
        self.busy_s: dict[str, float] = {}
        self.kv_peak = 0.0
        self.waste_area = 0.0  # integral over time of wasted slots / capacity, summed over engines
        self.time_area = 0.0
        self.running_now: dict[str, int] = {}
        self.max_concurrent = 0

    def gap(self, cls: str, gap: float, count: int = 1) -> None:
        entry = self.gaps.get(cls)
        if entry is None:
            entry = self.gaps[cls] = ([], [])
        entry[0].append(gap)
        entry[1].append(count)

    def gap_run(self, cls: str, gaps: list[float], count: int) -> None:
        """One gap per pass for ``count`` sequences of class ``cls`` over a run of passes."""
        entry = self.gaps.get(cls)
        if entry is None:
            entry = self.gaps[cls] = ([], [])
        entry[0].extend(gaps)
        entry[1].extend([count] * len(gaps))

    def tbt_samples(self) -> dict:
        """class -> numpy array of every token gap in seconds (weighted samples expanded)."""
        import numpy as np
        return {c: np.repeat(np.asarray(v, dtype=float), np.asarray(w, dtype=np.int64))
                for c, (v, w) in self.gaps.items()}

    def record_pass(self, engine: str, sched: Scheduler, plan: StepPlan, start: float, end: float,
                    duration: float, finished: list, slowed: bool) -> list:
        """Account one applied pass (stalls, busy time, KV use; the trace row when recording).
        Shared by the simulated engine and the real executor; returns the stalled sequences."""
        stalled = plan.stalled + (plan.decode if slowed else [])
        for s in stalled:
            s.stalls += 1
        self.busy_s[engine] = self.busy_s.get(engine, 0.0) + duration
        held = sched.kv.held_tokens
        wasted = held - sched.stored_tokens + sched.kv.external_waste()
        self.waste_area += wasted / sched.kv.capacity_tokens * duration
        self.time_area += duration
        util = held / sched.kv.capacity_tokens
        if util > self.kv_peak:
            self.kv_peak = util
        self.running_now[engine] = len(plan.decode) + len(plan.prefill)
        total_running = sum(self.running_now.values())
        if total_running > self.max_concurrent:
            self.max_concurrent = total_running
        if self.record_iterations:
            self._record(engine, sched, plan, start, end, finished, stalled)
        return stalled

    def _record(self, engine: str, sched: Scheduler, plan: StepPlan, start: float, end: float, finished: list,
                stalled: list) -> None:
        stored, held, reserved, internal, external = sched.kv_snapshot()
        layout = ()
        if self.record_layout:
            layout = tuple((g.seq_id, g.start, g.length) for g in sched.kv.layout())
        self.iterations.append(Iteration(
            index=len(self.iterations) + 1, engine=engine, start_s=start, end_s=end,
            prefill=tuple((s.id, n) for s, n in plan.prefill), decode=tuple(s.id for s in plan.decode),
            stalled=tuple(s.id for s in stalled), joined=tuple(s.id for s in plan.joined),
            preempted=tuple(s.id for s in plan.preempted), finished=tuple(s.id for s in finished),
            waiting=plan.waiting, running=len(plan.decode) + len(plan.prefill) + plan.padding,
            kv_stored=stored, kv_held=held, kv_reserved=reserved, kv_internal=internal,
            kv_external=external, kv_capacity=sched.kv.capacity_tokens, layout=layout))


def slowed_by_prefill(cost, shape: BatchShape, duration: float) -> bool:
    """Did a prefill in this pass stall its decodes (the pass took STALL_FACTOR x the decode-only pass)?
    ``shape`` is the pass's shape as planned (before ``update`` moves the token counts on)."""
    if shape.decode_seqs and shape.prefill_seqs:
        alone = cost.iteration_time(BatchShape(decode_seqs=shape.decode_seqs, padding_seqs=shape.padding_seqs,
                                               decode_context_tokens=shape.decode_context_tokens))
        return duration > STALL_FACTOR * alone
    return False


class EngineProc:
    """One engine: a scheduler, a cost model and the SimPy loop that drives them."""

    def __init__(self, sim: "Simulation", name: str, sched: Scheduler):
        self.sim = sim
        self.name = name
        self.sched = sched
        self.wake = sim.env.event()

    def notify(self) -> None:
        if not self.wake.triggered:
            self.wake.succeed()

    def load(self) -> int:
        return len(self.sched.waiting) + len(self.sched.running)

    def loop(self):
        """Plan a pass, price it, wait for it, apply it; sleep when there is nothing to do."""
        sim, sched, env = self.sim, self.sched, self.sim.env
        rec = sim.recorder
        cost = sim.cost
        idle_spins = 0
        while True:
            now = env.now
            if sim.fast_forward:
                t_end = self._steady_stretch(now)
                if t_end is not None:
                    yield env.timeout(t_end - now)
                    finished = sched.finish_stretch(t_end)  # the stretch's last pass may finish some
                    if finished:
                        sim.on_finished(finished)
                    continue
            plan = sched.schedule(now)
            # Transfers of sequences admitted to a decode engine start now; they decode once arrived.
            for s in plan.joined:
                if not s.ready:
                    env.process(sim.transfer(s, self))
            if plan.empty:
                sim.route_recomputes(sched)
                if plan.preempted and idle_spins < 3:
                    idle_spins += 1  # victims were requeued; try again at once
                    continue
                idle_spins = 0
                self.wake = env.event()
                yield self.wake
                continue
            idle_spins = 0
            shape = plan.shape()
            duration = max(cost.iteration_time(shape), 1e-9)
            slowed = slowed_by_prefill(cost, shape, duration)
            yield env.timeout(duration)
            end = env.now
            finished = sched.update(plan, end)
            rec.count += 1
            if rec.count > MAX_ITERATIONS:
                raise ConfigError("requests", f"run exceeded {MAX_ITERATIONS:,} iterations; use fewer requests")
            rec.record_pass(self.name, sched, plan, now, end, duration, finished, slowed)
            if sched.handoffs:
                sim.hand_off(sched)
            sim.route_recomputes(sched)
            if finished:
                sim.on_finished(finished)


    def _steady_stretch(self, now: float) -> float | None:
        """Skip analytically through passes where the batch cannot change.

        When every running sequence is in the scheduler's decode cohort, nobody waits (or a static
        batch is running), no one finishes and no arrival lands for k passes, those k passes are
        identical but for the context length, which grows by one token per sequence per pass. Pricing
        them in a tight loop gives the same durations, token gaps, KV use and busy time as planning each
        one, without the scheduler (and without SimPy: one timeout covers the stretch).
        Returns the end time of the stretch, or None when the next pass must be planned normally.
        """
        sched, sim = self.sched, self.sim
        b = len(sched.cohort)
        if not b or b != len(sched.running) or sched.cohort_end != now:
            return None  # someone is outside the cohort, or the cohort sat out the last pass
        strategy = sched.batching
        if not strategy.stretch_allowed(sched, b):
            return None
        k = sched.next_finish_tick() - sched.tick  # up to the pass in which the first member finishes
        if kv_holes := sched.kv.has_holes:
            k -= 1  # a finish there changes the holes (external waste) that pass reports: plan that one
            if k < 1:
                return None
        nxt = sim.env.peek()  # the next event of any process (an arrival, another engine's pass, a transfer)
        padding = strategy.padding(sched, b)
        cost, rec, kv = sim.cost, sim.recorder, sched.kv
        cap = kv.capacity_tokens
        overhead, c0, c1, m0, m1 = cost.decode_line(b + padding, padding)
        ctx0 = sched.cohort_ctx
        k, crossings = sched.block_crossings(k)
        period = len(crossings)
        bs = getattr(kv, "block_size", 0)
        free, need = getattr(kv, "free_blocks", 0), 0  # free blocks; new blocks the stretch has used so far
        # A pass's time is overhead + max(compute, memory), both affine in the context length x; over the
        # stretch one of them usually stays on top, and then a pass costs one multiply-add.
        x_last = ctx0 + (k - 1) * b
        if m0 + m1 * ctx0 >= c0 + c1 * ctx0 and m0 + m1 * x_last >= c0 + c1 * x_last:
            base, slope = overhead + m0 + m1 * ctx0, m1 * b
        elif c0 + c1 * ctx0 >= m0 + m1 * ctx0 and c0 + c1 * x_last >= m0 + m1 * x_last:
            base, slope = overhead + c0 + c1 * ctx0, c1 * b
        else:
            base = slope = None
        # Sequences that left since the last pass make the first pass pay the reorganization (C4); a
        # static batch never reorganizes mid-batch (its planned passes drop those leaves too).
        reorg = cost.reorg_s * sched.left_since_plan if strategy.reorganizes_mid_batch else 0.0
        # Wasted KV (held but not storing a token, as record_pass counts it) weighted by pass time.
        unstored = kv.held_tokens - sched.stored_tokens
        waste_time = 0.0
        t = now
        durations = []
        grow = 0
        for j in range(k):
            grow = crossings[j % period]
            if grow:  # members cross into a new block before this pass
                need += grow
                if need > free:
                    break  # a block shortage: the per-sequence path decides who waits
                unstored += bs * grow
            unstored -= b
            if slope is not None:
                d = base + slope * j
            else:
                x = ctx0 + j * b
                compute, memory = c0 + c1 * x, m0 + m1 * x
                d = overhead + (compute if compute > memory else memory)
            if reorg:
                d += reorg
                reorg = 0.0
            if d < 1e-9:
                d = 1e-9
            t += d
            waste_time += unstored * d
            durations.append(d)
            if t >= nxt:
                break  # an arrival lands during this pass: the next one must be planned
        done = len(durations)
        sched.grow_cohort(done)
        if not done:
            return None
        util = kv.held_tokens / cap
        if done == k and not kv_holes:
            # The last pass finishes some members: they free their KV when it ends, so that pass's waste
            # and KV use leave them out (finish_stretch applies the rest once the clock gets there).
            held_before = kv.held_tokens - bs * grow  # after the previous pass of the stretch
            tails, slots = sched.stage_finishes(sched.tick + done)
            waste_time -= tails * durations[-1]
            util = (kv.held_tokens - slots) / cap
            if done > 1 and held_before / cap > util:
                util = held_before / cap
        busy = sum(durations)
        rec.waste_area += (waste_time + kv.external_waste() * busy) / cap
        rec.time_area += busy
        rec.busy_s[self.name] = rec.busy_s.get(self.name, 0.0) + busy
        for cls, n in sched.cohort_classes.items():
            if n:
                rec.gap_run(cls, durations, n)
        rec.count += done
        sched.left_since_plan = 0  # as a planned pass does: its leaves are paid for (or, static, dropped)
        sched.stored_tokens += done * b
        sched.tick += done
        sched.cohort_ctx += done * b
        sched.cohort_end = t
        sched.pass_gaps.extend(durations)
        if util > rec.kv_peak:
            rec.kv_peak = util
        return t


class Simulation:
    """Builds the engines for a config and runs them over the request stream."""

    def __init__(self, cfg: SimConfig):
        cfg.validate()
        self.cfg = cfg
        self.cost = build_cost_model(cfg.model, cfg.hardware, cfg.reorg_s, cfg.overhead_s, cfg.linear_cost)
        model, hw = MODELS[cfg.model], HARDWARE[cfg.hardware]
        self.kv_bytes_per_token = model.kv_bytes_per_token
        if cfg.kv_capacity_tokens is not None:
            capacity = cfg.kv_capacity_tokens
        else:
            capacity = kv_capacity_tokens(model, hw)
            if cfg.hardware == "tiny-cpu":
                capacity = min(capacity, 65_536)  # the real executor preallocates this much on the CPU
        self.capacity = capacity
        self.env = simpy.Environment()
        self.recorder = Recorder(cfg.record_iterations, cfg.record_layout)
        self.order = make_order(cfg.order, cfg.expr, cfg.aging_step_s)
        self.requests = generate(cfg.workload, cfg.seed)
        self.seqs: list[Seq] = []
        self.link = simpy.Resource(self.env, capacity=1)  # one shared interconnect between engine pools
        self.engines = [self._engine(name, strategy, role)
                        for name, strategy, role in batching.STRATEGIES[cfg.policy].engines(cfg)]
        self.prefill = [e for e in self.engines if e.sched.role != "decode"]  # where new requests go
        self.decode = [e for e in self.engines if e.sched.role == "decode"]
        self.capacity = self.engines[0].sched.kv.capacity_tokens  # paged memory rounds down to whole blocks
        self.source: dict[str, EngineProc] = {}
        # Steady stretches are skipped analytically only without a trace: the per-iteration records need
        # every pass planned (and a result differs from planning every pass only in float rounding).
        self.fast_forward = not cfg.record_iterations
        for e in self.engines:
            e.sched.lazy = self.fast_forward  # the decode cohort, too, leaves sequences' fields stale

    def _engine(self, name: str, strategy, role: str) -> EngineProc:
        cfg = self.cfg
        sched = Scheduler(batching=strategy, order=self.order,
                          kv=make_kv(cfg.memory, self.capacity, cfg.block_size),
                          preemption=PREEMPT_MODES[cfg.preempt](),
                          max_batch=cfg.max_batch, token_budget=cfg.token_budget, role=role,
                          recorder=self.recorder)
        return EngineProc(self, name, sched)

    def arrivals(self):
        env = self.env
        for i, req in enumerate(self.requests):
            if req.arrival_s > env.now:
                yield env.timeout(req.arrival_s - env.now)
            seq = Seq(req, i)
            self.seqs.append(seq)
            target = min(self.prefill, key=EngineProc.load)
            reason = target.sched.never_fits(req)
            if not reason and self.decode:
                reason = self.decode[0].sched.never_fits(req)
            if reason:
                seq.rejected_reason = reason
                continue
            target.sched.add(seq, env.now)
            target.notify()

    def hand_off(self, sched: Scheduler) -> None:
        """Prefill engine finished some prompts: queue each at the least loaded decode engine."""
        src = next(e for e in self.prefill if e.sched is sched)
        for seq in sched.handoffs:
            target = min(self.decode, key=EngineProc.load)
            seq.needs_transfer = True
            self.source[seq.id] = src
            target.sched.add(seq, self.env.now)
            target.notify()
        sched.handoffs.clear()

    def route_recomputes(self, sched: Scheduler) -> None:
        """Decode engine dropped a sequence's KV: send it back to a prefill engine to rebuild."""
        if not sched.recompute_out:
            return
        for seq in sched.recompute_out:
            target = min(self.prefill, key=EngineProc.load)
            target.sched.add(seq, self.env.now)
            target.notify()
        sched.recompute_out.clear()

    def transfer(self, seq: Seq, target: EngineProc):
        """Move a prefilled sequence's KV over the link; the prefill engine frees it afterwards."""
        env = self.env
        nbytes = seq.computed * self.kv_bytes_per_token
        with self.link.request() as slot:
            yield slot
            start = env.now
            yield env.timeout(nbytes / (self.cfg.link_gb_per_s * 1e9))
        src = self.source.pop(seq.id)
        src.sched.release(seq)
        src.notify()
        seq.ready = True
        target.notify()
        if self.recorder.record_iterations:
            self.recorder.transfers.append(Transfer(seq.id, src.name, target.name, start, env.now,
                                                    seq.computed, nbytes))

    def on_finished(self, finished: list[Seq]) -> None:
        # A finish frees slots and memory; engines asleep with a queue can now admit.
        for e in self.engines:
            if len(e.sched.waiting):
                e.notify()

    def run(self) -> SimResult:
        env = self.env
        env.process(self.arrivals())
        for e in self.engines:
            env.process(e.loop())
        env.run()
        for e in self.engines:
            e.sched.dissolve()  # a guard: every member finished already, so this syncs nothing
        for seq in self.seqs:
            if not seq.done and not seq.rejected_reason:
                # Nothing is left to run it (a guard: admission always fits an empty engine).
                seq.rejected_reason = "never admitted: no engine could fit it"
        return self._result()

    def _result(self) -> SimResult:
        return build_result(self.cfg, self.seqs, self.recorder, tuple(e.name for e in self.engines),
                            self.capacity, self.cost.describe())


def build_result(cfg: SimConfig, seqs: list[Seq], recorder: Recorder, engines: tuple, capacity: int,
                 cost_description: list) -> SimResult:
    """Per-request results and metrics from the engine's sequences (shared with the real executor)."""
    reqs = [RequestResult(
        id=s.id, cls=s.req.cls, priority=s.req.priority, arrival_s=s.req.arrival_s,
        prompt_tokens=s.req.prompt_tokens, output_tokens=s.req.output_tokens, generated_tokens=s.generated,
        admitted_s=s.admitted_s, first_token_s=s.first_token_s, finish_s=s.finish_s if s.done else None,
        preemptions=s.preemptions, stalls=s.stalls, max_gap_s=s.max_gap_s,
        rejected_reason=s.rejected_reason, deadline_s=s.req.deadline_s) for s in seqs]
    metrics, by_class = compute_metrics(reqs, recorder, cfg.workload, len(engines))
    return SimResult(config=cfg, requests=reqs, iterations=recorder.iterations,
                     transfers=recorder.transfers, metrics=metrics, by_class=by_class,
                     engines=engines, kv_capacity_tokens=capacity,
                     tbt_samples=recorder.tbt_samples() if recorder.record_iterations else {},
                     cost_description=cost_description)


def simulate(cfg: SimConfig) -> SimResult:
    """Run one configuration; deterministic for a given config (seed included)."""
    return Simulation(cfg).run()
