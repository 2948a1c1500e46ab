"""The compiled kernel's disaggregated pipeline (sim.compiled_disagg: one prefill engine, one decode engine, the
KV link) gives the Python reference's results bit for bit, and any other shape of the policy (more engines of
a role) runs on the reference."""

import json
import os
import random
import subprocess
import sys

import pytest

from sim import fastpath, scenario
from sim.engine import simulate

pytest.importorskip("numba")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(monkeypatch, engine: str, name: str, kw: dict):
    monkeypatch.setenv(fastpath.ENGINE_ENV, engine)
    return simulate(scenario(name, record_iterations=False, policy="disaggregated", **kw))


def _same(a, b) -> bool:
    return (a.metrics == b.metrics and a.by_class == b.by_class and a.requests == b.requests
            and a.engines == b.engines and a.kv_capacity_tokens == b.kv_capacity_tokens
            and a.cost_description == b.cost_description)


def _both(monkeypatch, name="chat", **kw):
    ref = _run(monkeypatch, "python", name, kw)
    got = _run(monkeypatch, "compiled", name, kw)
    assert ref.simulated_by == "python"
    return ref, got


@pytest.mark.parametrize("requests", [1, 7, 300, 2000])
@pytest.mark.parametrize("rate", [0.5, 2.0, 12.0, 40.0])
def test_grid_is_bit_identical(monkeypatch, requests, rate):
    for seed in ((0, 1, 2) if requests < 2000 else (4,)):
        ref, got = _both(monkeypatch, requests=requests, rate_per_s=rate, seed=seed)
        assert got.simulated_by == "compiled"
        assert _same(ref, got), (requests, rate, seed)


@pytest.mark.parametrize("link", [0.05, 0.5, 25.0, 400.0])
@pytest.mark.parametrize("budget", [16, 128, 512, 4096])
def test_link_speeds_and_token_budgets(monkeypatch, link, budget):
    """A slow link queues transfers (and fills the prefill engine's memory, which then admits nobody); a small
    budget chunks prompts over several prefill passes."""
    ref, got = _both(monkeypatch, requests=400, rate_per_s=12.0, seed=3, link_gb_per_s=link, token_budget=budget)
    assert got.simulated_by == "compiled"
    assert _same(ref, got)


@pytest.mark.parametrize("name, kw", [
    ("book-example", {}), ("three-long-one-short", {}), ("many-tiny", {}), ("summarization", {}),
    ("legal-archive", {}), ("hybrid-service", dict(order="fcfs", max_batch=8, rate_per_s=20.0, kv_capacity_tokens=400_000)),
    ("chat", dict(requests=500, rate_per_s=30.0, max_batch=8, block_size=1, reorg_s=0.001)),
    ("chat", dict(requests=500, rate_per_s=12.0, max_batched_tokens=512, token_budget=256)),
    ("chat", dict(requests=300, rate_per_s=40.0, max_batch=2, link_gb_per_s=0.2, preempt="swap")),
    ("chat", dict(requests=300, rate_per_s=6.0, kv_capacity_tokens=200_000, block_size=32)),
    ("summarization", dict(link_gb_per_s=1.0, token_budget=2048)),
])
def test_scenarios_are_bit_identical(monkeypatch, name, kw):
    ref, got = _both(monkeypatch, name, **kw)
    assert got.simulated_by == "compiled"
    assert _same(ref, got)


def _random_case(rnd: random.Random) -> tuple[str, dict]:
    name = rnd.choice(["chat", "chat", "many-tiny", "summarization", "hybrid-service", "legal-archive"])
    kw = dict(order="fcfs", seed=rnd.randrange(2**31), token_budget=rnd.choice([16, 64, 256, 512, 2048]),
              max_batch=rnd.choice([1, 2, 5, 16, 64, 128]), block_size=rnd.choice([1, 4, 16, 32]),
              max_batched_tokens=rnd.choice([512, 2048, 8192]),
              link_gb_per_s=rnd.choice([0.05, 0.5, 2.0, 25.0, 400.0]),
              kv_capacity_tokens=rnd.choice([None, 20_000, 50_000, 200_000]),
              preempt=rnd.choice(["recompute", "swap"]), reorg_s=rnd.choice([None, 0.0, 0.001]))
    if name != "legal-archive":
        kw.update(requests=rnd.choice([1, 7, 100, 250]), rate_per_s=rnd.choice([0.5, 2.0, 12.0, 40.0]))
    return name, kw


@pytest.mark.parametrize("case", range(40))
def test_random_configs_are_bit_identical(monkeypatch, case):
    """Around the family's edges: some configs fall back (a memory a batch can fill, or a prefill engine whose
    memory, full of KV waiting for the link, would make it preempt); every one matches the reference."""
    name, kw = _random_case(random.Random(case))
    ref, got = _both(monkeypatch, name, **kw)
    assert _same(ref, got), (name, kw)


def test_a_prefill_engine_that_would_preempt_hands_the_run_back(monkeypatch):
    """The decode engine admits one hand-off at a time; the others wait holding the prefill engine's memory,
    until a prompt still being prefilled needs a block that is not there: the kernel stops and the reference
    (which preempts) runs the config."""
    kw = dict(order="fcfs", seed=1872900585, token_budget=64, max_batch=1, block_size=32, max_batched_tokens=512,
              link_gb_per_s=400.0, preempt="swap")
    ref, got = _both(monkeypatch, "legal-archive", **kw)
    assert fastpath.covered(scenario("legal-archive", record_iterations=False, policy="disaggregated", **kw))
    assert got.simulated_by == "python" and _same(ref, got)
    assert ref.metrics["preemptions"] > 0


@pytest.mark.parametrize("kw", [dict(prefill_engines=2), dict(decode_engines=2),
                                dict(prefill_engines=2, decode_engines=3), dict(max_batch=64, max_batched_tokens=32),
                                dict(order="priority"), dict(memory="contiguous")])
def test_other_shapes_take_the_reference(monkeypatch, kw):
    cfg = scenario("chat", requests=150, rate_per_s=6.0, record_iterations=False, policy="disaggregated", **kw)
    assert not fastpath.covered(cfg)
    ref, got = _both(monkeypatch, requests=150, rate_per_s=6.0, **kw)
    assert got.simulated_by == "python" and _same(ref, got)


def test_cli_json_is_byte_identical():
    out = {}
    for engine in ("python", "compiled"):
        env = dict(os.environ, **{fastpath.ENGINE_ENV: engine})
        r = subprocess.run([sys.executable, "-m", "sim", "run", "--policy", "disaggregated", "--requests", "3000",
                            "--rate", "12", "--seed", "4", "--json"], capture_output=True, text=True, env=env,
                           cwd=ROOT, check=True)
        out[engine] = r.stdout
    assert out["python"] == out["compiled"]
    assert json.loads(out["python"])["metrics"]["completed"] == 3000
    assert fastpath.engine_for(scenario("chat", requests=10_000, record_iterations=False,
                                        policy="disaggregated")) == "compiled"


@pytest.mark.parametrize("name, kw", [
    ("chat", dict(requests=300, rate_per_s=40.0, max_batch=2)),
    ("hybrid-service", dict(order="fcfs", max_batch=2, kv_capacity_tokens=400_000, requests=200, rate_per_s=20.0)),
])
def test_a_run_that_outgrows_its_buffers_resumes_where_it_stopped(monkeypatch, name, kw):
    """A decode cohort that never empties (a small batch, a standing queue) fills the cohort's per-pass arrays
    and the token-gap records: the kernel stops before the next event (NEED_ROOM) and goes on with larger ones."""
    grown = []
    real = fastpath._grown
    monkeypatch.setattr(fastpath, "_grown", lambda a: (grown.append(a.shape), real(a))[1])
    ref, got = _both(monkeypatch, name, **kw)
    assert got.simulated_by == "compiled" and len(grown) >= 6
    assert _same(ref, got)
