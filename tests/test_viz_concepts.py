"""Figure builders of the concept pages (viz/memory, viz/sweep, viz/compare, viz/classes, viz/disagg):
axes titled with units, plotted data equal to the simulator's, the refused-although-free moment found on
the fragmentation scenario, and the reorganization crossover found."""

import dataclasses
import re

import numpy as np
import pytest

from sim import scenario, simulate
from sim.config import resolve_workload
from sim.cost_model import MODELS
from sim.workload import PRESETS, LengthDist, generate
from viz import classes as vcl
from viz import compare as vc
from viz import disagg as vd
from viz import memory as vm
from viz import sweep as vs

UNIT = re.compile(r"\([^)]*?(?:\bms\b|\bs\b|%|\btokens?\b|req/s|requests/s|GB/s|documents/h|\bratio\b|\bB\b|"
                  r"\bcount\b)")


def assert_axes_have_units(fig, skip: tuple = ()):
    """Every axis that carries data has a title with a unit in brackets."""
    lay = fig.to_dict()["layout"]
    axes = [k for k in lay if re.fullmatch(r"[xy]axis\d*", k)]
    assert axes, "figure has no axes"
    for k in axes:
        title = (lay[k].get("title") or {}).get("text", "")
        if k in skip:
            continue
        assert UNIT.search(title), f"{k} title {title!r} has no unit"


@pytest.fixture(scope="module")
def frag():
    wl = resolve_workload("fragmentation", 60)
    c = simulate(scenario("fragmentation", workload=wl, record_layout=True))
    p = simulate(scenario("fragmentation", workload=wl, memory="paged", record_layout=True))
    return c, p


# ---- memory (C5) ------------------------------------------------------------------------------------

def test_refused_although_free_is_found_and_true(frag):
    contig, paged = frag
    moments = vm.refused_although_free(contig)
    assert moments, "fragmentation scenario should refuse a request although memory is free"
    m = moments[0]
    # Check the claim independently: the layout before that pass, and the request's real size.
    before = contig.iterations[m.iteration - 2]
    holes = vm.free_holes(before.layout, before.kv_capacity)
    assert sum(n for _, n in holes) == m.free_tokens == before.kv_capacity - before.kv_held
    assert max(n for _, n in holes) == m.largest_hole_tokens
    assert m.largest_hole_tokens < m.need_tokens <= m.free_tokens
    req = {r.id: r for r in generate(contig.config.workload, contig.config.seed)}[m.request_id]
    assert m.need_tokens == req.prompt_tokens + req.max_new_tokens
    res = contig.request(m.request_id)
    assert res.arrival_s <= m.time_s < res.admitted_s  # it had arrived and was still waiting
    # Nobody who arrived before it was still waiting (it was the head of the first-come queue).
    assert all(r.admitted_s is not None and r.admitted_s <= m.time_s for r in contig.requests
               if (r.arrival_s, r.id) < (res.arrival_s, res.id) and not r.rejected_reason)
    assert m.request_id in m.sentence() and f"{m.need_tokens:,}" in m.sentence()
    assert vm.refused_although_free(paged) == []  # paging never refuses for lack of a hole


def test_refused_moment_needs_a_layout():
    r = simulate(scenario("fragmentation", workload=resolve_workload("fragmentation", 30)))
    assert vm.refused_although_free(r) == []  # no layout recorded: nothing is claimed


def test_slot_states_match_the_recorded_waste_split(frag):
    for res in frag:
        for it in res.iterations[::25]:
            s = vm.slot_states(res, it.index)
            counts = {k: int((s == i).sum()) for i, k in enumerate(vm.STATES)}
            assert counts["stored"] == it.kv_stored
            assert counts["reserved"] == it.kv_reserved
            assert counts["internal"] == it.kv_internal
            assert counts["external"] == it.kv_external
            assert sum(counts.values()) == it.kv_capacity


def test_block_map_cells_and_axes(frag):
    contig, _ = frag
    it = contig.iterations[100]
    fig = vm.block_map(contig, it.index, cell_tokens=16, columns=40)
    assert_axes_have_units(fig)
    z = np.array(fig.data[0].z, dtype=float)
    cells = -(-it.kv_capacity // 16)
    assert np.isfinite(z).sum() == cells
    states = vm.slot_states(contig, it.index)
    # Each cell shows its majority state: check a few cells against the slots.
    flat = z.flatten()
    for i in (0, cells // 3, cells - 1):
        chunk = states[i * 16:(i + 1) * 16]
        assert flat[i] == np.bincount(chunk, minlength=len(vm.STATES)).argmax()
    # Not colour alone (WCAG 1.4.1): every drawn cell carries its state's letter, shown in the cell, and the
    # legend names the letter; the hover keeps the slots and the owner.
    letters = np.array(fig.data[0].text, dtype=object).flatten()
    assert fig.data[0].texttemplate == "%{text}"
    assert all(letters[i] == vm.STATE_LETTERS[vm.STATES[int(flat[i])]] for i in range(cells))
    assert len({vm.STATE_LETTERS[s] for s in vm.STATES}) == len(vm.STATES)
    names = [t.name for t in fig.data[1:]]
    assert all(f"({vm.STATE_LETTERS[s]})" in n for s, n in zip(vm.STATES, names) if vm.STATE_LETTERS[s])
    assert np.array(fig.data[0].customdata, dtype=object).flatten()[0].startswith("slots 0-15")


def test_waste_over_time_plots_the_trace(frag):
    contig, paged = frag
    m = vm.refused_although_free(contig)[0]
    fig = vm.waste_over_time({"contiguous": contig, "paged": paged}, m)
    assert_axes_have_units(fig, skip=("xaxis",))  # the upper panel shares the lower panel's time axis
    assert fig.layout.xaxis2.title.text == "time (s)"
    internal = [t for t in fig.data if t.name == vm.STATE_LABELS["internal"]][0]
    its = contig.iterations[::max(1, len(contig.iterations) // 600)]
    assert np.allclose(internal.y, [100 * i.kv_internal / i.kv_capacity for i in its])
    assert vm.waste_summary(paged)["internal"] < vm.waste_summary(contig)["internal"] / 10


# ---- sweep and reorganization crossover (C4) ---------------------------------------------------------

def test_crossover_interpolates_and_reports_none():
    assert vs.crossover([2, 4, 8, 16], [0.8, 0.9, 1.1, 1.3], log_x=False) == pytest.approx(6.0)
    x = vs.crossover([2, 4, 8, 16], [0.8, 0.9, 1.1, 1.3])
    assert 4 < x < 8
    assert vs.crossover([2, 4, 8], [1.1, 1.2, 1.3]) is None
    assert vs.crossover([2, 4, 8], [0.5, 0.6, 0.7]) is None


def _tiny(policy, size, reorg_s):
    wl = PRESETS["many-tiny"]
    cls = dataclasses.replace(wl.classes[0], output=LengthDist("uniform", low=1, high=2 * size - 1))
    wl = dataclasses.replace(wl, n_requests=150, classes=(cls,))
    return simulate(scenario("many-tiny", policy=policy, workload=wl, reorg_s=reorg_s, record_iterations=False))


def _ratios(reorg_s, sizes=(2, 4, 8, 16, 32)):
    return [(_tiny("continuous", s, reorg_s).metrics["throughput_tokens_per_s"] /
             _tiny("static", s, reorg_s).metrics["throughput_tokens_per_s"]) for s in sizes]


def test_reorganization_crossover_found_and_moves_with_cost():
    sizes = [2, 4, 8, 16, 32]
    dear = _ratios(0.002, sizes)
    x = vs.crossover(sizes, dear)
    assert x is not None and 2 < x < 32, dear  # tiny requests: standard wins; bigger: continuous wins
    assert dear[0] < 1 < dear[-1]
    dearer = vs.crossover(sizes, _ratios(0.005, sizes))
    assert dearer is None or dearer > x  # a costlier reorganization pushes the crossover to bigger requests
    fig = vs.ratio_chart(sizes, dear, x, "mean output tokens per request", "continuous ÷ standard (ratio)")
    assert_axes_have_units(fig, skip=("xaxis",))
    assert fig.layout.xaxis.title.text.startswith("mean output tokens")
    marker = [t for t in fig.data if t.name == "crossover"][0]
    assert marker.x[0] == pytest.approx(x) and marker.y[0] == 1.0


def test_tradeoff_points_are_seed_means():
    rows = []
    for p in ("static", "continuous"):
        for rate in (2.0, 8.0):
            for seed in (0, 1):
                wl = resolve_workload("chat", 20, rate)
                m = simulate(scenario("chat", policy=p, workload=wl, seed=seed, record_iterations=False)).metrics
                rows.append({"series": p, "x": rate, "seed": seed, **m})
    fig = vs.tradeoff(rows, "throughput_tokens_per_s", "ttft_p99_s")
    assert_axes_have_units(fig)
    tr = [t for t in fig.data if t.name == "continuous"][0]
    want = [np.mean([r["ttft_p99_s"] for r in rows if r["series"] == "continuous" and r["x"] == x]) * 1e3
            for x in (2.0, 8.0)]
    assert np.allclose(tr.y, want)
    sd = [np.std([r["ttft_p99_s"] for r in rows if r["series"] == "continuous" and r["x"] == x], ddof=1) * 1e3
          for x in (2.0, 8.0)]
    assert np.allclose(tr.error_y.array, sd)
    assert_axes_have_units(vs.metric_vs_x(rows, "tbt_p99_s", "arrival rate (requests/s)", log_x=True))


# ---- comparison (C6, C11) ---------------------------------------------------------------------------------

def test_compare_builders_match_results():
    wl = resolve_workload("chat", 30, 8.0)
    a = simulate(scenario("chat", policy="static", workload=wl))
    b = simulate(scenario("chat", policy="continuous", workload=wl))
    rows = {r["key"]: r for r in vc.metric_rows(a, b, "A", "B")}
    assert rows["ttft_p50_s"]["A"] == pytest.approx(a.metrics["ttft_p50_s"] * 1e3)
    assert rows["ttft_p50_s"]["better"] == "B"  # continuous batching gets first tokens out sooner
    assert rows["tbt_p99_s"]["better"] == "A"  # ... and pays with generation stalls
    fig = vc.finished_over_time({"A": a, "B": b})
    assert_axes_have_units(fig)
    fin = [t for t in fig.data if t.name == "B: finished"][0]
    assert list(fin.x) == sorted(r.finish_s * 1e3 for r in b.requests)
    g = vc.gap_ccdf({"A": a, "B": b})
    assert_axes_have_units(g)
    assert max(g.data[1].x) == pytest.approx(max(max(v) for v in b.tbt_samples.values()) * 1e3)
    figs = vc.align_time_axes([fig, g], 1000.0)
    assert tuple(figs[0].layout.xaxis.range) == (0, 1020.0)
    bars = vc.outcome_bars({"static": 1.0, "continuous": 2.0}, "documents/h (documents/h)", picked="static")
    assert "your pick" in bars.data[0].text[0] and "best" in bars.data[0].text[1]


# ---- classes and starvation (C8, C9) -----------------------------------------------------------------------

def test_class_figures_match_results():
    wl = resolve_workload("hybrid-service", 80, 6.0)
    res = {o: simulate(scenario("hybrid-service", workload=wl, order=o, record_iterations=False))
           for o in ("fcfs", "priority")}
    fig = vcl.class_bars(res, "ttft_p90_s", "TTFT p90 (ms)", scale=1e3)
    assert_axes_have_units(fig, skip=("xaxis",))
    inter = [t for t in fig.data if t.name == "interactive"][0]
    assert inter.y[1] == pytest.approx(res["priority"].by_class["interactive"]["ttft_p90_s"] * 1e3)
    assert inter.y[1] < inter.y[0]  # priority serves the interactive class sooner than fcfs
    s = vcl.starvation_bars(res, "batch")
    assert s.data[0].y[0] == pytest.approx(max(r.ttft_s for r in res["fcfs"].requests if r.cls == "batch"))
    c = vcl.wait_cdf(res, "batch")
    assert_axes_have_units(c)
    assert c.data[0].y[-1] == pytest.approx(100.0)


# ---- disaggregation (C10) ------------------------------------------------------------------------------

def test_transfer_cost_follows_bytes_over_bandwidth():
    wl = resolve_workload("summarization", 20, 2.0)
    r = simulate(scenario("summarization", workload=wl, policy="disaggregated", link_gb_per_s=10.0))
    bpt = MODELS[r.config.model].kv_bytes_per_token
    fig = vd.transfer_cost(r, bpt, 10.0)
    assert_axes_have_units(fig)
    pts = fig.data[0]
    assert list(pts.x) == [t.tokens for t in r.transfers]
    assert np.allclose(pts.y, np.array(pts.x) * bpt / 10e9 * 1e3)  # time = tokens x bytes/token / bandwidth
    u = vd.utilization(r)
    assert set(u) == {"prefill-1", "decode-1", "link"} and all(0 < v <= 1 for v in u.values())
    col = simulate(scenario("summarization", workload=wl, policy="continuous"))
    lat = vd.latency_bars({"colocated": col, "disaggregated": r})
    assert_axes_have_units(lat, skip=("xaxis",))
    assert lat.data[1].y[2] == pytest.approx(r.metrics["tbt_p99_s"] * 1e3)
    assert_axes_have_units(vd.utilization_bars({"d": r}), skip=("xaxis",))
