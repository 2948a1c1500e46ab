"""``scripts/bench_app.py``, the page benchmark: its server-side part runs end to end and prints each target
beside its yardstick, and a wrong ``--vs`` checkout is refused with one message naming the option. (Its
browser part is what the README's benchmark table reports; the browser tests cover the pages it times.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "bench_app.py")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_server_side_part_prints_ratios_to_the_yardstick_and_the_timeline_sizes():
    got = _run("--no-browser", "--repeat", "1", "--json")
    assert got.returncode == 0, got.stderr[-2000:]
    res = json.loads(got.stdout)
    r = res["rerun"]
    assert len(r["rerun_pairs"]) == 1 and r["rerun_new_simulation_y"] > 0
    # a ratio is the rerun over the yardstick of the same pair, not a bare time
    assert r["rerun_pairs"][0] == round(r["rerun_new_simulation_y"], 3)
    assert res["browser"] is None
    for label, fig in res["figure"].items():
        assert fig["frames"] == 300, label  # the timeline's animation keeps its 300 frames
        assert 0 < fig["bytes"] <= 1_000_000, label


def test_a_vs_folder_that_is_not_a_checkout_is_refused_by_name(tmp_path):
    got = _run("--vs", str(tmp_path))
    assert got.returncode == 2
    assert "--vs" in got.stderr and "no app.py" in got.stderr
    assert "Traceback" not in got.stderr
    got = _run("--vs", ROOT, "--no-browser")
    assert got.returncode == 2 and "--no-browser" in got.stderr.splitlines()[-1]
