"""Batching strategies (C1-C3, C6, C8, C10, C11): each one decides what a single forward pass contains.

A strategy is one small class with ``plan(scheduler, now) -> StepPlan``; the scheduler provides the
shared mechanics (admit in queue order, give running sequences their work, make KV room by preemption).
Each class carries its public ``name``, a one-line ``summary`` (what the CLI help and the pages show), the
settings it reads (``knobs``) and what the engine's fast path needs to know about it. ``STRATEGIES`` is the
registry: adding a strategy is one class here and one entry there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the scheduler calls the strategy; the strategy only needs the scheduler's interface
    from sim.plan import StepPlan
    from sim.scheduler import Scheduler


class Strategy:
    """Base of the batching strategies: one engine, iteration-level unless a subclass says otherwise."""

    name = ""
    summary = ""
    knobs: tuple[str, ...] = ("max_batch", "max_batched_tokens")  # SimConfig fields this strategy reads
    # Iteration-level strategies let a waiting request join at any pass, so a steady stretch (passes the
    # engine's fast path prices without planning) can only run while nobody waits. A static batch ignores
    # the queue until it ends.
    joins_mid_batch = True
    # Sequences that leave a running batch make the next pass pay the reorganization cost (C4); a static
    # batch keeps finished sequences as padding instead.
    reorganizes_mid_batch = True
    # Iteration-level strategies honour max_batched_tokens (most tokens in one pass) in every pass.
    iteration_level = True

    def plan(self, s: Scheduler, now: float) -> StepPlan:
        raise NotImplementedError

    def stretch_allowed(self, s: Scheduler, members: int) -> bool:
        """May the fast path skip passes in which ``members`` cohort sequences all decode and nothing else
        happens? (Each pass it skips must be the pass ``plan`` would have made.)"""
        cap = s.max_batched_tokens
        return (not self.joins_mid_batch or not len(s.waiting)) and (cap is None or members <= cap)

    def padding(self, s: Scheduler, running: int) -> int:
        """Slots of finished sequences that still take part in every pass (static batching only)."""
        return 0

    @classmethod
    def engines(cls, cfg) -> list[tuple[str, Strategy, str]]:
        """(engine name, strategy object, role) of every engine this policy runs for ``cfg`` (a
        SimConfig): one colocated engine."""
        return [("engine", cls(), "colocated")]


def budget_of(s: Scheduler) -> int:
    """A token-budget strategy's tokens per pass: its budget, within the pass's token cap."""
    cap = s.max_batched_tokens
    return s.token_budget if cap is None else min(s.token_budget, cap)


class Static(Strategy):
    """Standard (request-level) batching, decode-prioritized: form a batch of up to ``max_batch`` waiting
    requests, prefill them together, then decode until the last one finishes. Newcomers wait for the
    whole batch; finished sequences keep their slot as padding until the batch ends."""

    name = "static"
    summary = ("standard batching (request-level, decode-prioritized): a batch runs until its last sequence "
               "ends; newcomers wait for the whole batch")
    joins_mid_batch = False
    reorganizes_mid_batch = False
    iteration_level = False  # request-level: a batch is formed once, so no per-pass token cap
    knobs = ("max_batch",)

    def plan(self, s: Scheduler, now: float) -> StepPlan:
        plan = s.new_plan()
        if s.running:
            s.schedule_running(plan, now, budget=None)
            plan.padding = max(0, s.batch_size - len(s.running))
            plan.leaves = 0  # nobody leaves a static batch early: no reorganization until it ends
            return plan
        s.admit(plan, now, budget=None)
        s.batch_size = len(s.running)
        return plan

    def padding(self, s: Scheduler, running: int) -> int:
        return max(0, s.batch_size - running)


class Continuous(Strategy):
    """Iteration-level, prefill-prioritized (Orca style): every pass, finished sequences have left and
    waiting requests join whenever a slot and KV memory allow; a newcomer's whole prompt is prefilled in
    the same pass as the others' decode steps (which then take longer: a generation stall)."""

    name = "continuous"
    summary = ("continuous batching (in-flight, iteration-level, prefill-prioritized): newcomers join at the "
               "next iteration, their prefill in the same pass as the others' decode")

    def plan(self, s: Scheduler, now: float) -> StepPlan:
        plan = s.new_plan()
        # Under the pass's token cap: decodes first, then whole prompts while they fit (a prompt longer
        # than the cap itself goes in cap-sized pieces).
        budget = s.schedule_running(plan, now, budget=s.max_batched_tokens)
        s.admit(plan, now, budget=budget, whole=True)
        return plan


class PrefillFirst(Strategy):
    """Strict prefill priority (early vLLM): a pass with admissible newcomers prefills only them; the
    running sequences stall for that pass. Otherwise the pass decodes everyone."""

    name = "prefill-first"
    summary = "strict prefill priority: a pass with newcomers prefills only them; running sequences stall"

    def plan(self, s: Scheduler, now: float) -> StepPlan:
        plan = s.new_plan()
        left = s.admit(plan, now, budget=s.max_batched_tokens, whole=True)
        if plan.prefill:
            # Running sequences still owed prompt tokens (a prompt longer than the token cap, or one
            # re-queued after a stall) join the prefill pass too, as far as the cap allows.
            for seq in s.running:
                if seq.ready and not seq.is_decoding and seq not in plan.joined and seq.pending > 0:
                    n = seq.pending if left is None else min(seq.pending, left)
                    if n <= 0:
                        break
                    if s.reserve_full or s.make_room(seq, seq.computed + n, plan, now):
                        plan.prefill.append((seq, n))
                        if left is not None:
                            left -= n
            joined_decoding = set(id(x) for x in plan.decode)
            plan.stalled.extend(x for x in s.running if x.ready and x.is_decoding and id(x) not in joined_decoding)
            return plan
        s.schedule_running(plan, now, budget=s.max_batched_tokens)
        return plan


class Chunked(Strategy):
    """Token budget per pass (Sarathi style): continuous batching that admits newcomers every iteration and
    splits their prompts into chunks: decodes first, then the remaining budget is filled with prompt chunks.
    Its throughput gain over continuous batching comes from filling each pass up to about the hardware's
    ridge point; a small budget keeps decodes fast but, for tiny chunks, throughput falls again."""

    name = "chunked"
    summary = ("chunked prefill: continuous batching that admits newcomers every iteration and splits their "
               "prompts: decodes first, then prompt chunks up to the token budget per pass")
    knobs = ("max_batch", "token_budget", "max_batched_tokens")

    def plan(self, s: Scheduler, now: float) -> StepPlan:
        plan = s.new_plan()
        budget = s.schedule_running(plan, now, budget=budget_of(s))
        s.admit(plan, now, budget=budget)
        return plan

    def stretch_allowed(self, s: Scheduler, members: int) -> bool:
        # More decodes than the budget: some stall each pass, and the queue order picks which.
        return not len(s.waiting) and members <= budget_of(s)


class PrefillOnly(Strategy):
    """The prefill engine of a disaggregated pair: batches whole prompts up to the token budget (at least
    one prompt per pass) and hands each sequence off after its first token."""

    name = "prefill-only"
    summary = "the prefill engine of a disaggregated pair: whole prompts up to the token budget per pass"
    knobs = ("max_batch", "token_budget", "max_batched_tokens")

    def plan(self, s: Scheduler, now: float) -> StepPlan:
        plan = s.new_plan()
        budget = s.schedule_running(plan, now, budget=budget_of(s))  # prompts re-queued after a stall
        s.admit(plan, now, budget=budget, min_one=True)
        return plan


class Disaggregated(Strategy):
    """Pipelined engines (C10): prefill engines batch prompts and hand each sequence's KV cache over the
    link to a decode engine, which admits it once the KV has arrived and then decodes it as continuous
    batching does (it never receives a prompt to prefill)."""

    name = "disaggregated"
    summary = "pipelined engines: a prefill engine hands KV caches to a decode engine over a link"
    knobs = ("max_batch", "token_budget", "max_batched_tokens", "prefill_engines", "decode_engines",
             "link_gb_per_s")

    def plan(self, s: Scheduler, now: float) -> StepPlan:
        raise TypeError("disaggregated runs one strategy per engine role; see engines()")

    @classmethod
    def engines(cls, cfg) -> list[tuple[str, Strategy, str]]:
        return ([(f"prefill-{i + 1}", PrefillOnly(), "prefill") for i in range(cfg.prefill_engines)]
                + [(f"decode-{i + 1}", Continuous(), "decode") for i in range(cfg.decode_engines)])


# The registry of public strategy names (DESIGN.md section 3): name -> class.
STRATEGIES: dict[str, type[Strategy]] = {c.name: c for c in (Static, Continuous, PrefillFirst, Chunked, Disaggregated)}
POLICIES = tuple(STRATEGIES)  # the names alone, for callers that list choices
