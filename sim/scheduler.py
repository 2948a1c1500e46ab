"""Iteration-level scheduler (C7): one ``schedule()`` call plans one forward pass; ``update()`` applies it.

The model follows the book and vLLM's v1 scheduler: a sequence's state is counted in tokens. It knows
``num_tokens`` (prompt + tokens generated so far) and ``computed`` (tokens whose K and V are in the
cache). A pass computes some of the missing tokens of each scheduled sequence; when a sequence has
computed all its known tokens the pass also yields its next token. So "prefill" is simply a sequence
with many missing tokens (a whole prompt, a prompt chunk, or a prompt + output recomputed after
preemption) and "decode" is a sequence with exactly one missing token: prefill and decode can share a
pass (C3), and chunked prefill needs no special case.

``schedule(now)`` is pure decision-making plus KV bookkeeping: it returns a ``StepPlan`` (``sim.plan``)
and runs nothing. An executor turns the plan into time (``sim.loop``): the simulator with a cost model,
or the real executor on a tiny torch model. Then ``update(plan, end_s)`` advances the token counts. The
batching strategy (``sim.batching``), queue order (``sim.queue_order``), preemption mode
(``sim.preemption``) and KV manager (``sim.kv_memory``) are separate objects; this module owns only the
mechanics they share. The simulator's speed shortcut (the decode cohort) lives in ``sim.cohort``, as a
subclass: this class, which the traced runs and the real executor use, knows nothing of it.
"""

from __future__ import annotations

from sim.plan import Seq, StepPlan
from sim.workload import Request


class Scheduler:
    """One engine's scheduler: running batch, waiting queue, KV bookkeeping, and the policy objects.

    ``role`` is ``colocated`` (one engine does everything), ``prefill`` (hands a sequence off after its
    first token) or ``decode`` (receives prefilled sequences whose KV must be transferred in).
    """

    def __init__(self, *, batching, order, kv, preemption, max_batch: int, token_budget: int,
                 role: str = "colocated", recorder=None, max_batched_tokens: int | None = None):
        self.batching = batching
        self.order = order
        self.kv = kv
        self.preemption = preemption  # a mode object of sim.preemption
        self.max_batch = max_batch
        self.token_budget = token_budget
        self.max_batched_tokens = max_batched_tokens  # most tokens in one pass (None: no cap)
        self.role = role
        self.recorder = recorder
        # Without preemption a sequence must never outgrow its memory, so it reserves its maximum up
        # front; contiguous memory reserves the maximum by definition (regions cannot grow).
        self.reserve_full = preemption.reserves_maximum or kv.reserves_maximum
        self.waiting = order.queue()  # a HeapQueue or ResortQueue (sim.queue_order)
        self.running: list[Seq] = []
        self.handoffs: list[Seq] = []  # prefill role: sequences whose prefill finished this step
        self.recompute_out: list[Seq] = []  # decode role: sequences sent back for re-prefill
        self.left_since_plan = 0
        self.batch_size = 0  # static batching: size of the current batch when it started
        self.stored_tokens = 0  # tokens whose KV is cached (for waste accounting)

    # ---- admission bookkeeping -------------------------------------------------------------------

    def kv_need(self, seq: Seq, chunk: int) -> int:
        """Slots a sequence must hold to compute ``chunk`` more tokens."""
        if self.reserve_full:
            return seq.req.prompt_tokens + seq.req.max_new_tokens
        return seq.computed + chunk

    def max_need(self, req: Request) -> int:
        """The most slots this request will ever need at once (for the 'can never fit' check)."""
        if self.reserve_full:
            return req.prompt_tokens + req.max_new_tokens
        return req.prompt_tokens + req.output_tokens - 1  # the last token is never fed back

    def never_fits(self, req: Request) -> str:
        need = self.kv.rounded(self.max_need(req))
        cap = self.kv.max_tokens()
        if need > cap:
            what = "contiguous slots (prompt + max new tokens)" if self.reserve_full else "KV slots"
            return f"needs {need:,} {what} but the KV cache holds {cap:,}"
        return ""

    def add(self, seq: Seq, now: float) -> None:
        self.waiting.push(seq, now)

    # ---- planning helpers used by the batching strategies -----------------------------------------

    def new_plan(self) -> StepPlan:
        plan = StepPlan(leaves=self.left_since_plan)
        self.left_since_plan = 0
        return plan

    def _victim(self, now: float, plan: StepPlan) -> Seq | None:
        """Least urgent running sequence (largest key); never one whose KV is still in flight."""
        best = None
        best_key = None
        for s in self.running:
            if not s.ready:
                continue
            k = self.order.key(s, now)
            if best_key is None or k > best_key:
                best, best_key = s, k
        return best

    def preempt_seq(self, seq: Seq, plan: StepPlan) -> None:
        """Evict ``seq`` from the running batch before this pass (recompute: drop KV; swap: to host)."""
        self.running.remove(seq)
        if seq in plan.decode:
            plan.decode.remove(seq)
        plan.prefill = [(s, n) for s, n in plan.prefill if s is not seq]
        if seq in plan.joined:
            plan.joined.remove(seq)
        self._free(seq)
        self.preemption.evict(seq, plan)
        seq.preemptions += 1
        plan.preempted.append(seq)

    def _alloc(self, seq: Seq, tokens: int) -> bool:
        if self.kv.allocate(seq.id, tokens):
            seq.kv_slots = self.kv.held(seq.id)
            return True
        return False

    def _free(self, seq: Seq) -> None:
        self.kv.free(seq.id)
        seq.kv_slots = 0
        self.stored_tokens -= seq.computed

    def make_room(self, seq: Seq, tokens: int, plan: StepPlan, now: float) -> bool:
        """Grow ``seq`` to ``tokens`` slots, evicting the least urgent running sequences if allowed.
        Returns False when ``seq`` itself had to go (or no room could be made)."""
        if tokens <= seq.kv_slots:
            return True
        while not self._alloc(seq, tokens):
            if not self.preemption.may_preempt:
                return False
            victim = self._victim(now, plan)
            if victim is None:
                return False
            self.preempt_seq(victim, plan)
            if victim is seq:
                return False
        return True

    def schedule_running(self, plan: StepPlan, now: float, budget: int | None) -> int | None:
        """Give every running sequence its work: decodes first (one token each), then missing prompt
        tokens (whole, or chunked by ``budget``). Returns the budget left (None = unlimited)."""
        decoding, owed, roomy = self._classify(self.running, plan)
        return self._give_work(plan, now, budget, decoding, owed, roomy)

    def _give_work(self, plan: StepPlan, now: float, budget: int | None, decoding: list, owed: list,
                   roomy: bool) -> int | None:
        """``schedule_running`` once the running sequences are sorted into decoding and owed prompt tokens."""
        if budget is not None and len(decoding) > budget:
            decoding.sort(key=lambda s: self.order.key(s, now))
            plan.stalled.extend(decoding[budget:])
            decoding = decoding[:budget]
        decode = plan.decode
        if roomy:
            decode.extend(decoding)  # the common case: nobody needs a new block, nobody is preempted
        else:
            kv = self.kv
            for s in decoding:
                if s.computed < s.kv_slots:  # room in its last block: the common case
                    decode.append(s)
                elif plan.preempted and s in plan.preempted:
                    continue
                elif kv.take_block(s.id):  # a free block: no one needs to be preempted
                    s.kv_slots += kv.block_size
                    decode.append(s)
                elif self.make_room(s, s.computed + 1, plan, now):
                    decode.append(s)
        if budget is not None:
            budget -= len(plan.decode)
        for s in owed:
            if plan.preempted and s in plan.preempted:
                continue
            n = s.pending if budget is None else min(s.pending, budget)
            if n <= 0:
                break
            if self.reserve_full or self.make_room(s, s.computed + n, plan, now):
                plan.prefill.append((s, n))
                if budget is not None:
                    budget -= n
        return budget

    def _classify(self, seqs: list, plan: StepPlan) -> tuple[list, list, bool]:
        """Running sequences ``seqs``, in batch order: (decoding, owed prompt tokens, roomy), where roomy
        means every decoding one has a free slot in its last block (or reserved memory)."""
        joined = plan.joined  # admitted this step: _join already gave them their work
        decoding: list[Seq] = []
        owed: list[Seq] = []  # running sequences still missing prompt tokens (chunked or re-queued)
        reserve = self.reserve_full
        roomy = True
        for s in seqs:  # one pass: this loop runs once per sequence per iteration
            if not s.ready or (joined and s in joined):
                continue
            if s.num_tokens - s.computed == 1 and s.generated:
                decoding.append(s)
                if not reserve and s.computed >= s.kv_slots:
                    roomy = False
            else:
                owed.append(s)
        return decoding, owed, roomy

    def admit(self, plan: StepPlan, now: float, budget: int | None, min_one: bool = False,
              whole: bool = False) -> int | None:
        """Admit waiting requests in queue order while a slot, KV memory (and budget) allow.

        Stops at the first request that does not fit, so the order is never overtaken (no head-of-line
        skipping). With preemption enabled and an order other than FCFS, a waiting request may evict a
        strictly less urgent running one (C8). ``min_one`` lets one prompt exceed the budget (up to the
        pass's token cap). ``whole`` admits only whole prompts that fit the budget left; a prompt longer
        than the whole cap starts with a chunk in a pass without other prompts (and continues chunked).
        """
        cap = self.max_batched_tokens
        while len(self.waiting):
            if budget is not None and budget <= 0:
                break
            seq = self.waiting.peek(now)
            if len(self.running) >= self.max_batch and not self._evict_for(seq, plan, now):
                break
            if budget is None:
                chunk = seq.pending
            elif min_one and not plan.prefill:
                chunk = seq.pending if cap is None else min(seq.pending, cap)
            elif whole and seq.pending > budget:
                if plan.prefill or cap is None or seq.pending <= cap:
                    break  # waits for a pass with room for its whole prompt
                chunk = budget
            else:
                chunk = min(seq.pending, budget)
            need = self.kv_need(seq, chunk)
            while not self._alloc(seq, need):
                if not self._evict_for(seq, plan, now):
                    break
            else:
                self._join(seq, chunk, plan, now)
                if budget is not None:
                    budget -= chunk
                continue
            break
        return budget

    def _evict_for(self, seq: Seq, plan: StepPlan, now: float) -> bool:
        if not (self.preemption.may_preempt and self.order.may_preempt and self.running):
            return False
        victim = self._victim(now, plan)
        if victim is None or self.order.primary(victim, now) <= self.order.primary(seq, now):
            return False  # only a strictly more urgent request may take a slot
        self.preempt_seq(victim, plan)
        return True

    def _join(self, seq: Seq, chunk: int, plan: StepPlan, now: float) -> None:
        self.waiting.pop(now)
        self.running.append(seq)
        plan.joined.append(seq)
        if seq.admitted_s is None:
            # The clock reaches an arrival by adding a delay, which can land one ulp before it.
            seq.admitted_s = max(now, seq.req.arrival_s)
        if seq.swapped:  # its KV comes back from host memory; no recompute needed
            seq.swapped = False
            plan.swap_in_tokens += seq.computed
            self.stored_tokens += seq.computed
        if seq.needs_transfer:
            seq.needs_transfer = False
            seq.ready = False  # the engine starts the KV transfer; it decodes once the KV has arrived
            self.stored_tokens += seq.computed
            return
        if seq.is_decoding:
            plan.decode.append(seq)
        else:
            plan.prefill.append((seq, chunk))

    def finish_plan(self, plan: StepPlan, now: float) -> StepPlan:
        """Requeue this step's victims (after admission, so a victim cannot bounce straight back)."""
        for seq in plan.preempted:
            if self.role == "decode" and not seq.swapped:
                self.recompute_out.append(seq)  # its KV is gone: only a prefill engine can rebuild it
            else:
                self.waiting.push(seq, now)
        plan.waiting = len(self.waiting)
        plan.start_s = now
        return plan

    def schedule(self, now: float) -> StepPlan:
        plan = self.batching.plan(self, now)
        return self.finish_plan(plan, now)

    # ---- applying a finished pass -------------------------------------------------------------------

    def update(self, plan: StepPlan, end_s: float) -> list[Seq]:
        """Advance token counts after the pass that ended at ``end_s``; returns sequences that finished."""
        finished: list[Seq] = []
        gaps: dict = {}  # (class, gap) -> count for tokens whose gap is their own
        stepped: dict = {}  # class -> how many decodes had exactly the pass's own gap (most of them)
        self._apply_prefill(plan, end_s, finished, gaps)
        self._apply_taken(plan)
        self.stored_tokens += len(plan.decode)
        self._apply_decodes(plan.decode, plan, end_s, finished, gaps, stepped)
        self._settle(end_s - plan.start_s, stepped, gaps, finished)
        return finished

    def _apply_taken(self, plan: StepPlan, skip=()) -> None:
        """A prefill took the pass: the decodes that sat it out carry its time to their next token."""
        if plan.taken_s:
            for seq in plan.stalled:
                if not (skip and seq in skip):
                    seq.gap_stall_s += plan.taken_s

    def _apply_prefill(self, plan: StepPlan, end_s: float, finished: list, gaps: dict) -> list[Seq]:
        """Credit each prefill chunk; a sequence whose known tokens are all computed emits its next token.
        Returns those that emitted and go on decoding here."""
        going_on = []
        for seq, n in plan.prefill:
            seq.computed += n
            self.stored_tokens += n
            if seq.computed >= seq.num_tokens:
                self._emit(seq, end_s, finished, gaps)
                if not seq.done and self.role != "prefill":
                    going_on.append(seq)
        return going_on

    def _apply_decodes(self, seqs: list, plan: StepPlan, end_s: float, finished: list, gaps: dict,
                       stepped: dict) -> list[Seq]:
        """One decode step for each of ``seqs``, with its token gap and the delay a prefill added to it.
        Returns those that go on decoding."""
        start = plan.start_s
        step_gap = end_s - start  # the gap of every sequence whose previous token came out as this pass began
        extra = plan.prefill_delay_s  # every decode of this pass waited this much longer for its token
        marks = plan.stall_marks if self.recorder is not None and self.recorder.record_iterations else None
        handoff = self.role == "prefill"
        going_on = []
        for seq in seqs:  # the hot loop: one decode step per running sequence per pass
            seq.computed += 1
            g = seq.generated + 1  # a decoding sequence has generated at least one token already
            seq.generated = g
            seq.num_tokens += 1
            last = seq.last_token_s
            seq.last_token_s = end_s
            gs = seq.gap_stall_s + extra
            if gs:  # a prefill delayed this token: its delay, and a stall if the gap ran over the goal
                seq.gap_stall_s = 0.0
                seq.stall_s += gs
                if (step_gap if last == start else end_s - last) > seq.tbt_goal_s:
                    seq.stalls += 1
                    if marks is not None:
                        marks.append(seq)
            if last == start:
                cls = seq.cls
                stepped[cls] = stepped.get(cls, 0) + 1
                if step_gap > seq.max_gap_s:
                    seq.max_gap_s = step_gap
            else:  # it skipped passes (stalled, swapped back in): its own gap
                gap = end_s - last
                key = (seq.cls, gap)
                gaps[key] = gaps.get(key, 0) + 1
                if gap > seq.max_gap_s:
                    seq.max_gap_s = gap
            if g >= seq.output_tokens:
                self._finish(seq, end_s, finished)
            elif handoff:
                self.handoffs.append(seq)
            else:
                going_on.append(seq)
        return going_on

    def _settle(self, step_gap: float, stepped: dict, gaps: dict, finished: list) -> None:
        """Hand the pass's token gaps to the recorder and drop finished and handed-off sequences."""
        if self.recorder is not None:
            for cls, count in stepped.items():
                if count:
                    self.recorder.gap(cls, step_gap, count)
            for (cls, gap), count in gaps.items():
                self.recorder.gap(cls, gap, count)
        if finished or self.handoffs:
            self.running = [s for s in self.running if not s.done and s not in self.handoffs]

    def _emit(self, seq: Seq, t: float, finished: list, gaps: dict) -> None:
        seq.generated += 1
        seq.num_tokens += 1
        if seq.generated == 1:
            seq.first_token_s = t
        else:
            gap = t - seq.last_token_s
            if gap > seq.max_gap_s:
                seq.max_gap_s = gap
            if seq.gap_stall_s:  # stalled by a prefill before it was preempted and re-prefilled
                seq.stall_s += seq.gap_stall_s
                seq.gap_stall_s = 0.0
                if gap > seq.tbt_goal_s:
                    seq.stalls += 1
            key = (seq.cls, gap)
            gaps[key] = gaps.get(key, 0) + 1
        seq.last_token_s = t
        if seq.generated >= seq.output_tokens:
            self._finish(seq, t, finished)
        elif self.role == "prefill":
            self.handoffs.append(seq)

    def _finish(self, seq: Seq, t: float, finished: list) -> None:
        seq.done = True
        seq.finish_s = t
        finished.append(seq)
        self._free(seq)
        self.left_since_plan += 1

    def release(self, seq: Seq) -> None:
        """Prefill role: the sequence's KV has been copied to a decode engine; free the local copy.
        (Its ``kv_slots`` now mirror the decode engine's memory, so they stay as they are.)"""
        self.kv.free(seq.id)
        self.stored_tokens -= seq.computed
        self.left_since_plan += 1

    def kv_snapshot(self) -> tuple[int, int, int, int, int]:
        """(stored, held, reserved, internal, external) slots now; O(batch), used when tracing. A running
        sequence's ``kv_slots`` mirror what the KV manager holds for it (``_alloc``, ``_free``, a taken block)."""
        reserved = internal = 0
        for s in self.running:  # once per sequence per traced pass
            computed = s.computed
            future = s.kv_final - computed
            slack = s.kv_slots - computed
            r = slack if slack < future else (future if future > 0 else (slack if slack < 0 else 0))
            reserved += r
            internal += slack - r
        kv = self.kv
        stored = self.stored_tokens
        held_total = kv.held_tokens
        # Sequences that hold KV but are not running (prefill handoffs in flight) count as stored.
        internal += max(0, held_total - stored - reserved - internal)
        return stored, held_total, reserved, internal, kv.external_waste()
