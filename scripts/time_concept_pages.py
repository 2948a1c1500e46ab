"""Server-side rerun times of the concept pages (AppTest; the times include AppTest's own overhead, so
they are upper bounds). Per page: first load, plain rerun, a key widget changed to a new value (a new
simulation), changed back and changed again (cached). Target: a rerun after a widget change <= 0.3 s.

Usage: .venv/bin/python scripts/time_concept_pages.py
"""

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from streamlit.testing.v1 import AppTest  # noqa: E402

# page: (widget kind, widget key, a new value, the value to go back to)
CASES = {
    "prefill-vs-decode": ("selectbox", "w_b", "prefill-first", "continuous"),
    "memory": ("slider", "w_it", 100, 50),
    "reorganization": ("slider", "w_reorg", 3.0, 2.0),
    "priorities": ("slider", "w_aging", 20.0, 10.0),
    "disaggregation": ("selectbox", "w_link", 2.0, 25.0),
    "choosing": ("radio", "w_exp", "hybrid-service", "legal-archive"),
}


def timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def main() -> int:
    for name, (kind, key, new, back) in CASES.items():
        at = AppTest.from_file(os.path.join(ROOT, "pages", f"{name}.py"), default_timeout=120)
        first = timed(at.run)
        rerun = min(timed(at.run) for _ in range(3))
        widget = lambda: getattr(at, kind)(key=key)  # noqa: E731  (elements are re-read after each run)
        changed = timed(lambda: widget().set_value(new).run())
        back_t = timed(lambda: widget().set_value(back).run())
        again = timed(lambda: widget().set_value(new).run())
        if at.exception:
            print(f"{name}: exception {at.exception[0].value}")
            return 1
        print(f"{name:18s} first {first:5.2f} s  rerun {rerun:5.2f} s  widget->new {changed:5.2f} s  "
              f"->back {back_t:5.2f} s  ->new again {again:5.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
