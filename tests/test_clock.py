"""sim.clock (the engine's event clock) orders events exactly as SimPy does: every run gives the same
requests, iterations, transfers and metrics with either clock. SimPy stays pinned as the reference."""

from __future__ import annotations

import pytest
import simpy

import sim.engine
from sim import scenario, simulate
from sim.clock import Environment

CONFIGS = [
    dict(name="chat", policy="static", requests=120, rate_per_s=12.0),
    dict(name="chat", policy="continuous", requests=200, rate_per_s=30.0, record_iterations=False),
    dict(name="hybrid-service", policy="chunked", order="priority", requests=150),
    dict(name="chat", policy="prefill-first", requests=150, rate_per_s=20.0, preempt="swap", kv_capacity_tokens=6000),
    dict(name="chat", policy="disaggregated", requests=150, rate_per_s=25.0, prefill_engines=2, decode_engines=2,
         link_gb_per_s=0.5),  # a slow shared link: transfers queue for it
    dict(name="chat", policy="disaggregated", requests=150, rate_per_s=25.0, prefill_engines=2, decode_engines=3,
         link_gb_per_s=0.2, record_iterations=False),
    dict(name="book-example", policy="continuous"),
]


def _run(kw):
    kw = dict(kw)
    return simulate(scenario(kw.pop("name"), **kw))


@pytest.mark.parametrize("kw", CONFIGS, ids=lambda kw: f"{kw['name']}-{kw['policy']}")
def test_same_run_as_simpy(kw, monkeypatch):
    ours = _run(kw)
    monkeypatch.setattr(sim.engine, "Environment", simpy.Environment)
    monkeypatch.setattr(sim.engine, "Resource", simpy.Resource)
    ref = _run(kw)
    assert ours.requests == ref.requests
    assert ours.iterations == ref.iterations and ours.transfers == ref.transfers
    assert ours.metrics == ref.metrics
    if kw["policy"] == "disaggregated" and kw.get("record_iterations", True):
        ts = sorted(ref.transfers, key=lambda t: t.start_s)
        # the link was contended: some transfer started the moment the one before it ended
        assert len(ts) > 10 and any(b.start_s == a.end_s for a, b in zip(ts, ts[1:]))


def test_clock_basics():
    env = Environment()
    log = []

    def proc(name, delays):
        for d in delays:
            yield env.timeout(d)
            log.append((env.now, name))
        return name
    done = env.process(proc("a", [1, 1]))
    env.process(proc("b", [2]))
    assert env.peek() == 0
    env.run()
    # at t=2, b's timeout (scheduled at t=0) comes before a's second one (scheduled at t=1), as in SimPy
    assert log == [(1, "a"), (2, "b"), (2, "a")] and done.triggered and env.peek() == float("inf")
    with pytest.raises(ValueError):
        env.timeout(-1)
    e = env.event().succeed()
    with pytest.raises(RuntimeError):
        e.succeed()


def test_an_error_inside_a_process_stops_the_run():
    env = Environment()

    def bad():
        yield env.timeout(1)
        raise KeyError("boom")
    env.process(bad())
    with pytest.raises(KeyError):
        env.run()
