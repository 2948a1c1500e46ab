"""Queue orders (C8, C9): who is admitted next and who is preempted first.

An order maps a sequence to a sort key at time ``now``; the smallest key is the most urgent. Admission
takes the smallest key first; preemption evicts the largest key first. Ties fall back to arrival time and
then to the arrival number, so every run is deterministic. ``ORDERS`` is the registry (one class and one
entry per order); ``HeapQueue`` and ``ResortQueue`` hold the waiting requests in an order's sequence.

``custom`` sorts by a learner-typed expression over the request's fields; ``sim.expr`` checks and
evaluates it with a bounded cost (it is never executed as code).
"""

from __future__ import annotations

import heapq

from sim.errors import ConfigError
from sim.expr import EXPR_FIELDS, EXPR_FUNCTIONS, NO_DEADLINE, CustomExpression  # noqa: F401 (re-exported)
from sim.limits import MAX_SORT_WORK


class QueueOrder:
    """Sort key of a sequence; subclasses override ``primary``. ``time_dependent`` keys must be
    recomputed at every scheduling step (they change while requests wait).

    Each order carries its public ``name``, a one-line ``summary``, the settings it reads (``knobs``) and
    ``may_preempt``: whether a waiting request may evict a strictly less urgent running one (under FCFS
    nobody is more urgent than a request that came earlier, so a newcomer never evicts)."""

    name = ""
    summary = ""
    knobs: tuple[str, ...] = ()
    may_preempt = True
    time_dependent = False
    key_cost = 1  # work of one key, in units of the aging key (a ResortQueue's budget counts them)

    @classmethod
    def build(cls, *, expr: str = "", aging_step_s: float = 5.0) -> QueueOrder:
        """The order for a run's settings (only the knobs it owns are read)."""
        return cls()

    def primary(self, seq, now: float) -> float:
        return 0.0

    def key(self, seq, now: float) -> tuple:
        return (self.primary(seq, now), seq.req.arrival_s, seq.seq_no)

    def queue(self):
        """An empty waiting queue suited to this order's keys."""
        return ResortQueue(self) if self.time_dependent else HeapQueue(self)


class FCFS(QueueOrder):
    name = "fcfs"
    summary = "first come, first served"
    may_preempt = False


class Priority(QueueOrder):
    name = "priority"
    summary = "class priority (user tier); lower number first"

    def primary(self, seq, now):
        return seq.req.priority


class ShortestJobFirst(QueueOrder):
    """Shortest predicted remaining output first; the prediction may be noisy (predictor_noise)."""

    name = "sjf"
    summary = "shortest (predicted) job first"

    def primary(self, seq, now):
        return seq.req.predicted_output_tokens - seq.generated


class EarliestDeadlineFirst(QueueOrder):
    name = "edf"
    summary = "earliest deadline first"

    def primary(self, seq, now):
        return NO_DEADLINE if seq.req.deadline_s is None else seq.req.deadline_s


class Aging(QueueOrder):
    """Priority that improves by one level for every ``step_s`` seconds waited, so no class starves."""

    name = "aging"
    summary = "priority that improves with every few seconds of waiting"
    knobs = ("aging_step_s",)
    time_dependent = True

    def __init__(self, step_s: float):
        if not step_s > 0:
            raise ConfigError("aging_step_s", f"must be > 0 seconds, got {step_s}")
        self.step_s = step_s

    @classmethod
    def build(cls, *, expr: str = "", aging_step_s: float = 5.0) -> QueueOrder:
        return cls(aging_step_s)

    def primary(self, seq, now):
        return seq.req.priority - (now - seq.req.arrival_s) / self.step_s


class Custom(QueueOrder):
    name = "custom"
    summary = "your expression; smaller value = more urgent"
    knobs = ("expr",)

    def __init__(self, text: str):
        self.expr = CustomExpression(text)
        # Only expressions that read the clock need re-sorting at every step.
        self.time_dependent = self.expr.time_dependent
        self.key_cost = 1 + self.expr.nodes // 5  # ~0.1 of an aging key per syntax node
        self.primary = self.expr.key

    @classmethod
    def build(cls, *, expr: str = "", aging_step_s: float = 5.0) -> QueueOrder:
        return cls(expr)


# The registry of queue orders (DESIGN.md section 3): name -> class.
ORDERS: dict[str, type[QueueOrder]] = {c.name: c for c in (FCFS, Priority, ShortestJobFirst, EarliestDeadlineFirst,
                                                           Aging, Custom)}


def make_order(name: str, expr: str = "", aging_step_s: float = 5.0) -> QueueOrder:
    if name not in ORDERS:
        raise ConfigError("order", f"unknown queue order {name!r}; choose one of {', '.join(ORDERS)}")
    return ORDERS[name].build(expr=expr, aging_step_s=aging_step_s)


# ---- waiting queues ------------------------------------------------------------------------------------
# Requests waiting for a slot, ordered by the queue order's key (smallest = most urgent), as vLLM's
# request queues are: a heap for keys that do not change while requests wait, a list re-sorted once per
# step at most for keys that do (aging, custom expressions over waiting time).

class HeapQueue:
    """Waiting requests in a heap of (key at push time, arrival number, sequence)."""

    def __init__(self, order: QueueOrder):
        self.order = order
        self._heap: list = []

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, seq, now: float) -> None:
        heapq.heappush(self._heap, (self.order.key(seq, now), seq.seq_no, seq))

    def peek(self, now: float):
        """The most urgent waiting sequence (None when empty); ``now`` is unused: keys do not age."""
        return self._heap[0][2] if self._heap else None

    def pop(self, now: float):
        return heapq.heappop(self._heap)[2]


class ResortQueue:
    """Waiting requests in a list, sorted by the key at ``now`` when it is read at a new time."""

    def __init__(self, order: QueueOrder):
        self.order = order
        self._list: list = []
        self._sorted_at: float | None = None
        self._work = 0  # keys computed by re-sorts so far, weighted by the order's key_cost

    def __len__(self) -> int:
        return len(self._list)

    def push(self, seq, now: float) -> None:
        self._list.append(seq)
        self._sorted_at = None

    def _resort(self, now: float) -> None:
        if self._sorted_at != now:
            # Re-sorting W waiting requests at every step costs W keys a step: with tens of thousands
            # waiting (an uploaded backlog) that is hours, so the work is bounded (deterministically).
            self._work += len(self._list) * self.order.key_cost
            if self._work > MAX_SORT_WORK:
                raise ConfigError("order", f"the {self.order.name} order re-sorts the waiting queue at every step "
                                           f"(its key changes while requests wait), and this run needs more than "
                                           f"{MAX_SORT_WORK:,} key evaluations for it; use fewer requests or a lower "
                                           "rate, or an order whose key does not change (fcfs, priority, sjf, edf)")
            self._list.sort(key=lambda s: self.order.key(s, now), reverse=True)  # most urgent at the end
            self._sorted_at = now

    def peek(self, now: float):
        if not self._list:
            return None
        self._resort(now)
        return self._list[-1]

    def pop(self, now: float):
        self._resort(now)
        return self._list.pop()
