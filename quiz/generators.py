"""Parameterized questions: draw small numbers from a seed, run the simulator, read the answer off the trace.

Each generator is a pure function ``rng -> Drawn``: it draws a tiny scripted workload (2 to 6 requests,
a few dozen iterations, milliseconds to simulate), rounds every parameter *before* simulating, runs
``sim.simulate`` and takes the correct answer from the result, never from a formula of its own. The
question's data file supplies the words (stem, hint, feedback) as templates over the drawn parameters;
the generator supplies the numbers, the options and per-option feedback. Common wrong answers
("mistakes") are worked out from the reasoning error they stand for and dropped when they happen to
coincide with the right answer.

All runs use the simulator's default preset (an 8B model on one A100), where an iteration with a few
short sequences takes about 12 ms.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from string import Formatter
from typing import Callable

from sim import SimConfig, simulate
from sim.cost_model import MODELS
from sim.trace import SimResult
# Arrivals in a stem are told by the iteration running then; tokens by the iteration that produced them.
from sim.trace_query import iteration_ending_at as token_iteration
from sim.trace_query import iteration_running_at as iteration_of
from sim.workload import Request, WorkloadConfig
from quiz.model import Option, Question, Variant, shuffle_items


@dataclass(frozen=True)
class Drawn:
    """What a generator returns: template parameters plus the kind-specific answer."""

    params: dict
    options: tuple[Option, ...] = ()  # single/multiple: choices (one or more correct)
    items: tuple[Option, ...] = ()  # ordering: items in the correct order
    answer: float | None = None  # numeric
    tolerance: float = 0.0
    mistakes: tuple[Option, ...] = ()
    explanation: str = ""  # appended to the file's feedback: the simulator's own numbers


@dataclass(frozen=True)
class Generator:
    kind: str
    fn: Callable[[random.Random], Drawn]


def run_scripted(requests, **settings) -> SimResult:
    """Simulate a hand-built list of requests (all sizes in tokens, times in seconds)."""
    wl = WorkloadConfig(name="quiz", arrival="scripted", script=tuple(requests))
    return simulate(SimConfig(workload=wl, **settings))


def _mistakes(answer: float, tol: float, candidates) -> tuple[Option, ...]:
    """Keep the wrong values that really are wrong (outside the tolerance) and distinct."""
    out, seen = [], []
    for value, feedback in candidates:
        value = float(value)
        if abs(value - answer) <= tol or any(abs(value - s) <= tol for s in seen):
            continue
        seen.append(value)
        out.append(Option(text=_num(value), value=value, feedback=feedback))
    return tuple(out)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _ms(t: float) -> float:
    return round(t * 1e3, 1)


def _req(rid, arrival_s, prompt, out, **kw) -> Request:
    return Request(id=rid, arrival_s=round(arrival_s, 4), prompt_tokens=prompt, output_tokens=out, **kw)


# ---- C2: a queued request joins when a slot frees ---------------------------------------------------

def queued_join(rng: random.Random) -> Drawn:
    outs = rng.sample(range(3, 10), 3)
    k = rng.randint(1, 4)
    reqs = [_req(n, 0.0, 8, o) for n, o in zip("ABC", outs)] + [_req("D", 0.012 * k - 0.006, 8, 3)]
    res = run_scripted(reqs, policy="continuous", max_batch=3)
    k = iteration_of(res, reqs[3].arrival_s)
    ans = token_iteration(res, res.request("D").first_token_s)
    first = min(zip(outs, "ABC"))
    mistakes = _mistakes(ans, 0, [
        (k + 1, "D cannot join in the next iteration: all three slots are taken until a request finishes."),
        (first[0], f"{first[1]} finishes in iteration {first[0]}, but its slot is free only after that pass, "
                   "so D joins one iteration later."),
        (max(outs) + 1, "That is when the whole batch has drained; continuous batching refills the first free "
                        "slot and does not wait for the others."),
    ])
    return Drawn(params=dict(oa=outs[0], ob=outs[1], oc=outs[2], k=k), answer=ans, mistakes=mistakes,
                 explanation=f"In the simulator {first[1]} gives its last token in iteration {first[0]} and D is "
                             f"prefilled in iteration {ans}, which also gives its first token.")


# ---- C1: TTFT of a newcomer, read off the iteration clock -------------------------------------------

def newcomer_ttft(rng: random.Random) -> Drawn:
    oa, ob = rng.randint(7, 10), rng.randint(7, 10)
    k = rng.randint(2, 4)
    arr = round(0.012 * (k - 1) + rng.uniform(0.002, 0.009), 4)  # rounded before the run: 0.1 ms
    reqs = [_req("A", 0.0, 8, oa), _req("B", 0.0, 8, ob), _req("C", arr, 8, 3)]
    res = run_scripted(reqs, policy="continuous", max_batch=4)
    k = iteration_of(res, arr)
    ends = [_ms(it.end_s) for it in res.iterations[: k + 2]]
    first = res.request("C").first_token_s
    ans = round((first - arr) * 1e3, 1)
    end_k = ends[k - 1]
    mistakes = _mistakes(ans, 0.3, [
        (round(end_k - arr * 1e3, 1), "That is only the wait for the current iteration to end; C is not in that "
                                      "pass, so its prompt is prefilled in the next one."),
        (round(ends[k + 1] - arr * 1e3, 1), "C does not wait an extra iteration: its whole prompt is prefilled in "
                                            "the first pass after it arrives, and that pass yields its first token."),
        (round(ends[k] - ends[k - 1], 1), "TTFT runs from C's arrival, not from the start of the pass that prefills it."),
    ])
    return Drawn(params=dict(oa=oa, ob=ob, arr_ms=_num(_ms(arr)), k=k,
                             ends=", ".join(f"{e:.1f}" for e in ends)),
                 answer=ans, tolerance=0.3, mistakes=mistakes,
                 explanation=f"C arrives during iteration {k} (which ends at {end_k:.1f} ms), joins iteration {k + 1} "
                             f"and gets its first token when that pass ends at {_ms(first):.1f} ms: "
                             f"{_ms(first):.1f} - {_ms(arr):.1f} = {ans:.1f} ms.")


# ---- C6: prefill-first stalls the running sequences --------------------------------------------------

def prefill_first_stalls(rng: random.Random) -> Drawn:
    oa = rng.randint(12, 16)
    kb = rng.randint(2, 6)
    kc = kb if rng.random() < 0.35 else rng.randint(kb + 1, 9)
    tb = round(0.012 * (kb - 1) + rng.uniform(0.002, 0.005), 4)
    tc = round(0.012 * (kc - 1) + (rng.uniform(0.007, 0.010) if kc == kb else rng.uniform(0.002, 0.009)), 4)
    reqs = [_req("A", 0.0, 8, oa), _req("B", tb, 8, 4), _req("C", tc, 8, 4)]
    res = run_scripted(reqs, policy="prefill-first", max_batch=4)
    kb, kc = iteration_of(res, tb), iteration_of(res, tc)
    stalled = [it.index for it in res.iterations if "A" in it.stalled]
    ans = len(stalled)
    same = kb == kc
    mistakes = _mistakes(ans, 0, [
        (0, "Under prefill-first a pass with a newcomer prefills only the newcomer, so A gets no token in it; "
            "A would keep getting tokens under plain continuous batching."),
        (2 if same else 1,
         "B and C arrive during the same iteration, so one pass prefills both: A stalls once for the two." if same
         else "B and C arrive during different iterations, so each gets its own prefill pass, and A stalls in each."),
        (2 * ans, "A newcomer does not interrupt the pass it arrives during; only the next pass, which prefills "
                  "it, gives A no token."),
    ])
    where = ", ".join(str(i) for i in stalled) or "none"
    return Drawn(params=dict(oa=oa, kb=kb, kc=kc), answer=ans, mistakes=mistakes,
                 explanation=f"In the simulator A gets no token in iteration(s) {where}.")


# ---- C9: which waiting request goes first under a queue order ----------------------------------------

ORDER_WORDS = {"fcfs": "first-come, first-served (fcfs)", "priority": "class priority (priority)",
               "sjf": "shortest job first (sjf)", "edf": "earliest deadline first (edf)"}


def first_admitted(rng: random.Random) -> Drawn:
    order = rng.choice(("fcfs", "priority", "sjf", "edf"))
    letters = list("BCDE")
    rng.shuffle(letters)  # letters[i] arrives i-th
    roles = ["fcfs", "priority", "sjf", "edf"]
    rng.shuffle(roles)
    while roles[0] != "fcfs":  # the earliest arrival is the one fcfs favours
        rng.shuffle(roles)
    base_out = rng.randint(8, 12)
    reqs, desc = [_req("A", 0.0, 8, 14)], {}
    for i, (name, role) in enumerate(zip(letters, roles)):
        arr = round(0.004 + 0.012 * i, 4)
        prio = 0 if role == "priority" else 1
        out = rng.randint(2, 4) if role == "sjf" else base_out + i
        deadline = round(arr + (0.6 if role == "edf" else 5.0 + i), 3)
        reqs.append(_req(name, arr, 8, out, priority=prio, deadline_s=deadline))
        desc[name] = (f"{name}: arrives at {_ms(arr):g} ms, priority class {prio}, {out} output tokens, "
                      f"deadline {deadline * 1e3:,.0f} ms")
    res = run_scripted(reqs, policy="continuous", order=order, preempt="none", max_batch=1)
    firsts = {n: res.request(n).first_token_s for n in letters}
    winner = min(firsts, key=firsts.get)
    why = {"fcfs": "it arrived first", "priority": "it is the only request in the more urgent class 0",
           "sjf": "it has the fewest output tokens to generate", "edf": "its deadline is the earliest"}
    opts = []
    for name, role in sorted(zip(letters, roles)):
        right = name == winner
        fb = (f"{why[order]}, so {order} admits it as soon as A frees the only slot (first token at "
              f"{_ms(firsts[name]):.1f} ms)." if right else
              f"{name} would go first under {role} because {why[role]}, but under {order} it waits "
              f"(first token at {_ms(firsts[name]):.1f} ms).")
        opts.append(Option(text=desc[name], correct=right, feedback=fb[0].upper() + fb[1:]))
    return Drawn(params=dict(order=ORDER_WORDS[order], a_out=14), options=tuple(opts),
                 explanation=f"A finishes at {_ms(res.request('A').finish_s):.1f} ms.")


def first_token_order(rng: random.Random) -> Drawn:
    """Shortest-job-first sees only a predictor's guess of each output length (C9): the true lengths are
    drawn in an order the predictions get wrong, so ranking by the true length is the mistake to catch."""
    names = list("BCD")
    while True:
        outs = rng.sample(range(2, 13), 3)
        preds = rng.sample(range(2, 13), 3)
        if sorted(names, key=lambda n: outs[names.index(n)]) != sorted(names, key=lambda n: preds[names.index(n)]):
            break
    reqs = [_req("A", 0.0, 8, 12)]
    lines = []
    for i, n in enumerate(names):
        arr = round(0.005 + 0.012 * i + rng.uniform(0, 0.004), 4)
        reqs.append(_req(n, arr, 8, outs[i], predicted_output_tokens=float(preds[i])))
        lines.append(f"{n} arrives at {_ms(arr):g} ms, predicted {preds[i]} output tokens, actually {outs[i]}")
    res = run_scripted(reqs, policy="continuous", order="sjf", preempt="none", max_batch=1)
    firsts = {n: res.request(n).first_token_s for n in names}
    ranked = sorted(names, key=firsts.get)
    shortest = min(names, key=lambda n: outs[names.index(n)])
    items = tuple(Option(text=n, feedback=f"{lines[names.index(n)]}; first token at {_ms(firsts[n]):.1f} ms.")
                  for n in ranked)
    why = (f"{shortest} is really the shortest but was predicted {preds[names.index(shortest)]} tokens, so it "
           f"is served {['first', 'second', 'third'][ranked.index(shortest)]}." if ranked[0] != shortest else
           "The order of the others follows their predictions, not their true lengths.")
    return Drawn(params=dict(requests="; ".join(lines) + "."), items=items,
                 explanation=f"SJF sorts the queue by predicted length: the true length is unknown until "
                             f"generation ends. {why}")


# ---- C8: who is preempted for an urgent newcomer ----------------------------------------------------

def preempt_victim(rng: random.Random) -> Drawn:
    prios = [rng.choice((1, 2)) for _ in range(3)]
    pd = 0 if rng.random() < 0.8 else 1
    if pd == 1 and rng.random() < 0.5:
        prios = [1, 1, 1]  # sometimes nobody is less urgent than the newcomer
    arrs = (0.0, 0.004, 0.016)
    reqs = [_req(n, a, 8, 20, priority=p) for n, a, p in zip("ABC", arrs, prios)]
    reqs.append(_req("D", 0.040, 8, 4, priority=pd))
    res = run_scripted(reqs, policy="continuous", order="priority", preempt="recompute", max_batch=3)
    victims = [v for it in res.iterations for v in it.preempted]
    victim = victims[0] if victims else None
    opts = []
    for n, a, p in zip("ABC", arrs, prios):
        right = victim == n
        if right:
            fb = (f"{n} is in the least urgent class among the running ones (class {p}) and, within it, "
                  f"arrived last, so it is the first to evict; D (class {pd}) is strictly more urgent.")
        elif p < max(prios):
            fb = f"{n} is in class {p}, more urgent than another running request; the least urgent goes first."
        elif victim is None:
            fb = f"{n} is in class {p}, no less urgent than D (class {pd}): only a strictly more urgent request may evict."
        else:
            fb = (f"{n} is in the least urgent class too (class {p}), but it arrived earlier than {victim}; "
                  "ties go by arrival.")
        opts.append(Option(text=f"{n} (class {p}, arrived at {_ms(a):g} ms)", correct=right, feedback=fb))
    nobody = victim is None
    opts.append(Option(text="Nobody: D waits for a free slot", correct=nobody,
                       feedback=("No running request is in a class less urgent than D's, so D waits."
                                 if nobody else "Priority scheduling with preemption evicts a less urgent "
                                                "request when a strictly more urgent one arrives.")))
    return Drawn(params=dict(pa=prios[0], pb=prios[1], pc=prios[2], pd=pd), options=tuple(opts),
                 explanation=("The simulator preempted " + victim + "." if victim else
                              "The simulator preempted nobody."))


# ---- C5: paged KV blocks and waste -------------------------------------------------------------------

def paged_blocks(rng: random.Random) -> Drawn:
    b = rng.choice((4, 8, 16))
    pa, pb = rng.randint(5, 40), rng.randint(5, 40)
    k = rng.randint(2, 8)
    res = run_scripted([_req("A", 0.0, pa, 30), _req("B", 0.0, pb, 30)], policy="continuous",
                       memory="paged", block_size=b, kv_capacity_tokens=4096)
    ans = res.iterations[k - 1].kv_held // b
    ta, tb = pa + k - 1, pb + k - 1
    mistakes = _mistakes(ans, 0, [
        (math.ceil((ta + tb) / b), "Blocks are not shared between sequences: round up for A and for B separately."),
        (math.ceil((pa + k) / b) + math.ceil((pb + k) / b),
         "The newest token is not in the cache yet: it is fed back (and stored) in the next iteration."),
        (ta // b + tb // b, "A partly filled block still counts as a whole block: round up."),
        (ta + tb, "That is the number of cached tokens, not blocks."),
    ])
    return Drawn(params=dict(b=b, pa=pa, pb=pb, k=k), answer=ans, mistakes=mistakes,
                 explanation=f"After iteration {k}: A stores {pa} + {k - 1} = {ta} tokens in ceil({ta}/{b}) = "
                             f"{math.ceil(ta / b)} blocks, B stores {tb} in {math.ceil(tb / b)}; the simulator "
                             f"holds {res.iterations[k - 1].kv_held} slots = {ans} blocks.")


def unused_slots(rng: random.Random) -> Drawn:
    memory = rng.choice(("paged", "contiguous"))
    b = rng.choice((8, 16))
    pa, pb = rng.randint(10, 60), rng.randint(10, 60)
    ma, mb = rng.choice((32, 64)), rng.choice((32, 64))
    k = rng.randint(2, 6)
    reqs = [_req("A", 0.0, pa, 20, max_new_tokens=ma), _req("B", 0.0, pb, 20, max_new_tokens=mb)]
    res = run_scripted(reqs, policy="continuous", memory=memory, block_size=b, kv_capacity_tokens=4096)
    it = res.iterations[k - 1]
    ans = it.kv_held - it.kv_stored
    ta, tb = pa + k - 1, pb + k - 1
    paged = (math.ceil(ta / b) * b - ta) + (math.ceil(tb / b) * b - tb)
    contiguous = (pa + ma - ta) + (pb + mb - tb)
    other = contiguous if memory == "paged" else paged
    mistakes = _mistakes(ans, 0, [
        (other, "That would be the other memory manager: contiguous reserves prompt + max_new_tokens up front, "
                "paged holds only whole blocks for the tokens stored so far."),
        (ma + mb, "Some of the reservation is already used: the generated tokens fed back so far are stored in it."),
        (0, "Held memory is not the same as used memory: reservation and partly filled blocks hold empty slots."),
    ])
    return Drawn(params=dict(memory=memory, b=b, pa=pa, pb=pb, ma=ma, mb=mb, k=k), answer=ans, mistakes=mistakes,
                 explanation=f"The simulator holds {it.kv_held} slots and stores {it.kv_stored} tokens after "
                             f"iteration {k}: {ans} slots held but empty.")


# ---- C10: KV transfer between a prefill and a decode engine ------------------------------------------

def kv_transfer(rng: random.Random) -> Drawn:
    model = rng.choice(("llama-3-8b", "llama-2-7b"))
    p = rng.randrange(512, 4097, 256)
    link = rng.choice((10, 25, 50, 100))
    res = run_scripted([_req("A", 0.0, p, 4)], policy="disaggregated", model=model, link_gb_per_s=float(link))
    tr = res.transfers[0]
    ans = round((tr.end_s - tr.start_s) * 1e3, 3)
    per_tok = MODELS[model].kv_bytes_per_token
    tol = round(ans * 0.01, 3)
    # Each mistake is the answer of a learner who makes that one error (tests/test_quiz_mistakes.py
    # recomputes every one from its description).
    mistakes = _mistakes(ans, tol, [
        (round(ans * 8, 3), "Bandwidth is in gigabytes per second, not gigabits: no factor 8."),
        (round(ans * 1e9 / 2 ** 30, 3), "GB here means 10^9 bytes (as on datasheets), not 2^30 (GiB): a link "
                                        "of 2^30 bytes per second would be faster and the transfer shorter."),
        (round(ans * 2, 3), "The per-token size already counts both K and V (two tensors per layer): "
                            "multiplying by 2 counts them twice."),
        (round(ans * 1000 / 1024, 3), "1 KiB is 1,024 bytes, not 1,000."),
        (round(ans / 1000, 6), "The answer is asked in milliseconds, not seconds."),
    ])
    return Drawn(params=dict(model=model, p=p, link=link, kib=per_tok // 1024), answer=ans, tolerance=tol,
                 mistakes=mistakes,
                 explanation=f"{p} tokens x {per_tok:,} bytes = {p * per_tok / 1e6:,.1f} MB; at {link} GB/s "
                             f"that is {ans:g} ms (the simulator's transfer took the same).")


# ---- C11: static vs continuous for a short request behind long ones ----------------------------------

def short_behind_long(rng: random.Random) -> Drawn:
    policy = rng.choice(("static", "continuous"))
    outs = [rng.randint(6, 12) for _ in range(3)]
    k = rng.randint(2, 4)
    arr = round(0.012 * (k - 1) + rng.uniform(0.003, 0.008), 4)
    reqs = [_req(f"L{i + 1}", 0.0, 16, o) for i, o in enumerate(outs)] + [_req("S", arr, 16, 2)]
    res = run_scripted(reqs, policy=policy, max_batch=4)
    k = iteration_of(res, arr)
    ans = token_iteration(res, res.request("S").first_token_s)
    if policy == "static":
        wrong = [
            (k + 1, "That is continuous batching. Static (request-level) batching does not let a newcomer into "
                    "a running batch, even with a free slot: S waits for the whole batch."),
            (min(outs) + 1, "A slot freed by the first long request to finish is not refilled under static "
                            "batching; S waits until the last of L1, L2, L3 has finished."),
            (max(outs), "The batch ends in the iteration that gives the last long request its last token; S is "
                        "prefilled in the next one."),
        ]
    else:
        wrong = [
            (max(outs) + 1, "That is static batching. Continuous batching admits S at the next iteration because "
                            "a slot is free; it does not wait for the batch to drain."),
            (min(outs) + 1, "S does not need anyone to finish: one of the four slots is free from the start."),
            (k, "S arrives during that iteration, so it can only join the next one."),
        ]
    mistakes = _mistakes(ans, 0, wrong)
    return Drawn(params=dict(policy=policy.capitalize(), o1=outs[0], o2=outs[1], o3=outs[2], k=k), answer=ans,
                 mistakes=mistakes,
                 explanation=f"In the simulator S is prefilled in iteration {ans}, which gives its first token.")


# ---- C7: number of iterations (scheduler decisions) --------------------------------------------------

def total_iterations(rng: random.Random) -> Drawn:
    policy = rng.choice(("static", "continuous"))
    oa, ob = rng.sample(range(3, 10), 2)
    oc = rng.randint(3, 9)
    res = run_scripted([_req("A", 0.0, 8, oa), _req("B", 0.0, 8, ob), _req("C", 0.0, 8, oc)],
                       policy=policy, max_batch=2)
    ans = len(res.iterations)
    cont = max(max(oa, ob), min(oa, ob) + oc)
    stat = max(oa, ob) + oc
    mistakes = _mistakes(ans, 0, [
        (stat if policy == "continuous" else cont,
         "That is the other policy: static waits for the batch to drain before C starts; continuous lets C "
         "take the first free slot."),
        (oa + ob + oc, "A and B run together in the same iterations; their tokens are not produced one after the other."),
        (max(oa, ob, oc), "C cannot start at once: the engine holds only two sequences."),
    ])
    return Drawn(params=dict(policy=policy.capitalize(), oa=oa, ob=ob, oc=oc), answer=ans, mistakes=mistakes,
                 explanation=f"The simulator ran {ans} iterations; the scheduler made one decision before each.")


# ---- C4: reorganization cost in one iteration --------------------------------------------------------

def reorg_cost(rng: random.Random) -> Drawn:
    r_ms = rng.choice((0.5, 1.0, 2.0))
    outs = [rng.randint(1, 4) for _ in range(6)]
    reqs = [_req(n, 0.0, 4, o) for n, o in zip("ABCDEF", outs)]
    base = run_scripted(reqs, policy="continuous", max_batch=3, reorg_s=0.0)
    with_r = run_scripted(reqs, policy="continuous", max_batch=3, reorg_s=r_ms / 1e3)
    candidates = [i for i in range(2, len(base.iterations) + 1)
                  if base.iterations[i - 1].joined and base.iterations[i - 2].finished]
    k = rng.choice(candidates) if candidates else 2
    ans = round((with_r.iterations[k - 1].duration_s - base.iterations[k - 1].duration_s) * 1e3, 3)
    joins = len(base.iterations[k - 1].joined)
    leaves = len(base.iterations[k - 2].finished)
    mistakes = _mistakes(ans, 0.001, [
        (round(r_ms * joins, 3), "Leaving costs too: the batch is rebuilt for every sequence that left after "
                                 "the previous iteration."),
        (round(r_ms * leaves, 3), "Joining costs too: every sequence admitted in this iteration is added to the batch."),
        (round(r_ms * 3, 3), "Only the sequences that changed are charged, not the whole batch."),
        (0, "Continuous batching rebuilds the batch whenever a sequence joins or leaves; that is not free."),
    ])
    return Drawn(params=dict(r=_num(r_ms), outs=", ".join(f"{n} {o}" for n, o in zip("ABCDEF", outs)), k=k),
                 answer=ans, tolerance=0.001, mistakes=mistakes,
                 explanation=f"In iteration {k}, {joins} sequence(s) joined and {leaves} had left after "
                             f"iteration {k - 1}: ({joins} + {leaves}) x {_num(r_ms)} ms = {ans:g} ms, "
                             "exactly what the simulator added.")


GENERATORS: dict[str, Generator] = {
    "queued-join": Generator("numeric", queued_join),
    "newcomer-ttft": Generator("numeric", newcomer_ttft),
    "prefill-first-stalls": Generator("numeric", prefill_first_stalls),
    "first-admitted": Generator("single", first_admitted),
    "first-token-order": Generator("ordering", first_token_order),
    "preempt-victim": Generator("single", preempt_victim),
    "paged-blocks": Generator("numeric", paged_blocks),
    "unused-slots": Generator("numeric", unused_slots),
    "kv-transfer": Generator("numeric", kv_transfer),
    "short-behind-long": Generator("numeric", short_behind_long),
    "total-iterations": Generator("numeric", total_iterations),
    "reorg-cost": Generator("numeric", reorg_cost),
}


def template_fields(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name}


def fill(text: str, params: dict, qid: str, where: str) -> str:
    missing = template_fields(text) - set(params)
    if missing:
        raise KeyError(f"question {qid!r}: {where} uses unknown parameter(s) {', '.join(sorted(missing))}; "
                       f"the generator provides {', '.join(sorted(params))}")
    return text.format(**params)


def run_generator(q: Question, seed: int) -> Variant:
    """The variant of a parameterized question: the generator's numbers in the file's words."""
    rng = random.Random(f"{q.id}:{seed}")  # per question and seed: no shared random state
    d = GENERATORS[q.generator].fn(rng)
    stem = fill(q.stem, d.params, q.id, "stem")
    hint = fill(q.hint, d.params, q.id, "hint") if q.hint else ""
    feedback = " ".join(x for x in (fill(q.feedback, d.params, q.id, "feedback") if q.feedback else "",
                                    d.explanation) if x)
    params = tuple(sorted(d.params.items()))
    base = dict(question_id=q.id, concept=q.concept, kind=q.kind, seed=seed, stem=stem, hint=hint, params=params)
    if q.kind in ("single", "multiple"):
        opts = d.options
        if d.explanation:
            opts = tuple(Option(o.text, o.correct, f"{o.feedback} {d.explanation}") for o in opts)
        return Variant(**base, options=opts)
    if q.kind == "numeric":
        return Variant(**base, answer=d.answer, tolerance=d.tolerance, unit=q.unit, feedback=feedback,
                       mistakes=d.mistakes)
    presented, order = shuffle_items(d.items, seed)
    return Variant(**base, options=presented, order=order, feedback=feedback)
