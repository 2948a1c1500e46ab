"""Export the bank for a learning management system: GIFT text or Moodle XML.

A parameterized question becomes ``variants`` fixed questions (seeds 1..N, ids ``ID-v1`` ...), since an
LMS cannot run the simulator. Mapping of kinds:

=========  ===========================================  ==========================================
kind       GIFT                                         Moodle XML
=========  ===========================================  ==========================================
single     ``{=right#fb ~wrong#fb}``                    multichoice, single = true
multiple   ``{~%50%right#fb ~%-50%wrong#fb}``           multichoice, single = false, fractions
numeric    ``{#=%100%ANS:TOL#fb =%0%MISTAKE:0#fb}``     numerical with tolerance and unit
ordering   matching: item -> its position               ordering (qtype_ordering, Moodle 4.4+ core)
=========  ===========================================  ==========================================

GIFT escaping: ``~ = # { } :`` and ``\\`` get a backslash; newlines become ``\\n``.
Moodle XML is built with xml.etree, so it is well-formed by construction.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from quiz.model import CONCEPT_NAMES, Question, Variant
from quiz.variants import generate

DEFAULT_VARIANTS = 5
# Moodle accepts only these answer fractions (in percent) for multiple-select answers.
_MOODLE_FRACTIONS = (100, 90, 83.33333, 80, 75, 70, 66.66667, 60, 50, 40, 33.33333, 30, 25, 20, 16.66667,
                     14.28571, 12.5, 11.11111, 10, 5)
_ORDINALS = ("1st", "2nd", "3rd") + tuple(f"{i}th" for i in range(4, 21))


def variants_for(q: Question, n: int) -> list[tuple[str, Variant]]:
    if q.parameterized:
        return [(f"{q.id}-v{s}", generate(q, s)) for s in range(1, n + 1)]
    return [(q.id, generate(q, 0))]


def _fraction(share: float) -> float:
    """The Moodle-accepted percentage closest to ``share`` (0..100)."""
    return min(_MOODLE_FRACTIONS, key=lambda f: abs(f - share))


def _fmt(x: float) -> str:
    # Up to 5 decimals: Moodle's fractions (33.33333) and the quiz's rounded answers survive unchanged.
    return str(int(x)) if float(x).is_integer() else f"{x:.5f}".rstrip("0").rstrip(".")


def base_url(url: str) -> str:
    """The app's public address for absolute "open in the simulator" links (``--base-url``): http(s),
    a host, an optional path prefix; no query, fragment, credentials or spaces. Returned without a
    trailing slash; a bad one raises ValueError naming the flag."""
    from urllib.parse import urlsplit
    u = urlsplit(url.strip())
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValueError(f"--base-url: expected http(s)://host[/path], got {url!r}")
    if u.query or u.fragment or u.username or u.password or any(c.isspace() for c in url.strip()):
        raise ValueError(f"--base-url: no query, fragment, credentials or spaces, got {url!r}")
    try:
        u.port
    except ValueError:
        raise ValueError(f"--base-url: bad port in {url!r}") from None
    return url.strip().rstrip("/")


def _stem_with_link(v: Variant, q: Question, base: str = "") -> str:
    """The stem and, for a linked question, its link: relative to the app, or absolute under ``base``."""
    if q.link is None:
        return v.stem
    return f"{v.stem}\n\n(Open in the simulator: {base}{q.link.url()})"


# ---- GIFT ----------------------------------------------------------------------------------------------

_GIFT_SPECIAL = "\\~=#{}:"


def gift_escape(text: str) -> str:
    out = []
    for ch in text:
        if ch in _GIFT_SPECIAL:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            continue
        else:
            out.append(ch)
    return "".join(out)


def _gift_question(name: str, v: Variant, q: Question, base: str = "") -> str:
    head = f"::{gift_escape(name)}::{gift_escape(_stem_with_link(v, q, base))} "
    e = gift_escape
    lines = []
    if v.kind == "single":
        for o in v.options:
            lines.append(f"{'=' if o.correct else '~'}{e(o.text)}#{e(o.feedback)}")
    elif v.kind == "multiple":
        n_right = sum(o.correct for o in v.options)
        n_wrong = len(v.options) - n_right
        for o in v.options:
            w = _fraction(100 / n_right) if o.correct else -_fraction(100 / max(n_wrong, 1))
            lines.append(f"~%{_fmt(w)}%{e(o.text)}#{e(o.feedback)}")
    elif v.kind == "numeric":
        lines.append("#")
        lines.append(f"=%100%{_fmt(v.answer)}:{_fmt(v.tolerance)}#{e(v.feedback)}")
        for m in v.mistakes:
            lines.append(f"=%0%{_fmt(m.value)}:0#{e(m.feedback)}")
    else:
        head = (f"::{gift_escape(name)}::{gift_escape(_stem_with_link(v, q, base) + ' Match each item to its position.')} ")
        for pos, i in enumerate(v.order):
            lines.append(f"={e(v.options[i].text)} -> {_ORDINALS[pos]}")
    body = head + "{\n" + "\n".join("\t" + ln for ln in lines) + "\n}"
    return body


def to_gift(questions, variants: int = DEFAULT_VARIANTS, base: str = "") -> str:
    parts = ["// Batch Lab question bank (GIFT). Generated by `python -m quiz export --format gift`.", ""]
    concept = None
    for q in sorted(questions, key=lambda q: (int(q.concept[1:]), q.id)):
        if q.concept != concept:
            concept = q.concept
            parts += [f"$CATEGORY: $course$/Batch Lab/{concept} {gift_escape(CONCEPT_NAMES[concept])}", ""]
        for name, v in variants_for(q, variants):
            parts += [f"// {q.id} ({q.kind}, {q.concept}, difficulty {q.difficulty})", _gift_question(name, v, q, base), ""]
    return "\n".join(parts)


# ---- Moodle XML -------------------------------------------------------------------------------------------

def _text(parent, tag: str, text: str, fmt: str | None = None, **attrs) -> ET.Element:
    el = ET.SubElement(parent, tag, **({"format": fmt} if fmt else {}), **attrs)
    ET.SubElement(el, "text").text = text
    return el


def _moodle_question(root, name: str, v: Variant, q: Question, base: str = "") -> None:
    qtype = {"single": "multichoice", "multiple": "multichoice", "numeric": "numerical", "ordering": "ordering"}[v.kind]
    el = ET.SubElement(root, "question", type=qtype)
    _text(el, "name", name)
    _text(el, "questiontext", _stem_with_link(v, q, base), fmt="plain_text")
    if v.hint:
        h = ET.SubElement(el, "hint", format="plain_text")
        ET.SubElement(h, "text").text = v.hint
    ET.SubElement(el, "defaultgrade").text = "1"
    ET.SubElement(el, "idnumber").text = name
    if v.kind in ("single", "multiple"):
        ET.SubElement(el, "single").text = "true" if v.kind == "single" else "false"
        ET.SubElement(el, "shuffleanswers").text = "true"
        ET.SubElement(el, "answernumbering").text = "abc"
        n_right = sum(o.correct for o in v.options)
        n_wrong = len(v.options) - n_right
        for o in v.options:
            if v.kind == "single":
                frac = 100 if o.correct else 0
            else:
                frac = _fraction(100 / n_right) if o.correct else -_fraction(100 / max(n_wrong, 1))
            a = _text(el, "answer", o.text, fmt="plain_text", fraction=_fmt(frac))
            _text(a, "feedback", o.feedback, fmt="plain_text")
    elif v.kind == "numeric":
        a = _text(el, "answer", _fmt(v.answer), fmt="plain_text", fraction="100")
        ET.SubElement(a, "tolerance").text = _fmt(v.tolerance)
        _text(a, "feedback", v.feedback, fmt="plain_text")
        for m in v.mistakes:
            a = _text(el, "answer", _fmt(m.value), fmt="plain_text", fraction="0")
            ET.SubElement(a, "tolerance").text = "0"
            _text(a, "feedback", m.feedback + " " + v.feedback, fmt="plain_text")
        if v.unit:
            units = ET.SubElement(el, "units")
            u = ET.SubElement(units, "unit")
            ET.SubElement(u, "multiplier").text = "1"
            ET.SubElement(u, "unit_name").text = v.unit
            ET.SubElement(el, "unitgradingtype").text = "0"
            ET.SubElement(el, "showunits").text = "3"  # no unit input (the stem names the unit); not graded
            ET.SubElement(el, "unitsleft").text = "0"
    else:
        ET.SubElement(el, "layouttype").text = "VERTICAL"
        ET.SubElement(el, "selecttype").text = "ALL"
        ET.SubElement(el, "selectcount").text = "0"
        ET.SubElement(el, "gradingtype").text = "RELATIVE_TO_CORRECT"
        _text(el, "generalfeedback", v.feedback, fmt="plain_text")
        for i in v.order:  # qtype_ordering reads the answers in their correct order
            _text(el, "answer", v.options[i].text, fmt="plain_text", fraction=_fmt(100))


def to_moodle_xml(questions, variants: int = DEFAULT_VARIANTS, base: str = "") -> str:
    root = ET.Element("quiz")
    concept = None
    for q in sorted(questions, key=lambda q: (int(q.concept[1:]), q.id)):
        if q.concept != concept:
            concept = q.concept
            cat = ET.SubElement(root, "question", type="category")
            _text(cat, "category", f"$course$/Batch Lab/{concept} {CONCEPT_NAMES[concept]}")
        for name, v in variants_for(q, variants):
            _moodle_question(root, name, v, q, base)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


FORMATS = {"gift": to_gift, "moodle-xml": to_moodle_xml}
