"""Result guard: the simulator and the quiz still produce, byte for byte, what tests/golden/snapshot.txt
recorded (book-example trace, a grid of `sim run --json` outputs, quiz variants over 40 seeds).

A change that alters results on purpose regenerates the file in the same commit and says why:
``python scripts/snapshot.py -o tests/golden/snapshot.txt``.
"""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SNAPSHOT = os.path.join(ROOT, "tests", "golden", "snapshot.txt")


def _snapshot_module():
    spec = importlib.util.spec_from_file_location("snapshot_script", os.path.join(ROOT, "scripts", "snapshot.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_snapshot_is_byte_identical():
    snap = _snapshot_module()
    with open(SNAPSHOT, encoding="utf-8") as f:
        expected = f.read()
    actual = snap.snapshot()
    diffs = snap.differences(expected, actual)
    assert not diffs, ("results changed; if on purpose, regenerate with `python scripts/snapshot.py -o "
                       "tests/golden/snapshot.txt` and say why in the commit:\n" + "\n".join(diffs))


def test_grid_covers_every_policy_and_runs_cleanly():
    snap = _snapshot_module()
    text = " ".join(" ".join(args) for _, args in snap.GRID)
    from sim.batching import POLICIES
    from sim.config import MEMORIES
    from sim.queue_order import ORDERS
    from sim.preemption import PREEMPT_MODES
    for name in (*POLICIES, *ORDERS, *PREEMPT_MODES, *MEMORIES):
        assert name in text, name
    assert len(snap.GRID) >= 30
    with open(SNAPSHOT, encoding="utf-8") as f:
        rcs = [line for line in f if line.startswith("rc ")]
    assert rcs and all(line == "rc 0\n" for line in rcs)
