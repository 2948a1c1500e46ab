"""A quiz question as data plus three pure functions (the PrairieLearn model, typed and immutable).

* ``generate(question, seed) -> Variant``: the parameters and the correct answer of one instance. A fixed
  question ignores the seed (except that an ordering question shuffles its items); a parameterized one
  asks its generator (``quiz.generators``), which runs the simulator to compute the answer. It lives in
  ``quiz.variants``, above this module and the generators, which both build on the types here.
* ``parse(variant, submission) -> Parsed | InvalidSubmission``: an entry that cannot be read (not a
  number, no option chosen) is *not* a wrong answer and costs no attempt.
* ``grade(variant, parsed) -> Grade``: a score in 0..1 and feedback that explains why, per chosen option.

Four kinds: ``single`` (one correct option), ``multiple`` (select every correct option), ``numeric``
(a number within a tolerance) and ``ordering`` (put items in the right order).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field

KINDS = ("single", "multiple", "numeric", "ordering")
CONCEPTS = tuple(f"C{i}" for i in range(1, 13))
CONCEPT_NAMES = {
    "C1": "Iteration in continuous batching",
    "C2": "General process of continuous batching",
    "C3": "Interleaving prefilling and decoding",
    "C4": "Overhead of dynamic batch reorganization",
    "C5": "Memory fragmentation in LLM inference",
    "C6": "Prefilling-prioritized strategy in continuous batching",
    "C7": "Simple iteration-level scheduling",
    "C8": "Priority-based scheduling",
    "C9": "Custom priority policies",
    "C10": "Disaggregation with pipelined engines",
    "C11": "Continuous (prefill-prioritized) vs standard (decode-prioritized) batching",
    "C12": "Scheduling strategy and trade-offs",
}


@dataclass(frozen=True)
class Option:
    """A choice (single/multiple), an item to order (ordering) or a common wrong number (numeric)."""

    text: str
    correct: bool = False
    feedback: str = ""
    value: float | None = None  # numeric mistakes only: the wrong number this feedback is about


@dataclass(frozen=True)
class Link:
    """'Open in the simulator': a page of the app (its url_path) and the query parameters that preload it."""

    page: str
    params: tuple[tuple[str, str], ...] = ()

    def url(self) -> str:
        from urllib.parse import urlencode
        return f"/{self.page}" + (f"?{urlencode(self.params)}" if self.params else "")

    def as_dict(self) -> dict:
        return dict(self.params)


@dataclass(frozen=True)
class Claim:
    """What the linked scenario demonstrates: under policy ``better``, ``metric`` beats its value under
    policy ``worse`` (higher for throughput-like metrics, lower for times). ``quiz check`` runs both, and
    the quiz page shows both numbers after the learner answers."""

    metric: str
    better: str  # a batching strategy name, e.g. "continuous"
    worse: str
    higher_is_better: bool


@dataclass(frozen=True)
class Question:
    """One entry of the bank, as validated from its data file."""

    id: str
    concept: str
    kind: str
    difficulty: int  # 1 easy, 2 medium, 3 hard
    stem: str  # for a parameterized question, a template filled from the generator's parameters
    file: str  # the bank file it came from (for error messages)
    options: tuple[Option, ...] = ()  # single/multiple: choices; ordering: items in the CORRECT order
    answer: float | None = None  # numeric
    tolerance: float = 0.0  # numeric: absolute
    unit: str = ""  # numeric
    feedback: str = ""  # numeric/ordering: why the answer is what it is
    mistakes: tuple[Option, ...] = ()  # numeric: common wrong values with their explanation
    hint: str = ""
    source: str = "original"
    link: Link | None = None
    claim: Claim | None = None
    generator: str = ""  # name in quiz.generators.GENERATORS; empty = a fixed question

    @property
    def parameterized(self) -> bool:
        return bool(self.generator)


@dataclass(frozen=True)
class Variant:
    """One instance of a question: what the learner sees and what counts as correct."""

    question_id: str
    concept: str
    kind: str
    seed: int
    stem: str
    options: tuple[Option, ...] = ()  # single/multiple: choices; ordering: items as PRESENTED (shuffled)
    order: tuple[int, ...] = ()  # ordering: presented indices in the correct order
    answer: float | None = None
    tolerance: float = 0.0
    unit: str = ""
    feedback: str = ""
    mistakes: tuple[Option, ...] = ()
    hint: str = ""
    params: tuple[tuple[str, object], ...] = ()  # the drawn parameters (rounded), for display and export

    def correct_submission(self):
        """A submission that must earn full marks (used by ``quiz check`` and the tests)."""
        if self.kind == "single":
            return next(i for i, o in enumerate(self.options) if o.correct)
        if self.kind == "multiple":
            return [i for i, o in enumerate(self.options) if o.correct]
        if self.kind == "numeric":
            return _fmt_num(self.answer)
        return list(self.order)

    def wrong_submissions(self) -> list:
        """Every listed distractor as a submission; each must earn less than full marks."""
        if self.kind == "single":
            return [i for i, o in enumerate(self.options) if not o.correct]
        if self.kind == "multiple":
            right = [i for i, o in enumerate(self.options) if o.correct]
            out = [[i] + right for i, o in enumerate(self.options) if not o.correct]  # one extra wrong pick
            if len(right) > 1:
                out.append(right[:-1])  # one correct option missed
            return out
        if self.kind == "numeric":
            return [_fmt_num(m.value) for m in self.mistakes]
        order = list(self.order)
        return [order[::-1], order[1:] + order[:1]]

    def answer_text(self) -> str:
        """The correct answer in words (results CSV, summaries)."""
        if self.kind in ("single", "multiple"):
            return " | ".join(o.text for o in self.options if o.correct)
        if self.kind == "numeric":
            return f"{_fmt_num(self.answer)} {self.unit}".strip()
        return " > ".join(self.options[i].text for i in self.order)


@dataclass(frozen=True)
class InvalidSubmission:
    """An entry that cannot be graded; the learner is told why and may try again at no cost."""

    message: str


@dataclass(frozen=True)
class Parsed:
    """A readable submission: option indices (single/multiple/ordering) or a number."""

    choices: tuple[int, ...] = ()
    number: float | None = None


@dataclass(frozen=True)
class Grade:
    """Score in 0..1, a one-line verdict, and one explanation per chosen option (or per item)."""

    score: float
    message: str
    details: tuple[tuple[str, bool, str], ...] = field(default=())  # (option text, was it right, why)

    @property
    def correct(self) -> bool:
        return self.score >= 1.0


def shuffle_items(items: tuple[Option, ...], seed: int) -> tuple[tuple[Option, ...], tuple[int, ...]]:
    """Present ordering items shuffled (never already in the right order); return the presented items
    and the presented indices in the correct order."""
    rng = random.Random(f"order:{seed}")
    perm = list(range(len(items)))  # perm[k] = correct position of the k-th presented item
    while True:
        rng.shuffle(perm)
        if len(perm) < 2 or perm != sorted(perm):
            break
    presented = tuple(items[p] for p in perm)
    order = tuple(sorted(range(len(perm)), key=lambda k: perm[k]))
    return presented, order


# ---- parse -------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def parse(v: Variant, submission) -> Parsed | InvalidSubmission:
    """Read a submission: an option index (single), indices (multiple), presented indices in the chosen
    order (ordering), or text/number (numeric). Never raises for bad input."""
    if v.kind == "numeric":
        return _parse_number(submission, v.unit)
    if v.kind == "single":
        idx = _index(submission, len(v.options))
        if idx is None:
            return InvalidSubmission("Choose one of the options.")
        return Parsed(choices=(idx,))
    if submission is None or isinstance(submission, (str, bytes)) or not hasattr(submission, "__iter__"):
        return InvalidSubmission("Choose at least one option." if v.kind == "multiple"
                                 else "Put every item in a position.")
    raw = list(submission)
    if v.kind == "ordering" and any(s is None for s in raw):
        return InvalidSubmission("Put every item in a position.")
    picks = [_index(s, len(v.options)) for s in raw]
    if any(p is None for p in picks):
        return InvalidSubmission("That selection refers to an option that does not exist.")
    if len(set(picks)) != len(picks):
        return InvalidSubmission("Each option can be chosen only once.")
    if v.kind == "multiple":
        if not picks:
            return InvalidSubmission("Choose at least one option.")
        return Parsed(choices=tuple(sorted(picks)))
    if len(picks) != len(v.options):
        return InvalidSubmission(f"Place all {len(v.options)} items; you placed {len(picks)}.")
    return Parsed(choices=tuple(picks))


def _index(x, n: int) -> int | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, str) and x.strip().isdigit():
        x = int(x.strip())
    if isinstance(x, int) and 0 <= x < n:
        return x
    return None


def _parse_number(sub, unit: str) -> Parsed | InvalidSubmission:
    if isinstance(sub, bool) or sub is None:
        return InvalidSubmission("Enter a number.")
    if isinstance(sub, (int, float)):
        x = float(sub)
    else:
        text = str(sub).strip().replace("\u2212", "-")
        if unit and text.lower().endswith(unit.lower()):
            text = text[: -len(unit)].strip()  # "18.5 ms" is fine when the unit is ms
        text = text.replace(" ", "")
        if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?", text):
            text = text.replace(",", "")  # thousands separators: 1,024
        if not text:
            return InvalidSubmission("Enter a number.")
        if not _NUMBER.match(text):
            return InvalidSubmission(f"{str(sub).strip()[:40]!r} is not a number; write digits, e.g. 12 or 3.5"
                                     + (f" (in {unit})." if unit else "."))
        x = float(text)
    if not math.isfinite(x):
        return InvalidSubmission("Enter a finite number.")
    return Parsed(number=x)


# ---- grade -------------------------------------------------------------------------------------------

def grade(v: Variant, p: Parsed) -> Grade:
    """Score a parsed submission; full marks only for exactly the right answer."""
    if v.kind == "single":
        i = p.choices[0]
        o = v.options[i]
        right = next(x for x in v.options if x.correct)
        msg = "Correct." if o.correct else f"Not quite. The answer is: {right.text}"
        return Grade(1.0 if o.correct else 0.0, msg, ((o.text, o.correct, o.feedback),))
    if v.kind == "multiple":
        chosen = set(p.choices)
        right = {i for i, o in enumerate(v.options) if o.correct}
        hits, false_picks = len(chosen & right), len(chosen - right)
        # Each wrong pick cancels a right one, so ticking everything earns nothing.
        score = max(0.0, (hits - false_picks) / len(right))
        details = tuple((v.options[i].text, v.options[i].correct, v.options[i].feedback) for i in sorted(chosen))
        missed = [v.options[i] for i in sorted(right - chosen)]
        details += tuple((o.text, True, "You missed this one. " + o.feedback) for o in missed)
        if score >= 1.0:
            msg = "Correct: you chose exactly the right options."
        else:
            msg = f"{hits} of {len(right)} right options chosen, {false_picks} wrong one(s) chosen."
        return Grade(round(score, 6), msg, details)
    if v.kind == "numeric":
        x = p.number
        unit = f" {v.unit}" if v.unit else ""
        # A hair of slack so that a value printed with 6 decimals still counts.
        if abs(x - v.answer) <= v.tolerance + 1e-9 * max(1.0, abs(v.answer)):
            return Grade(1.0, f"Correct: {_fmt_num(v.answer)}{unit}.", ((f"{_fmt_num(x)}{unit}", True, v.feedback),))
        for m in v.mistakes:
            if abs(x - m.value) <= v.tolerance + 1e-9 * max(1.0, abs(m.value)):
                return Grade(0.0, f"Not quite: the answer is {_fmt_num(v.answer)}{unit}.",
                             ((f"{_fmt_num(x)}{unit}", False, m.feedback + " " + v.feedback),))
        return Grade(0.0, f"Not quite: the answer is {_fmt_num(v.answer)}{unit}.",
                     ((f"{_fmt_num(x)}{unit}", False, v.feedback),))
    # ordering: the share of item pairs in the right relative order (reversed = 0, one swap = almost 1)
    pos = {item: k for k, item in enumerate(p.choices)}
    correct = list(v.order)
    n = len(correct)
    pairs = n * (n - 1) // 2
    good = sum(1 for a in range(n) for b in range(a + 1, n) if pos[correct[a]] < pos[correct[b]])
    score = round(good / pairs, 6)  # 1.0 only when every pair, hence the whole order, is right
    details = tuple((v.options[i].text, p.choices[k] == i, f"belongs in position {k + 1}. {v.options[i].feedback}")
                    for k, i in enumerate(correct))
    msg = "Correct order." if score >= 1.0 else f"{good} of {pairs} pairs in the right order."
    return Grade(score, msg, details)


def _fmt_num(x: float | None) -> str:
    if x is None:
        return ""
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.6g}"
