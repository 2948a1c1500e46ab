"""The engine's shortcuts change nothing: the decode cohort (lazily synced token counts), skipping steady
stretches and weighted TBT samples give the same numbers as planning every pass and keeping every gap."""

import numpy as np
import pytest

from sim import scenario, simulate
from sim.metrics import _weighted_pcts


@pytest.mark.parametrize("name, kw", [
    ("chat", dict(requests=300, rate_per_s=2.0)),
    ("chat", dict(requests=300, rate_per_s=2.0, policy="static")),
    ("chat", dict(requests=300, rate_per_s=1.0, policy="chunked", token_budget=64)),
    ("chat", dict(requests=300, rate_per_s=2.0, preempt="none")),
    ("chat", dict(requests=200, rate_per_s=3.0, kv_capacity_tokens=3000)),  # paged growth under pressure
    ("fragmentation", {}),
    ("hybrid-service", dict(requests=120)),
    ("chat", dict(requests=150, rate_per_s=2.0, policy="disaggregated")),
    ("chat", dict(requests=150, rate_per_s=8.0, policy="disaggregated", decode_engines=2)),
    # Heavy load and the paths that dissolve the cohort: stalls, victims, block shortages, swaps.
    ("chat", dict(requests=300, rate_per_s=12.0)),
    ("chat", dict(requests=300, rate_per_s=12.0, policy="static")),
    ("chat", dict(requests=200, rate_per_s=6.0, policy="prefill-first")),
    ("chat", dict(requests=200, rate_per_s=6.0, policy="chunked", token_budget=48)),
    ("chat", dict(requests=200, rate_per_s=3.0, kv_capacity_tokens=3000, preempt="swap")),
    ("chat", dict(requests=200, rate_per_s=3.0, kv_capacity_tokens=3000, order="sjf")),
    ("hybrid-service", dict(requests=150, order="priority", preempt="recompute")),
    ("hybrid-service", dict(requests=150, order="aging")),
])
def test_steady_stretch_skip_matches_planning_every_pass(name, kw):
    traced = simulate(scenario(name, record_iterations=True, **kw))
    fast = simulate(scenario(name, record_iterations=False, **kw))
    assert len(traced.iterations) > 0 and fast.iterations == []
    for key, v in traced.metrics.items():
        w = fast.metrics[key]
        if v is None or w is None:
            assert v == w, key
        else:
            assert w == pytest.approx(v, rel=1e-9, abs=1e-12), key
    for a, b in zip(traced.requests, fast.requests):
        assert a.id == b.id and a.preemptions == b.preemptions and a.stalls == b.stalls
        assert a.generated_tokens == b.generated_tokens
        assert b.finish_s == pytest.approx(a.finish_s, rel=1e-9)
        assert b.max_gap_s == pytest.approx(a.max_gap_s, rel=1e-9)
        assert b.stall_time_s == pytest.approx(a.stall_time_s, rel=1e-9, abs=1e-12)


def test_tbt_counts_every_gap():
    r = simulate(scenario("chat", requests=50))
    gaps = np.concatenate(list(r.tbt_samples.values()))
    expected = sum(q.output_tokens - 1 for q in r.requests if q.completed)
    assert len(gaps) == expected == r.metrics["tbt_samples"]
    assert r.metrics["tbt_p99_s"] == pytest.approx(float(np.percentile(gaps, 99, method="inverted_cdf")))


def test_weighted_percentiles_equal_expanded_samples():
    rng = np.random.default_rng(3)
    for _ in range(100):
        n = int(rng.integers(1, 40))
        v, w = rng.random(n).round(3), rng.integers(1, 6, n)
        got = _weighted_pcts((list(v), list(w)), (50, 90, 99))
        ref = [float(np.percentile(np.repeat(v, w), q, method="inverted_cdf")) for q in (50, 90, 99)]
        assert got == ref


def test_binned_weighted_percentiles_equal_one_sort_of_everything():
    """Above _BINNED_FROM records only the bins a rank falls in are sorted: the values must be the same as
    one sort of all records, for spread, rounded (ties), constant, zero-heavy and signed samples."""
    from sim.metrics import _BINNED_FROM, _ranked
    rng = np.random.default_rng(5)
    qs = (0.001, 50, 90, 99, 99.9, 100)
    for n in (_BINNED_FROM, 3 * _BINNED_FROM + 1, 200_000):
        draws = (rng.lognormal(-3, 1, n), rng.random(n).round(2), np.full(n, 0.0317),
                 np.where(rng.random(n) < 0.5, 0.0, rng.random(n)), rng.normal(0, 1, n))
        for v in draws:
            w = rng.integers(1, 64, n)
            total = int(w.sum())
            ranks = [max(int(np.ceil(q / 100 * total)), 1) for q in qs]
            assert _weighted_pcts((v, w), qs) == _ranked(v, w, ranks, 0)
