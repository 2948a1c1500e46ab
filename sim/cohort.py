"""The simulator's speed shortcut: the decode cohort and steady-stretch pricing (no trace, same numbers).

At high load a pass is mostly sequences taking one decode step each, and touching every one of them
twice per pass (plan, then apply) is where a simulation spends its time. A sequence that decoded in a pass
and did not finish joins the **decode cohort**: from then on, while it takes a step in every pass, its
counts are not updated per pass. The cohort counts its passes (``tick``) and a member's true counts are
its stored ones plus ``tick - anchor``; a heap says when each member finishes and another when it needs a
new KV block, so a pass costs O(changes), not O(batch). The cohort may sit out a pass as a whole
(prefill-first stalls every decode); its next token gap then spans both passes. Anything that reads a
member's fields in a way the shortcut does not cover (choosing a victim, a budget that stalls some
decodes, a block shortage) first ``dissolve``s the cohort, which syncs every member and leaves the
ordinary per-sequence path to decide.

When every running sequence is in the cohort and nothing can change for k passes (nobody waits, nobody
finishes, no arrival lands), those passes differ only in context length: ``CohortScheduler.skip_stretch``
prices them in a tight loop (``price_stretch``) without planning any, and the engine waits once for all.

Only the simulated executor without a per-iteration trace uses this module (``CohortScheduler`` in place
of ``sim.scheduler.Scheduler``); ``tests/test_sim_engine.py`` and the result snapshot check that both
paths give the same numbers. The traced path and the real executor never see a cohort.
"""

from __future__ import annotations

import heapq
from array import array
from dataclasses import dataclass

from sim.plan import Seq, StepPlan
from sim.scheduler import Scheduler


class DecodeCohort:
    """Sequences that decode in every pass, carried without per-pass updates. Writes only its own state,
    its members' counts (when it syncs them) and, for their growth, the KV blocks they take."""

    def __init__(self, kv, reserve_full: bool):
        self.kv = kv
        self.reserve_full = reserve_full  # sequences hold their maximum: no block growth to track
        self.members: dict[Seq, None] = {}  # insertion-ordered set
        self.tick = 0  # passes the cohort has taken
        self.ctx = 0  # summed ``computed`` of the members, kept current
        self.end_s = 0.0  # when the cohort's last token came out (every member's last_token_s)
        self.classes: dict[str, int] = {}  # class -> members, for the per-pass token gaps
        # One entry per cohort pass for as long as the cohort lives (at a steady high load, the whole run:
        # ~3 million passes for a million requests), so typed arrays: 8 bytes an entry, not a list's 8 + 24.
        self.pass_gaps = array("d")  # gap of cohort pass gap_base + i + 1, for the members' max_gap_s
        self.gap_base = 0
        # Prefill delay of those passes as prefix sums (members' stall time), and per TBT goal the prefix
        # count of passes whose gap ran over that goal with a prefill delay in it (members' stall counts).
        self.stall_cum = array("d", [0.0])
        self.over_cum: dict[float, array] = {}
        self.pending_s = 0.0  # the cohort sat out a prefill pass: delay its next gap carries
        self._finish_heap: list = []  # (tick at which it finishes, seq_no, cohort_gen, Seq)
        self._block_heap: list = []  # (tick at which it needs a new block, seq_no, cohort_gen, Seq)
        self._stretch_due: list | None = None  # block_crossings -> grow: the entries it popped
        self._finishing: list[Seq] = []  # stage_finishes -> take_finishing: members done in a stretch

    def __len__(self) -> int:
        return len(self.members)

    def promote(self, seq: Seq, end_s: float) -> None:
        """``seq``'s last token came out as the pass just applied ended (``end_s``) and it goes on
        decoding: let the cohort carry it."""
        if not self.members:
            self.pass_gaps = array("d")
            self.stall_cum = array("d", [0.0])
            self.over_cum.clear()
            self.pending_s = 0.0
            self.gap_base = self.tick
            self.end_s = end_s
        self.members[seq] = None
        seq.anchor = self.tick
        seq.cohort_gen += 1
        gen = seq.cohort_gen
        heapq.heappush(self._finish_heap, (self.tick + seq.output_tokens - seq.generated, seq.seq_no, gen, seq))
        if not self.reserve_full:
            heapq.heappush(self._block_heap, (self.tick + seq.kv_slots - seq.computed, seq.seq_no, gen, seq))
        self.ctx += seq.computed
        self.classes[seq.cls] = self.classes.get(seq.cls, 0) + 1

    def sync(self, seq: Seq) -> None:
        """Bring a member's stored counts up to the current tick."""
        n = self.tick - seq.anchor
        if n:
            seq.computed += n
            seq.generated += n
            seq.num_tokens += n
            seq.last_token_s = self.end_s
            base = self.gap_base
            lo, hi = seq.anchor - base, self.tick - base
            longest = max(self.pass_gaps[lo:hi])
            if longest > seq.max_gap_s:
                seq.max_gap_s = longest
            cum = self.stall_cum
            if cum[hi] > cum[lo]:  # prefills delayed some of these passes
                seq.stall_s += cum[hi] - cum[lo]
                over = self._over_cum(seq.tbt_goal_s)
                seq.stalls += over[hi] - over[lo]
            seq.anchor = self.tick

    def _over_cum(self, goal: float) -> array:
        """Prefix counts of cohort passes whose gap ran over ``goal`` with a prefill delay in it (built on
        first use for a goal, then kept current by ``_passes``)."""
        over = self.over_cum.get(goal)
        if over is None:
            over = array("q", [0])
            cum = self.stall_cum
            for j, gap in enumerate(self.pass_gaps):
                over.append(over[-1] + (cum[j + 1] > cum[j] and gap > goal))
            self.over_cum[goal] = over
        return over

    def _passes(self, gaps: list[float], stall_s: float = 0.0) -> None:
        """Record cohort passes: their token gaps, the first one carrying ``stall_s`` of prefill delay."""
        self.pass_gaps.extend(gaps)
        cum = self.stall_cum
        rest = len(gaps)
        if stall_s > 0:
            cum.append(cum[-1] + stall_s)
            for goal, over in self.over_cum.items():
                over.append(over[-1] + (gaps[0] > goal))
            rest -= 1
        if rest:
            cum.extend([cum[-1]] * rest)
            for over in self.over_cum.values():
                over.extend([over[-1]] * rest)

    def _pass(self, gap: float, stall_s: float) -> None:
        """``_passes([gap], stall_s)`` for the one pass a planned pass adds (every planned pass)."""
        self.pass_gaps.append(gap)
        cum = self.stall_cum
        if stall_s > 0:
            cum.append(cum[-1] + stall_s)
            for goal, over in self.over_cum.items():
                over.append(over[-1] + (gap > goal))
        else:
            cum.append(cum[-1])
            for over in self.over_cum.values():
                over.append(over[-1])

    def leave(self, seq: Seq) -> None:
        self.sync(seq)
        del self.members[seq]
        self.ctx -= seq.computed
        self.classes[seq.cls] -= 1

    def dissolve(self, plan: StepPlan | None = None) -> None:
        """Sync every member and empty the cohort (and take it out of ``plan``, if given)."""
        pending, self.pending_s = self.pending_s, 0.0
        for seq in self.members:
            self.sync(seq)
            seq.gap_stall_s += pending  # the cohort sat out a prefill pass since its last token
        self.members.clear()
        self.classes.clear()
        self.ctx = 0
        self._finish_heap.clear()
        self._block_heap.clear()
        if plan is not None:
            plan.cohort_n = 0
            plan.cohort_ctx = 0

    def _live(self, entry: tuple) -> bool:
        """Is this heap entry (key, seq_no, cohort_gen, Seq) from its sequence's current cohort stay?"""
        return entry[3].cohort_gen == entry[2] and entry[3] in self.members

    def _due(self, heap: list, tick: int) -> list:
        """Pop the live entries of a cohort heap due at or before ``tick`` (stale ones are dropped)."""
        due = []
        if heap and heap[0][0] <= tick:
            members, pop = self.members, heapq.heappop
            while heap and heap[0][0] <= tick:
                entry = pop(heap)
                seq = entry[3]
                if seq.cohort_gen == entry[2] and seq in members:  # _live, inlined: every pass comes here
                    due.append(entry)
        return due

    def blocks_due(self) -> list | None:
        """Members that need a new KV block before this pass (popped; ``give_blocks`` must follow unless
        the cohort is dissolved), or None when the heap's head is not due yet."""
        heap = self._block_heap
        if heap and heap[0][0] <= self.tick:
            return self._due(heap, self.tick)
        return None

    def give_blocks(self, due: list) -> None:
        bs, heap, push = self.kv.block_size, self._block_heap, heapq.heappush
        self.kv.take_block_each([entry[3].id for entry in due])  # the caller checked enough are free
        for key, no, gen, seq in due:
            seq.kv_slots += bs
            push(heap, (key + bs, no, gen, seq))

    def decoded(self, n: int, end_s: float, step_gap: float, stepped: dict, gaps: dict,
                prefill_delay_s: float = 0.0) -> list[Seq]:
        """The cohort's ``n`` members took one decode step in the pass that ended at ``end_s`` (a prefill
        in it delayed each by ``prefill_delay_s``): count the pass and its token gap (into ``stepped`` when
        it is the pass's own gap, else into ``gaps``), and return the members whose last token that was
        (they have left the cohort; the scheduler finishes them)."""
        self.tick += 1
        gap = end_s - self.end_s  # the step gap, unless the whole cohort sat out passes before
        self.end_s = end_s
        stall, self.pending_s = self.pending_s + prefill_delay_s, 0.0
        self._pass(gap, stall)
        self.ctx += n
        if gap == step_gap:
            stepped.update(self.classes)
        else:
            for cls, count in self.classes.items():
                gaps[(cls, gap)] = gaps.get((cls, gap), 0) + count
        done = [entry[3] for entry in self._due(self._finish_heap, self.tick)]
        for seq in done:
            self.leave(seq)
        return done

    # ---- steady stretches ----------------------------------------------------------------------------

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
        block is more than a block away needs none inside the stretch. ``grow`` must follow."""
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

    def grow(self, passes: int) -> None:
        """Give the members the KV blocks ``passes`` cohort passes need (the caller checked they are free)."""
        if self.reserve_full:
            return
        kv, bs, end = self.kv, self.kv.block_size, self.tick + passes
        heap = self._block_heap
        if self._stretch_due is not None:
            self.give_blocks([e for e in self._stretch_due if e[0] < end])
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

    def stage_finishes(self, tick: int) -> tuple[int, int]:
        """Members that finish in the pass ending at ``tick`` (a stretch's last pass): set them aside for
        ``take_finishing`` and return their unfilled KV slots after that pass and the slots they hold."""
        due = self._due(self._finish_heap, tick)
        self._finishing = [e[3] for e in due]
        tails = slots = 0
        for seq in self._finishing:
            slots += seq.kv_slots
            tails += seq.kv_slots - (seq.computed + tick - seq.anchor)
        return tails, slots

    def take_finishing(self) -> list[Seq]:
        """The members ``stage_finishes`` set aside, out of the cohort now that their last token is out."""
        out, self._finishing = self._finishing, []
        for seq in out:
            self.leave(seq)
        return out

    def advance(self, passes: int, members: int, durations: list[float], end_s: float) -> None:
        """``passes`` passes of a stretch went by without planning (``durations`` each), ending at ``end_s``."""
        self.tick += passes
        self.ctx += passes * members
        self.end_s = end_s
        self._passes(durations)  # decode-only passes: no prefill delay


@dataclass(slots=True)
class Stretch:
    """Passes the fast path priced without planning them: what the recorder accounts for them."""

    end_s: float
    durations: list[float]  # each pass's duration, which is also every member's token gap in it
    busy_s: float
    waste_area: float  # integral over the stretch of wasted KV slots / capacity (s)
    kv_use: float  # the highest KV use / capacity in it
    classes: list[tuple[str, int]]  # (class, members of it)


class CohortScheduler(Scheduler):
    """The scheduler with a decode cohort: same plans, same numbers, O(changes) per pass. Only it writes
    its own fields; the cohort writes the cohort's."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.cohort = DecodeCohort(self.kv, self.reserve_full)

    def schedule_running(self, plan: StepPlan, now: float, budget: int | None) -> int | None:
        cohort = self.cohort
        members = cohort.members
        if not members:
            return super().schedule_running(plan, now, budget)
        if len(members) == len(self.running):
            decoding, owed, roomy = [], [], True  # the usual case at high load: nobody outside the cohort
        else:
            decoding, owed, roomy = self._classify([s for s in self.running if s not in members], plan)
        # The cohort decodes as a whole or not at all: a budget that stalls some decodes, or a block
        # shortage that must choose who grows, goes to the per-sequence path.
        split = budget is not None and len(decoding) + len(members) > budget
        if not split:
            due = cohort.blocks_due()
            if due is not None:
                short = 0 if roomy else sum(1 for s in decoding if s.computed >= s.kv_slots)
                if len(due) + short > self.kv.free_blocks:
                    split = True
                else:
                    cohort.give_blocks(due)
        if split:
            cohort.dissolve(plan)
            decoding, owed, roomy = self._classify(self.running, plan)
        else:
            # The cohort leads the decode list (a strategy may have admitted swapped-in decodes first).
            plan.decode[:0] = members
            plan.cohort_n = len(members)
            plan.cohort_ctx = cohort.ctx
        return self._give_work(plan, now, budget, decoding, owed, roomy)

    def _victim(self, now: float, plan: StepPlan) -> Seq | None:
        if self.cohort.members:
            self.cohort.dissolve(plan)  # keys may read token counts, and a member may be the one to go
        return super()._victim(now, plan)

    def update(self, plan: StepPlan, end_s: float) -> list[Seq]:
        finished: list[Seq] = []
        gaps: dict = {}
        stepped: dict = {}
        steady = self._apply_prefill(plan, end_s, finished, gaps)  # their last token just out: cohort material
        self.stored_tokens += len(plan.decode)
        step_gap = end_s - plan.start_s
        n = plan.cohort_n
        cohort = self.cohort
        if plan.taken_s:  # a prefill took the pass: members carry it as one, the others each
            self._apply_taken(plan, skip=cohort.members)
            if cohort.members and not n:
                cohort.pending_s += plan.taken_s
        if n:
            for seq in cohort.decoded(n, end_s, step_gap, stepped, gaps, plan.prefill_delay_s):
                self._finish(seq, end_s, finished)
        steady += self._apply_decodes(plan.decode[n:] if n else plan.decode, plan, end_s, finished, gaps,
                                      stepped)
        # Members share their last token time: join only a cohort that has just decoded (or start one).
        if steady and (n or not cohort.members):
            for seq in steady:  # after the tick moved on: the cohort's counts start from here
                cohort.promote(seq, end_s)
        self._settle(step_gap, stepped, gaps, finished)
        return finished

    def finish_stretch(self, end_s: float) -> list[Seq]:
        """Finish the members whose last token came out of a stretch's last pass (the clock is there now)."""
        finished: list[Seq] = []
        for seq in self.cohort.take_finishing():
            self._finish(seq, end_s, finished)
        if finished:
            self.running = [s for s in self.running if not s.done]
        return finished

    def skip_stretch(self, now: float, horizon: float, cost) -> Stretch | None:
        """Skip analytically through passes where the batch cannot change.

        When every running sequence is in the cohort, the strategy lets nobody join (nobody waits, or a
        static batch is running), no one finishes and nothing else happens before ``horizon`` (the next
        event of any process: an arrival, another engine's pass, a transfer), those k passes are identical
        but for the context length, which grows by one token per sequence per pass. Pricing them in a
        tight loop gives the same durations, token gaps, KV use and busy time as planning each one.
        Returns what the recorder must account, or None when the next pass must be planned normally.
        """
        cohort, kv, strategy = self.cohort, self.kv, self.batching
        b = len(cohort.members)
        if not b or b != len(self.running) or cohort.end_s != now:
            return None  # someone is outside the cohort, or the cohort sat out the last pass
        if not strategy.stretch_allowed(self, b):
            return None
        k = cohort.next_finish_tick() - cohort.tick  # up to the pass in which the first member finishes
        if kv_holes := kv.has_holes:
            k -= 1  # a finish there changes the holes (external waste) that pass reports: plan that one
            if k < 1:
                return None
        k, crossings = cohort.block_crossings(k)
        bs = getattr(kv, "block_size", 0)
        # Sequences that left since the last pass make the first pass pay the reorganization (C4); a
        # static batch never reorganizes mid-batch (its planned passes drop those leaves too).
        reorg = cost.reorg_s * self.left_since_plan if strategy.reorganizes_mid_batch else 0.0
        durations, t, waste_time, grow = price_stretch(
            cost, b, strategy.padding(self, b), cohort.ctx, k, crossings, bs, getattr(kv, "free_blocks", 0), reorg,
            kv.held_tokens - self.stored_tokens, now, horizon)
        done = len(durations)
        cohort.grow(done)
        if not done:
            return None
        cap = kv.capacity_tokens
        util = kv.held_tokens / cap
        if done == k and not kv_holes:
            # The last pass finishes some members: they free their KV when it ends, so that pass's waste
            # and KV use leave them out (finish_stretch applies the rest once the clock gets there).
            held_before = kv.held_tokens - bs * grow  # after the previous pass of the stretch
            tails, slots = cohort.stage_finishes(cohort.tick + done)
            waste_time -= tails * durations[-1]
            util = (kv.held_tokens - slots) / cap
            if done > 1 and held_before / cap > util:
                util = held_before / cap
        busy = sum(durations)
        stretch = Stretch(t, durations, busy, (waste_time + kv.external_waste() * busy) / cap, util,
                          [(cls, n) for cls, n in cohort.classes.items() if n])
        self.left_since_plan = 0  # as a planned pass does: its leaves are paid for (or, static, dropped)
        self.stored_tokens += done * b
        cohort.advance(done, b, durations, t)
        return stretch


def price_stretch(cost, b: int, padding: int, ctx0: int, k: int, crossings: list[int], bs: int, free: int,
                  reorg: float, unstored: int, now: float, horizon: float) -> tuple[list[float], float, float, int]:
    """Durations of up to ``k`` decode passes of ``b`` members (+ ``padding``) from summed context ``ctx0``,
    stopping at a block shortage (``crossings`` as ``DecodeCohort.block_crossings`` gives them, ``free``
    blocks) or at the pass during which ``horizon`` comes. Returns (durations, end time, wasted slots x
    seconds, the last pass's block crossings)."""
    overhead, c0, c1, m0, m1 = cost.decode_line(b + padding, padding)
    period = len(crossings)
    need = 0  # new blocks the stretch has used so far
    # A pass's time is overhead + max(compute, memory), both affine in the context length x; over the
    # stretch one of them usually stays on top, and then a pass costs one multiply-add.
    x_last = ctx0 + (k - 1) * b
    if m0 + m1 * ctx0 >= c0 + c1 * ctx0 and m0 + m1 * x_last >= c0 + c1 * x_last:
        base, slope = overhead + m0 + m1 * ctx0, m1 * b
    elif c0 + c1 * ctx0 >= m0 + m1 * ctx0 and c0 + c1 * x_last >= m0 + m1 * x_last:
        base, slope = overhead + c0 + c1 * ctx0, c1 * b
    else:
        base = slope = None
    waste_time = 0.0  # wasted KV (held but not storing a token, as record_pass counts it) x pass time
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
        if t >= horizon:
            break  # an arrival lands during this pass: the next one must be planned
    return durations, t, waste_time, grow
