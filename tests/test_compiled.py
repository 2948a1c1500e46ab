"""The compiled engine (sim.compiled, chosen by sim.fastpath) gives the Python reference's results bit for bit,
covers what it says it covers, and leaves everything else (and every run without numba) to the reference."""

import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import fastpath, native, scenario
from sim.engine import simulate
from sim.errors import ConfigError

pytest.importorskip("numba")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(monkeypatch, engine: str, name: str = "chat", **kw):
    monkeypatch.setenv(fastpath.ENGINE_ENV, engine)
    res = simulate(scenario(name, record_iterations=False, **kw))
    return res, res.simulated_by


def _same(a, b) -> bool:
    return (a.metrics == b.metrics and a.by_class == b.by_class and a.requests == b.requests
            and a.kv_capacity_tokens == b.kv_capacity_tokens and a.cost_description == b.cost_description)


def _both(monkeypatch, name="chat", **kw):
    ref, e_ref = _run(monkeypatch, "python", name, **kw)
    got, e_got = _run(monkeypatch, "compiled", name, **kw)
    assert e_ref == "python"
    return ref, got, e_got


@pytest.mark.parametrize("policy", ["continuous", "static", "prefill-first", "chunked"])
@pytest.mark.parametrize("requests", [1, 7, 300, 2000])
@pytest.mark.parametrize("rate", [0.5, 2.0, 12.0])
def test_grid_is_bit_identical(monkeypatch, policy, requests, rate):
    for seed in ((0, 1, 2) if requests < 2000 else (0,)):
        ref, got, engine = _both(monkeypatch, requests=requests, rate_per_s=rate, seed=seed, policy=policy)
        assert engine == "compiled"
        assert _same(ref, got), (requests, rate, seed)


@pytest.mark.parametrize("name, kw", [
    ("book-example", {}), ("three-long-one-short", {}), ("many-tiny", {}), ("legal-archive", {}),
    ("summarization", dict(policy="continuous")),
    ("hybrid-service", dict(policy="continuous", order="fcfs", max_batch=8, rate_per_s=20.0)),
    ("chat", dict(requests=500, rate_per_s=12.0, policy="static")),
    ("chat", dict(requests=500, rate_per_s=0.7, policy="static", max_batch=8)),
    ("three-long-one-short", dict(policy="static")), ("book-example", dict(policy="static")),
    ("many-tiny", dict(policy="static", reorg_s=0.004)),
    ("chat", dict(requests=500, rate_per_s=12.0, policy="prefill-first")),
    ("three-long-one-short", dict(policy="prefill-first")), ("book-example", dict(policy="prefill-first")),
    ("hybrid-service", dict(policy="prefill-first", order="fcfs", max_batch=8, rate_per_s=20.0)),
    ("chat", dict(requests=500, rate_per_s=12.0, policy="chunked", token_budget=128)),
    ("summarization", {}), ("three-long-one-short", dict(policy="chunked", token_budget=64)),
    ("hybrid-service", dict(order="fcfs", max_batch=8, rate_per_s=20.0)),  # chunked, budget 256
    ("chat", dict(requests=400, rate_per_s=40.0, max_batch=8, reorg_s=0.001, block_size=1)),
    ("chat", dict(requests=400, rate_per_s=30.0, max_batched_tokens=2048, preempt="swap")),
])
def test_scenarios_in_the_family_are_bit_identical(monkeypatch, name, kw):
    ref, got, engine = _both(monkeypatch, name, **kw)
    assert engine == "compiled"
    assert _same(ref, got)


@st.composite
def family_configs(draw):
    """Configs around the family's edges: some fall back (a prompt over the cap, a memory a batch can fill)."""
    name = draw(st.sampled_from(["chat", "chat", "many-tiny", "summarization", "hybrid-service", "legal-archive"]))
    kw = dict(policy=draw(st.sampled_from(["continuous", "continuous", "static", "prefill-first", "chunked"])),
              order="fcfs", token_budget=draw(st.sampled_from([64, 256, 512, 2048])), seed=draw(st.integers(0, 2**31)),
              max_batch=draw(st.sampled_from([1, 2, 5, 16, 64, 128])), block_size=draw(st.sampled_from([1, 4, 16, 32])),
              max_batched_tokens=draw(st.sampled_from([512, 2048, 8192])),
              kv_capacity_tokens=draw(st.sampled_from([None, 50_000, 200_000, 426_000])),
              reorg_s=draw(st.sampled_from([None, 0.0, 0.003])), overhead_s=draw(st.sampled_from([None, 0.0005])),
              preempt=draw(st.sampled_from(["recompute", "swap"])))
    if name != "legal-archive":
        kw["requests"] = draw(st.integers(1, 250))
        kw["rate_per_s"] = draw(st.sampled_from([0.5, 2.0, 12.0, 50.0]))
    kw["max_batch"] = min(kw["max_batch"], kw["max_batched_tokens"], kw["token_budget"])
    return name, kw


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(family_configs())
def test_random_configs_are_bit_identical(monkeypatch, case):
    name, kw = case
    ref, got, _ = _both(monkeypatch, name, **kw)
    assert _same(ref, got), case


@pytest.mark.parametrize("kw", [dict(policy="disaggregated", decode_engines=2), dict(policy="chunked", token_budget=32),
                                dict(order="priority"), dict(order="sjf"), dict(order="aging"), dict(memory="contiguous"), dict(preempt="none"),
                                dict(kv_capacity_tokens=20_000), dict(max_batched_tokens=1024),
                                dict(hardware="tiny-cpu", model="tiny")])
def test_outside_the_family_the_reference_runs(monkeypatch, kw):
    ref, got, engine = _both(monkeypatch, requests=150, rate_per_s=4.0, **kw)
    assert engine == "python"
    assert _same(ref, got)


def test_traced_runs_outside_the_traced_family_take_the_reference(monkeypatch):
    """Traced runs inside it: tests/test_compiled_trace.py."""
    monkeypatch.setenv(fastpath.ENGINE_ENV, "compiled")
    res = simulate(scenario("chat", requests=50, record_layout=True))
    assert res.simulated_by == "python" and res.iterations


def test_the_switch(monkeypatch):
    cfg = scenario("chat", requests=20, record_iterations=False)
    monkeypatch.setenv(fastpath.ENGINE_ENV, "python")
    assert not fastpath.wanted(cfg)
    monkeypatch.setenv(fastpath.ENGINE_ENV, "compiled")
    assert fastpath.wanted(cfg)
    monkeypatch.delenv(fastpath.ENGINE_ENV)
    assert not fastpath.wanted(cfg)  # auto: a small run is over before numba would be imported
    monkeypatch.setattr(fastpath, "AUTO_MIN_REQUESTS", 20)
    assert fastpath.wanted(cfg)
    monkeypatch.setenv(fastpath.ENGINE_ENV, "fast")
    with pytest.raises(ConfigError, match="BATCH_LAB_ENGINE"):
        fastpath.wanted(cfg)


def test_without_numba_the_reference_runs(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    monkeypatch.setattr(native, "_loaded", {})  # this process's kernel forgotten: nothing may build one
    monkeypatch.delitem(sys.modules, "sim.compiled", raising=False)
    monkeypatch.delitem(sys.modules, "sim.compiled_cohort", raising=False)
    monkeypatch.delitem(sys.modules, "sim.compiled_disagg", raising=False)
    monkeypatch.delitem(sys.modules, "sim.compiled_events", raising=False)
    ref, got, engine = _both(monkeypatch, requests=100, rate_per_s=12.0)
    assert engine == "python" and _same(ref, got)


def test_a_kernel_that_meets_a_shortage_hands_the_run_back(monkeypatch):
    """The family check passed by force on a memory a batch can fill: the kernel stops (FALLBACK) at the
    first block shortage and the reference runs the config from the start."""
    monkeypatch.setattr(fastpath, "_fits", lambda cfg, st, kv: True)
    ref, got, engine = _both(monkeypatch, requests=200, rate_per_s=6.0, kv_capacity_tokens=6000)
    assert engine == "python" and _same(ref, got)
    assert ref.metrics["preemptions"] > 0


def test_cli_json_is_byte_identical():
    out = {}
    for engine in ("python", "compiled"):
        env = dict(os.environ, **{fastpath.ENGINE_ENV: engine})
        r = subprocess.run([sys.executable, "-m", "sim", "run", "--policy", "continuous", "--requests", "3000",
                            "--rate", "12", "--seed", "4", "--json"], capture_output=True, text=True, env=env,
                           cwd=ROOT, check=True)
        out[engine] = r.stdout
    assert out["python"] == out["compiled"]
    assert json.loads(out["python"])["metrics"]["completed"] == 3000


def test_an_invalid_config_gets_the_reference_error(monkeypatch):
    from dataclasses import replace
    cfg = replace(scenario("chat", requests=10, record_iterations=False), policy="nope")
    for engine in ("python", "compiled", "auto"):
        monkeypatch.setenv(fastpath.ENGINE_ENV, engine)
        with pytest.raises(ConfigError, match="policy"):
            simulate(cfg)
