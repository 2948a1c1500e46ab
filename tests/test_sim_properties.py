"""Property tests over random scenarios: invariants every policy must keep."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import SimConfig, simulate
from sim.batching import STRATEGIES
from sim.kv_memory import KV_MANAGERS
from sim.preemption import PREEMPT_MODES
from sim.queue_order import ORDERS
from sim.workload import Request, WorkloadConfig

# Every registered policy, read from the registries: a new one is tested here without a line changed.
POLICY = st.sampled_from(list(STRATEGIES))
ORDER = st.sampled_from(list(ORDERS))


@st.composite
def scenarios(draw):
    n = draw(st.integers(1, 14))
    reqs = []
    for i in range(n):
        arrival = draw(st.floats(0, 2.0, allow_nan=False))
        prompt = draw(st.integers(1, 600))
        out = draw(st.integers(1, 120))
        prio = draw(st.integers(0, 2))
        deadline = draw(st.one_of(st.none(), st.floats(0.1, 5.0)))
        reqs.append(Request(f"q{i}", arrival, prompt, out, priority=prio, cls=f"c{prio}",
                            deadline_s=None if deadline is None else arrival + deadline))
    memory = draw(st.sampled_from(list(KV_MANAGERS)))
    cfg = SimConfig(
        workload=WorkloadConfig(name="prop", arrival="scripted", script=tuple(reqs)),
        policy=draw(POLICY), order=draw(ORDER), expr="priority * 10 + prompt_tokens / 1000 - waiting_s",
        preempt=draw(st.sampled_from(list(PREEMPT_MODES))), memory=memory,
        block_size=draw(st.sampled_from([1, 8, 16])), max_batch=draw(st.integers(1, 8)),
        token_budget=draw(st.integers(8, 512)), kv_capacity_tokens=draw(st.integers(16, 2500)),
        reorg_s=draw(st.sampled_from([0.0, 0.001])), seed=draw(st.integers(0, 10)),
        prefill_engines=draw(st.integers(1, 2)), decode_engines=draw(st.integers(1, 2)))
    return cfg


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_invariants(cfg):
    r = simulate(cfg)
    cap = r.kv_capacity_tokens
    # KV use never exceeds capacity.
    for it in r.iterations:
        assert 0 <= it.kv_stored <= it.kv_held <= it.kv_capacity == cap
        assert it.kv_reserved >= 0 and it.kv_internal >= 0 and it.kv_external >= 0
        assert it.running <= cfg.max_batch
        assert it.end_s > it.start_s
    for q in r.requests:
        # Every request completes or is rejected with a reason.
        assert q.completed != bool(q.rejected_reason)
        if q.completed:
            # Generated tokens equal requested output tokens; times ordered.
            assert q.generated_tokens == q.output_tokens
            assert q.arrival_s <= q.admitted_s <= q.first_token_s <= q.finish_s
    assert r.metrics["completed"] + r.metrics["rejected"] == len(cfg.workload.script)
    # Same seed and config: the identical trace.
    again = simulate(cfg)
    assert again.iterations == r.iterations
    assert again.requests == r.requests


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from(["chat", "hybrid-service", "fragmentation"]))
def test_generated_workloads_are_deterministic(seed, name):
    from sim.workload import PRESETS, generate, with_overrides
    w = with_overrides(PRESETS[name], n_requests=30)
    a, b = generate(w, seed), generate(w, seed)
    assert a == b
    assert all(x.arrival_s <= y.arrival_s for x, y in zip(a, a[1:]))
    assert all(r.prompt_tokens >= 1 and r.output_tokens >= 1 for r in a)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_fast_path_matches_planning_every_pass(cfg):
    """Without a trace the engine takes shortcuts (decode cohort, analytic stretches); with one it plans
    every pass. Both must tell every request the same story."""
    from dataclasses import replace
    traced = simulate(cfg)
    fast = simulate(replace(cfg, record_iterations=False))
    for a, b in zip(traced.requests, fast.requests):
        assert (a.id, a.generated_tokens, a.preemptions, a.stalls, a.rejected_reason) == \
            (b.id, b.generated_tokens, b.preemptions, b.stalls, b.rejected_reason)
        for x, y in ((a.first_token_s, b.first_token_s), (a.finish_s, b.finish_s), (a.max_gap_s, b.max_gap_s)):
            assert (x is None) == (y is None) and (x is None or abs(x - y) <= 1e-9 * max(1.0, abs(x)))
    for key in ("kv_peak_utilization", "kv_waste_fraction", "busy_fraction", "tbt_p99_s", "makespan_s"):
        x, y = traced.metrics[key], fast.metrics[key]
        assert (x is None) == (y is None) and (x is None or abs(x - y) <= 1e-9 * max(1.0, abs(x))), key
