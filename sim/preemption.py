"""Preemption modes (C8): what happens to a running sequence evicted to make room for another.

Each mode is one small class carrying its public ``name``, a one-line ``summary`` and what the scheduler
needs to know: ``may_preempt`` (may anyone be evicted at all), ``reserves_maximum`` (without preemption
a sequence must never outgrow its memory, so it reserves prompt + max new tokens up front) and
``keeps_kv`` (a swapped-out sequence keeps its computed tokens, in host memory). ``evict`` applies the
mode to the victim. ``PREEMPT_MODES`` is the registry: adding a mode is one class and one entry.
"""

from __future__ import annotations


class NoPreemption:
    name = "none"
    summary = "nothing is ever evicted: every request reserves prompt + max new tokens up front"
    may_preempt = False
    reserves_maximum = True
    keeps_kv = False

    def evict(self, seq, plan) -> None:
        raise AssertionError("preemption mode 'none' never evicts")


class Recompute:
    name = "recompute"
    summary = "drop the victim's KV cache; its prompt and tokens so far are prefilled again later"
    may_preempt = True
    reserves_maximum = False
    keeps_kv = False

    def evict(self, seq, plan) -> None:
        seq.computed = 0  # the prompt and the tokens generated so far are prefilled again


class Swap:
    name = "swap"
    summary = "move the victim's KV cache to host memory over PCIe, and back when it is readmitted"
    may_preempt = True
    reserves_maximum = False
    keeps_kv = True

    def evict(self, seq, plan) -> None:
        seq.swapped = True
        plan.swap_out_tokens += seq.computed


# The registry of preemption modes (DESIGN.md section 3): name -> class.
PREEMPT_MODES: dict[str, type] = {c.name: c for c in (NoPreemption, Recompute, Swap)}
