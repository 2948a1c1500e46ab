"""The question bank: YAML/JSON data files under ``quiz/bank/``, validated against a schema on load.

A bank file holds ``questions:``, a list of mappings. Every field is checked, and a problem is reported
as one message naming the file, the question id and the field (``BankError``), never a traceback.

Fields (``*`` required):
  id*          lower-case words joined by '-', unique across the bank
  concept*     C1..C12 (DESIGN.md section 1)
  kind*        single | multiple | numeric | ordering
  difficulty*  1 (easy), 2 (medium) or 3 (hard)
  stem*        the question; for a parameterized question a template with {parameters}
  hint, source ('original' or 'card: ...'), link {page, params}, claim {metric, better, worse, higher_is_better}
  generator    name of a parameterized generator (quiz.generators); the generator then supplies the
               options or the answer, and the file supplies the text around it
  single/multiple: options* [{text*, correct*, feedback*}]
  numeric:     answer*, tolerance*, unit, feedback*, mistakes [{value*, feedback*}]
  ordering:    items* [{text*, feedback*}] in the CORRECT order, feedback*
"""

from __future__ import annotations

import math
import os
import re
from functools import lru_cache

from quiz.model import CONCEPTS, KINDS, Claim, Link, Option, Question
from sim.errors import show
from sim.limits import MAX_BANK_FILE_BYTES  # one table of limits for every input

BANK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bank")
ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

_COMMON = {"id", "concept", "kind", "difficulty", "stem", "hint", "source", "link", "claim", "generator"}
_ALLOWED = {
    "single": _COMMON | {"options"},
    "multiple": _COMMON | {"options"},
    "numeric": _COMMON | {"answer", "tolerance", "unit", "feedback", "mistakes"},
    "ordering": _COMMON | {"items", "feedback"},
}


class BankError(ValueError):
    """A bank file problem: ``str(err)`` is 'FILE: question ID: field FIELD: message'."""

    def __init__(self, file: str, qid: str | None, field: str | None, message: str):
        self.file, self.qid, self.field, self.reason = file, qid, field, message
        parts = [file]
        if qid is not None:
            parts.append(f"question {qid!r}")
        if field is not None:
            parts.append(f"field {field!r}")
        super().__init__(": ".join(parts) + ": " + message)


def _rel(path: str) -> str:
    try:
        rel = os.path.relpath(path)
        return path if rel.startswith("..") else rel
    except ValueError:
        return path


def read_file(path: str) -> list:
    """The raw list of question mappings in one bank file, read through sim.files: the size is checked
    before reading, the text must be UTF-8, and YAML aliases and nesting are counted before construction
    (an alias bomb is refused in milliseconds)."""
    from sim.errors import ConfigError
    from sim.files import load_json, load_yaml, read_text
    name = _rel(path)
    try:
        text = read_text(path, "bank", MAX_BANK_FILE_BYTES, "bank file")
        data = load_json(text, "bank", "") if path.endswith(".json") else load_yaml(text, "bank", "")
    except ConfigError as e:
        raise BankError(name, None, None, e.reason) from None
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise BankError(name, None, "questions", "the file must hold a mapping with a list under 'questions:'")
    return data["questions"]


def validate(raw, file: str, index: int) -> Question:
    """One raw mapping -> a Question, or a BankError naming file, question and field."""
    if not isinstance(raw, dict):
        raise BankError(file, f"#{index + 1}", None, "each question must be a mapping of field: value")
    qid = raw.get("id")
    label = qid if isinstance(qid, str) and qid else f"#{index + 1}"

    def fail(field, msg):
        raise BankError(file, label, field, msg)

    def text(field, value, required=True):
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            fail(field, "must be non-empty text" if value is not None else "is required")
        return value.strip()

    if not isinstance(qid, str) or not ID_RE.match(qid):
        fail("id", f"must be lower-case words joined by '-', got {show(qid)}")
    _check_types(raw, fail)
    kind = raw.get("kind")
    if kind not in KINDS:
        fail("kind", f"must be one of {', '.join(KINDS)}, got {show(kind)}")
    for k in raw:
        if k not in _ALLOWED[kind]:
            fail(k, f"unknown field for a {kind} question; allowed: {', '.join(sorted(_ALLOWED[kind]))}")
    concept = raw.get("concept")
    if concept not in CONCEPTS:
        fail("concept", f"must be one of C1..C12, got {show(concept)}")
    diff = raw.get("difficulty")
    if isinstance(diff, bool) or diff not in (1, 2, 3):
        fail("difficulty", f"must be 1, 2 or 3, got {show(diff)}")
    stem = text("stem", raw.get("stem"))
    hint = text("hint", raw.get("hint"), required=False)
    source = text("source", raw.get("source"), required=False) or "original"
    if source != "original" and not source.startswith("card"):
        fail("source", f"must be 'original' or start with 'card', got {show(source)}")
    gen = raw.get("generator")
    if gen is not None:
        from quiz.generators import GENERATORS
        if gen not in GENERATORS:
            fail("generator", f"unknown generator {gen!r}; known: {', '.join(sorted(GENERATORS))}")
        if GENERATORS[gen].kind != kind:
            fail("kind", f"generator {gen!r} makes {GENERATORS[gen].kind} questions, not {kind}")
    fields = dict(id=qid, concept=concept, kind=kind, difficulty=diff, stem=stem, hint=hint, source=source,
                  file=file, generator=gen or "")
    fields["link"], fields["claim"] = _link_and_claim(raw, fail)

    if kind in ("single", "multiple"):
        if gen is None:
            opts = _options(raw.get("options"), "options", fail, need_correct=True)
            n_right = sum(o.correct for o in opts)
            if kind == "single" and n_right != 1:
                fail("options", f"a single-choice question needs exactly one correct option, has {n_right}")
            if kind == "multiple" and not 1 <= n_right < len(opts):
                fail("options", "a multiple-select question needs at least one correct and one wrong option")
            fields["options"] = opts
        elif "options" in raw:
            fail("options", f"generator {gen!r} supplies the options; remove them from the file")
    elif kind == "numeric":
        fields["feedback"] = text("feedback", raw.get("feedback"))
        fields["unit"] = text("unit", raw.get("unit"), required=False)
        if gen is None:
            ans = raw.get("answer")
            if isinstance(ans, bool) or not isinstance(ans, (int, float)):
                fail("answer", f"must be a number, got {show(ans)}")
            tol = raw.get("tolerance")
            if isinstance(tol, bool) or not isinstance(tol, (int, float)) or tol < 0:
                fail("tolerance", f"must be a number >= 0, got {show(tol)}")
            mistakes = []
            for i, m in enumerate(raw.get("mistakes") or []):
                where = f"mistakes[{i}]"
                if not isinstance(m, dict) or set(m) - {"value", "feedback"}:
                    fail(where, "each mistake is a mapping with value and feedback")
                val = m.get("value")
                if isinstance(val, bool) or not isinstance(val, (int, float)):
                    fail(f"{where}.value", f"must be a number, got {show(val)}")
                if abs(val - ans) <= tol:
                    fail(f"{where}.value", f"{val} is within the tolerance of the answer {ans}")
                mistakes.append(Option(text=str(val), value=float(val), feedback=text(f"{where}.feedback", m.get("feedback"))))
            fields.update(answer=float(ans), tolerance=float(tol), mistakes=tuple(mistakes))
        else:
            for k in ("answer", "tolerance", "mistakes"):
                if k in raw:
                    fail(k, f"generator {gen!r} computes the {k}; remove it from the file")
    else:
        fields["feedback"] = text("feedback", raw.get("feedback"))
        if gen is None:
            items = _options(raw.get("items"), "items", fail, need_correct=False)
            if len(items) < 3:
                fail("items", "an ordering question needs at least 3 items")
            fields["options"] = items
        elif "items" in raw:
            fail("items", f"generator {gen!r} supplies the items; remove them from the file")
    return Question(**fields)


def _check_types(raw: dict, fail) -> None:
    """The scalar types of the fields that are looked up or compared later (a list where text belongs
    would fail as a TypeError deep in a check): text is text, numbers are finite and of sane size, a link's
    parameters are plain values. One BankError naming the field."""
    for k in ("kind", "concept", "stem", "hint", "source", "generator", "feedback", "unit"):
        v = raw.get(k)
        if v is not None and not isinstance(v, str):
            fail(k, f"must be text, got {show(v)}")
    for k in ("answer", "tolerance", "difficulty"):
        v = raw.get(k)
        if isinstance(v, float) and not math.isfinite(v) or isinstance(v, int) and abs(v) > 10**15:
            fail(k, f"must be a finite number of sane size, got {show(v)}")
    link = raw.get("link")
    if isinstance(link, dict):
        if not isinstance(link.get("page"), str):
            fail("link.page", f"must be a page's URL path (text), got {show(link.get('page'))}")
        params = link.get("params")
        if isinstance(params, dict):
            for k, v in params.items():
                if not isinstance(k, str):
                    fail("link.params", f"parameter names must be text, got {show(k)}")
                ok = (isinstance(v, str) and len(v) <= 200 or isinstance(v, int) and not isinstance(v, bool)
                      and abs(v) <= 10**15 or isinstance(v, float) and math.isfinite(v))
                if not ok:
                    fail(f"link.params.{k}", f"must be a short text or a finite number, got {show(v)}")
    claim = raw.get("claim")
    if isinstance(claim, dict):
        for k in ("metric", "better", "worse"):
            if k in claim and not isinstance(claim[k], str):
                fail(f"claim.{k}", f"must be text, got {show(claim[k])}")


def _options(raw, name, fail, need_correct: bool) -> tuple[Option, ...]:
    if not isinstance(raw, list) or len(raw) < 2:
        fail(name, "must be a list of at least 2 entries")
    out, seen = [], set()
    allowed = {"text", "correct", "feedback"} if need_correct else {"text", "feedback"}
    for i, o in enumerate(raw):
        where = f"{name}[{i}]"
        if not isinstance(o, dict):
            fail(where, "must be a mapping with " + ", ".join(sorted(allowed)))
        for k in o:
            if k not in allowed:
                fail(f"{where}.{k}", f"unknown field; allowed: {', '.join(sorted(allowed))}")
        t = o.get("text")
        if not isinstance(t, str) or not t.strip():
            fail(f"{where}.text", "must be non-empty text")
        if t.strip() in seen:
            fail(f"{where}.text", "the same text appears twice")
        seen.add(t.strip())
        fb = o.get("feedback")
        if not isinstance(fb, str) or not fb.strip():
            fail(f"{where}.feedback", "must be non-empty text explaining why this is right or wrong")
        correct = o.get("correct", False)
        if need_correct and not isinstance(correct, bool):
            fail(f"{where}.correct", f"must be true or false, got {show(correct)}")
        out.append(Option(text=t.strip(), correct=bool(correct), feedback=fb.strip()))
    return tuple(out)


def _link_and_claim(raw, fail):
    from quiz.links import check_claim, check_link
    link = claim = None
    if raw.get("link") is not None:
        lk = raw["link"]
        if not isinstance(lk, dict) or set(lk) - {"page", "params"} or "page" not in lk:
            fail("link", "must be a mapping with page and params")
        params = lk.get("params") or {}
        problems = check_link(lk["page"], params)
        if problems:
            fail(*problems[0])
        link = Link(lk["page"], tuple((str(k), str(v)) for k, v in params.items()))
    if raw.get("claim") is not None:
        c = raw["claim"]
        if link is None:
            fail("claim", "a claim needs a link (playground or prefill-vs-decode) whose scenario it runs")
        if not isinstance(c, dict) or set(c) != {"metric", "better", "worse", "higher_is_better"}:
            fail("claim", "must be a mapping with metric, better, worse and higher_is_better")
        problems = check_claim(link.page, link.as_dict(), c["metric"], c["better"], c["worse"])
        if problems:
            fail(*problems[0])
        if not isinstance(c["higher_is_better"], bool):
            fail("claim.higher_is_better", "must be true or false")
        claim = Claim(c["metric"], c["better"], c["worse"], c["higher_is_better"])
    return link, claim


def bank_files(directory: str = BANK_DIR) -> list[str]:
    if not os.path.isdir(directory):
        raise BankError(_rel(directory), None, None, "bank folder not found")
    return sorted(os.path.join(directory, f) for f in os.listdir(directory)
                  if f.endswith((".yaml", ".yml", ".json")))


def load_bank(directory: str = BANK_DIR) -> tuple[Question, ...]:
    """Every question of every bank file, validated; raises the first BankError."""
    out, where = [], {}
    for path in bank_files(directory):
        name = _rel(path)
        for i, raw in enumerate(read_file(path)):
            q = validate(raw, name, i)
            if q.id in where:
                raise BankError(name, q.id, "id", f"duplicate id; already used in {where[q.id]}")
            where[q.id] = name
            out.append(q)
    if not out:
        raise BankError(_rel(directory), None, None, "the bank has no questions")
    return tuple(out)


@lru_cache(maxsize=4)
def cached_bank(directory: str = BANK_DIR) -> tuple[Question, ...]:
    """The bank loaded once per process (the page and the CLI read it many times)."""
    return load_bank(directory)


def by_id(questions, qid: str) -> Question:
    for q in questions:
        if q.id == qid:
            return q
    raise KeyError(qid)
