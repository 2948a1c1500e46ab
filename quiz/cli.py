"""Instructor commands (DESIGN.md section 6).

  python -m quiz list [--json] [--concept C5]      every question: id, concept, kind, stem, options
                                                     (with a correct flag), parameterized, source
  python -m quiz check [--seeds 50] [--claim-seeds 5] [--no-claims]  schema, answers over many seeds, links, claims, coverage
  python -m quiz export --format gift|moodle-xml -o FILE [--variants 5] [--base-url URL]
                                                   (--base-url: the app's public address, so the
                                                   "open in the simulator" links work from an LMS)

A parameterized question is listed with the variant of seed 0. Exit status: 0 fine, 1 problems found,
2 bad usage or an unreadable bank.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from quiz.bank import BANK_DIR, BankError, bank_files, load_bank
from quiz.check import check_bank
from quiz.export import DEFAULT_VARIANTS, FORMATS
from quiz.model import CONCEPTS
from quiz.variants import generate


def question_record(q) -> dict:
    """The ``list --json`` record of one question (seed 0 for a parameterized one)."""
    v = generate(q, 0)
    if v.kind in ("single", "multiple"):
        options = [{"text": o.text, "correct": o.correct, "feedback": o.feedback} for o in v.options]
    elif v.kind == "numeric":
        options = [{"text": v.answer_text(), "value": v.answer, "tolerance": v.tolerance, "correct": True,
                    "feedback": v.feedback}]
        options += [{"text": f"{m.text} {v.unit}".strip(), "value": m.value, "correct": False,
                     "feedback": m.feedback} for m in v.mistakes]
    else:
        options = [{"text": v.options[i].text, "position": k + 1, "correct": True, "feedback": v.options[i].feedback}
                   for k, i in enumerate(v.order)]
    return {"id": q.id, "concept": q.concept, "kind": q.kind, "difficulty": q.difficulty, "stem": v.stem,
            "options": options, "hint": v.hint, "parameterized": q.parameterized, "source": q.source,
            "link": q.link.url() if q.link else None, "file": q.file}


def _list(args) -> int:
    bank = load_bank(args.bank)
    if args.concept:
        bank = tuple(q for q in bank if q.concept == args.concept)
    records = [question_record(q) for q in bank]
    if args.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return 0
    print(f"{'id':32} {'concept':7} {'kind':9} {'param':5}  stem")
    for r in records:
        stem = " ".join(r["stem"].split())
        print(f"{r['id']:32} {r['concept']:7} {r['kind']:9} {'yes' if r['parameterized'] else '':5}  "
              f"{stem[:70]}{'...' if len(stem) > 70 else ''}")
    print(f"\n{len(records)} questions, {sum(r['parameterized'] for r in records)} parameterized")
    return 0


def _check(args) -> int:
    t0 = time.perf_counter()
    problems, summary = check_bank(args.bank, seeds=args.seeds, claims=not args.no_claims,
                                   claim_seeds=args.claim_seeds)
    for p in problems:
        print(f"ERROR {p}", file=sys.stderr)
    if summary:
        per = ", ".join(f"{c}: {n}" for c, n in summary["per_concept"].items())
        print(f"{summary['questions']} questions ({summary['parameterized']} parameterized, each checked over "
              f"{summary['seeds']} seeds); per concept: {per}")
        for qid, ok, text in summary["claims"]:
            print(f"  claim {'holds' if ok else 'FAILS'}: {qid}: {text}")
        if summary["page_claims"]:
            n = summary["claim_seeds"]
            print(f"claims of quiz/claims.py, each over {n} seed{'' if n == 1 else 's'}:")
        for cid, ok, text in summary["page_claims"]:
            print(f"  claim {'holds' if ok else 'FAILS'}: {cid}: {text}")
    print(f"{'OK' if not problems else f'{len(problems)} problem(s)'} in {time.perf_counter() - t0:.1f} s")
    return 1 if problems else 0


def _export(args) -> int:
    from sim.errors import ConfigError
    from sim.files import check_output, write_atomic
    from quiz.export import base_url
    try:
        base = base_url(args.base_url) if args.base_url is not None else ""
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # The output may not be a bank file (or the bank folder): exporting over it would destroy the bank.
    inputs = tuple(bank_files(args.bank)) + (args.bank,)
    try:
        check_output(args.output, "output", inputs)
        bank = load_bank(args.bank)
        text = FORMATS[args.format](bank, variants=args.variants, base=base)
        write_atomic(args.output, text, "output", inputs)  # a temp file renamed: an interrupted export
    except ConfigError as e:                               # leaves the old file whole
        print(f"error: {e}", file=sys.stderr)
        return 2
    n = sum(args.variants if q.parameterized else 1 for q in bank)
    print(f"wrote {n} questions ({len(bank)} in the bank, {args.variants} variants per parameterized one) "
          f"to {args.output} ({args.format})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m quiz", description="Batch Lab question bank: list, check, export.")
    p.add_argument("--bank", default=BANK_DIR, help="folder of bank files (default: quiz/bank)")
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="list the questions")
    ls.add_argument("--json", action="store_true", help="one JSON array of question records")
    ls.add_argument("--concept", choices=CONCEPTS, help="only this concept")
    ck = sub.add_parser("check", help="validate the bank; non-zero exit on problems")
    ck.add_argument("--seeds", type=int, default=50, help="variants per parameterized question (default 50)")
    ck.add_argument("--no-claims", action="store_true", help="skip running the linked comparisons and claims")
    ck.add_argument("--claim-seeds", type=int, default=5,
                    help="seeds each claim of quiz/claims.py must hold on (default 5)")
    ex = sub.add_parser("export", help="write the bank for an LMS")
    ex.add_argument("--format", required=True, choices=tuple(FORMATS))
    ex.add_argument("-o", "--output", required=True, help="file to write")
    ex.add_argument("--variants", type=int, default=DEFAULT_VARIANTS,
                    help=f"fixed variants per parameterized question (default {DEFAULT_VARIANTS})")
    ex.add_argument("--base-url", help="the app's public address, e.g. https://batchlab.example.edu: makes the "
                                       "'open in the simulator' links absolute (they work from inside Moodle)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if min(getattr(args, "seeds", 1), getattr(args, "variants", 1), getattr(args, "claim_seeds", 1)) < 1:
        print("error: --seeds, --claim-seeds and --variants must be at least 1", file=sys.stderr)
        return 2
    if not os.path.isdir(args.bank):
        print(f"error: bank: folder {args.bank!r} not found", file=sys.stderr)
        return 2
    try:
        return {"list": _list, "check": _check, "export": _export}[args.command](args)
    except BankError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
