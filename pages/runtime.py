"""Process-wide settings of the app's server that no Streamlit option covers: the garbage collector, and
the simulator's compiled kernel linked once as the server starts.

``pages.common.reroute_first_visit`` (every page's first statement, after its imports) calls ``tune_gc``.
"""

from __future__ import annotations

import gc
import threading

# CPython's defaults (a young collection every 700 net allocations) suit small scripts. A playground rerun
# allocates tens of thousands of objects (a run's records, three figures, Streamlit's messages), and their
# survivors brought a full collection about every fifth rerun, which walks every object the process holds
# (streamlit, plotly, pandas, numpy and the simulator: ~140,000 after the imports): ~0.1 s each, ~20 ms a
# rerun on average (measured with gc.callbacks over AppTest reruns). So the young generation collects every
# 50,000 allocations (most of a rerun's temporaries are freed by reference counting before then), and what
# the first page run finds after its imports (modules, classes, functions, kept for the life of the process)
# is frozen (gc.freeze), so no later collection walks it. Once only, before anything is cached: a cached
# figure frozen with them would never be collected once evicted (a plotly figure is a reference cycle).
GC_THRESHOLDS = (50_000, 10, 10)
_frozen: list[bool] = []


def tune_gc() -> None:
    """The thresholds above, and the first call freezes what the process holds (later calls do nothing)."""
    if not _frozen:
        _frozen.append(True)
        gc.set_threshold(*GC_THRESHOLDS)
        gc.freeze()
        threading.Thread(target=link_kernel, name="link-kernel", daemon=True).start()


def link_kernel() -> None:
    """Link the compiled kernel's cached machine code into this process (~0.07 s, once), in the background:
    from then on every page's traced run goes to it (``sim.fastpath.wanted``: the same records, bit for
    bit, in a fraction of the time). Never compiles here: without a cached object file (``scripts/app.sh``
    builds it before it starts the server, as does any run on the kernel) the pages run on the Python engine,
    as they do without numba."""
    from sim import native
    native.kernel(build=False)
