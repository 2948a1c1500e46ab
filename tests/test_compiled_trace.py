"""The compiled kernel's traced mode (sim.compiled_trace, rebuilt by sim.compiled_records) gives a traced run of
the Python reference exactly: the same Iteration records and request results as printed (repr), the same
metrics and the same TBT samples in the same order; traced runs outside its family go to the reference."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import compiled_records, fastpath, native, scenario
from sim import kernel_layout as k
from sim.engine import Simulation, simulate

pytest.importorskip("numba")


def _pair(monkeypatch, name="chat", **kw):
    cfg = scenario(name, **kw)
    assert cfg.record_iterations
    ref = Simulation(cfg).run()
    monkeypatch.setenv(fastpath.ENGINE_ENV, "compiled")
    return ref, simulate(cfg)


def _identical(ref, got) -> bool:
    return (repr(ref.iterations) == repr(got.iterations) and repr(ref.requests) == repr(got.requests)
            and ref.metrics == got.metrics and ref.by_class == got.by_class and ref.engines == got.engines
            and ref.kv_capacity_tokens == got.kv_capacity_tokens and ref.transfers == got.transfers
            and list(ref.tbt_samples) == list(got.tbt_samples)
            and all(np.array_equal(ref.tbt_samples[c], got.tbt_samples[c]) for c in ref.tbt_samples))


@pytest.mark.parametrize("policy", ["continuous", "static", "prefill-first", "chunked"])
@pytest.mark.parametrize("requests", [1, 7, 60, 300])
@pytest.mark.parametrize("rate", [0.5, 2.0, 12.0])
def test_grid_is_identical(monkeypatch, policy, requests, rate):
    for seed in (0, 1) if requests < 300 else (0,):
        ref, got = _pair(monkeypatch, requests=requests, rate_per_s=rate, seed=seed, policy=policy, max_batch=16)
        assert got.simulated_by == "compiled" and got.iterations
        assert _identical(ref, got), (policy, requests, rate, seed)


@pytest.mark.parametrize("name, kw", [
    ("book-example", {}), ("book-example", dict(policy="static")), ("book-example", dict(policy="prefill-first")),
    ("three-long-one-short", {}), ("three-long-one-short", dict(policy="static")),
    ("three-long-one-short", dict(policy="prefill-first")), ("many-tiny", {}), ("many-tiny", dict(policy="static")),
    ("legal-archive", dict(policy="static")), ("summarization", dict(policy="continuous")),
    ("hybrid-service", dict(policy="continuous", order="fcfs", max_batch=8, rate_per_s=20.0)),
    ("hybrid-service", dict(policy="prefill-first", order="fcfs", max_batch=8, rate_per_s=20.0)),
    ("chat", dict(requests=200, rate_per_s=40.0, max_batch=8, reorg_s=0.001, block_size=1)),
    ("chat", dict(requests=200, rate_per_s=8.0, max_batch=16, policy="static", reorg_s=0.004)),
    ("chat", dict(requests=200, rate_per_s=12.0, policy="chunked", token_budget=128)),
    ("summarization", {}), ("three-long-one-short", dict(policy="chunked", token_budget=64)),
    ("hybrid-service", dict(order="fcfs", max_batch=8, rate_per_s=20.0)),  # chunked, budget 256
])
def test_presets_are_identical(monkeypatch, name, kw):
    ref, got = _pair(monkeypatch, name, **kw)
    assert got.simulated_by == "compiled"
    assert _identical(ref, got)


@st.composite
def traced_configs(draw):
    """Traced configs around the family's edges (some fall back: a prompt over the cap, a memory a batch fills)."""
    name = draw(st.sampled_from(["chat", "chat", "many-tiny", "summarization", "hybrid-service", "book-example"]))
    kw = dict(policy=draw(st.sampled_from(["continuous", "static", "prefill-first", "chunked"])), order="fcfs",
              token_budget=draw(st.sampled_from([64, 256, 512, 2048])),
              seed=draw(st.integers(0, 2**31)), max_batch=draw(st.sampled_from([1, 2, 5, 16, 64])),
              block_size=draw(st.sampled_from([1, 4, 16, 32])), max_batched_tokens=draw(st.sampled_from([512, 8192])),
              kv_capacity_tokens=draw(st.sampled_from([None, 20_000, 200_000])),
              reorg_s=draw(st.sampled_from([None, 0.0, 0.003])), preempt=draw(st.sampled_from(["recompute", "swap"])))
    if name != "book-example":
        kw["requests"] = draw(st.integers(1, 120))
        kw["rate_per_s"] = draw(st.sampled_from([0.5, 4.0, 50.0]))
    kw["max_batch"] = min(kw["max_batch"], kw["max_batched_tokens"], kw["token_budget"])
    return name, kw


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(traced_configs())
def test_random_traced_configs_are_identical(monkeypatch, case):
    name, kw = case
    ref, got = _pair(monkeypatch, name, **kw)
    assert _identical(ref, got), case


def test_trace_buffers_grow_as_the_kernel_asks(monkeypatch):
    small = lambda n, mb: (np.zeros(8), np.zeros((4, k.TR_COLS), np.int64), np.zeros((1, 8 * mb + 16), np.int64))  # noqa: E731
    grown = []
    real_grown = compiled_records.grown
    monkeypatch.setattr(compiled_records, "trace_buffers", small)
    monkeypatch.setattr(compiled_records, "grown", lambda *a: grown.append(1) or real_grown(*a))
    ref, got = _pair(monkeypatch, requests=80, rate_per_s=8.0, policy="static", max_batch=16)
    assert got.simulated_by == "compiled" and len(grown) >= 8
    assert _identical(ref, got)


@pytest.mark.parametrize("kw", [dict(policy="disaggregated"), dict(record_layout=True), dict(preempt="none"),
                                dict(order="priority"), dict(memory="contiguous")])
def test_outside_the_traced_family_the_reference_runs(monkeypatch, kw):
    ref, got = _pair(monkeypatch, requests=50, rate_per_s=4.0, **kw)
    assert got.simulated_by == "python" and got.iterations
    assert _identical(ref, got)


def test_auto_takes_the_kernel_for_a_traced_run_once_it_is_linked(monkeypatch):
    """Under auto a page's small traced run goes to the kernel only when it costs no start-up (the app links it
    as it starts); an untraced run of that size stays on the reference."""
    monkeypatch.delenv(fastpath.ENGINE_ENV, raising=False)
    traced, untraced = scenario("chat", requests=60), scenario("chat", requests=60, record_iterations=False)
    assert native.kernel() is not None and native.ready()
    assert fastpath.wanted(traced) and not fastpath.wanted(untraced)
    assert simulate(traced).simulated_by == "compiled"
    monkeypatch.setattr(native, "_loaded", {})
    assert not native.ready() and not fastpath.wanted(traced)
