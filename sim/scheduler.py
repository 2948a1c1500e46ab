"""Iteration-level scheduler (C7): one ``schedule()`` call plans one forward pass; ``update()`` applies it.

The model follows the book and vLLM's v1 scheduler: a sequence's state is counted in tokens. It knows
``num_tokens`` (prompt + tokens generated so far) and ``computed`` (tokens whose K and V are in the
cache). A pass computes some of the missing tokens of each scheduled sequence; when a sequence has
computed all its known tokens the pass also yields its next token. So "prefill" is simply a sequence
with many missing tokens (a whole prompt, a prompt chunk, or a prompt + output recomputed after
preemption) and "decode" is a sequence with exactly one missing token: prefill and decode can share a
pass (C3), and chunked prefill needs no special case.

``schedule(now)`` is pure decision-making plus KV bookkeeping: it returns a ``StepPlan`` and runs nothing.
An executor turns the plan into time: the simulator with a cost model, or ``sim.real_executor`` on a real
torch model. Then ``update(plan, end_s)`` advances the token counts. The batching strategy
(``sim.batching``), queue order (``sim.queue_order``), preemption mode and KV manager (``sim.kv_memory``)
are separate objects; this module owns only the mechanics they share.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from sim.cost_model import BatchShape
from sim.workload import Request


class Seq:
    """A request inside the engine: its token counts and the times the metrics need."""

    __slots__ = ("req", "id", "seq_no", "num_tokens", "computed", "generated", "first_token_s",
                 "last_token_s", "finish_s", "admitted_s", "preemptions", "swapped", "ready",
                 "needs_transfer", "done", "rejected_reason", "stalls", "max_gap_s", "kv_slots", "cls",
                 "output_tokens", "anchor", "cohort_gen")

    def __init__(self, req: Request, seq_no: int):
        self.req = req
        self.id = req.id
        self.seq_no = seq_no  # admission tie-breaker: the order requests reached the scheduler
        self.num_tokens = req.prompt_tokens
        self.computed = 0
        self.generated = 0
        self.first_token_s: float | None = None
        self.last_token_s: float | None = None
        self.finish_s: float | None = None
        self.admitted_s: float | None = None  # first time the scheduler gave it a slot
        self.preemptions = 0
        self.swapped = False  # KV lives in host memory (swap preemption)
        self.ready = True  # False while its KV is still in flight to a decode engine
        self.needs_transfer = False  # admitted to a decode engine, KV must cross the link first
        self.done = False
        self.rejected_reason = ""
        self.stalls = 0
        self.max_gap_s = 0.0
        self.kv_slots = 0  # KV slots this sequence holds now (mirrors the KV manager; saves a lookup per token)
        self.cls = req.cls
        self.output_tokens = req.output_tokens
        self.anchor = 0  # in the decode cohort: the scheduler's tick its token counts were last synced at
        self.cohort_gen = 0  # bumped on each cohort entry, so heap entries from an earlier stay go stale

    @property
    def pending(self) -> int:
        """Tokens to compute before the next token can be generated."""
        return self.num_tokens - self.computed

    @property
    def is_decoding(self) -> bool:
        return self.generated > 0 and self.num_tokens - self.computed == 1

    def __repr__(self) -> str:
        return f"Seq({self.id}, computed={self.computed}/{self.num_tokens}, generated={self.generated})"


@dataclass
class StepPlan:
    """What one forward pass does. Produced by ``Scheduler.schedule``; read by executors and the trace."""

    prefill: list = field(default_factory=list)  # (Seq, n): compute n of its missing tokens (a prefill chunk)
    decode: list = field(default_factory=list)  # Seq: one decode step each (exactly one missing token)
    joined: list = field(default_factory=list)  # Seq admitted to the running batch in this step
    preempted: list = field(default_factory=list)  # Seq evicted before this pass (KV dropped or swapped out)
    stalled: list = field(default_factory=list)  # decoding Seq that got no step in this pass
    leaves: int = 0  # sequences that left the batch since the previous pass (C4 cost)
    padding: int = 0  # static batching: finished sequences still occupying a slot in the batch
    swap_in_tokens: int = 0
    swap_out_tokens: int = 0
    waiting: int = 0  # queue length after planning
    start_s: float = 0.0  # when the pass starts (the time the plan was made)
    cohort_n: int = 0  # the first cohort_n of ``decode`` are the scheduler's cohort (their counts are stale)
    cohort_ctx: int = 0  # their summed context length, which their stale ``computed`` fields do not give

    @property
    def empty(self) -> bool:
        return not self.prefill and not self.decode

    def shape(self) -> BatchShape:
        """The aggregate numbers a cost model prices."""
        pf_tokens = pf_pairs = pf_cached = 0
        for seq, n in self.prefill:
            c = seq.computed
            pf_tokens += n
            pf_cached += c
            pf_pairs += n * (c + (n + 1) / 2)  # each new token attends to the cache and earlier new tokens
        n = self.cohort_n
        ctx = self.cohort_ctx + sum([seq.computed for seq in (self.decode[n:] if n else self.decode)])
        return BatchShape(prefill_tokens=pf_tokens, prefill_attn_pairs=pf_pairs, prefill_seqs=len(self.prefill),
                          prefill_cached_tokens=pf_cached, decode_seqs=len(self.decode) + self.padding,
                          padding_seqs=self.padding,
                          decode_context_tokens=ctx, joins=len(self.joined), leaves=self.leaves,
                          swap_tokens=self.swap_in_tokens + self.swap_out_tokens)


class WaitingQueue:
    """Requests waiting for a slot, ordered by the queue order's key (smallest = most urgent).

    Orders whose key does not change with time live in a heap; time-dependent orders (aging, custom
    expressions over waiting time) are re-sorted once per step at most.
    """

    def __init__(self, order):
        self.order = order
        self._heap: list = []
        self._list: list = []
        self._sorted_at: float | None = None

    def __len__(self) -> int:
        return len(self._list) if self.order.time_dependent else len(self._heap)

    def push(self, seq: Seq, now: float) -> None:
        if self.order.time_dependent:
            self._list.append(seq)
            self._sorted_at = None
        else:
            heapq.heappush(self._heap, (self.order.key(seq, now), seq.seq_no, seq))

    def _resort(self, now: float) -> None:
        if self._sorted_at != now:
            self._list.sort(key=lambda s: self.order.key(s, now), reverse=True)  # most urgent at the end
            self._sorted_at = now

    def peek(self, now: float) -> Seq | None:
        if self.order.time_dependent:
            if not self._list:
                return None
            self._resort(now)
            return self._list[-1]
        return self._heap[0][2] if self._heap else None

    def pop(self, now: float) -> Seq:
        if self.order.time_dependent:
            self._resort(now)
            return self._list.pop()
        return heapq.heappop(self._heap)[2]


class Scheduler:
    """One engine's scheduler: running batch, waiting queue, KV bookkeeping, and the policy objects.

    ``role`` is ``colocated`` (one engine does everything), ``prefill`` (hands a sequence off after its
    first token) or ``decode`` (receives prefilled sequences whose KV must be transferred in).
    """

    def __init__(self, *, batching, order, kv, preemption, max_batch: int, token_budget: int,
                 role: str = "colocated", recorder=None):
        self.batching = batching
        self.order = order
        self.kv = kv
        self.preemption = preemption  # a mode object of sim.preemption
        self.max_batch = max_batch
        self.token_budget = token_budget
        self.role = role
        self.recorder = recorder
        # Without preemption a sequence must never outgrow its memory, so it reserves its maximum up
        # front; contiguous memory reserves the maximum by definition (regions cannot grow).
        self.reserve_full = preemption.reserves_maximum or kv.reserves_maximum
        self.waiting = WaitingQueue(order)
        self.running: list[Seq] = []
        self.handoffs: list[Seq] = []  # prefill role: sequences whose prefill finished this step
        self.recompute_out: list[Seq] = []  # decode role: sequences sent back for re-prefill
        self.left_since_plan = 0
        self.batch_size = 0  # static batching: size of the current batch when it started
        self.stored_tokens = 0  # tokens whose KV is cached (for waste accounting)
        # The decode cohort (see ``_promote``); only the simulator turns it on, and only without a trace.
        self.lazy = False
        self.cohort: dict[Seq, None] = {}  # insertion-ordered set
        self.tick = 0  # passes the cohort has taken
        self.cohort_ctx = 0  # summed ``computed`` of the cohort's members, kept current
        self.cohort_end = 0.0  # when the cohort's last token came out (every member's last_token_s)
        self.cohort_classes: dict[str, int] = {}  # class -> members, for the per-pass token gaps
        self.pass_gaps: list[float] = []  # gap of cohort pass gap_base + i + 1, for the members' max_gap_s
        self.gap_base = 0
        self._finish_heap: list = []  # (tick at which it finishes, seq_no, cohort_gen, Seq)
        self._block_heap: list = []  # (tick at which it needs a new block, seq_no, cohort_gen, Seq)
        self._stretch_due: list | None = None  # block_crossings -> grow_cohort: the entries it popped
        self._finishing: list[Seq] = []  # stage_finishes -> finish_stretch: members done in a stretch

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

    # ---- the decode cohort -------------------------------------------------------------------------
    #
    # At high load a pass is mostly sequences taking one decode step each, and touching every one of
    # them twice per pass (plan, then apply) is where a simulation spends its time. A sequence that
    # decoded in a pass and did not finish joins the cohort: from then on, while it takes a step in
    # every pass, its counts are not updated per pass. The scheduler counts cohort passes (``tick``) and
    # a member's true counts are its stored ones plus ``tick - anchor``; a heap says when each member
    # finishes and another when it needs a new KV block, so a pass costs O(changes), not O(batch).
    # The cohort may sit out a pass as a whole (prefill-first stalls every decode); its next token gap
    # then spans both passes. Anything that reads a member's fields in a way the shortcut does not
    # cover (choosing a victim, a budget that stalls some decodes, a block shortage) first
    # ``dissolve``s the cohort, which syncs every member and leaves the ordinary per-sequence path to
    # decide; tests check both paths give the same numbers.

    def _promote(self, seq: Seq, end_s: float) -> None:
        """``seq``'s last token came out as the pass just applied ended (``end_s``) and it goes on
        decoding: let the cohort carry it."""
        if not self.cohort:
            self.pass_gaps.clear()
            self.gap_base = self.tick
            self.cohort_end = end_s
        self.cohort[seq] = None
        seq.anchor = self.tick
        seq.cohort_gen += 1
        gen = seq.cohort_gen
        heapq.heappush(self._finish_heap, (self.tick + seq.output_tokens - seq.generated, seq.seq_no, gen, seq))
        if not self.reserve_full:
            heapq.heappush(self._block_heap, (self.tick + seq.kv_slots - seq.computed, seq.seq_no, gen, seq))
        self.cohort_ctx += seq.computed
        self.cohort_classes[seq.cls] = self.cohort_classes.get(seq.cls, 0) + 1

    def _sync(self, seq: Seq) -> None:
        """Bring a member's stored counts up to the current tick."""
        n = self.tick - seq.anchor
        if n:
            seq.computed += n
            seq.generated += n
            seq.num_tokens += n
            seq.last_token_s = self.cohort_end
            base = self.gap_base
            longest = max(self.pass_gaps[seq.anchor - base:self.tick - base])
            if longest > seq.max_gap_s:
                seq.max_gap_s = longest
            seq.anchor = self.tick

    def _leave(self, seq: Seq) -> None:
        self._sync(seq)
        del self.cohort[seq]
        self.cohort_ctx -= seq.computed
        self.cohort_classes[seq.cls] -= 1

    def dissolve(self, plan: StepPlan | None = None) -> None:
        """Sync every member and empty the cohort."""
        for seq in self.cohort:
            self._sync(seq)
        self.cohort.clear()
        self.cohort_classes.clear()
        self.cohort_ctx = 0
        self._finish_heap.clear()
        self._block_heap.clear()
        if plan is not None:
            plan.cohort_n = 0
            plan.cohort_ctx = 0

    def _live(self, entry: tuple) -> bool:
        """Is this heap entry (key, seq_no, cohort_gen, Seq) from its sequence's current cohort stay?"""
        return entry[3].cohort_gen == entry[2] and entry[3] in self.cohort

    def _due(self, heap: list, tick: int) -> list:
        """Pop the live entries of a cohort heap due at or before ``tick`` (stale ones are dropped)."""
        due = []
        while heap and heap[0][0] <= tick:
            entry = heapq.heappop(heap)
            if self._live(entry):
                due.append(entry)
        return due

    def _give_blocks(self, due: list) -> None:
        kv, bs, heap = self.kv, self.kv.block_size, self._block_heap
        for key, no, gen, seq in due:
            kv.take_block(seq.id)
            seq.kv_slots += bs
            heapq.heappush(heap, (key + bs, no, gen, seq))

    def stage_finishes(self, tick: int) -> tuple[int, int]:
        """Members that finish in the pass ending at ``tick`` (a stretch's last pass): set them aside for
        ``finish_stretch`` and return their unfilled KV slots after that pass and the slots they hold."""
        due = self._due(self._finish_heap, tick)
        self._finishing = [e[3] for e in due]
        tails = slots = 0
        for seq in self._finishing:
            slots += seq.kv_slots
            tails += seq.kv_slots - (seq.computed + tick - seq.anchor)
        return tails, slots

    def finish_stretch(self, end_s: float) -> list[Seq]:
        """Finish the members ``stage_finishes`` set aside, now that the clock has reached their last token."""
        finished: list[Seq] = []
        for seq in self._finishing:
            self._leave(seq)
            self._finish(seq, end_s, finished)
        self._finishing = []
        if finished:
            self.running = [s for s in self.running if not s.done]
        return finished

    def next_finish_tick(self) -> int | None:
        """The tick after whose pass the first member finishes (None: empty cohort)."""
        heap = self._finish_heap
        while heap:
            if self._live(heap[0]):
                return heap[0][0]
            heapq.heappop(heap)
        return None

    def block_crossings(self, passes: int) -> tuple[int, list[int]]:
        """For a stretch of up to ``passes`` cohort passes: (passes, crossings), where crossings[r] counts
        the members that need a new KV block before pass r, r + block_size, r + 2 x block_size, ... (a
        member fills one block every block_size passes). ``passes`` shrinks so that a member whose next
        block is more than a block away needs none inside the stretch. ``grow_cohort`` must follow."""
        if self.reserve_full:
            return passes, [0]
        heap, bs, t0 = self._block_heap, self.kv.block_size, self.tick
        crossings = [0] * bs
        if passes <= bs:
            # A short stretch (high load, big batch): only the heap's head can need a block, once.
            due = self._due(heap, t0 + passes - 1)
            for entry in due:
                crossings[entry[0] - t0] += 1
            self._stretch_due = due
            return passes, crossings
        live = [e for e in heap if self._live(e)]
        self._block_heap = live  # stale entries of members that left are dropped here
        self._stretch_due = None
        for entry in live:
            r = entry[0] - t0
            if r < bs:
                crossings[r] += 1
            elif r < passes:
                passes = r
        return passes, crossings

    def grow_cohort(self, passes: int) -> None:
        """Give the members the KV blocks ``passes`` cohort passes need (the caller checked they are free)."""
        if self.reserve_full:
            return
        kv, bs, end = self.kv, self.kv.block_size, self.tick + passes
        heap = self._block_heap
        if self._stretch_due is not None:
            self._give_blocks([e for e in self._stretch_due if e[0] < end])
            for entry in self._stretch_due:
                if entry[0] >= end:
                    heapq.heappush(heap, entry)  # due after the stretch ended: back to wait
            return
        for i, (key, no, gen, seq) in enumerate(heap):
            if key < end:
                n = (end - 1 - key) // bs + 1
                seq.kv_slots += n * bs
                kv.take_blocks(seq.id, n)
                heap[i] = (key + n * bs, no, gen, seq)
        heapq.heapify(heap)

    # ---- planning helpers used by the batching strategies -----------------------------------------

    def new_plan(self) -> StepPlan:
        plan = StepPlan(leaves=self.left_since_plan)
        self.left_since_plan = 0
        return plan

    def _victim(self, now: float, plan: StepPlan) -> Seq | None:
        """Least urgent running sequence (largest key); never one whose KV is still in flight."""
        if self.cohort:
            self.dissolve(plan)  # keys may read token counts, and a member may be the one to go
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
        cohort = self.cohort
        decoding, owed, roomy = self._classify(plan, cohort)
        if cohort:
            # The cohort decodes as a whole or not at all: a budget that stalls some decodes, or a block
            # shortage that must choose who grows, goes to the per-sequence path.
            split = budget is not None and len(decoding) + len(cohort) > budget
            heap = self._block_heap
            if not split and heap and heap[0][0] <= self.tick:
                due = self._due(heap, self.tick)
                short = 0 if roomy else sum(1 for s in decoding if s.computed >= s.kv_slots)
                if len(due) + short > self.kv.free_blocks:
                    split = True
                else:
                    self._give_blocks(due)
            if split:
                self.dissolve(plan)
                decoding, owed, roomy = self._classify(plan, cohort)
            else:
                # The cohort leads the decode list (a strategy may have admitted swapped-in decodes first).
                plan.decode[:0] = cohort
                plan.cohort_n = len(cohort)
                plan.cohort_ctx = self.cohort_ctx
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

    def _classify(self, plan: StepPlan, cohort: dict) -> tuple[list, list, bool]:
        """Running sequences outside the cohort, in batch order: (decoding, owed prompt tokens, roomy),
        where roomy means every decoding one has a free slot in its last block (or reserved memory)."""
        if cohort and len(cohort) == len(self.running):
            return [], [], True  # the usual case at high load: nobody outside the cohort
        joined = plan.joined  # admitted this step: _join already gave them their work
        decoding: list[Seq] = []
        owed: list[Seq] = []  # running sequences still missing prompt tokens (chunked or re-queued)
        reserve = self.reserve_full
        roomy = True
        for s in self.running:  # one pass: this loop runs once per sequence per iteration
            if not s.ready or (joined and s in joined) or (cohort and s in cohort):
                continue
            if s.num_tokens - s.computed == 1 and s.generated:
                decoding.append(s)
                if not reserve and s.computed >= s.kv_slots:
                    roomy = False
            else:
                owed.append(s)
        return decoding, owed, roomy

    def admit(self, plan: StepPlan, now: float, budget: int | None, min_one: bool = False) -> int | None:
        """Admit waiting requests in queue order while a slot, KV memory (and budget) allow.

        Stops at the first request that does not fit, so the order is never overtaken (no head-of-line
        skipping). With preemption enabled and an order other than FCFS, a waiting request may evict a
        strictly less urgent running one (C8). ``min_one`` lets one whole prompt exceed the budget.
        """
        while len(self.waiting):
            if budget is not None and budget <= 0:
                break
            seq = self.waiting.peek(now)
            if len(self.running) >= self.max_batch and not self._evict_for(seq, plan, now):
                break
            if seq.swapped:
                chunk = seq.pending
            elif budget is None or (min_one and not plan.prefill):
                chunk = seq.pending
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
        """Advance token counts after the pass; returns sequences that finished."""
        finished: list[Seq] = []
        gaps: dict = {}  # (class, gap) -> count: most decodes in a pass share one gap
        lazy = self.lazy
        steady = []  # decoding from the next pass on, their last token just out: cohort material
        for seq, n in plan.prefill:
            seq.computed += n
            self.stored_tokens += n
            if seq.computed >= seq.num_tokens:
                self._emit(seq, end_s, finished, gaps)
                if lazy and not seq.done and self.role != "prefill":
                    steady.append(seq)
        self.stored_tokens += len(plan.decode)
        start = plan.start_s
        step_gap = end_s - start  # the gap of every sequence whose previous token came out as this pass began
        n_cohort = plan.cohort_n
        stepped: dict = {}  # class -> how many decodes had exactly that gap
        if n_cohort:
            self.tick += 1
            gap = end_s - self.cohort_end  # the step gap, unless the whole cohort sat out passes before
            self.cohort_end = end_s
            self.pass_gaps.append(gap)
            self.cohort_ctx += n_cohort
            if gap == step_gap:
                stepped.update(self.cohort_classes)
            else:
                for cls, count in self.cohort_classes.items():
                    gaps[(cls, gap)] = gaps.get((cls, gap), 0) + count
            for _, _, _, seq in self._due(self._finish_heap, self.tick):
                self._leave(seq)
                self._finish(seq, end_s, finished)
        handoff = self.role == "prefill"
        for seq in (plan.decode[n_cohort:] if n_cohort else plan.decode):
            # The hot loop without the cohort: one decode step per running sequence per pass.
            seq.computed += 1
            g = seq.generated + 1  # a decoding sequence has generated at least one token already
            seq.generated = g
            seq.num_tokens += 1
            last = seq.last_token_s
            seq.last_token_s = end_s
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
            elif lazy:
                steady.append(seq)
        # Members share their last token time: join only a cohort that has just decoded (or start one).
        if steady and (n_cohort or not self.cohort):
            for seq in steady:  # after the tick moved on: the cohort's counts start from here
                self._promote(seq, end_s)
        if self.recorder is not None:
            for cls, count in stepped.items():
                if count:
                    self.recorder.gap(cls, step_gap, count)
            for (cls, gap), count in gaps.items():
                self.recorder.gap(cls, gap, count)
        if finished or self.handoffs:
            self.running = [s for s in self.running if not s.done and s not in self.handoffs]
        return finished

    def _emit(self, seq: Seq, t: float, finished: list, gaps: dict) -> None:
        seq.generated += 1
        seq.num_tokens += 1
        if seq.generated == 1:
            seq.first_token_s = t
        else:
            gap = t - seq.last_token_s
            if gap > seq.max_gap_s:
                seq.max_gap_s = gap
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
        """(stored, held, reserved, internal, external) slots now; O(batch), used when tracing."""
        kv = self.kv
        reserved = internal = 0
        for s in self.running:
            held = kv.held(s.id)
            future = s.req.prompt_tokens + s.req.output_tokens - 1 - s.computed
            slack = held - s.computed
            r = min(slack, max(future, 0))
            reserved += r
            internal += slack - r
        stored = self.stored_tokens
        held_total = kv.held_tokens
        # Sequences that hold KV but are not running (prefill handoffs in flight) count as stored.
        internal += max(0, held_total - stored - reserved - internal)
        return stored, held_total, reserved, internal, kv.external_waste()
