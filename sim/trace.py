"""What a run leaves behind: per-iteration records, per-request results, KV transfers.

These are plain records that a page turns into a figure without recomputing anything: every iteration
knows its engine, start and end, which sequences it prefilled (and how many tokens), decoded, stalled,
admitted, preempted and finished, the queue length, and how the KV cache was used.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import NamedTuple


class Iteration(NamedTuple):
    """One forward pass of one engine. Times in seconds, KV in token slots, iterations numbered from 1.

    A named tuple, read by field name like the other records: a traced run makes one per pass (a static run
    of 60 requests ~4,000), and building a tuple costs a fraction of a frozen dataclass's field-by-field
    ``object.__setattr__``. Its repr is the dataclass's (the snapshot prints records by repr)."""

    index: int
    engine: str
    start_s: float
    end_s: float
    prefill: tuple  # ((request id, tokens computed in this pass), ...)
    decode: tuple  # request ids that took one decode step
    stalled: tuple  # decoding ids that got no token in this pass, or whose token gap ran over the goal by a prefill
    joined: tuple  # request ids admitted to the batch in this pass
    preempted: tuple  # request ids evicted just before this pass
    finished: tuple  # request ids whose last token came out of this pass
    waiting: int  # requests in the queue after this pass was planned
    running: int  # sequences in the batch during this pass
    kv_stored: int  # slots holding a cached token
    kv_held: int  # slots owned by sequences (stored + reserved + internal)
    kv_reserved: int  # held for tokens the sequence will still generate
    kv_internal: int  # held but never to be used (block tail or over-reservation)
    kv_external: int  # free, but outside the largest hole (contiguous only)
    kv_capacity: int
    layout: tuple = ()  # optional ((request id, first slot, slot count), ...) in address order

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def prefill_tokens(self) -> int:
        return sum(n for _, n in self.prefill)


@dataclass(frozen=True, slots=True)
class Transfer:
    """A KV cache moving from a prefill engine to a decode engine (disaggregation, C10)."""

    request_id: str
    source: str
    target: str
    start_s: float
    end_s: float
    tokens: int
    bytes: float


@dataclass(frozen=True, slots=True)
class RequestResult:
    """One request's fate. Times are absolute seconds; None where the event never happened."""

    id: str
    cls: str
    priority: int
    arrival_s: float
    prompt_tokens: int
    output_tokens: int
    generated_tokens: int
    admitted_s: float | None
    first_token_s: float | None
    finish_s: float | None
    preemptions: int
    stalls: int
    max_gap_s: float  # longest gap between two consecutive output tokens (its worst TBT)
    rejected_reason: str = ""
    deadline_s: float | None = None
    stall_time_s: float = 0.0  # total delay prefills (sharing or taking its passes) added to its tokens

    @property
    def completed(self) -> bool:
        return self.finish_s is not None

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_token_s is None else self.first_token_s - self.arrival_s

    @property
    def e2e_s(self) -> float | None:
        return None if self.finish_s is None else self.finish_s - self.arrival_s

    @property
    def queue_s(self) -> float | None:
        return None if self.admitted_s is None else self.admitted_s - self.arrival_s

    @property
    def tpot_s(self) -> float | None:
        if self.finish_s is None or self.first_token_s is None or self.output_tokens < 2:
            return None
        return (self.finish_s - self.first_token_s) / (self.output_tokens - 1)


@dataclass
class SimResult:
    """Everything one run produced; ``metrics`` and ``by_class`` follow DESIGN.md section 6."""

    config: object
    requests: list[RequestResult]
    iterations: list[Iteration]
    transfers: list[Transfer]
    metrics: dict
    by_class: dict
    engines: tuple[str, ...]
    kv_capacity_tokens: int
    tbt_samples: dict = field(default_factory=dict)  # class -> every token gap (s); empty without a trace
    cost_description: list = field(default_factory=list)  # (quantity, value with unit, source)
    simulated_by: str = "python"  # the simulator that ran it: "python" (the reference) or "compiled" (sim.fastpath)

    def request(self, rid: str) -> RequestResult:
        for r in self.requests:
            if r.id == rid:
                return r
        raise KeyError(rid)


TRACE_COLUMNS = ("id", "class", "arrival_s", "prompt_tokens", "output_tokens", "first_token_s", "finish_s",
                 "preemptions", "rejected_reason")


def requests_csv(requests: list[RequestResult]) -> str:
    """Per-request CSV in the ``--trace-out`` format (DESIGN.md section 6)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(TRACE_COLUMNS)
    for r in requests:
        w.writerow([r.id, r.cls, f"{r.arrival_s:.6f}", r.prompt_tokens, r.output_tokens,
                    "" if r.first_token_s is None else f"{r.first_token_s:.6f}",
                    "" if r.finish_s is None else f"{r.finish_s:.6f}", r.preemptions, r.rejected_reason])
    return buf.getvalue()
