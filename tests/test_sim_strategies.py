"""Golden trace of the book's example (C3) and one test per strategy for its defining behaviour."""

import os

import pytest

from sim import scenario, simulate
from sim.config import with_changes
from sim.workload import Request, WorkloadConfig

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "book-example.txt")


def render(result) -> str:
    """Iteration-by-iteration text of a run: what the golden file pins (times left out on purpose:
    the lesson is the composition of each pass, which must not change with cost-model tuning)."""
    lines = []
    for it in result.iterations:
        pf = " ".join(f"{rid}:{n}" for rid, n in it.prefill) or "-"
        lines.append(f"iter {it.index:2d} | prefill {pf:12s} | decode {' '.join(it.decode) or '-':12s} | "
                     f"joined {' '.join(it.joined) or '-':8s} | finished {' '.join(it.finished) or '-':8s} | "
                     f"queue {it.waiting}")
    return "\n".join(lines) + "\n"


def test_book_example_golden():
    text = render(simulate(scenario("book-example")))
    if os.environ.get("UPDATE_GOLDEN"):
        with open(GOLDEN, "w") as f:
            f.write(text)
    with open(GOLDEN) as f:
        assert text == f.read()


# The book's x1..x5 example as the course's cards for the book's figure number it (DESIGN.md C3), pass by
# pass: (prefilled, decoded, finished, waiting) of iterations 1..6.
BOOK_SEQUENCE = {
    1: ({"x1", "x2"}, set(), set(), set()),  # prefilling x1 and x2
    2: (set(), {"x1", "x2"}, set(), set()),  # their first decoding step
    3: (set(), {"x1", "x2"}, set(), set()),  # their second decoding step; x3 arrives during it
    4: ({"x3"}, {"x1", "x2"}, set(), set()),  # x3 prefilled in the same pass in which x1, x2 decode
    5: (set(), {"x1", "x2", "x3"}, {"x2"}, set()),  # x2 gives its last token; x4, x5 arrive during it
    6: ({"x4"}, {"x1", "x3"}, set(), {"x5"}),  # x4 takes x2's slot; x5 waits: the engine holds 3
}


def test_book_example_story():
    """The card's narrative, checked pass by pass on the simulator's own trace (C3)."""
    from viz.timeline import queued_ids

    r = simulate(scenario("book-example"))
    it = {i.index: i for i in r.iterations}
    for k, (prefilled, decoded, finished, waiting) in BOOK_SEQUENCE.items():
        seen = ({x for x, _ in it[k].prefill}, set(it[k].decode), set(it[k].finished), set(queued_ids(r, it[k])))
        assert seen == (prefilled, decoded, finished, waiting), f"iteration {k}"
        assert it[k].stalled == ()  # continuous batching: a prefill shares the pass, nobody loses a token
    x3, x4 = r.request("x3"), r.request("x4")
    assert it[3].start_s < x3.arrival_s < it[3].end_s  # x3 arrives during iteration 3 ...
    assert "x3" in it[4].joined  # ... and joins at the next iteration
    assert it[5].start_s < x4.arrival_s < it[5].end_s and r.request("x5").arrival_s == x4.arrival_s
    assert it[6].waiting == 1 and "x5" in it[9].joined  # x5 waits until x3 (last token in iteration 8) frees a slot
    assert all(i.running <= 3 for i in r.iterations)


def test_book_example_arrivals_sit_mid_iteration():
    """Each arrival is at least 40% of an iteration away from the iteration's edges, so a cost-model
    change of a few percent cannot move a request to another iteration and rewrite the lesson."""
    r = simulate(scenario("book-example"))
    for req in r.requests:
        if req.arrival_s == 0:
            continue
        it = next(i for i in r.iterations if i.start_s <= req.arrival_s < i.end_s)
        margin = min(req.arrival_s - it.start_s, it.end_s - req.arrival_s) / it.duration_s
        assert margin > 0.4, (req.id, it.index, margin)


def _script(*reqs, **kw):
    return WorkloadConfig(name="t", arrival="scripted", script=tuple(reqs), **kw)


def test_static_admits_no_one_mid_batch():
    r = simulate(scenario("three-long-one-short", policy="static"))
    short = r.request("short")
    long_finish = max(r.request(f"long{i}").finish_s for i in (1, 2, 3))
    assert short.admitted_s >= long_finish  # waited for the whole batch
    for it in r.iterations:
        if it.joined:
            assert it.decode == ()  # a static batch is only formed when the engine is empty


def test_continuous_admits_newcomer_next_iteration():
    r = simulate(scenario("three-long-one-short", policy="continuous"))
    short = r.request("short")
    first_after = next(i for i in r.iterations if i.start_s >= short.arrival_s)
    assert "short" in first_after.joined
    assert set(first_after.decode) == {"long1", "long2", "long3"}  # in the same pass as their decodes
    assert short.finish_s < min(r.request(f"long{i}").finish_s for i in (1, 2, 3))


def test_prefill_first_stalls_running_decodes():
    r = simulate(scenario("three-long-one-short", policy="prefill-first"))
    joined = next(i for i in r.iterations if "short" in i.joined)
    assert joined.decode == ()
    assert set(joined.stalled) == {"long1", "long2", "long3"}
    # Each long request sat that pass out: the prefill delayed its next token by the whole pass. A
    # 32-token prompt's pass is far under the 100 ms TBT goal, so no token gap counts as a stall.
    for rid in ("long1", "long2", "long3"):
        assert r.request(rid).stall_time_s == pytest.approx(joined.duration_s)
    assert r.metrics["stall_time_s"] == pytest.approx(3 * joined.duration_s)
    assert r.metrics["stalls"] == 0


@pytest.mark.parametrize("budget", [16, 64, 256])
def test_chunked_never_exceeds_token_budget(budget):
    r = simulate(with_changes(scenario("summarization", policy="chunked", token_budget=budget),
                              workload=_script(*[Request(f"q{i}", i * 0.05, 700, 20) for i in range(8)])))
    assert r.metrics["completed"] == 8
    for it in r.iterations:
        assert it.prefill_tokens + len(it.decode) <= budget
    assert any(n < 700 for it in r.iterations for _, n in it.prefill)  # prompts really were chunked


def test_disaggregated_decodes_only_after_transfer():
    r = simulate(scenario("chat", policy="disaggregated", workload=_script(
        *[Request(f"d{i}", i * 0.01, 300, 12) for i in range(10)]), link_gb_per_s=1.0))
    assert r.metrics["completed"] == 10
    arrived = {t.request_id: t.end_s for t in r.transfers}
    assert len(arrived) == 10
    for it in r.iterations:
        if it.engine.startswith("decode"):
            assert not it.prefill
            for rid in it.decode:
                assert it.start_s >= arrived[rid] - 1e-12
        else:
            assert not it.decode
    # Transfer time = KV bytes / bandwidth (Llama-3-8B: 128 KiB per token).
    t = r.transfers[0]
    assert t.end_s - t.start_s == pytest.approx(300 * 131072 / 1e9)


def test_priority_with_preemption_evicts_least_urgent():
    low = [Request(f"low{i}", 0.0, 200, 300, priority=2, cls="low") for i in range(3)]
    mid = Request("mid", 0.0, 200, 300, priority=1, cls="mid")
    urgent = Request("urgent", 0.5, 200, 20, priority=0, cls="urgent")
    cfg = scenario("chat", order="priority", preempt="recompute", max_batch=4,
                   workload=_script(*low, mid, urgent))
    r = simulate(cfg)
    evict = next(i for i in r.iterations if i.preempted)
    assert len(evict.preempted) == 1 and evict.preempted[0].startswith("low")
    assert "urgent" in evict.joined
    assert r.request("mid").preemptions == 0
    # Without preemption the urgent request waits for a slot instead.
    r2 = simulate(with_changes(cfg, preempt="none"))
    assert r2.metrics["preemptions"] == 0
    assert r2.request("urgent").ttft_s > r.request("urgent").ttft_s


def test_memory_pressure_preempts_and_everything_completes():
    reqs = [Request(f"m{i}", i * 0.001, 100, 200) for i in range(12)]
    for mode in ("recompute", "swap"):
        r = simulate(scenario("chat", preempt=mode, kv_capacity_tokens=1200, workload=_script(*reqs)))
        assert r.metrics["completed"] == 12
        assert r.metrics["preemptions"] > 0
        assert max(i.kv_held for i in r.iterations) <= 1200


def test_contiguous_refuses_although_free_memory_would_fit():
    r = simulate(scenario("fragmentation", record_layout=True))
    found = False
    for it in r.iterations:
        free = it.kv_capacity - it.kv_held
        if it.kv_external > 0 and it.waiting > 0 and free > 0:
            found = True
            break
    assert found
    paged = simulate(scenario("fragmentation", memory="paged"))
    assert paged.metrics["kv_waste_fraction"] < r.metrics["kv_waste_fraction"] / 5


def test_request_that_can_never_fit_is_rejected_with_reason():
    reqs = [Request("huge", 0.0, 5000, 10), Request("ok", 0.0, 100, 10)]
    r = simulate(scenario("chat", kv_capacity_tokens=1000, workload=_script(*reqs)))
    assert r.request("huge").rejected_reason.startswith("needs")
    assert r.request("ok").completed
    assert r.metrics["rejected"] == 1 and r.metrics["completed"] == 1


def test_reorganization_cost_slows_continuous_on_tiny_requests():
    cheap = simulate(scenario("many-tiny", reorg_s=0.0))
    dear = simulate(scenario("many-tiny", reorg_s=0.005))
    assert dear.metrics["makespan_s"] > cheap.metrics["makespan_s"]


def test_roofline_prefill_slows_the_pass():
    """Batching is not free: a pass with a prefill costs more than the same decodes alone (stalls)."""
    r = simulate(scenario("three-long-one-short", policy="continuous"))
    joined = next(i for i in r.iterations if "short" in i.joined)
    plain = next(i for i in r.iterations if i.start_s > joined.end_s and not i.prefill)
    assert joined.duration_s > plain.duration_s
