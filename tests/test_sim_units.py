"""Unit tests below simulate(): one ``schedule()`` call on a hand-built state, the plan checked field by
field, and each KV memory manager on its own (block rounding, hole merging, refusal while total free
memory would fit)."""

import pytest

from sim.batching import Chunked, Continuous, PrefillFirst, Static
from sim.kv_memory import ContiguousKV, PagedKV
from sim.plan import Seq
from sim.preemption import NoPreemption, Recompute, Swap
from sim.queue_order import FCFS, HeapQueue, Priority, ResortQueue, make_order
from sim.scheduler import Scheduler
from sim.workload import Request


def make(strategy=None, order=None, kv=None, preemption=None, max_batch=3, token_budget=512):
    return Scheduler(batching=strategy or Continuous(), order=order or FCFS(), kv=kv or PagedKV(64, 16),
                     preemption=preemption or Recompute(), max_batch=max_batch, token_budget=token_budget)


def running(sched, rid, prompt, generated, no, priority=0, output=50):
    """A sequence already in the batch: its prompt computed, ``generated`` tokens out, one to decode."""
    seq = Seq(Request(rid, 0.0, prompt, output, priority=priority), no)
    seq.generated = generated
    seq.num_tokens = prompt + generated
    seq.computed = seq.num_tokens - 1  # the last token is fed back in the next pass
    seq.last_token_s = seq.first_token_s = seq.admitted_s = 0.0
    assert sched.kv.allocate(seq.id, seq.computed)
    seq.kv_slots = sched.kv.held(seq.id)
    sched.running.append(seq)
    sched.stored_tokens += seq.computed
    return seq


def waiting(sched, rid, prompt, no, arrival=0.5, priority=0, output=20):
    seq = Seq(Request(rid, arrival, prompt, output, priority=priority), no)
    sched.add(seq, arrival)
    return seq


def test_continuous_pass_decodes_the_batch_and_admits_what_fits():
    s = make()  # 64 slots in 4 blocks of 16
    a = running(s, "a", prompt=10, generated=1, no=0)  # holds 1 block, 11 of its 16 slots needed
    b = waiting(s, "b", prompt=20, no=1)  # needs 2 blocks
    c = waiting(s, "c", prompt=40, no=2)  # needs 3 blocks: only 1 is left after b
    s.left_since_plan = 2
    plan = s.schedule(1.0)
    assert plan.decode == [a]
    assert plan.prefill == [(b, 20)]
    assert plan.joined == [b]
    assert plan.preempted == [] and plan.stalled == []
    assert plan.leaves == 2 and s.left_since_plan == 0  # two left since the last pass: C4's cost, once
    assert plan.padding == 0 and plan.swap_in_tokens == plan.swap_out_tokens == 0
    assert plan.waiting == 1 and s.waiting.peek(1.0) is c  # c waits: FCFS never lets a later one pass
    assert plan.start_s == 1.0 and b.admitted_s == 1.0
    assert s.running == [a, b] and s.kv.held("b") == 32 and b.kv_slots == 32
    shape = plan.shape()
    assert (shape.prefill_tokens, shape.prefill_seqs, shape.decode_seqs, shape.decode_context_tokens) == (20, 1, 1, 10)
    assert shape.prefill_attn_pairs == 20 * (0 + 21 / 2) and shape.joins == 1 and shape.leaves == 2


def test_update_applies_the_plan_token_by_token():
    s = make()
    a = running(s, "a", prompt=10, generated=1, no=0, output=2)  # its next token is its last
    b = waiting(s, "b", prompt=20, no=1)
    plan = s.schedule(1.0)
    finished = s.update(plan, 1.5)
    assert finished == [a] and a.done and a.finish_s == 1.5 and a.generated == 2
    assert b.computed == 20 and b.generated == 1 and b.first_token_s == 1.5 and b.num_tokens == 21
    assert s.running == [b] and s.kv.held("a") == 0 and a.kv_slots == 0
    assert s.left_since_plan == 1


def test_chunked_budget_gives_decodes_first_then_a_prompt_chunk():
    s = make(Chunked(), token_budget=8)
    a = running(s, "a", prompt=10, generated=1, no=0)
    b = waiting(s, "b", prompt=20, no=1)
    plan = s.schedule(1.0)
    assert plan.decode == [a] and plan.prefill == [(b, 7)] and plan.joined == [b]
    s.update(plan, 1.1)
    assert b.computed == 7 and b.generated == 0  # a chunk: no token yet
    plan = s.schedule(1.1)
    assert plan.decode == [a] and plan.prefill == [(b, 7)] and plan.joined == []


def test_prefill_first_stalls_the_running_decodes():
    s = make(PrefillFirst())
    a = running(s, "a", prompt=10, generated=3, no=0)
    b = waiting(s, "b", prompt=20, no=1)
    plan = s.schedule(1.0)
    assert plan.prefill == [(b, 20)] and plan.decode == [] and plan.stalled == [a]


def test_static_batch_runs_to_its_end_with_padding():
    s = make(Static())
    a = waiting(s, "a", prompt=10, no=0)
    b = waiting(s, "b", prompt=12, no=1)
    plan = s.schedule(0.5)
    assert plan.prefill == [(a, 10), (b, 12)] and s.batch_size == 2
    s.update(plan, 0.6)
    c = waiting(s, "c", prompt=5, no=2)
    b.output_tokens = 2  # b finishes at the next pass
    s.update(s.schedule(0.6), 0.7)
    plan = s.schedule(0.7)
    assert plan.decode == [a] and plan.padding == 1 and plan.joined == [] and plan.leaves == 0
    assert plan.waiting == 1 and s.waiting.peek(0.7) is c  # the newcomer waits for the whole batch


@pytest.mark.parametrize("mode, swapped, computed", [(Recompute(), False, 0), (Swap(), True, 10)])
def test_a_more_urgent_request_evicts_the_least_urgent(mode, swapped, computed):
    s = make(order=Priority(), preemption=mode, max_batch=1)
    low = running(s, "low", prompt=10, generated=1, no=0, priority=1)
    high = waiting(s, "high", prompt=20, no=1, priority=0)
    plan = s.schedule(1.0)
    assert plan.preempted == [low] and plan.joined == [high] and plan.prefill == [(high, 20)]
    assert plan.decode == []
    assert low.preemptions == 1 and low.swapped is swapped and low.computed == computed
    assert plan.swap_out_tokens == (10 if swapped else 0)
    assert s.running == [high] and plan.waiting == 1 and s.waiting.peek(1.0) is low


@pytest.mark.parametrize("order, mode", [(FCFS(), Recompute()), (Priority(), NoPreemption())])
def test_no_eviction_under_fcfs_or_without_preemption(order, mode):
    s = make(order=order, preemption=mode, max_batch=1)
    low = running(s, "low", prompt=10, generated=1, no=0, priority=1)
    waiting(s, "high", prompt=20, no=1, priority=0)
    plan = s.schedule(1.0)
    assert plan.preempted == [] and plan.joined == [] and plan.decode == [low] and plan.waiting == 1


def test_decode_growth_preempts_when_no_block_is_free():
    s = make(kv=PagedKV(32, 16), max_batch=2)  # two blocks
    a = running(s, "a", prompt=16, generated=1, no=0)  # 16 computed: its next token needs a second block
    b = running(s, "b", prompt=10, generated=1, no=1)  # holds the other block
    plan = s.schedule(1.0)
    # a needs a block, none is free: the least urgent (the later arrival, b) goes, and a grows.
    assert plan.preempted == [b] and plan.decode == [a] and s.kv.held("a") == 32


def test_queues_keep_the_order_and_break_ties_by_arrival():
    q = HeapQueue(FCFS())
    seqs = [Seq(Request(f"r{i}", t, 10, 5), i) for i, t in enumerate((0.3, 0.1, 0.2))]
    for s in seqs:
        q.push(s, 0.5)
    assert [q.pop(0.5).id for _ in range(3)] == ["r1", "r2", "r0"]
    aging = make_order("aging", aging_step_s=1.0)
    assert isinstance(aging.queue(), ResortQueue) and isinstance(FCFS().queue(), HeapQueue)
    q = aging.queue()
    old = Seq(Request("old", 0.0, 10, 5, priority=1), 0)
    new = Seq(Request("new", 0.5, 10, 5, priority=0), 1)
    q.push(old, 0.5)
    q.push(new, 0.5)
    assert q.peek(0.5) is new  # keys at 0.5: old 1 - 0.5 = 0.5, new 0
    newer = Seq(Request("newer", 2.0, 10, 5, priority=0), 2)
    q.push(newer, 2.0)  # at 2.0: old 1 - 2 = -1 beats newer 0: two seconds of waiting made up a level
    assert len(q) == 3 and [q.pop(2.0).id for _ in range(3)] == ["new", "old", "newer"]


# ---- KV memory managers ---------------------------------------------------------------------------------

def test_paged_rounds_to_whole_blocks_and_grows_block_by_block():
    kv = PagedKV(100, 16)
    assert kv.capacity_tokens == 96 and kv.num_blocks == 6  # a partial block is not usable
    assert kv.rounded(1) == 16 and kv.rounded(16) == 16 and kv.rounded(17) == 32
    assert kv.allocate("a", 17) and kv.held("a") == 32 and kv.held_tokens == 32
    assert kv.allocate("a", 20) and kv.held("a") == 32  # still inside its second block
    assert kv.allocate("a", 33) and kv.held("a") == 48
    assert kv.take_block("a") and kv.held("a") == 64 and kv.free_blocks == 2
    assert kv.can_allocate("b", 32) and not kv.can_allocate("b", 33)
    assert not kv.allocate("b", 33) and kv.held("b") == 0 and kv.free_blocks == 2  # refused: nothing taken
    assert kv.external_waste() == 0 and kv.largest_free_run() == 32
    kv.free("a")
    assert kv.held_tokens == 0 and kv.free_blocks == 6


def test_paged_layout_merges_adjacent_blocks_of_one_sequence():
    kv = PagedKV(64, 16)
    kv.allocate("a", 16)
    kv.allocate("b", 16)
    kv.take_block("a")  # a's second block is not next to its first
    kv.take_block("a")
    layout = [(g.seq_id, g.start, g.length) for g in kv.layout()]
    assert layout == [("a", 0, 16), ("b", 16, 16), ("a", 32, 32)]


def test_contiguous_first_fit_refuses_while_total_free_memory_would_fit():
    kv = ContiguousKV(100)
    assert kv.rounded(17) == 17
    for rid in ("a", "b", "c"):
        assert kv.allocate(rid, 30)
    kv.free("a")
    kv.free("c")  # holes: [0, 30) and [60, 100): 70 slots free in total, 40 in the largest hole
    assert kv.capacity_tokens - kv.held_tokens == 70
    assert kv.largest_free_run() == 40 and kv.external_waste() == 30
    assert not kv.can_allocate("d", 50) and not kv.allocate("d", 50)  # external fragmentation (C5)
    assert kv.allocate("d", 25)  # first fit: the first hole that holds it
    assert [(g.seq_id, g.start, g.length) for g in kv.layout()] == [("d", 0, 25), ("b", 30, 30)]


def test_contiguous_free_merges_holes_on_both_sides():
    kv = ContiguousKV(90)
    for rid in ("a", "b", "c"):
        kv.allocate(rid, 30)
    kv.free("a")
    kv.free("c")
    assert kv.largest_free_run() == 30
    kv.free("b")  # joins the hole before and the hole after into one
    assert kv.largest_free_run() == 90 and kv.external_waste() == 0 and kv.held_tokens == 0
    assert kv.allocate("big", 90)


def test_contiguous_region_never_grows():
    kv = ContiguousKV(100)
    assert kv.allocate("a", 40)
    assert kv.allocate("a", 40) and not kv.allocate("a", 41)  # regions are reserved at their maximum
    assert kv.can_allocate("a", 40) and not kv.can_allocate("a", 41)
    kv.free("a")
    kv.free("a")  # freeing twice is harmless
    assert kv.held_tokens == 0
