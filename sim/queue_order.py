"""Queue orders (C8, C9): who is admitted next and who is preempted first.

An order maps a sequence to a sort key at time ``now``; the smallest key is the most urgent. Admission
takes the smallest key first; preemption evicts the largest key first. Ties fall back to arrival time and
then to the arrival number, so every run is deterministic. ``ORDERS`` is the registry (one class and one
entry per order); ``HeapQueue`` and ``ResortQueue`` hold the waiting requests in an order's sequence.

``custom`` evaluates a learner-typed expression over the request's fields. The text is parsed into a
Python syntax tree, every node is checked against a whitelist (numbers, field names, arithmetic,
comparisons, ``if``-``else``, and calls to a few maths functions: no attribute access, no subscripts, no
strings, no imports), and it is then evaluated by the ``simpleeval`` library (never ``eval``), which
also caps powers.
"""

from __future__ import annotations

import ast
import heapq
import math

import simpleeval

from sim.errors import ConfigError

# Fields a custom expression may read, with what they mean (shown in the UI and in --help).
EXPR_FIELDS = {
    "priority": "class priority, lower = more urgent (0, 1, ...)",
    "prompt_tokens": "prompt length in tokens",
    "predicted_output_tokens": "predicted output length in tokens (what SJF uses; may be noisy)",
    "generated_tokens": "tokens generated so far",
    "arrival_s": "arrival time in seconds",
    "waiting_s": "seconds since arrival",
    "deadline_s": "absolute deadline in seconds (1e9 when the request has none)",
    "preemptions": "times this request was preempted so far",
}
EXPR_FUNCTIONS = {"min": min, "max": max, "abs": abs, "log": math.log1p, "sqrt": math.sqrt}
MAX_EXPR_CHARS = 200
MAX_EXPR_NODES = 60
NO_DEADLINE = 1e9

_ALLOWED_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Name,
                  ast.Load, ast.Constant, ast.Call, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv,
                  ast.Mod, ast.Pow, ast.USub, ast.UAdd, ast.Not, ast.And, ast.Or, ast.Lt, ast.LtE, ast.Gt,
                  ast.GtE, ast.Eq, ast.NotEq)


def _fields(seq, now: float) -> dict:
    r = seq.req
    return {"priority": r.priority, "prompt_tokens": r.prompt_tokens,
            "predicted_output_tokens": r.predicted_output_tokens, "generated_tokens": seq.generated,
            "arrival_s": r.arrival_s, "waiting_s": now - r.arrival_s,
            "deadline_s": NO_DEADLINE if r.deadline_s is None else r.deadline_s, "preemptions": seq.preemptions}


class CustomExpression:
    """A validated expression; ``value(fields)`` returns a finite float or raises ConfigError."""

    def __init__(self, text: str):
        text = (text or "").strip()
        if not text:
            raise ConfigError("expr", "the custom order needs an expression, e.g. priority * 10 + prompt_tokens / 1000")
        if len(text) > MAX_EXPR_CHARS:
            raise ConfigError("expr", f"expression is {len(text)} characters; keep it under {MAX_EXPR_CHARS}")
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as e:
            raise ConfigError("expr", f"not a valid expression (column {e.offset}): {e.msg}") from None
        nodes = list(ast.walk(tree))
        if len(nodes) > MAX_EXPR_NODES:
            raise ConfigError("expr", f"expression is too complex ({len(nodes)} parts; at most {MAX_EXPR_NODES})")
        for node in nodes:
            _check_node(node)
        self.text = text
        self._evaluator = simpleeval.SimpleEval(functions=dict(EXPR_FUNCTIONS), names={})
        self._parsed = self._evaluator.parse(text)  # parse once; every evaluation reuses the tree
        # Try it once on typical values, so a type error shows now rather than mid-run.
        self.value({"priority": 1, "prompt_tokens": 512, "predicted_output_tokens": 128.0, "generated_tokens": 3,
                    "arrival_s": 1.0, "waiting_s": 2.0, "deadline_s": 30.0, "preemptions": 0})

    def value(self, fields: dict) -> float:
        self._evaluator.names = fields
        try:
            v = self._evaluator.eval(self.text, previously_parsed=self._parsed)
        except simpleeval.NumberTooHigh:
            raise ConfigError("expr", "a power in the expression is too large") from None
        except ZeroDivisionError:
            raise ConfigError("expr", f"division by zero for a request with {_short(fields)}") from None
        except (ValueError, OverflowError) as e:  # sqrt of a negative number, float overflow
            raise ConfigError("expr", f"cannot evaluate for a request with {_short(fields)}: {e}") from None
        except simpleeval.InvalidExpression as e:
            raise ConfigError("expr", str(e)) from None
        except TypeError as e:
            raise ConfigError("expr", f"cannot evaluate: {e}") from None
        if isinstance(v, bool):
            v = float(v)
        if not isinstance(v, (int, float)):
            raise ConfigError("expr", f"must give a number, gave {type(v).__name__}")
        v = float(v)
        if math.isnan(v):
            raise ConfigError("expr", f"gives NaN for a request with {_short(fields)}")
        return v


def _short(fields: dict) -> str:
    return ", ".join(f"{k}={fields[k]:g}" for k in ("priority", "prompt_tokens", "waiting_s"))


def _check_node(node: ast.AST) -> None:
    if isinstance(node, ast.Attribute):
        raise ConfigError("expr", "attribute access ('.') is not allowed")
    if isinstance(node, ast.Subscript):
        raise ConfigError("expr", "indexing ('[...]') is not allowed")
    if isinstance(node, ast.Constant) and (not isinstance(node.value, (int, float)) or isinstance(node.value, bool)):
        raise ConfigError("expr", f"only numbers are allowed as constants, not {node.value!r:.30}")
    if isinstance(node, ast.Name) and node.id not in EXPR_FIELDS and node.id not in EXPR_FUNCTIONS:
        raise ConfigError("expr", f"unknown name {node.id!r}; use {', '.join(EXPR_FIELDS)}")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in EXPR_FUNCTIONS:
            name = getattr(node.func, "id", "that")
            raise ConfigError("expr", f"calling {name!r} is not allowed; only {', '.join(EXPR_FUNCTIONS)}")
        if node.keywords:
            raise ConfigError("expr", "keyword arguments are not allowed")
    if isinstance(node, ast.Name) and node.id in EXPR_FUNCTIONS:
        return  # checked as part of its Call (a bare function name fails the number check at evaluation)
    if not isinstance(node, _ALLOWED_NODES):
        raise ConfigError("expr", f"{type(node).__name__} is not allowed in a priority expression")


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
        self.time_dependent = "waiting_s" in text or "generated_tokens" in text or "preemptions" in text

    @classmethod
    def build(cls, *, expr: str = "", aging_step_s: float = 5.0) -> QueueOrder:
        return cls(expr)

    def primary(self, seq, now):
        return self.expr.value(_fields(seq, now))


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

    def __len__(self) -> int:
        return len(self._list)

    def push(self, seq, now: float) -> None:
        self._list.append(seq)
        self._sorted_at = None

    def _resort(self, now: float) -> None:
        if self._sorted_at != now:
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
