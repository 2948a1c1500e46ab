"""The discrete-event engine: processes for arrivals, engine loops, and KV transfers on one event clock.

``simulate(config)`` is the entry point. One process releases requests at their arrival times; one
process per engine runs the engine loop (``sim.loop``) with the cost model as the price of each plan.
With ``disaggregated`` there are prefill engines and decode engines, and a process per handed-off
sequence moves its KV cache over a shared link (C10). Without a per-iteration trace the schedulers carry
a decode cohort and skip steady stretches analytically (``sim.cohort``): the same numbers, faster, and
one SimPy timeout for a whole stretch of passes instead of one per pass.

The clock is SimPy's: a ``simpy.Environment`` holds simulated time and the event queue, every process
is a generator SimPy resumes, and the shared link is a ``simpy.Resource`` of capacity 1 (first come,
first served).
"""

from __future__ import annotations

from sim import fastpath
from sim.cohort import CohortScheduler
from sim.config import SimConfig
from sim.cost_model import MODELS, build_cost_model
from sim.loop import (build_result, build_schedulers, engine_loop, never_fits, new_seq, price_stalls,
                      request_result, sweep_unadmitted, tbt_goals)
from sim.plan import Seq, StepPlan
from sim.recorder import Recorder
from sim.scheduler import Scheduler
from sim.trace import SimResult, Transfer
from sim.workload import generate


class EngineProc:
    """One simulated engine: its scheduler, and the executor side of the engine loop (the cost model
    prices each plan; SimPy's clock waits for it)."""

    def __init__(self, sim: Simulation, name: str, sched: Scheduler):
        self.sim = sim
        self.name = name
        self.sched = sched
        self.recorder = sim.recorder
        self.wake = sim.env.event()
        self._env, self._cost = sim.env, sim.cost  # read every pass
        self._skips = sim.fast_forward  # its scheduler is then a CohortScheduler

    def notify(self) -> None:
        if not self.wake.triggered:
            self.wake.succeed()

    def load(self) -> int:
        return len(self.sched.waiting) + len(self.sched.running)

    def process(self):
        """The SimPy process: wait as the engine loop asks (a pass's duration, or until woken)."""
        env = self._env
        timeout = env.timeout
        for wait in engine_loop(self):
            if wait is None:
                self.wake = env.event()
                yield self.wake
            else:
                yield timeout(wait)

    # ---- the executor side of sim.loop.engine_loop ------------------------------------------------

    def now(self) -> float:
        return self.sim.env.now

    def release(self, now: float) -> None:
        pass  # the arrivals process hands requests over as they arrive

    def stretch(self, now: float) -> float | None:
        if not self._skips:
            return None
        st = self.sched.skip_stretch(now, self._env.peek(), self._cost)
        if st is None:
            return None
        self.recorder.account_stretch(self.name, st)
        return st.end_s

    def plan(self, now: float) -> StepPlan:
        plan = self.sched.schedule(now)
        # Transfers of sequences admitted to a decode engine start now; they decode once arrived.
        for s in plan.joined:
            if not s.ready:
                self.sim.env.process(self.sim.transfer(s, self))
        return plan

    def idle(self) -> None:
        self.sim.route_recomputes(self.sched)

    def run_plan(self, plan: StepPlan) -> float:
        cost = self._cost
        shape = plan.shape()
        duration = max(cost.iteration_time(shape), 1e-9)
        price_stalls(cost, plan, shape, duration)
        return duration

    def applied(self, finished: list[Seq]) -> None:
        sim = self.sim
        if self.sched.handoffs:
            sim.hand_off(self.sched)
        sim.route_recomputes(self.sched)
        if finished:
            sim.on_finished(finished)


class Simulation:
    """Builds the engines for a config and runs them over the request stream."""

    def __init__(self, cfg: SimConfig):
        cfg.validate()
        self.cfg = cfg
        self.cost = build_cost_model(cfg.model, cfg.hardware, cfg.reorg_s, cfg.overhead_s, cfg.linear_cost)
        self.kv_bytes_per_token = MODELS[cfg.model].kv_bytes_per_token
        from simpy import Environment, Resource  # here: a run on the compiled engine needs no SimPy (~0.05 s)
        self.env = Environment()
        self.recorder = Recorder(cfg.record_iterations, cfg.record_layout)
        # Steady stretches are skipped analytically only without a trace: the per-iteration records need
        # every pass planned (and a result differs from planning every pass only in float rounding).
        self.fast_forward = not cfg.record_iterations
        scheds = build_schedulers(cfg, self.recorder, CohortScheduler if self.fast_forward else Scheduler)
        self.requests = generate(cfg.workload, cfg.seed)
        self.tbt_goals = tbt_goals(cfg)
        # Request i's sequence, replaced by its RequestResult once it finishes: a finished sequence's
        # numbers are final, and a million-request run would otherwise hold every Seq (and its Request)
        # to the end as well as the results.
        self.seqs: list = []
        self.link = Resource(self.env, capacity=1)  # one shared interconnect between engine pools
        self.engines = [EngineProc(self, name, sched) for name, sched in scheds]
        self.prefill = [e for e in self.engines if e.sched.role != "decode"]  # where new requests go
        self.decode = [e for e in self.engines if e.sched.role == "decode"]
        self.capacity = self.engines[0].sched.kv.capacity_tokens  # paged memory rounds down to whole blocks
        self.source: dict[str, EngineProc] = {}

    def arrivals(self):
        env = self.env
        requests, prefill = self.requests, self.prefill
        first = prefill[0]
        scheds = [first.sched] + [e.sched for e in self.decode[:1]]  # where a request must fit
        for i, req in enumerate(requests):
            if req.arrival_s > env.now:
                yield env.timeout(req.arrival_s - env.now)
            seq = new_seq(req, i, self.tbt_goals)
            self.seqs.append(seq)
            requests[i] = None  # its sequence holds it now (and lets it go when it finishes)
            target = min(prefill, key=EngineProc.load) if len(prefill) > 1 else prefill[0]
            reason = never_fits(req, scheds if target is first else [target.sched] + scheds[1:])
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
        seqs = self.seqs
        for s in finished:
            seqs[s.seq_no] = request_result(s)
        # A finish frees slots and memory; engines asleep with a queue can now admit.
        for e in self.engines:
            if len(e.sched.waiting):
                e.notify()

    def run(self) -> SimResult:
        env = self.env
        env.process(self.arrivals())
        for e in self.engines:
            env.process(e.process())
        env.run()
        sweep_unadmitted([s for s in self.seqs if type(s) is Seq])
        return self._result()

    def _result(self) -> SimResult:
        return build_result(self.cfg, self.seqs, self.recorder, tuple(e.name for e in self.engines),
                            self.capacity, self.cost.describe(), consume=True)


def simulate(cfg: SimConfig) -> SimResult:
    """Run one configuration; deterministic for a given config (seed included). A run the compiled kernel
    covers goes to it when ``sim.fastpath.wanted`` says so (the same results, bit for bit, traced or not);
    the rest, and every run with ``BATCH_LAB_ENGINE=python``, to the reference below."""
    if fastpath.wanted(cfg):
        res = fastpath.simulate(cfg)
        if res is not None:
            return res
    return Simulation(cfg).run()
