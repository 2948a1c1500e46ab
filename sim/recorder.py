"""What a run records while its engines work: token gaps, busy time, KV use and (optionally) every pass.

The ``Recorder`` collects plain numbers and records (``sim.trace``) as passes are applied, and the
metrics (``sim.metrics``) are computed from it after the run. It reads the scheduler and writes only
itself; both executors use it through the one engine loop (``sim.loop``).
"""

from __future__ import annotations

from array import array
from operator import attrgetter

from sim.plan import StepPlan
from sim.trace import Iteration, Transfer


class Recorder:
    """Collects what the metrics and timelines need while the engines run."""

    def __init__(self, record_iterations: bool, record_layout: bool):
        self.record_iterations = record_iterations
        self.record_layout = record_layout
        self.iterations: list[Iteration] = []
        self.transfers: list[Transfer] = []
        # Token gaps (TBT) as weighted samples: class -> (array of gap_s, array of counts). Every decoding
        # sequence of a pass usually shares one gap, so this stays small while counting every gap; typed
        # arrays hold 16 bytes a pass instead of ~48 in lists of Python numbers (a million requests at
        # 12/s make ~3 million passes).
        self.gaps: dict[str, tuple[array, array]] = {}
        self.count = 0
        self.busy_s: dict[str, float] = {}
        self.kv_peak = 0.0
        self.waste_area = 0.0  # integral over time of wasted slots / capacity, summed over engines
        self.time_area = 0.0
        self.running_now: dict[str, int] = {}
        self.max_concurrent = 0
        # The previous pass's decode ids: consecutive passes mostly decode the same sequences, and a record
        # that shares that tuple is one object fewer for the garbage collector to walk (~1,300 a page's run).
        self._last_decode: tuple = ()

    def gap(self, cls: str, gap: float, count: int = 1) -> None:
        entry = self.gaps.get(cls)
        if entry is None:
            entry = self.gaps[cls] = (array("d"), array("q"))
        entry[0].append(gap)
        entry[1].append(count)

    def gap_run(self, cls: str, gaps: list[float], count: int) -> None:
        """One gap per pass for ``count`` sequences of class ``cls`` over a run of passes."""
        entry = self.gaps.get(cls)
        if entry is None:
            entry = self.gaps[cls] = (array("d"), array("q"))
        entry[0].extend(gaps)
        entry[1].extend(array("q", [count]) * len(gaps))

    def tbt_samples(self) -> dict:
        """class -> numpy array of every token gap in seconds (weighted samples expanded)."""
        import numpy as np
        return {c: np.repeat(np.asarray(v, dtype=float), np.asarray(w, dtype=np.int64))
                for c, (v, w) in self.gaps.items()}

    def record_pass(self, engine: str, sched, plan: StepPlan, start: float, end: float, duration: float,
                    finished: list, stalled: list) -> None:
        """Account one applied pass (busy time, KV use; the trace row when recording). Reads the
        scheduler, writes nothing but this recorder. ``stalled``: decodes this pass delayed."""
        busy = self.busy_s
        busy[engine] = busy.get(engine, 0.0) + duration
        kv = sched.kv
        held, capacity = kv.held_tokens, kv.capacity_tokens
        wasted = held - sched.stored_tokens + kv.external_waste()
        self.waste_area += wasted / capacity * duration
        self.time_area += duration
        util = held / capacity
        if util > self.kv_peak:
            self.kv_peak = util
        running_now = self.running_now
        running_now[engine] = len(plan.decode) + len(plan.prefill)
        total_running = sum(running_now.values())
        if total_running > self.max_concurrent:
            self.max_concurrent = total_running
        if self.record_iterations:
            self._record(engine, sched, plan, start, end, finished, stalled)

    def account_stretch(self, engine: str, st) -> None:
        """Account passes the fast path priced without planning (a ``sim.cohort.Stretch``)."""
        self.waste_area += st.waste_area
        self.time_area += st.busy_s
        self.busy_s[engine] = self.busy_s.get(engine, 0.0) + st.busy_s
        for cls, n in st.classes:
            self.gap_run(cls, st.durations, n)
        self.count += len(st.durations)
        if st.kv_use > self.kv_peak:
            self.kv_peak = st.kv_use

    def _record(self, engine: str, sched, plan: StepPlan, start: float, end: float, finished: list,
                stalled: list) -> None:
        # Once per traced pass (a static run of 60 requests makes ~4,000): the id tuples through map and the
        # record made from one tuple of its fields (Iteration._make), a fraction of keyword arguments and generators.
        stored, held, reserved, internal, external = sched.kv_snapshot()
        layout = ()
        if self.record_layout:
            layout = tuple((g.seq_id, g.start, g.length) for g in sched.kv.layout())
        decode, prefill = plan.decode, plan.prefill
        decoded = tuple(map(_ID, decode))
        if decoded == self._last_decode:
            decoded = self._last_decode
        else:
            self._last_decode = decoded
        self.iterations.append(_ITERATION((
            len(self.iterations) + 1, engine, start, end,
            tuple([(s.id, n) for s, n in prefill]) if prefill else (), decoded, _ids(stalled), _ids(plan.joined),
            _ids(plan.preempted), _ids(finished), plan.waiting, len(decode) + len(prefill) + plan.padding,
            stored, held, reserved, internal, external, sched.kv.capacity_tokens, layout)))


_ID = attrgetter("id")


def _ids(seqs: list) -> tuple:
    """The ids of ``seqs`` (most lists of a pass are empty: then no map and no new tuple)."""
    return tuple(map(_ID, seqs)) if seqs else ()


_ITERATION = Iteration._make
