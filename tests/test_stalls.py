"""Generation stalls as the book means them (C6) and the TBT tail that shows them.

A stall is the delay a prefill adds to a running sequence's tokens (sharing its pass or taking it);
``stalls`` counts the token gaps over the class's TBT goal with such a delay in them, ``stall_time_s``
sums the delay. On the summarization preset (long prompts, 200 ms TBT goal) chunked prefill spreads the
same prompt compute into small delays, so it counts fewer stalls than continuous batching, whose whole
prompts make each shared pass a gap over the goal; prefill-first, which gives newcomers whole passes,
makes running sequences wait longest.
"""

import json
import subprocess
import sys

import pytest

from sim import scenario, simulate

NEW_KEYS = ("stall_time_s", "tbt_p999_s", "tbt_max_s")


@pytest.fixture(scope="module")
def summarization():
    return {p: simulate(scenario("summarization", rate_per_s=3.0, policy=p, token_budget=512,
                                 record_iterations=False))
            for p in ("continuous", "chunked", "prefill-first")}


def test_chunked_stalls_less_than_continuous_and_prefill_first_waits_longest(summarization):
    m = {p: r.metrics for p, r in summarization.items()}
    assert m["chunked"]["stalls"] < m["continuous"]["stalls"]
    # Prefill-first stalls running sequences for the most time, in the longest gaps ...
    assert m["prefill-first"]["stall_time_s"] > m["continuous"]["stall_time_s"] > m["chunked"]["stall_time_s"]
    assert m["prefill-first"]["tbt_max_s"] > m["continuous"]["tbt_max_s"] > m["chunked"]["tbt_max_s"]
    assert m["prefill-first"]["tbt_p999_s"] > m["continuous"]["tbt_p999_s"] > m["chunked"]["tbt_p999_s"]
    # ... while chunked and continuous pay for the same prompt compute: the same order of stall time.
    assert m["chunked"]["stall_time_s"] > 0.3 * m["continuous"]["stall_time_s"]


def test_tail_keys_are_ordered_and_per_class(summarization):
    for r in summarization.values():
        for metrics in (r.metrics, *r.by_class.values()):
            for k in NEW_KEYS:
                assert metrics[k] is not None and metrics[k] >= 0, k
            assert metrics["tbt_p99_s"] <= metrics["tbt_p999_s"] <= metrics["tbt_max_s"]
        assert r.metrics["tbt_max_s"] == pytest.approx(max(q.max_gap_s for q in r.requests))
        assert r.metrics["stall_time_s"] == pytest.approx(sum(q.stall_time_s for q in r.requests))
        assert r.metrics["stalls"] == sum(q.stalls for q in r.requests)


def test_stall_time_is_the_prefill_share_of_each_shared_pass():
    """Continuous batching on the book's example: each decode that shares a pass with a prefill is delayed
    by that pass minus the same decodes alone; a 8-token prompt keeps every gap under the goal."""
    from sim.cost_model import BatchShape
    from sim.engine import Simulation
    cfg = scenario("book-example")
    sim = Simulation(cfg)
    r = sim.run()
    cost = sim.cost
    expected = {q.id: 0.0 for q in r.requests}
    for it in r.iterations:
        if it.prefill and it.decode:
            ctx = 0
            for rid in it.decode:  # context of each decode: prompt + tokens it had before this pass
                q = r.request(rid)
                before = sum(1 for o in r.iterations if o.index < it.index and (rid in o.decode
                                                                               or any(p == rid for p, _ in o.prefill)))
                ctx += q.prompt_tokens + before - 1
            prev = r.iterations[it.index - 2]  # who left before this pass: the decodes pay that reorganization anyway
            alone = cost.iteration_time(BatchShape(decode_seqs=len(it.decode), decode_context_tokens=ctx,
                                                   leaves=len(prev.finished)))
            for rid in it.decode:
                expected[rid] += it.duration_s - alone
    for q in r.requests:
        assert q.stall_time_s == pytest.approx(expected[q.id], abs=1e-12), q.id
    assert r.metrics["stall_time_s"] > 0 and r.metrics["stalls"] == 0


def test_json_has_the_new_metrics_overall_and_per_class():
    out = subprocess.run([sys.executable, "-m", "sim", "run", "hybrid-service", "--requests", "40", "--json"],
                         capture_output=True, text=True, check=True).stdout
    d = json.loads(out)
    for k in NEW_KEYS + ("stalls",):
        assert k in d["metrics"]
        for cls in d["by_class"].values():
            assert k in cls
