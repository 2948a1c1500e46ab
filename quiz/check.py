"""``quiz check``: everything an instructor needs to trust the bank, as a list of problems.

1. every file loads and every question passes the schema (quiz.bank);
2. for every question and seed, the variant's own correct answer parses and grades 1.0, and every
   distractor (wrong option, listed numeric mistake, wrong order) grades below 1.0;
3. every link names a known page with parameters it reads and values the simulator accepts, and every
   claim (e.g. "continuous beats static on throughput") holds when the simulator runs the linked view;
4. every concept C1..C12 has at least ``MIN_PER_CONCEPT`` questions;
5. every claim of ``quiz.claims`` (the comparisons pages and questions state in words) holds on each of
   ``claim_seeds`` seeds, and the questions it names exist.
Each problem names the file and the question.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from quiz.bank import BANK_DIR, BankError, load_bank
from quiz.links import check_link, run_claim
from quiz.model import CONCEPTS, InvalidSubmission, grade, parse
from quiz.variants import generate

MIN_PER_CONCEPT = 3


@dataclass(frozen=True)
class Problem:
    file: str
    qid: str | None
    message: str

    def __str__(self) -> str:
        where = self.file + (f": question {self.qid!r}" if self.qid else "")
        return f"{where}: {self.message}"


def check_question(q, seeds) -> list[Problem]:
    out = []
    for seed in seeds:
        try:
            v = generate(q, seed)
        except Exception as e:  # a generator bug must be reported by name, not crash the check
            out.append(Problem(q.file, q.id, f"seed {seed}: generate failed: {type(e).__name__}: {e}"))
            break
        p = parse(v, v.correct_submission())
        if isinstance(p, InvalidSubmission):
            out.append(Problem(q.file, q.id, f"seed {seed}: its own answer does not parse: {p.message}"))
            break
        g = grade(v, p)
        if g.score != 1.0:
            out.append(Problem(q.file, q.id, f"seed {seed}: its own answer grades {g.score}, not 1.0"))
            break
        if v.kind == "single" and sum(o.correct for o in v.options) != 1:
            out.append(Problem(q.file, q.id, f"seed {seed}: needs exactly one correct option"))
            break
        bad = None
        for wrong in v.wrong_submissions():
            pw = parse(v, wrong)
            if isinstance(pw, InvalidSubmission):
                bad = f"seed {seed}: distractor {wrong!r} does not parse: {pw.message}"
                break
            if grade(v, pw).score >= 1.0:
                bad = f"seed {seed}: distractor {wrong!r} grades 1.0"
                break
        if bad:
            out.append(Problem(q.file, q.id, bad))
            break
        if v.kind in ("single", "multiple", "ordering") and not v.wrong_submissions():
            out.append(Problem(q.file, q.id, f"seed {seed}: has no distractor"))
            break
    return out


def check_bank(directory: str = BANK_DIR, seeds: int = 50, claims: bool = True,
               claim_seeds: int = 5) -> tuple[list[Problem], dict]:
    """All problems, plus a summary (questions, parameterized, per-concept counts, claims run)."""
    try:
        bank = load_bank(directory)
    except BankError as e:
        return [Problem(e.file, e.qid, (f"field {e.field!r}: " if e.field else "") + e.reason)], {}
    problems: list[Problem] = []
    for q in bank:
        problems += check_question(q, range(seeds) if q.parameterized or q.kind == "ordering" else range(1))
        if q.link is not None:
            for field, msg in check_link(q.link.page, q.link.as_dict()):
                problems.append(Problem(q.file, q.id, f"field {field!r}: {msg}"))
    claims_run = []
    if claims:
        for q in bank:
            if q.claim is not None:
                ok, text = run_claim(q.link, q.claim)
                claims_run.append((q.id, ok, text))
                if not ok:
                    problems.append(Problem(q.file, q.id, f"the linked view does not show the claim: {text}"))
    page_claims = []
    if claims:
        from quiz import claims as claims_mod
        ids = {q.id for q in bank}
        for c in claims_mod.CLAIMS:
            runs = claims_mod.check(c, range(claim_seeds))
            failed = [m for m in runs if not m.holds]
            page_claims.append((c.id, not failed, claims_mod.sentence(failed[0] if failed else runs[0])))
            for m in failed:
                problems.append(Problem("quiz/claims.py", None, f"claim {c.id!r} fails on seed {m.seed}: "
                                        + claims_mod.sentence(m)))
            if os.path.abspath(directory) == os.path.abspath(BANK_DIR):
                for qid in c.quiz:
                    if qid not in ids:
                        problems.append(Problem("quiz/claims.py", None,
                                                f"claim {c.id!r} names question {qid!r}, not in the bank"))
    counts = {c: sum(q.concept == c for q in bank) for c in CONCEPTS}
    for c, n in counts.items():
        if n < MIN_PER_CONCEPT:
            problems.append(Problem(directory, None, f"concept {c} has {n} question(s); need at least {MIN_PER_CONCEPT}"))
    summary = {"questions": len(bank), "parameterized": sum(q.parameterized for q in bank), "per_concept": counts,
               "seeds": seeds, "claims": claims_run, "page_claims": page_claims, "claim_seeds": claim_seeds}
    return problems, summary
