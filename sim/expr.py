"""The custom queue order's expression (C9): learner-typed text turned into a sort key, with a bounded cost.

A learner types something like ``priority * 10 + prompt_tokens / 1000``; the simulator evaluates it once
per request per scheduling decision, on a server a whole class shares. So the text is never executed as
code. It is parsed into a Python syntax tree, every node is checked against a whitelist (numbers, the
request fields below, arithmetic, comparisons, ``and``/``or``/``not``, ``if``-``else`` and calls to five
maths functions), and the checked tree is turned into a small tree of Python closures that this module
interprets.

Why every evaluation costs about the same whatever the learner types:

- at most ``MAX_EXPR_CHARS`` characters and ``MAX_EXPR_NODES`` syntax-tree nodes, so at most that many steps;
- every value is a float (constants and fields are converted when read), so no step can build a huge
  integer: Python's integers grow without bound, and ``9 ** 3999999`` or ``7 ** 1999999 % 3`` took seconds
  each with the old evaluator, whereas a float operation is one machine instruction and overflows to an
  error, not to a longer number;
- a power's exponent must be a small constant (``waiting_s ** 2``, ``prompt_tokens ** 0.5``): with a field or
  a big number there (``2 ** prompt_tokens``, ``priority ** 99999999``) the value overflows for ordinary
  requests, so it is refused when typed rather than mid-run;
- a value that is not a finite number (an overflow to infinity, ``inf - inf``) is refused with the request
  it happened for.

Every refusal is a ``ConfigError`` on the field ``expr`` whose message quotes the offending part of the
text exactly, in backticks (so a page's Markdown shows ``__import__`` as typed, not as bold "import").
"""

from __future__ import annotations

import ast
import math
import operator

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
# Functions with their number of arguments (fewest, most); log is log(1 + x), defined at 0.
EXPR_FUNCTIONS = {"min": min, "max": max, "abs": abs, "log": math.log1p, "sqrt": math.sqrt}
_ARITY = {"min": (2, 8), "max": (2, 8), "abs": (1, 1), "log": (1, 1), "sqrt": (1, 1)}
# Fields whose value changes while a request waits: an order reading them is re-sorted every step.
TIME_DEPENDENT_FIELDS = frozenset({"waiting_s", "generated_tokens", "preemptions"})
MAX_EXPR_CHARS = 200
MAX_EXPR_NODES = 60
MAX_EXPONENT = 8  # |exponent| of ** ; enough for squares, cubes and roots
NO_DEADLINE = 1e9

def _pow(base, exponent):
    """A float power (bounded cost, OverflowError beyond 1.8e308); 0 to a negative power divides by zero."""
    if base == 0 and exponent < 0:
        raise ZeroDivisionError
    return math.pow(base, exponent)


_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: _pow}
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.Eq: operator.eq, ast.NotEq: operator.ne}
# What each refused kind of node is called in a message (the learner's words, not Python's class names).
_REFUSED = {
    ast.Attribute: "attribute access", ast.Subscript: "indexing", ast.Lambda: "a lambda",
    ast.List: "a list", ast.Tuple: "a tuple", ast.Set: "a set", ast.Dict: "a dictionary",
    ast.ListComp: "a comprehension", ast.SetComp: "a comprehension", ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator", ast.NamedExpr: "an assignment (':=')", ast.Starred: "unpacking ('*')",
    ast.JoinedStr: "an f-string", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
    ast.Slice: "a slice", ast.BitAnd: "the operator '&'", ast.BitOr: "the operator '|'",
    ast.BitXor: "the operator '^'", ast.LShift: "the operator '<<'", ast.RShift: "the operator '>>'",
    ast.Invert: "the operator '~'", ast.MatMult: "the operator '@'", ast.Is: "the comparison 'is'",
    ast.IsNot: "the comparison 'is not'", ast.In: "the test 'in'", ast.NotIn: "the test 'not in'",
}
# Typical values: every expression is evaluated once on them when typed, so a mistake shows at once.
TRIAL_FIELDS = {"priority": 1, "prompt_tokens": 512, "predicted_output_tokens": 128.0, "generated_tokens": 3,
                "arrival_s": 1.0, "waiting_s": 2.0, "deadline_s": 30.0, "preemptions": 0}


def _code(text: str) -> str:
    """Quote a piece of the learner's text for a message: in backticks, with backticks inside removed, so
    Markdown shows it verbatim and a terminal shows it plainly."""
    text = " ".join(text.split()).replace("`", "'")
    return f"`{text[:60]}{'...' if len(text) > 60 else ''}`"


class CustomExpression:
    """A checked expression. ``key(seq, now)`` is the sort key of a scheduler sequence (a float);
    ``value(fields)`` evaluates on a dict of ``EXPR_FIELDS``. Both raise ConfigError (field ``expr``)."""

    def __init__(self, text: str):
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise ConfigError("expr", f"must be text, got {type(text).__name__}")
        text = text.strip()
        if not text:
            raise ConfigError("expr", "the custom order needs an expression, e.g. priority * 10 + prompt_tokens / 1000")
        if len(text) > MAX_EXPR_CHARS:
            raise ConfigError("expr", f"expression is {len(text):,} characters; keep it under {MAX_EXPR_CHARS}")
        if "\x00" in text:
            raise ConfigError("expr", "the expression contains a NUL character")
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as e:
            raise ConfigError("expr", f"not a valid expression (column {e.offset}): {e.msg}") from None
        except (ValueError, RecursionError, MemoryError) as e:  # e.g. too deeply nested
            raise ConfigError("expr", f"not a valid expression: {str(e)[:80]}") from None
        nodes = list(ast.walk(tree))
        if len(nodes) > MAX_EXPR_NODES:
            raise ConfigError("expr", f"expression is too complex ({len(nodes)} parts; at most {MAX_EXPR_NODES})")
        self.text = text
        self.nodes = len(nodes)
        self.names = frozenset(n.id for n in nodes if isinstance(n, ast.Name) and n.id in EXPR_FIELDS)
        self.time_dependent = bool(self.names & TIME_DEPENDENT_FIELDS)
        compiler = _Compiler(text)
        self._fn = _as_function(compiler.compile(tree.body))
        self._clock = compiler.clock  # the one cell every waiting_s reader reads: set once per evaluation
        self.value(TRIAL_FIELDS)

    def value(self, fields: dict) -> float:
        """The expression's value for one request given as a dict of ``EXPR_FIELDS`` values."""
        for name in self.names:
            v = fields.get(name)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError("expr", f"field {name} is {v!r:.30}, not a number")
        seq = _FieldsSeq(fields)
        return self._finish(seq, seq.now)

    def key(self, seq, now: float) -> float:
        """The expression's value for a scheduler sequence at time ``now`` (the queue order's key)."""
        return self._finish(seq, now)

    def _finish(self, seq, now) -> float:
        self._clock[0] = now
        try:
            v = self._fn(seq)
        except ZeroDivisionError:
            problem = "division by zero"
        except OverflowError:
            problem = "a value overflowed (beyond 1.8e308)"
        except ValueError:  # sqrt or log of a negative number, a negative number to a fractional power
            problem = "a square root, log or fractional power of a negative number"
        else:
            if v - v == 0:  # finite (inf - inf and nan - nan are nan): cheaper than math.isfinite(float(v))
                return float(v)
            problem = f"{_code(self.text)} is not a finite number (a value overflowed)"
        r = seq.req
        raise ConfigError("expr", f"{problem} for a request with priority={r.priority:g}, "
                                  f"prompt_tokens={r.prompt_tokens:g}, waiting_s={now - r.arrival_s:g}")


class _FieldsSeq:
    """A dict of field values dressed as a scheduler sequence, so one closure tree serves both."""

    def __init__(self, f: dict):
        class Req:
            pass
        self.req = Req()
        self.req.priority = f.get("priority", 0)
        self.req.prompt_tokens = f.get("prompt_tokens", 0)
        self.req.predicted_output_tokens = f.get("predicted_output_tokens", 0.0)
        self.req.arrival_s = f.get("arrival_s", 0.0)
        d = f.get("deadline_s", NO_DEADLINE)
        self.req.deadline_s = None if d == NO_DEADLINE else d
        self.generated = f.get("generated_tokens", 0)
        self.preemptions = f.get("preemptions", 0)
        self.now = self.req.arrival_s + f.get("waiting_s", 0.0)


# Field readers take the sequence only (the clock is a cell of the compiled expression): seq.req is the
# workload's Request, seq.generated and seq.preemptions the scheduler's counters (the names sim.scheduler's
# sequences use). attrgetter reads in C, at a fraction of a Python function call.
_ATTRS = {"priority": "req.priority", "prompt_tokens": "req.prompt_tokens",
          "predicted_output_tokens": "req.predicted_output_tokens", "generated_tokens": "generated",
          "arrival_s": "req.arrival_s", "preemptions": "preemptions"}


def _reader(name: str, clock: list):
    if name in _ATTRS:
        return operator.attrgetter(_ATTRS[name])
    if name == "waiting_s":
        return lambda s: clock[0] - s.req.arrival_s

    def deadline(s):
        d = s.req.deadline_s
        return NO_DEADLINE if d is None else d
    return deadline


class _Compiler:
    """Checks one syntax tree against the whitelist and builds its closure tree."""

    def __init__(self, text: str):
        self.text = text
        self.clock = [0.0]

    def src(self, node: ast.AST) -> str:
        return _code(ast.get_source_segment(self.text, node) or type(node).__name__)

    def refuse(self, node: ast.AST, what: str):
        raise ConfigError("expr", f"{what} is not allowed in a priority expression: {self.src(node)}")

    def compile(self, node: ast.AST):
        if isinstance(node, ast.Constant):
            return _Const(self.number(node))
        if isinstance(node, ast.Name):
            if node.id in EXPR_FIELDS:
                return _reader(node.id, self.clock)
            if node.id in EXPR_FUNCTIONS:
                example = f"{node.id}(prompt_tokens{', 100' if _ARITY[node.id][0] > 1 else ''})"
                raise ConfigError("expr", f"{_code(node.id)} is a function: call it, e.g. {_code(example)}")
            raise ConfigError("expr", f"unknown name {_code(node.id)}; use {', '.join(EXPR_FIELDS)}")
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                self.refuse(node, _REFUSED.get(type(node.op), "this operator"))
            fn = _BINOPS[type(node.op)]
            if fn is _pow:
                self.check_exponent(node)
            return self.fold(node, _binop(fn, self.compile(node.left), self.compile(node.right)))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return self.fold(node, _neg(self.compile(node.operand)))
            if isinstance(node.op, ast.UAdd):
                return self.compile(node.operand)
            if isinstance(node.op, ast.Not):
                return _not(_as_function(self.compile(node.operand)))
            self.refuse(node, _REFUSED.get(type(node.op), "this operator"))
        if isinstance(node, ast.BoolOp):
            parts = [_as_function(self.compile(v)) for v in node.values]
            return _and(parts) if isinstance(node.op, ast.And) else _or(parts)
        if isinstance(node, ast.Compare):
            ops = []
            for op in node.ops:
                if type(op) not in _COMPARE:
                    self.refuse(node, _REFUSED.get(type(op), "this comparison"))
                ops.append(_COMPARE[type(op)])
            return _compare([_as_function(self.compile(c)) for c in [node.left] + node.comparators], ops)
        if isinstance(node, ast.IfExp):
            return _ifexp(*(_as_function(self.compile(n)) for n in (node.test, node.body, node.orelse)))
        if isinstance(node, ast.Call):
            return self.call(node)
        self.refuse(node, _REFUSED.get(type(node), "this construct"))

    def fold(self, node: ast.AST, built):
        """A constant sub-expression (``60 * 60``) is computed once, here; its errors name it."""
        if not isinstance(built, _Folded):
            return built
        try:
            x = built.compute()
        except ZeroDivisionError:
            raise ConfigError("expr", f"division by zero in {self.src(node)}") from None
        except OverflowError:
            raise ConfigError("expr", f"{self.src(node)} overflows (beyond 1.8e308)") from None
        except ValueError:
            raise ConfigError("expr", f"{self.src(node)} is a fractional power of a negative number") from None
        if not math.isfinite(x):
            raise ConfigError("expr", f"{self.src(node)} is not a finite number")
        return _Const(x)

    def number(self, node: ast.Constant) -> float:
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            kind = "text" if isinstance(v, (str, bytes)) else "None" if v is None else type(v).__name__
            raise ConfigError("expr", f"only numbers are allowed as constants, not {kind} {self.src(node)}")
        try:
            x = float(v)
        except OverflowError:
            x = math.inf
        if not math.isfinite(x):
            raise ConfigError("expr", f"the number {self.src(node)} is too large (at most 1.8e308)")
        return x

    def check_exponent(self, node: ast.BinOp) -> None:
        e = node.right
        while isinstance(e, ast.UnaryOp) and isinstance(e.op, (ast.USub, ast.UAdd)):
            e = e.operand
        ok = (isinstance(e, ast.Constant) and isinstance(e.value, (int, float)) and not isinstance(e.value, bool)
              and abs(e.value) <= MAX_EXPONENT)
        if not ok:
            raise ConfigError("expr", f"the power {self.src(node)} is not allowed: an exponent must be a fixed "
                                      f"number from -{MAX_EXPONENT} to {MAX_EXPONENT} (e.g. waiting_s ** 2)")

    def call(self, node: ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in EXPR_FUNCTIONS:
            raise ConfigError("expr", f"calling {self.src(node)} is not allowed; only "
                                      f"{', '.join(EXPR_FUNCTIONS)} can be called")
        name = node.func.id
        if node.keywords:
            raise ConfigError("expr", f"keyword arguments in {self.src(node)} are not allowed")
        for a in node.args:
            if isinstance(a, ast.Starred):
                self.refuse(a, "unpacking")
        lo, hi = _ARITY[name]
        if not lo <= len(node.args) <= hi:
            want = f"{lo}" if lo == hi else f"{lo} to {hi}"
            raise ConfigError("expr", f"{name}() takes {want} numbers; {self.src(node)} gives {len(node.args)}")
        return _function(EXPR_FUNCTIONS[name], [_as_function(self.compile(a)) for a in node.args])


# ---- closure builders: each returns a function of the sequence (or a _Const) ---------------------------
# Arithmetic with a constant operand, the common case (priority * 10, prompt_tokens / 1000), is written out
# per operator so it costs one Python call, not three.

class _Const:
    __slots__ = ("x",)

    def __init__(self, x: float):
        self.x = x


class _Folded:
    """An operation on constants only, computed by the compiler (``_Compiler.fold``)."""

    def __init__(self, compute):
        self.compute = compute


def _as_function(op):
    if isinstance(op, _Const):
        x = op.x
        return lambda s: x
    return op


def _binop(fn, left, right):
    if isinstance(left, _Const) and isinstance(right, _Const):
        a, b = left.x, right.x
        return _Folded(lambda: fn(a, b))
    if isinstance(right, _Const):
        c, f = right.x, left
        if fn is operator.add:
            return lambda s: f(s) + c
        if fn is operator.sub:
            return lambda s: f(s) - c
        if fn is operator.mul:
            return lambda s: f(s) * c
        if fn is operator.truediv and c != 0:
            return lambda s: f(s) / c
        return lambda s: fn(f(s), c)
    if isinstance(left, _Const):
        c, f = left.x, right
        if fn is operator.add:
            return lambda s: c + f(s)
        if fn is operator.sub:
            return lambda s: c - f(s)
        if fn is operator.mul:
            return lambda s: c * f(s)
        return lambda s: fn(c, f(s))
    if fn is operator.add:
        return lambda s: left(s) + right(s)
    if fn is operator.sub:
        return lambda s: left(s) - right(s)
    if fn is operator.mul:
        return lambda s: left(s) * right(s)
    return lambda s: fn(left(s), right(s))


def _neg(operand):
    if isinstance(operand, _Const):
        x = operand.x
        return _Folded(lambda: -x)
    return lambda s: -operand(s)


def _not(operand):
    return lambda s: 0.0 if operand(s) else 1.0


def _and(parts):
    def run(s):
        v = 0.0
        for p in parts:
            v = p(s)
            if not v:
                return v
        return v
    return run


def _or(parts):
    def run(s):
        v = 0.0
        for p in parts:
            v = p(s)
            if v:
                return v
        return v
    return run


def _compare(operands, ops):
    if len(ops) == 1:
        a, b, op = operands[0], operands[1], ops[0]
        return lambda s: 1.0 if op(a(s), b(s)) else 0.0

    def run(s):
        left = operands[0](s)
        for op, nxt in zip(ops, operands[1:]):
            right = nxt(s)
            if not op(left, right):
                return 0.0
            left = right
        return 1.0
    return run


def _ifexp(test, body, orelse):
    return lambda s: body(s) if test(s) else orelse(s)


def _function(fn, args):
    if len(args) == 1:
        a = args[0]
        return lambda s: fn(a(s))
    if len(args) == 2:
        a, b = args
        return lambda s: fn(a(s), b(s))
    return lambda s: fn(*[a(s) for a in args])
