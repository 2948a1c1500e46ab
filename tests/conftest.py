"""Shared test set-up: the repo root on sys.path so tests import sim/, quiz/, viz/ and pages/ directly."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


# Property tests run at their CI example counts; HYPOTHESIS_SCALE=10 runs every one of them at ten times
# its count (e.g. `HYPOTHESIS_SCALE=10 ./scripts/test.sh tests/test_sim_properties.py`), without editing
# each test's @settings.
PROPERTY_SCALE = max(1, int(os.environ.get("HYPOTHESIS_SCALE", "1") or 1))


def pytest_collection_modifyitems(config, items):
    if PROPERTY_SCALE == 1:
        return
    from hypothesis import settings
    done = set()
    for item in items:
        fn = getattr(item, "obj", None)
        current = getattr(fn, "_hypothesis_internal_use_settings", None)
        if current is None or id(fn) in done:
            continue
        done.add(id(fn))
        fn._hypothesis_internal_use_settings = settings(current, max_examples=current.max_examples * PROPERTY_SCALE)
