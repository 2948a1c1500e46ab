"""``python -m sim bench``: each target paired with the CPU yardstick run by run, the sweeps run in turns
and checked to print the same table, and ``--baseline`` timing the same commands from a second checkout."""

from __future__ import annotations

import io
from types import SimpleNamespace

import sim.bench as bench


def _args(**kw):
    base = dict(requests=100, heavy_rate=12.0, million=False, sweep=False, long_repeat=1)
    base.update(kw)
    return SimpleNamespace(**base)


def test_pairs_interleave_and_ratios_are_medians_of_pairs(monkeypatch):
    calls = []
    walls = iter([1.0, 2.0, 3.0,   2.0, 2.0, 5.0,   1.0, 4.0, 1.0] + [1.0] * 9)

    def fake(argv, cwd=None, outputs=None):
        calls.append(("Y" if argv == bench.YARDSTICK else argv[5], cwd))
        w = next(walls)
        return bench.Timing(w, w / 2, 50.0)
    monkeypatch.setattr(bench, "time_process", fake)
    targets = bench.build_targets(_args(), ("continuous",))
    bench.run_targets(targets[:1], 3, baseline="/base")
    # Y, this tree, the baseline checkout: in that order, pair by pair
    assert calls[:3] == [("Y", None), ("continuous", None), ("continuous", "/base")]
    t = targets[0]
    assert t.ratio("wall_s") == 2.0  # median of 2/1, 2/2, 4/1
    out = io.StringIO()
    bench.report(targets[:1], out=out)
    row = out.getvalue().splitlines()[1].split()
    assert "MISSED" in out.getvalue()  # 2 Y against <= 0.5 Y
    # base/Y: median of 3/1, 5/2, 1/1; this tree over the baseline: of 2/3, 2/5, 4/1 (CPU alike)
    assert row[-7:-4] == ["2.50", "0.67", "0.67"]


def test_sweeps_run_in_turns_and_their_tables_are_compared(monkeypatch):
    order = []

    def fake(argv, cwd=None, outputs=None):
        if argv == bench.YARDSTICK:
            order.append("Y")
            return bench.Timing(1.0, 1.0, 10.0)
        jobs = argv[-1]
        order.append("j" + jobs)
        outputs.add("same table")
        return bench.Timing(10.0 if jobs == "1" else 5.0, 10.0, 40.0)
    monkeypatch.setattr(bench, "time_process", fake)
    targets = [t for t in bench.build_targets(_args(sweep=True, long_repeat=2), ()) if t.group]
    bench.run_targets(targets, 3)
    assert order == ["Y", "j1", "Y", "j2"] * 2  # --long-repeat pairs, the two sweeps in turns
    out = io.StringIO()
    bench.report(targets, out=out)
    assert "2.00x" in out.getvalue() and "tables identical in all 4 runs" in out.getvalue()
    targets[1].outputs.add("another table")
    out = io.StringIO()
    bench.report(targets, out=out)
    assert "tables DIFFER" in out.getvalue()
