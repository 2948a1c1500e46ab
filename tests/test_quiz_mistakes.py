"""Every generator's catalogued mistakes, recomputed here from the mistake's own description.

For each parameterized question the test works out, from the drawn parameters alone (never from the
generator's code or the simulator), the number a learner who makes each catalogued mistake would enter,
grades that number and checks that the feedback for *that* mistake comes back. A mistake computed in the
wrong direction (a GiB link that makes the transfer longer) would get the generic feedback and fail here.
The correct answer is recomputed the same way where the rule is a short formula. Choice and ordering
generators are checked the same way: each option's explanation must name the rule that really picks it.
"""

from __future__ import annotations

import math
import re

import pytest

from quiz.bank import load_bank
from quiz.generators import GENERATORS
from quiz.model import grade, parse
from quiz.variants import generate

BANK = {q.generator: q for q in load_bank() if q.generator}
SEEDS = range(25)


# ---- numeric generators: (answer, [(mistaken value, words of its feedback)]) from the parameters -------

def queued_join(p):
    o, k = [p["oa"], p["ob"], p["oc"]], p["k"]
    return max(k, min(o)) + 1, [
        (k + 1, "cannot join in the next iteration"),  # forgot that every slot is taken
        (min(o), "its slot is free only after that pass"),  # joined in the finishing iteration itself
        (max(o) + 1, "whole batch has drained"),  # waited for the batch, as static batching would
    ]


def newcomer_ttft(p):
    ends = [float(x) for x in p["ends"].split(", ")]
    arr, k = float(p["arr_ms"]), p["k"]
    return ends[k] - arr, [
        (ends[k - 1] - arr, "only the wait for the current iteration"),  # thought C is in the running pass
        (ends[k + 1] - arr, "does not wait an extra iteration"),  # one pass too late
        (ends[k] - ends[k - 1], "runs from C's arrival"),  # timed from the pass's start
    ]


def prefill_first_stalls(p):
    same = p["kb"] == p["kc"]
    ans = 1 if same else 2
    return ans, [
        (0, "would keep getting tokens"),  # thought the prefill shares the pass, as in continuous batching
        (2 if same else 1, "one pass prefills both" if same else "each gets its own prefill pass"),
        (2 * ans, "does not interrupt the pass it arrives during"),  # counted the arrival's pass too
    ]


def paged_blocks(p):
    b, k = p["b"], p["k"]
    ta, tb = p["pa"] + k - 1, p["pb"] + k - 1
    return math.ceil(ta / b) + math.ceil(tb / b), [
        (math.ceil((ta + tb) / b), "Blocks are not shared"),  # pooled both sequences' tokens
        (math.ceil((p["pa"] + k) / b) + math.ceil((p["pb"] + k) / b), "newest token is not in the cache"),
        (ta // b + tb // b, "round up"),  # rounded down
        (ta + tb, "cached tokens, not blocks"),  # counted tokens
    ]


def unused_slots(p):
    b, k = p["b"], p["k"]
    ta, tb = p["pa"] + k - 1, p["pb"] + k - 1
    paged = (math.ceil(ta / b) * b - ta) + (math.ceil(tb / b) * b - tb)
    contiguous = (p["pa"] + p["ma"] - ta) + (p["pb"] + p["mb"] - tb)
    ans, other = (paged, contiguous) if p["memory"] == "paged" else (contiguous, paged)
    return ans, [
        (other, "the other memory manager"),
        (p["ma"] + p["mb"], "already used"),  # the whole reservation as if nothing were generated
        (0, "not the same as used memory"),
    ]


def kv_transfer(p):
    nbytes = p["p"] * p["kib"] * 1024  # KiB per token as the stem gives it
    link = p["link"] * 1e9  # GB/s, 1 GB = 10^9 bytes

    def ms(b, bw):
        return b / bw * 1e3

    ans = ms(nbytes, link)
    return ans, [
        (ms(nbytes * 8, link), "not gigabits"),  # bytes turned into bits on one side only
        (ms(nbytes, p["link"] * 2 ** 30), "not 2^30"),  # a GiB-per-second link: faster, shorter transfer
        (ms(2 * nbytes, link), "counts them twice"),  # doubled the per-token size for K and V
        (ms(p["p"] * p["kib"] * 1000, link), "1 KiB is 1,024 bytes"),  # KiB taken as 1,000 bytes
        (ans / 1000, "milliseconds, not seconds"),  # answered in seconds
    ]


def short_behind_long(p):
    o, k = [p["o1"], p["o2"], p["o3"]], p["k"]
    if p["policy"] == "Static":
        return max(o) + 1, [
            (k + 1, "That is continuous batching"),
            (min(o) + 1, "not refilled under static batching"),
            (max(o), "prefilled in the next one"),
        ]
    return k + 1, [
        (max(o) + 1, "That is static batching"),
        (min(o) + 1, "does not need anyone to finish"),
        (k, "can only join the next one"),
    ]


def total_iterations(p):
    oa, ob, oc = p["oa"], p["ob"], p["oc"]
    cont, stat = max(max(oa, ob), min(oa, ob) + oc), max(oa, ob) + oc
    ans, other = (stat, cont) if p["policy"] == "Static" else (cont, stat)
    return ans, [
        (other, "That is the other policy"),
        (oa + ob + oc, "run together in the same iterations"),  # one sequence after the other
        (max(oa, ob, oc), "cannot start at once"),  # forgot the engine holds two
    ]


def reorg_cost(p):
    r = float(p["r"])
    outs = dict((n, int(o)) for n, o in (x.split() for x in p["outs"].split(", ")))
    queue, running, joins, leaves, it = list("ABCDEF"), {}, {}, {}, 1
    while queue or running:  # continuous batching, 3 slots, admitted in order A..F
        joined = []
        while len(running) < 3 and queue:
            joined.append(queue.pop(0))
            running[joined[-1]] = 0
        for n in running:
            running[n] += 1
        done = [n for n in running if running[n] == outs[n]]
        joins[it], leaves[it] = len(joined), len(done)
        for n in done:
            del running[n]
        it += 1
    k = p["k"]
    j, lv = joins[k], leaves[k - 1]
    return (j + lv) * r, [
        (r * j, "Leaving costs too"),  # charged the joins only
        (r * lv, "Joining costs too"),  # charged the leaves only
        (r * 3, "Only the sequences that changed"),  # charged the whole batch
        (0, "that is not free"),
    ]


NUMERIC = {"queued-join": queued_join, "newcomer-ttft": newcomer_ttft, "prefill-first-stalls": prefill_first_stalls,
           "paged-blocks": paged_blocks, "unused-slots": unused_slots, "kv-transfer": kv_transfer,
           "short-behind-long": short_behind_long, "total-iterations": total_iterations, "reorg-cost": reorg_cost}


@pytest.mark.parametrize("gen", sorted(NUMERIC))
def test_numeric_mistakes_get_their_own_feedback(gen):
    q = BANK[gen]
    for seed in SEEDS:
        v = generate(q, seed)
        params = dict(v.params)
        answer, mistakes = NUMERIC[gen](params)
        tol = v.tolerance + 1e-9 * max(1.0, abs(v.answer))
        assert abs(answer - v.answer) <= max(tol, 0.2), (gen, seed, answer, v.answer)  # newcomer-ttft: 0.1 ms rounding
        seen = []
        for value, words in mistakes:
            if abs(value - v.answer) <= v.tolerance or any(abs(value - s) <= v.tolerance for s in seen):
                continue  # coincides with the answer or an earlier mistake: the generator drops it
            seen.append(value)
            g = grade(v, parse(v, value))
            assert g.score == 0.0, (gen, seed, value)
            assert words in g.details[0][2], (gen, seed, value, words, g.details[0][2])


# ---- choice and ordering generators ------------------------------------------------------------------

def test_preempt_victim_feedback_names_the_right_classes():
    q = BANK["preempt-victim"]
    for seed in range(60):
        v = generate(q, seed)
        p = dict(v.params)
        prios, pd = [p["pa"], p["pb"], p["pc"]], p["pd"]
        least = max(prios)
        # The rule in the stem: the least urgent running request, the latest arrival among equals, and
        # only when D is strictly more urgent.
        victim = "ABC"[max(i for i, x in enumerate(prios) if x == least)] if least > pd else None
        right = next(o for o in v.options if o.correct)
        if victim is None:
            assert right.text.startswith("Nobody"), seed
            continue
        assert right.text.startswith(f"{victim} (class {least}"), seed
        assert f"class {least}" in right.feedback and f"D (class {pd})" in right.feedback, (seed, right.feedback)
        for o in v.options:
            if o.correct or o.text.startswith("Nobody"):
                continue
            cls = int(re.search(r"class (\d)", o.text).group(1))
            assert f"class {cls}" in o.feedback, (seed, o.text, o.feedback)
            if cls == least:
                assert f"arrived earlier than {victim}" in o.feedback, (seed, o.feedback)


_DESC = re.compile(r"^(\w): arrives at ([\d.]+) ms, priority class (\d), (\d+) output tokens, deadline ([\d,]+) ms$")


def test_first_admitted_each_option_names_the_order_that_picks_it():
    q = BANK["first-admitted"]
    for seed in SEEDS:
        v = generate(q, seed)
        reqs = {}
        for o in v.options:
            name, arr, prio, out, dl = _DESC.match(o.text).groups()
            reqs[name] = (float(arr), int(prio), int(out), float(dl.replace(",", "")))
        pick = {"fcfs": min(reqs, key=lambda n: reqs[n][0]),
                "priority": min(reqs, key=lambda n: (reqs[n][1], reqs[n][0])),
                "sjf": min(reqs, key=lambda n: (reqs[n][2], reqs[n][0])),
                "edf": min(reqs, key=lambda n: (reqs[n][3], reqs[n][0]))}
        order = re.search(r"\((\w+)\)", dict(v.params)["order"]).group(1)
        for o in v.options:
            name = o.text[0]
            assert o.correct == (pick[order] == name), (seed, order, o.text)
            if not o.correct:
                role = re.search(r"would go first under (\w+)", o.feedback).group(1)
                assert pick[role] == name, (seed, o.text, o.feedback)


def test_first_token_order_follows_the_predictions_not_the_true_lengths():
    q = BANK["first-token-order"]
    for seed in SEEDS:
        v = generate(q, seed)
        text = dict(v.params)["requests"]
        found = re.findall(r"(\w) arrives at ([\d.]+) ms, predicted (\d+) output tokens, actually (\d+)", text)
        pred = {n: (int(pr), float(a)) for n, a, pr, _ in found}
        true = {n: int(t) for n, _, _, t in found}
        expected = sorted(pred, key=pred.get)
        assert [v.options[i].text for i in v.order] == expected, (seed, text)
        assert expected != sorted(true, key=lambda n: (true[n], pred[n][1]))  # the mistake is a different order
        shortest = min(true, key=true.get)
        if expected[0] != shortest:
            assert f"{shortest} is really the shortest" in v.feedback, (seed, v.feedback)


def test_every_generator_is_checked_here():
    checked = set(NUMERIC) | {"preempt-victim", "first-admitted", "first-token-order"}
    assert checked == set(GENERATORS)
