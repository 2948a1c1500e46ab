"""The simulated executor runs on SimPy's clock (DESIGN.md: sim/ is pure Python + numpy + simpy): its
processes are SimPy processes, the shared KV link is a SimPy resource that lets one transfer through at a
time, first come first served, and an error inside a process ends the run with the same one message."""

from __future__ import annotations

import pytest
import simpy

import sim.loop
from sim import ConfigError, scenario, simulate
from sim.engine import Simulation


def test_the_engine_runs_on_simpy():
    s = Simulation(scenario("chat", policy="disaggregated", requests=20))
    assert isinstance(s.env, simpy.Environment) and isinstance(s.link, simpy.Resource)
    assert s.link.capacity == 1
    res = s.run()
    assert res.metrics["completed"] == 20 and s.env.now == pytest.approx(res.metrics["makespan_s"] + min(
        r.arrival_s for r in res.requests), rel=0, abs=1e-9)  # the clock stops at the last event: the last finish


@pytest.mark.parametrize("decode_engines", [2, 3])
def test_the_link_carries_one_transfer_at_a_time(decode_engines):
    res = simulate(scenario("chat", policy="disaggregated", requests=150, rate_per_s=25.0, prefill_engines=2,
                            decode_engines=decode_engines, link_gb_per_s=0.2))  # a slow link: transfers queue
    ts = sorted(res.transfers, key=lambda t: (t.start_s, t.end_s))
    assert len(ts) == 150
    assert all(b.start_s >= a.end_s for a, b in zip(ts, ts[1:]))  # never two on the link at once
    # contended: many a transfer started the moment the one before it ended
    assert sum(b.start_s == a.end_s for a, b in zip(ts, ts[1:])) > 10


@pytest.mark.parametrize("engine", ["python", "compiled"])
@pytest.mark.parametrize("traced", [True, False])
def test_an_error_inside_a_process_stops_the_run_with_its_message(monkeypatch, traced, engine):
    # SimPy re-raises a copy of a process's exception (type(e)(*e.args)): the copy keeps field and message.
    # The compiled kernel (where numba is) has the same safety cap and says the same.
    monkeypatch.setenv("BATCH_LAB_ENGINE", engine)
    monkeypatch.setattr(sim.loop, "MAX_ITERATIONS", 5)
    with pytest.raises(ConfigError) as err:
        simulate(scenario("chat", policy="continuous", requests=50, record_iterations=traced))
    assert err.value.field == "requests" and "exceeded 5 iterations" in str(err.value)
