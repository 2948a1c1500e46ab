"""--max-batched-tokens: the cap on tokens in one forward pass (vLLM's max_num_batched_tokens) holds in
every pass of every iteration-level strategy, including prompts longer than the cap and the engines of
a disaggregated pair; static batching, request-level, has no per-pass cap."""

import json
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import SimConfig, scenario, simulate
from sim.batching import STRATEGIES
from sim.kv_memory import KV_MANAGERS
from sim.preemption import PREEMPT_MODES
from sim.queue_order import ORDERS
from sim.workload import Request, WorkloadConfig

ITERATION_LEVEL = [name for name, cls in STRATEGIES.items() if cls.iteration_level]


def pass_tokens(it) -> int:
    return it.prefill_tokens + len(it.decode)


@st.composite
def capped(draw):
    n = draw(st.integers(1, 12))
    reqs = tuple(Request(f"q{i}", draw(st.floats(0, 1.0, allow_nan=False)), draw(st.integers(1, 900)),
                         draw(st.integers(1, 60)), priority=draw(st.integers(0, 1))) for i in range(n))
    return SimConfig(
        workload=WorkloadConfig(name="prop", arrival="scripted", script=reqs),
        policy=draw(st.sampled_from(ITERATION_LEVEL)), order=draw(st.sampled_from(["fcfs", "priority", "sjf"])),
        preempt=draw(st.sampled_from(list(PREEMPT_MODES))), memory=draw(st.sampled_from(list(KV_MANAGERS))),
        max_batch=draw(st.integers(1, 12)), token_budget=draw(st.integers(8, 700)),
        max_batched_tokens=draw(st.integers(1, 400)), kv_capacity_tokens=draw(st.integers(1000, 4000)),
        prefill_engines=draw(st.integers(1, 2)), decode_engines=draw(st.integers(1, 2)),
        seed=draw(st.integers(0, 5)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(capped())
def test_the_cap_holds_in_every_pass(cfg):
    r = simulate(cfg)
    assert r.iterations
    for it in r.iterations:
        assert pass_tokens(it) <= cfg.max_batched_tokens, (it.index, it.engine)
    for q in r.requests:
        assert q.completed != bool(q.rejected_reason)
        if q.completed:
            assert q.generated_tokens == q.output_tokens


def test_the_default_cap_splits_a_backlog_into_passes_that_fit():
    uncapped = simulate(scenario("legal-archive", policy="continuous", requests=40, max_batched_tokens=1_000_000))
    capped_run = simulate(scenario("legal-archive", policy="continuous", requests=40))
    assert max(map(pass_tokens, uncapped.iterations)) > 50_000  # the whole backlog's prompts in one pass
    assert max(map(pass_tokens, capped_run.iterations)) <= 8192
    assert capped_run.config.max_batched_tokens == 8192


def test_static_batching_has_no_per_pass_cap():
    r = simulate(scenario("legal-archive", policy="static", requests=40, max_batched_tokens=1024))
    assert max(map(pass_tokens, r.iterations)) > 1024
    assert "max_batched_tokens" not in STRATEGIES["static"].knobs
    assert all("max_batched_tokens" in STRATEGIES[p].knobs for p in ITERATION_LEVEL)


def test_cli_flag_sets_the_cap_and_refuses_bad_values():
    out = subprocess.run([sys.executable, "-m", "sim", "run", "summarization", "--requests", "10",
                          "--max-batched-tokens", "1024", "--json"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["config"]["max_batched_tokens"] == 1024
    bad = subprocess.run([sys.executable, "-m", "sim", "run", "--max-batched-tokens", "0"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "max_batched_tokens" in bad.stderr and bad.stderr.count("\n") == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(capped())
def test_fast_path_keeps_the_cap_results(cfg):
    """The engine's fast path (no trace) skips decode-only stretches; under a cap it must give the same run."""
    from dataclasses import replace
    traced, fast = simulate(cfg), simulate(replace(cfg, record_iterations=False))
    for a, b in zip(traced.requests, fast.requests):
        assert (a.id, a.generated_tokens, a.stalls, a.rejected_reason) == (b.id, b.generated_tokens, b.stalls,
                                                                            b.rejected_reason)
        if a.finish_s is not None:
            assert abs(a.finish_s - b.finish_s) <= 1e-9 * max(1.0, a.finish_s)
