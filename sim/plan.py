"""The plan types: ``Seq`` (a request inside an engine, counted in tokens) and ``StepPlan`` (one forward pass).

A sequence's state is counted in tokens, as the book and vLLM's v1 scheduler count it: ``num_tokens``
(prompt + tokens generated so far) and ``computed`` (tokens whose K and V are in the cache). A pass
computes some of the missing tokens of each scheduled sequence; once a sequence has computed all its
known tokens the pass also yields its next token. "Prefill" is a sequence with many missing tokens (a
prompt, a prompt chunk, or prompt + output recomputed after preemption) and "decode" one with exactly one.

``Scheduler.schedule`` returns a ``StepPlan`` and runs nothing; an executor prices or runs it; then
``Scheduler.update`` applies it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.cost_model import BatchShape
from sim.workload import Request


class Seq:
    """A request inside the engine: its token counts, where it is, and the times the metrics need.
    Written only by the scheduler that holds it (and its decode cohort, which keeps ``anchor`` and
    ``cohort_gen``)."""

    __slots__ = ("req", "id", "seq_no", "num_tokens", "computed", "generated", "first_token_s",
                 "last_token_s", "finish_s", "admitted_s", "preemptions", "swapped", "ready",
                 "needs_transfer", "done", "rejected_reason", "stalls", "max_gap_s", "kv_slots", "cls",
                 "output_tokens", "anchor", "cohort_gen", "tbt_goal_s", "gap_stall_s", "stall_s", "kv_final")

    def __init__(self, req: Request, seq_no: int, tbt_goal_s: float = 0.1):
        self.req = req
        self.id: str = req.id
        self.seq_no = seq_no  # admission tie-breaker: the order requests reached the scheduler
        self.num_tokens: int = req.prompt_tokens  # prompt + generated so far
        self.computed = 0  # tokens whose K and V are in the cache
        self.generated = 0  # output tokens produced so far
        self.first_token_s: float | None = None
        self.last_token_s: float | None = None
        self.finish_s: float | None = None
        self.admitted_s: float | None = None  # first time the scheduler gave it a slot
        self.preemptions = 0
        self.swapped = False  # KV lives in host memory (swap preemption)
        self.ready = True  # False while its KV is still in flight to a decode engine
        self.needs_transfer = False  # admitted to a decode engine, KV must cross the link first
        self.done = False
        self.rejected_reason = ""  # why it can never run ("" = it was not rejected)
        # Generation stalls as the book means them: the delay a prefill adds to this sequence's tokens.
        self.stalls = 0  # token gaps over its class's TBT goal with a prefill's delay in them
        self.tbt_goal_s = tbt_goal_s  # its class's TBT goal
        self.gap_stall_s = 0.0  # prefill delay inside the token gap still open (charged when the token comes)
        self.stall_s = 0.0  # total delay prefills added to its tokens
        self.max_gap_s = 0.0  # its longest gap between two consecutive output tokens
        self.kv_slots = 0  # KV slots this sequence holds now (mirrors the KV manager; saves a lookup per token)
        self.cls: str = req.cls
        self.output_tokens: int = req.output_tokens
        self.kv_final = req.prompt_tokens + req.output_tokens - 1  # tokens it will ever cache (the last is never fed back)
        self.anchor = 0  # in the decode cohort: the cohort's tick its token counts were last synced at
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

    prefill: list[tuple[Seq, int]] = field(default_factory=list)  # (seq, n): compute n of its missing tokens
    decode: list[Seq] = field(default_factory=list)  # one decode step each (exactly one missing token)
    joined: list[Seq] = field(default_factory=list)  # admitted to the running batch in this step
    preempted: list[Seq] = field(default_factory=list)  # evicted before this pass (KV dropped or swapped out)
    stalled: list[Seq] = field(default_factory=list)  # decoding, but given no step in this pass
    leaves: int = 0  # sequences that left the batch since the previous pass (C4 cost)
    padding: int = 0  # static batching: finished sequences still occupying a slot in the batch
    swap_in_tokens: int = 0  # KV tokens copied back from host memory before the pass
    swap_out_tokens: int = 0  # KV tokens copied out to host memory before the pass
    waiting: int = 0  # queue length after planning
    start_s: float = 0.0  # when the pass starts (the time the plan was made)
    # Set only on the fast path (sim.cohort): the first cohort_n of ``decode`` are the decode cohort,
    # whose stored ``computed`` is stale, and cohort_ctx is their summed context length.
    cohort_n: int = 0
    cohort_ctx: int = 0
    # Set by the executor once the pass is priced, before ``update`` (``sim.loop.price_stalls``).
    prefill_delay_s: float = 0.0  # how much longer the pass took for its decodes because a prefill shared it
    taken_s: float = 0.0  # a prefill took the pass: how long the decodes in ``stalled`` sat it out
    stall_marks: list[Seq] = field(default_factory=list)  # traced runs: decodes whose gap closing here was a stall

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
        decode = self.decode
        ctx = self.cohort_ctx + sum([seq.computed for seq in (decode[n:] if n else decode)])
        # Positional, in BatchShape's field order: built once or twice per planned pass, and keywords cost
        # about three times as much as the tuple itself.
        return _SHAPE((pf_tokens, pf_pairs, len(self.prefill), pf_cached, len(decode) + self.padding, self.padding,
                       ctx, len(self.joined), self.leaves, self.swap_in_tokens + self.swap_out_tokens))


_SHAPE = BatchShape._make
