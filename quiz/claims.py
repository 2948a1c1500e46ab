"""Claims the simulator proves: every comparison a page or a quiz item states in words, declared once as data.

A page that says "continuous batching finishes the archive sooner" teaches something a learner will
believe, so the sentence is a claim here: a scenario and its settings, the one setting that differs
between the two sides (``vary``: policy, order, token budget, reorganization cost, memory manager), the
value on each side, the metric, the direction (side ``a`` higher than, lower than, or about the same as
side ``b``) and a relative margin. Where a claim holds only under a condition (SJF helps only when
requests queue for slots; standard batching beats continuous on tiny requests only at an illustrative
2 ms per join/leave), the condition is stated beside it, and a second claim shows what happens without it.

``tests/test_claims.py`` and ``python -m quiz check`` run every claim over ``CHECK_SEEDS``; pages run the
same configurations (``configs``) through their cache and show the measured numbers (``measure``,
``sentence``) instead of prose that could drift. Pure Python: no UI library.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from sim import SimConfig, scenario, simulate
from sim.config import resolve_workload
from sim.trace import SimResult

CHECK_SEEDS = tuple(range(5))  # every claim must hold on each of these seeds
DIRECTIONS = ("higher", "lower", "same")


@dataclass(frozen=True)
class Claim:
    """One comparison, as data. ``a`` and ``b`` are the two values of the ``vary`` setting (or, with
    ``vary=""``, ``b`` is a fixed bound that side ``a``'s metric is compared with)."""

    id: str
    statement: str  # the claim in words, as pages and the quiz state it
    scenario: str  # a preset name (sim.SCENARIOS)
    vary: str  # the SimConfig field that differs between the sides; "" = compare side a with the bound b
    a: object
    b: object
    metric: str  # a metric key, "<class>.<key>" for a class's metric, or a name in MEASURES
    direction: str  # a is "higher" / "lower" than b by at least the margin, or the "same" within it
    margin: float = 0.0  # relative to b: higher: a >= b(1 + m); lower: a <= b(1 - m); same: |a - b| <= m|b|
    settings: tuple[tuple[str, object], ...] = ()  # SimConfig overrides on both sides
    requests: int | None = None  # workload size (None: the preset's)
    rate: float | None = None  # arrivals per second (None: the preset's)
    shares: tuple[float, ...] | None = None  # class shares of the arrivals (None: the preset's)
    condition: str = ""  # when the claim holds; pages and the quiz say it
    link: tuple[str, tuple[tuple[str, str], ...]] | None = None  # (page, params): a view that shows it
    pages: tuple[str, ...] = ()  # pages that state it (url paths)
    quiz: tuple[str, ...] = ()  # quiz questions that rely on it

    def link_url(self) -> str:
        if self.link is None:
            return ""
        from urllib.parse import urlencode
        page, params = self.link
        return f"/{page}" + (f"?{urlencode(params)}" if params else "")


@dataclass(frozen=True)
class Measured:
    """Both sides of a claim on one seed, and whether it held."""

    claim: Claim
    seed: int
    a: float
    b: float
    holds: bool


# ---- measures read off a run (beyond sim.metrics' keys) ------------------------------------------------

def _longest_first_token_wait(cls: str) -> Callable[[SimResult], float]:
    """Seconds the request of ``cls`` that waited longest for its first token waited; one that never got
    one counts with its wait up to the end of the run (as the priorities page draws it)."""
    def fn(res: SimResult) -> float:
        end = max((r.finish_s or 0.0 for r in res.requests), default=0.0)
        waits = [r.ttft_s if r.ttft_s is not None else end - r.arrival_s
                 for r in res.requests if r.cls == cls and not r.rejected_reason]
        return max(waits, default=0.0)
    return fn


def _internal_waste_per_sequence(res: SimResult) -> float:
    """The most KV slots held but never to be used, per running sequence, over every iteration."""
    return max((it.kv_internal / it.running for it in res.iterations if it.running), default=0.0)


def _refusals_although_free(res: SimResult) -> float:
    """Passes in which the head of the queue waited for memory although the free slots in total would hold
    it (contiguous memory: no single hole is large enough)."""
    from sim.trace_query import refused_although_free
    return float(len(refused_although_free(res, first_only=False)))


MEASURES: dict[str, Callable[[SimResult], float]] = {
    "longest_wait_batch_s": _longest_first_token_wait("batch"),
    "internal_waste_per_sequence": _internal_waste_per_sequence,
    "refusals_although_free": _refusals_although_free,
}
_NEEDS_TRACE = {"internal_waste_per_sequence", "refusals_although_free"}
_NEEDS_LAYOUT = {"refusals_although_free"}

# How a metric is shown: (words, factor from data units, unit, format).
DISPLAY = {
    "requests_per_s": ("documents per hour", 3600.0, "/h", "{:,.0f}"),
    "throughput_tokens_per_s": ("output throughput", 1.0, " tokens/s", "{:,.0f}"),
    "makespan_s": ("makespan", 1e3, " ms", "{:,.1f}"),
    "e2e_mean_s": ("mean end-to-end latency", 1.0, " s", "{:,.2f}"),
    "ttft_p50_s": ("median TTFT", 1e3, " ms", "{:,.0f}"),
    "ttft_p99_s": ("p99 TTFT", 1e3, " ms", "{:,.0f}"),
    "tbt_p99_s": ("p99 time between tokens", 1e3, " ms", "{:,.1f}"),
    "kv_waste_fraction": ("KV memory held but not storing a token", 100.0, "%", "{:.1f}"),
    "interactive.slo_attainment": ("interactive requests meeting both goals", 100.0, "%", "{:.0f}"),
    "longest_wait_batch_s": ("longest wait of a batch job for its first token", 1.0, " s", "{:,.1f}"),
    "internal_waste_per_sequence": ("most unusable slots per sequence", 1.0, " slots", "{:.1f}"),
    "refusals_although_free": ("passes in which a request waited although free memory would hold it", 1.0, "",
                               "{:,.0f}"),
}


def _P(**kw) -> tuple[tuple[str, str], ...]:
    return tuple((k, str(v)) for k, v in kw.items())


# ---- the claims ---------------------------------------------------------------------------------------

CLAIMS: tuple[Claim, ...] = (
    # C3 / home: the book's five requests.
    Claim("book-continuous-sooner", "Continuous batching finishes the book's five requests sooner than "
          "standard batching.", "book-example", "policy", "continuous", "static", "makespan_s", "lower", 0.1,
          link=("step-by-step", _P(scenario="book-example")), pages=("home", "step-by-step")),
    # C12 legal archive: the ranking the choosing page shows, pair by pair.
    Claim("legal-continuous-beats-static", "On the legal-archive backlog, continuous (prefill-prioritized) "
          "batching summarizes more documents per hour than standard (decode-prioritized) batching.",
          "legal-archive", "policy", "continuous", "static", "requests_per_s", "higher", 0.05,
          pages=("choosing",), quiz=("seed-legal-summarization",)),  # the choosing page shows these 300 documents
    Claim("legal-chunked-beats-continuous", "Chunked prefill (512 tokens per pass) summarizes more documents "
          "per hour than continuous batching: it fills each pass with prompt chunks up to about the "
          "hardware's ridge point instead of one pass with whole prompts and many decode-only passes.",
          "legal-archive", "policy", "chunked", "continuous", "requests_per_s", "higher", 0.02,
          settings=(("token_budget", 512),), pages=("choosing",), quiz=("seed-legal-summarization",)),
    Claim("legal-tiny-chunks-below-static", "With tiny chunks (64 tokens per pass) chunked prefill summarizes "
          "fewer documents per hour than even standard batching.", "legal-archive", "policy", "chunked",
          "static", "requests_per_s", "lower", 0.1, settings=(("token_budget", 64),), pages=("choosing",),
          quiz=("seed-legal-summarization",)),
    Claim("legal-prefill-first-beats-static", "Prefill-first batching also beats standard batching on the "
          "backlog: any policy that refills freed slots at once keeps the engine fuller.",
          "legal-archive", "policy", "prefill-first", "static", "requests_per_s", "higher", 0.03,
          pages=("choosing",)),
    Claim("legal-tiny-chunks-fall", "Chunked prefill's gain falls again for tiny chunks: with 64 tokens per "
          "pass a pass is too small to use the hardware well, and more passes are needed.",
          "legal-archive", "token_budget", 64, 512, "requests_per_s", "lower", 0.2,
          settings=(("policy", "chunked"),), pages=("choosing",)),
    # C6 / C8 / C11 / C12: what prefill priority buys and what it costs.
    Claim("chat-continuous-throughput", "On a busy chat stream (8 req/s) continuous batching gives higher "
          "throughput than standard batching.", "chat", "policy", "continuous", "static",
          "throughput_tokens_per_s", "higher", 0.2, requests=200, rate=8.0,
          link=("prefill-vs-decode", _P(scenario="chat", a="static", b="continuous", requests=200, rate=8,
                                        seed=0)),
          pages=("prefill-vs-decode",), quiz=("seed-utilization", "c6-benefit-cost")),
    Claim("chat-static-smoother", "Standard batching gives running requests a steadier token stream (lower "
          "p99 time between tokens) than continuous batching, which mixes prefills into their passes.",
          "chat", "policy", "static", "continuous", "tbt_p99_s", "lower", 0.5, requests=200, rate=8.0,
          link=("prefill-vs-decode", _P(scenario="chat", a="static", b="continuous", requests=200, rate=8,
                                        seed=0)),
          pages=("prefill-vs-decode",), quiz=("c11-which-tbt",)),
    Claim("light-load-same-throughput", "At a light load (0.5 req/s) both batching styles have about the "
          "same throughput (within 3%): it is set by the arrivals, since the engine keeps up with them either way.",
          "chat", "policy", "continuous", "static", "throughput_tokens_per_s", "same", 0.03, requests=100,
          rate=0.5, condition="the engine keeps up with the arrivals",
          link=("prefill-vs-decode", _P(scenario="chat", a="static", b="continuous", requests=100, rate=0.5,
                                        seed=0)),
          quiz=("c11-same-stream",)),
    Claim("light-load-ttft", "Even at a light load continuous batching gives newcomers a shorter time to "
          "first token: under standard batching a newcomer still waits for the running batch to end.",
          "chat", "policy", "continuous", "static", "ttft_p50_s", "lower", 0.3, requests=100, rate=0.5,
          quiz=("c11-same-stream",)),
    Claim("summarization-chunked-smoother", "On long prompts (summarization, 3 req/s) chunked prefill keeps "
          "the p99 time between tokens far below continuous batching's, which prefills whole prompts in "
          "the passes of running requests.", "summarization", "policy", "chunked", "continuous",
          "tbt_p99_s", "lower", 0.5, requests=200, rate=3.0,
          link=("prefill-vs-decode", _P(scenario="summarization", a="continuous", b="chunked", requests=200,
                                        rate=3, seed=0)),
          pages=("prefill-vs-decode",), quiz=("c12-chat-goal", "c8-decode-vs-prefill-priority")),
    Claim("summarization-prefill-first-stalls", "Strict prefill-first stalls running requests more than "
          "continuous batching (a higher p99 time between tokens): its prefill passes give them no token.",
          "summarization", "policy", "prefill-first", "continuous", "tbt_p99_s", "higher", 0.0,
          requests=200, rate=3.0,
          link=("prefill-vs-decode", _P(scenario="summarization", a="continuous", b="prefill-first",
                                        requests=200, rate=3, seed=0)),
          quiz=("c6-what-it-means",)),
    # C2 / C11: the card's first question.
    Claim("short-joins-at-once", "A short request that arrives while three long ones run gets its first token "
          "far sooner under continuous batching, which admits it at the next iteration, than under standard "
          "batching, where it waits for the whole batch.", "three-long-one-short", "policy", "continuous",
          "static", "ttft_p99_s", "lower", 0.5,
          link=("playground", _P(scenario="three-long-one-short", policy="continuous", seed=0)),
          pages=("playground",), quiz=("seed-short-request-joins",)),
    # C10: what disaggregation removes.
    Claim("disaggregated-no-prefill-stalls", "With long prompts (summarization, 4 req/s), a prefill engine "
          "and a decode engine joined by a 25 GB/s link give a lower p99 time between tokens than one "
          "colocated engine under continuous batching: decode passes carry no prefill.", "summarization",
          "policy", "disaggregated", "continuous", "tbt_p99_s", "lower", 0.3, requests=60, rate=4.0,
          settings=(("link_gb_per_s", 25.0),), link=("disaggregation", _P(scenario="summarization")),
          pages=("disaggregation",), quiz=("c10-why",)),
    # C4: the reversal, and its condition.
    Claim("tiny-static-wins-at-2ms", "With many tiny requests and 2 ms per join or leave, standard batching "
          "gives higher throughput than continuous batching.", "many-tiny", "policy", "static", "continuous",
          "throughput_tokens_per_s", "higher", 0.1, settings=(("reorg_s", 0.002),),
          condition="a join or leave costs an illustrative 2 ms, ten times the cost model's default of 0.2 ms",
          link=("reorganization", _P(scenario="many-tiny")),
          pages=("reorganization",), quiz=("c4-many-tiny", "c4-when-it-matters")),
    Claim("tiny-continuous-wins-at-default", "At the default 0.2 ms per join or leave, continuous batching "
          "still beats standard batching on the same tiny requests.", "many-tiny", "policy", "continuous",
          "static", "throughput_tokens_per_s", "higher", 0.0, settings=(("reorg_s", 0.0002),),
          link=("reorganization", _P(scenario="many-tiny")),
          pages=("reorganization",), quiz=("c4-when-it-matters",)),
    # C5: paging.
    Claim("paged-waste-under-a-block", "Paged memory wastes less than one block per sequence (here 16 "
          "slots): only the tail of each sequence's last block is unusable.", "fragmentation", "", "paged", 16,
          "internal_waste_per_sequence", "lower", 0.0,
          settings=(("memory", "paged"), ("block_size", 16), ("kv_capacity_tokens", 12_000)), requests=60,
          link=("memory", _P(scenario="fragmentation")), pages=("memory",), quiz=("c5-paged-waste-bound",)),
    Claim("contiguous-refuses-although-free", "Contiguous memory makes a request wait although the free memory "
          "in total would hold it: no single hole is large enough for its region.", "fragmentation", "",
          "contiguous", 0, "refusals_although_free", "higher", 0.0,
          settings=(("memory", "contiguous"), ("block_size", 16), ("kv_capacity_tokens", 12_000)), requests=60,
          link=("memory", _P(scenario="fragmentation")), pages=("memory",), quiz=("c5-refused-although-free",)),
    Claim("contiguous-wastes-more", "Contiguous memory holds a larger share of its KV memory without a token "
          "in it than paged memory does, on the same arrivals.", "fragmentation", "memory", "contiguous",
          "paged", "kv_waste_fraction", "higher", 0.5,
          settings=(("block_size", 16), ("kv_capacity_tokens", 12_000)), requests=60,
          link=("memory", _P(scenario="fragmentation")), pages=("memory",)),
    # C8 / C9: priorities, starvation, SJF and its condition.
    Claim("hybrid-priority-slo", "Priority by user tier keeps more interactive requests inside their goals "
          "than first-come, first-served.", "hybrid-service", "order", "priority", "fcfs",
          "interactive.slo_attainment", "higher", 0.1, pages=("choosing",),
          quiz=("seed-hybrid-service",)),
    Claim("aging-bounds-starvation", "Aging shortens the longest wait of a batch job compared with strict "
          "priority, which makes batch jobs wait as long as urgent work keeps arriving.", "hybrid-service",
          "order", "aging", "priority", "longest_wait_batch_s", "lower", 0.15, requests=200, rate=10.0,
          shares=(0.85, 0.15), settings=(("preempt", "recompute"), ("aging_step_s", 10.0)),
          condition="the urgent class keeps the engine busy (85% interactive at 10 req/s)",
          link=("priorities", _P(scenario="hybrid-service")), pages=("priorities",),
          quiz=("c8-starvation", "c9-aging")),
    Claim("sjf-lowers-mean-when-queueing", "When requests queue for slots, shortest-job-first lowers the mean "
          "end-to-end latency compared with first-come, first-served.", "chat", "order", "sjf", "fcfs",
          "e2e_mean_s", "lower", 0.1, settings=(("max_batch", 8),), requests=200, rate=4.0,
          condition="requests queue for slots (here 4 req/s on an engine that holds 8 sequences)",
          link=("playground", _P(scenario="chat", order="sjf", rate=4, requests=200, max_batch=8, seed=0)),
          quiz=("c9-sjf-risk",)),
    Claim("sjf-no-effect-without-queue", "When nothing queues, shortest-job-first changes nothing: every "
          "request is admitted on arrival, so there is nothing to reorder.", "chat", "order", "sjf", "fcfs",
          "e2e_mean_s", "same", 0.01, requests=200, rate=2.0,
          condition="the engine has room for every arrival (chat at 2 req/s)",
          link=("playground", _P(scenario="chat", order="sjf", rate=2, requests=200, seed=0)),
          quiz=("c9-sjf-risk",)),
)

BY_ID: dict[str, Claim] = {c.id: c for c in CLAIMS}


# ---- running a claim ----------------------------------------------------------------------------------

def _base(claim: Claim, seed: int) -> SimConfig:
    wl = resolve_workload(claim.scenario, claim.requests, claim.rate)
    if claim.shares is not None:
        if len(claim.shares) != len(wl.classes):
            raise ValueError(f"claim {claim.id!r}: {len(claim.shares)} shares for {len(wl.classes)} classes")
        wl = dataclasses.replace(wl, classes=tuple(dataclasses.replace(c, share=float(s))
                                                   for c, s in zip(wl.classes, claim.shares)))
    record = claim.metric in _NEEDS_TRACE
    extra = {"record_layout": True} if claim.metric in _NEEDS_LAYOUT else {}
    return scenario(claim.scenario, workload=wl, seed=seed, record_iterations=record, **extra,
                    **dict(claim.settings))


def configs(claim: Claim, seed: int = 0) -> tuple[SimConfig, SimConfig | None]:
    """The two configurations a claim compares on ``seed`` (the second is None for a bound)."""
    base = _base(claim, seed)
    if not claim.vary:
        return base, None
    return (dataclasses.replace(base, **{claim.vary: claim.a}), dataclasses.replace(base, **{claim.vary: claim.b}))


def value(claim: Claim, res: SimResult) -> float:
    """The claim's metric read off one run."""
    if claim.metric in MEASURES:
        return float(MEASURES[claim.metric](res))
    if "." in claim.metric:
        cls, key = claim.metric.split(".", 1)
        return float(res.by_class[cls][key])
    return float(res.metrics[claim.metric])


def holds(claim: Claim, a: float, b: float) -> bool:
    if claim.direction == "higher":
        return a > b and a >= b * (1 + claim.margin)
    if claim.direction == "lower":
        return a < b and a <= b * (1 - claim.margin)
    return abs(a - b) <= claim.margin * abs(b)


def measure(claim: Claim, seed: int = 0, run: Callable[[SimConfig], SimResult] = simulate) -> Measured:
    """Run both sides (``run`` lets a page pass its cached runner) and say whether the claim holds."""
    cfg_a, cfg_b = configs(claim, seed)
    va = value(claim, run(cfg_a))
    vb = float(claim.b) if cfg_b is None else value(claim, run(cfg_b))
    return Measured(claim, seed, va, vb, holds(claim, va, vb))


def check(claim: Claim, seeds=CHECK_SEEDS) -> list[Measured]:
    return [measure(claim, s) for s in seeds]


def fmt(claim: Claim, v: float) -> str:
    """A metric value in the units pages show."""
    _, factor, unit, pattern = DISPLAY.get(claim.metric, (claim.metric, 1.0, "", "{:,.4g}"))
    return pattern.format(v * factor) + unit


def sentence(m: Measured) -> str:
    """The measured numbers behind a claim, in one line: what the page shows next to its words."""
    c = m.claim
    words = DISPLAY.get(c.metric, (c.metric,))[0]
    if not c.vary:
        side = {"higher": "above", "lower": "below", "same": "at"}[c.direction]
        return (f"Measured ({c.scenario}, seed {m.seed}): {words}: {fmt(c, m.a)}, {side} the bound of "
                f"{fmt(c, m.b)}{'' if m.holds else ' (the claim does not hold here)'}.")
    name = {"policy": "", "order": "", "token_budget": "budget ", "reorg_s": "", "memory": ""}.get(c.vary, "")
    sa, sb = _side(c, c.a), _side(c, c.b)
    factor, unit = DISPLAY.get(c.metric, ("", 1.0, ""))[1:3]
    if unit == "%":  # shares compare in percentage points
        change = f" ({(m.a - m.b) * factor:+.0f} points)"
    else:
        change = f" ({(m.a / m.b - 1):+.0%})" if m.b else ""
    return (f"Measured ({c.scenario}, seed {m.seed}): {words} {fmt(c, m.a)} under {name}{sa} against "
            f"{fmt(c, m.b)} under {name}{sb}{change}{'' if m.holds else '; the claim does not hold here'}.")


def _side(c: Claim, v) -> str:
    if c.vary == "reorg_s":
        return f"{float(v) * 1e3:g} ms per join/leave"
    if c.vary == "token_budget":
        return f"{v} tokens"
    return str(v)


def for_page(page: str) -> tuple[Claim, ...]:
    return tuple(c for c in CLAIMS if page in c.pages)


def for_question(qid: str) -> tuple[Claim, ...]:
    return tuple(c for c in CLAIMS if qid in c.quiz)


def problems(seeds=CHECK_SEEDS) -> list[str]:
    """Every claim that fails on some seed, with the numbers (``quiz check`` and the tests)."""
    out = []
    for c in CLAIMS:
        if c.direction not in DIRECTIONS:
            out.append(f"claim {c.id!r}: direction must be one of {', '.join(DIRECTIONS)}")
            continue
        for m in check(c, seeds):
            if not m.holds:
                out.append(f"claim {c.id!r} fails on seed {m.seed}: {c.metric} {m.a:.6g} vs {m.b:.6g} "
                           f"({c.direction}, margin {c.margin:g})")
    return out
