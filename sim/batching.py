"""Batching strategies (C1-C3, C6, C8, C10, C11): each one decides what a single forward pass contains.

A strategy is one small object with ``plan(scheduler, now) -> StepPlan``; the scheduler provides the
shared mechanics (admit in queue order, give running sequences their work, make KV room by preemption).
Adding a strategy means one class here and one line in ``STRATEGIES``.
"""

from __future__ import annotations

from sim.scheduler import Scheduler, StepPlan


class Static:
    """Standard (request-level) batching, decode-prioritized: form a batch of up to ``max_batch`` waiting
    requests, prefill them together, then decode until the last one finishes. Newcomers wait for the
    whole batch; finished sequences keep their slot as padding until the batch ends."""

    name = "static"

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


class Continuous:
    """Iteration-level, prefill-prioritized (Orca style): every pass, finished sequences have left and
    waiting requests join whenever a slot and KV memory allow; a newcomer's whole prompt is prefilled in
    the same pass as the others' decode steps (which then take longer: a generation stall)."""

    name = "continuous"

    def plan(self, s: Scheduler, now: float) -> StepPlan:
        plan = s.new_plan()
        s.schedule_running(plan, now, budget=None)
        s.admit(plan, now, budget=None)
        return plan


class PrefillFirst:
    """Strict prefill priority (early vLLM): a pass with admissible newcomers prefills only them; the
    running sequences stall for that pass. Otherwise the pass decodes everyone."""

    name = "prefill-first"

    def plan(self, s: Scheduler, now: float) -> StepPlan:
        plan = s.new_plan()
        s.admit(plan, now, budget=None)
        if plan.prefill:
            # Running sequences still owed prompt tokens (none normally) join the prefill pass too.
            for seq in s.running:
                if seq.ready and not seq.is_decoding and seq not in plan.joined and seq.pending > 0:
                    if s.reserve_full or s.make_room(seq, seq.computed + seq.pending, plan, now):
                        plan.prefill.append((seq, seq.pending))
            joined_decoding = set(id(x) for x in plan.decode)
            plan.stalled.extend(x for x in s.running if x.ready and x.is_decoding and id(x) not in joined_decoding)
            return plan
        s.schedule_running(plan, now, budget=None)
        return plan


class Chunked:
    """Token budget per pass (Sarathi style): decodes first, then the remaining budget is filled with
    prompt chunks. A small budget keeps decodes fast (decode-prioritized); a large one admits prompts
    sooner (prefill-prioritized)."""

    name = "chunked"

    def plan(self, s: Scheduler, now: float) -> StepPlan:
        plan = s.new_plan()
        budget = s.schedule_running(plan, now, budget=s.token_budget)
        s.admit(plan, now, budget=budget)
        return plan


class PrefillOnly:
    """The prefill engine of a disaggregated pair: batches whole prompts up to the token budget (at least
    one prompt per pass) and hands each sequence off after its first token."""

    name = "prefill-only"

    def plan(self, s: Scheduler, now: float) -> StepPlan:
        plan = s.new_plan()
        budget = s.schedule_running(plan, now, budget=s.token_budget)  # prompts re-queued after a stall
        s.admit(plan, now, budget=budget, min_one=True)
        return plan


class DecodeOnly:
    """The decode engine of a disaggregated pair: admits prefilled sequences (their KV is then
    transferred in) and decodes every sequence whose KV has arrived; never prefills a prompt."""

    name = "decode-only"

    def plan(self, s: Scheduler, now: float) -> StepPlan:
        plan = s.new_plan()
        s.schedule_running(plan, now, budget=None)
        s.admit(plan, now, budget=None)
        return plan


# The public strategy names (DESIGN.md section 3). ``disaggregated`` is built from the two engine roles.
STRATEGIES = {"static": Static, "continuous": Continuous, "prefill-first": PrefillFirst, "chunked": Chunked}
POLICIES = ("static", "continuous", "prefill-first", "chunked", "disaggregated")
