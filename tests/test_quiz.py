"""The quiz (quiz/): bank content and schema, generate/parse/grade over many seeds, simulator-computed
answers checked against the book's reasoning, the legal-summarization demonstration, CLI, exports."""

import json
import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from quiz import CONCEPTS, InvalidSubmission, generate, grade, load_bank, parse
from quiz.bank import BankError, by_id
from quiz.check import check_bank
from quiz.cli import main
from quiz.links import check_link, claim_configs, evidence_rows, link_configs
from quiz.session import Session
from sim import scenario, simulate
from sim.cost_model import MODELS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BANK = load_bank()
SEEDS = range(40)
SEED_IDS = ("seed-short-request-joins", "seed-utilization", "seed-legal-summarization", "seed-hybrid-service",
            "seed-tradeoffs")


def params(v) -> dict:
    return dict(v.params)


# ---- content ---------------------------------------------------------------------------------------------

def test_bank_size_coverage_and_card_questions():
    assert len(BANK) >= 36
    for c in CONCEPTS:
        assert sum(q.concept == c for q in BANK) >= 3, c
    assert sum(q.parameterized for q in BANK) >= 8
    ids = {q.id for q in BANK}
    assert set(SEED_IDS) <= ids
    for qid in SEED_IDS:
        q = by_id(BANK, qid)
        assert q.source.startswith("card") and q.link is not None
    assert {q.kind for q in BANK} == {"single", "multiple", "numeric", "ordering"}


@pytest.mark.parametrize("q", BANK, ids=lambda q: q.id)
def test_own_answer_full_marks_and_every_distractor_less(q):
    seeds = SEEDS if (q.parameterized or q.kind == "ordering") else range(1)
    for seed in seeds:
        v = generate(q, seed)
        g = grade(v, parse(v, v.correct_submission()))
        assert g.score == 1.0 and g.correct, (q.id, seed, g)
        wrongs = v.wrong_submissions()
        assert wrongs or v.kind == "numeric", (q.id, seed)
        for w in wrongs:
            p = parse(v, w)
            assert not isinstance(p, InvalidSubmission), (q.id, seed, w, p)
            assert grade(v, p).score < 1.0, (q.id, seed, w)
        if v.kind in ("single", "multiple"):
            for k, o in enumerate(v.options):  # every option explains itself
                assert o.feedback.strip(), (q.id, k)
        if v.kind == "single":
            assert sum(o.correct for o in v.options) == 1


@pytest.mark.parametrize("q", [q for q in BANK if q.parameterized], ids=lambda q: q.id)
def test_parameterized_variants_are_deterministic_and_retry_is_fresh(q):
    assert generate(q, 5) == generate(q, 5)
    stems = {generate(q, s).stem + repr(generate(q, s).options) for s in range(8)}
    assert len(stems) >= 3, f"{q.id}: a retry should usually give different numbers"


# ---- the simulator's answers agree with the reasoning the stems teach ------------------------------------

def _numeric(qid):
    q = by_id(BANK, qid)
    return [(generate(q, s), params(generate(q, s))) for s in SEEDS]


def test_queued_join_matches_slot_reasoning():
    for v, p in _numeric("c2-queued-join"):
        assert v.answer == max(p["k"], min(p["oa"], p["ob"], p["oc"])) + 1


def test_short_request_static_waits_for_the_batch_continuous_joins_next():
    for v, p in _numeric("c11-short-behind-long"):
        expected = max(p["o1"], p["o2"], p["o3"]) + 1 if p["policy"] == "Static" else p["k"] + 1
        assert v.answer == expected, p


def test_total_iterations_static_vs_continuous():
    for v, p in _numeric("c7-total-iterations"):
        oa, ob, oc = p["oa"], p["ob"], p["oc"]
        expected = max(oa, ob) + oc if p["policy"] == "Static" else max(max(oa, ob), min(oa, ob) + oc)
        assert v.answer == expected, p


def test_paged_blocks_round_up_per_sequence():
    for v, p in _numeric("c5-paged-blocks"):
        b, k = p["b"], p["k"]
        assert v.answer == math.ceil((p["pa"] + k - 1) / b) + math.ceil((p["pb"] + k - 1) / b), p


def test_unused_slots_paged_vs_contiguous():
    for v, p in _numeric("c5-unused-slots"):
        ta, tb = p["pa"] + p["k"] - 1, p["pb"] + p["k"] - 1
        if p["memory"] == "paged":
            b = p["b"]
            expected = math.ceil(ta / b) * b - ta + math.ceil(tb / b) * b - tb
        else:
            expected = p["pa"] + p["ma"] - ta + p["pb"] + p["mb"] - tb
        assert v.answer == expected, p


def test_kv_transfer_is_bytes_over_bandwidth():
    for v, p in _numeric("c10-kv-transfer"):
        expected_ms = p["p"] * MODELS[p["model"]].kv_bytes_per_token / (p["link"] * 1e9) * 1e3
        assert v.answer == pytest.approx(expected_ms, abs=0.001)


def test_prefill_first_stalls_once_per_prefill_pass():
    for v, p in _numeric("c6-stalls"):
        assert v.answer == (1 if p["kb"] == p["kc"] else 2), p


def test_reorganization_cost_is_changes_times_cost():
    for v, p in _numeric("c4-reorg-iteration"):
        r = float(p["r"])
        assert v.answer > 0 and (v.answer / r) == pytest.approx(round(v.answer / r)), p


def test_newcomer_ttft_is_end_of_next_iteration_minus_arrival():
    for v, p in _numeric("c1-newcomer-ttft-ms"):
        ends = [float(x) for x in p["ends"].split(", ")]
        assert v.answer == pytest.approx(ends[p["k"]] - float(p["arr_ms"]), abs=0.11), p


def test_preempt_victim_is_least_urgent_latest_arrival():
    q = by_id(BANK, "c8-preempt-victim")
    for s in SEEDS:
        v = generate(q, s)
        p = params(v)
        prios = {"A": p["pa"], "B": p["pb"], "C": p["pc"]}
        worst = max(prios.values())
        right = next(o.text for o in v.options if o.correct)
        if worst > p["pd"]:
            victim = [n for n in "ABC" if prios[n] == worst][-1]  # latest arrival among the least urgent
            assert right.startswith(victim), (p, right)
        else:
            assert right.startswith("Nobody"), (p, right)


# ---- the legal-summarization answer, demonstrated by its own link ------------------------------------

def test_legal_summarization_link_shows_continuous_beats_static():
    q = by_id(BANK, "seed-legal-summarization")
    right = next(o for o in q.options if o.correct)
    assert "continuous" in right.text.lower() and "prefill" in right.text.lower()
    assert not check_link(q.link.page, q.link.as_dict())
    link = q.link.as_dict()
    assert link["scenario"] == "legal-archive" and (link["a"], link["b"]) == ("static", "continuous")
    # The linked comparison runs exactly the two sides of the claim, on the same backlog.
    views = link_configs(q.link.page, link)
    cfgs = claim_configs(q.link, q.claim)
    assert sorted(views.values(), key=lambda c: c.policy) == sorted(cfgs.values(), key=lambda c: c.policy)
    assert cfgs["static"].workload == cfgs["continuous"].workload
    res = {p: simulate(cfg).metrics for p, cfg in cfgs.items()}
    assert res["continuous"]["completed"] == res["static"]["completed"] == 200
    assert res["continuous"]["throughput_tokens_per_s"] > 1.05 * res["static"]["throughput_tokens_per_s"]
    assert res["continuous"]["makespan_s"] < res["static"]["makespan_s"]
    assert (q.claim.metric, q.claim.better, q.claim.worse) == ("throughput_tokens_per_s", "continuous", "static")
    rows = evidence_rows(q.claim, res)  # what the quiz page shows after the answer
    thr = next(r for r in rows if r["metric"].startswith("throughput"))
    assert thr["continuous"] > thr["static"] and "(the claim)" in thr["metric"]


def test_many_tiny_reverses_the_gain_of_continuous_batching():
    # c4-many-tiny's correct option: with tiny requests and a 2 ms join/leave cost, static finishes sooner.
    m = {p: simulate(scenario("many-tiny", policy=p, record_iterations=False)).metrics for p in ("static", "continuous")}
    assert m["static"]["makespan_s"] < m["continuous"]["makespan_s"]
    assert by_id(BANK, "c4-many-tiny").link.as_dict()["scenario"] == "many-tiny"


def test_every_link_resolves():
    for q in BANK:
        if q.link is not None:
            assert check_link(q.link.page, q.link.as_dict()) == [], q.id
            assert link_configs(q.link.page, q.link.as_dict())


# ---- parse: an invalid entry is not a wrong answer ---------------------------------------------------

def test_invalid_numeric_entry_is_not_graded():
    q = by_id(BANK, "c10-kv-transfer")
    v = generate(q, 1)
    for bad in ("", "   ", "abc", "12..5", "nan", "inf", "1e999", None, True, "twelve ms"):
        assert isinstance(parse(v, bad), InvalidSubmission), bad
    ok = parse(v, f"{v.answer} ms")
    assert not isinstance(ok, InvalidSubmission) and grade(v, ok).score == 1.0
    assert parse(v, "1,024").number == 1024
    s = Session.start(BANK, "C10", seed=1)
    assert s.attempts == [] and s.score == 0  # nothing recorded unless graded (the page records only grades)


def test_invalid_choice_entries():
    single = generate(by_id(BANK, "c1-what-is-an-iteration"), 0)
    assert isinstance(parse(single, None), InvalidSubmission)
    assert isinstance(parse(single, 99), InvalidSubmission)
    multi = generate(by_id(BANK, "seed-tradeoffs"), 0)
    assert isinstance(parse(multi, []), InvalidSubmission)
    assert isinstance(parse(multi, [0, 0]), InvalidSubmission)
    order = generate(by_id(BANK, "c2-steps-in-order"), 0)
    assert isinstance(parse(order, [0, 1]), InvalidSubmission)
    assert isinstance(parse(order, [0, None, 1, 2]), InvalidSubmission)


def test_partial_credit_rules():
    multi = generate(by_id(BANK, "seed-tradeoffs"), 0)
    right = multi.correct_submission()
    wrong = [i for i in range(len(multi.options)) if i not in right]
    assert grade(multi, parse(multi, right[:-1])).score == pytest.approx((len(right) - 1) / len(right))
    assert grade(multi, parse(multi, list(range(len(multi.options))))).score < 1.0  # ticking everything
    assert grade(multi, parse(multi, wrong)).score == 0.0
    order = generate(by_id(BANK, "c3-book-ordering"), 0)
    assert grade(order, parse(order, list(order.order)[::-1])).score == 0.0
    num = generate(by_id(BANK, "c11-idle-slots"), 0)
    g = grade(num, parse(num, "100"))
    assert g.score == 0.0 and "total tokens" in g.details[0][2]  # the mistake's own explanation


# ---- schema errors name file, question and field -----------------------------------------------------

GOOD = {"id": "ok-question", "concept": "C1", "kind": "single", "difficulty": 1, "stem": "Which?",
        "options": [{"text": "a", "correct": True, "feedback": "yes"}, {"text": "b", "correct": False, "feedback": "no"}]}


def _bank_with(tmp_path, *questions, name="c99-test.yaml"):
    d = tmp_path / "bank"
    d.mkdir(exist_ok=True)
    (d / name).write_text(json.dumps({"questions": list(questions)}) if name.endswith(".json") else
                          __import__("yaml").safe_dump({"questions": list(questions)}), encoding="utf-8")
    return str(d)


@pytest.mark.parametrize("change, field, words", [
    ({"concept": "C13"}, "concept", "C1..C12"),
    ({"kind": "essay"}, "kind", "single"),
    ({"difficulty": 5}, "difficulty", "1, 2 or 3"),
    ({"stem": ""}, "stem", "non-empty"),
    ({"colour": "red"}, "colour", "unknown field"),
    ({"options": [{"text": "a", "correct": True, "feedback": "y"}, {"text": "b", "correct": True, "feedback": "y"}]},
     "options", "exactly one correct"),
    ({"options": [{"text": "a", "correct": True, "feedback": "y"}, {"text": "b", "correct": False}]},
     "options[1].feedback", "non-empty"),
    ({"link": {"page": "nowhere", "params": {"scenario": "chat"}}}, "link.page", "unknown page"),
    ({"link": {"page": "playground", "params": {"scenario": "legal"}}}, "link.params.scenario", "unknown value"),
    ({"link": {"page": "playground", "params": {"scenario": "chat", "policy": "fastest"}}}, "link.params.policy",
     "unknown value"),
    ({"link": {"page": "prefill-vs-decode", "params": {"scenario": "chat", "a": "static", "b": "continuous"}}},
     "link.params", "must state"),
    ({"link": {"page": "playground", "params": {"scenario": "chat", "policy": "static", "requests": 50, "rate": 2,
                                                "seed": 0}},
      "claim": {"metric": "throughput_tokens_per_s", "better": "continuous", "worse": "chunked",
                "higher_is_better": True}}, "claim", "link's policy must be one of"),
    ({"link": {"page": "playground", "params": {"scenario": "chat", "policy": "static"}},
      "claim": {"metric": "throughput_tokens_per_s", "better": "continuous", "worse": "static",
                "higher_is_better": True}}, "link.params", "must state seed, requests, rate"),
    ({"link": {"page": "playground", "params": {"scenario": "chat", "requests": 9999}}}, "link.params.requests",
     "outside the page's range"),
    ({"generator": "no-such"}, "generator", "unknown generator"),
])
def test_malformed_question_names_file_question_and_field(tmp_path, change, field, words):
    q = dict(GOOD, **change)
    d = _bank_with(tmp_path, GOOD | {"id": "fine-one"}, q)
    with pytest.raises(BankError) as e:
        load_bank(d)
    msg = str(e.value)
    assert "c99-test.yaml" in msg and "'ok-question'" in msg and f"field '{field}'" in msg and words in msg, msg
    assert e.value.qid == "ok-question" and e.value.field == field


def test_malformed_files(tmp_path):
    d = tmp_path / "bank"
    d.mkdir()
    (d / "broken.yaml").write_text("questions:\n  - id: x\n    stem: [unclosed\n", encoding="utf-8")
    with pytest.raises(BankError, match=r"broken\.yaml: not valid YAML \(line \d+\)"):
        load_bank(str(d))
    (d / "broken.yaml").write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(BankError, match=r"broken\.yaml: field 'questions'"):
        load_bank(str(d))
    (d / "broken.yaml").unlink()
    _bank_with(tmp_path, GOOD, name="a.yaml")
    _bank_with(tmp_path, GOOD, name="b.json")
    with pytest.raises(BankError, match=r"b\.json: question 'ok-question': field 'id': duplicate id; already used in .*a\.yaml"):
        load_bank(str(d))
    numeric = {"id": "num", "concept": "C1", "kind": "numeric", "difficulty": 1, "stem": "How many?", "answer": 4,
               "tolerance": 1, "feedback": "four", "mistakes": [{"value": 4.5, "feedback": "close"}]}
    (d / "b.json").unlink()
    _bank_with(tmp_path, numeric, name="a.yaml")
    with pytest.raises(BankError, match=r"question 'num': field 'mistakes\[0\]\.value': .*within the tolerance"):
        load_bank(str(d))


def test_check_reports_missing_concepts_and_cli_exits_nonzero(tmp_path, capsys):
    d = _bank_with(tmp_path, GOOD)
    problems, _ = check_bank(d, seeds=2, claims=False)
    assert any("concept C2 has 0 question(s)" in str(p) for p in problems)
    assert main(["--bank", d, "check", "--seeds", "2", "--no-claims"]) == 1
    assert "ERROR" in capsys.readouterr().err
    (tmp_path / "bank" / "c99-test.yaml").write_text("questions: [{id: Bad Id}]\n", encoding="utf-8")
    assert main(["--bank", d, "check"]) == 1
    assert "c99-test.yaml: question 'Bad Id': field 'id'" in capsys.readouterr().err


# ---- command line ---------------------------------------------------------------------------------------

def test_cli_list_json(capsys):
    assert main(["list", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == len(BANK)
    for r in records:
        assert {"id", "concept", "kind", "stem", "options", "parameterized", "source"} <= set(r)
        assert any(o["correct"] for o in r["options"])
        assert all(isinstance(o["correct"], bool) for o in r["options"])
    assert sum(r["parameterized"] for r in records) >= 8
    legal = next(r for r in records if r["id"] == "seed-legal-summarization")
    assert legal["link"].startswith("/prefill-vs-decode?scenario=legal-archive&a=static&b=continuous")


def test_cli_check_passes_on_the_bank(capsys):
    # One seed per claim of quiz/claims.py here: tests/test_claims.py checks all five.
    assert main(["check", "--seeds", "5", "--claim-seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "claim holds: seed-legal-summarization" in out
    assert "claims of quiz/claims.py, each over 1 seed:" in out and "claim holds: sjf-lowers-mean-when-queueing" in out


def test_cli_runs_as_module(tmp_path):
    out = tmp_path / "q.gift"
    r = subprocess.run([sys.executable, "-m", "quiz", "export", "--format", "gift", "-o", str(out), "--variants", "2"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.read_text(encoding="utf-8").count("::") >= 2 * len(BANK)
    r = subprocess.run([sys.executable, "-m", "quiz", "export", "--format", "pdf", "-o", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "invalid choice" in r.stderr


# ---- exports --------------------------------------------------------------------------------------------

def _gift_unescape(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), s)


def _gift_split(s: str, sep: str) -> list[str]:
    """Split on unescaped ``sep`` characters."""
    out, cur, i = [], "", 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            cur += s[i:i + 2]
            i += 2
            continue
        if s[i] == sep:
            out.append(cur)
            cur = ""
        else:
            cur += s[i]
        i += 1
    out.append(cur)
    return out


def read_gift(text: str) -> list[dict]:
    """A small GIFT reader: title, question text and answers (mark, weight, text, feedback)."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln for ln in block.splitlines() if not ln.startswith("//") and not ln.startswith("$CATEGORY")]
        if not lines:
            continue
        body = "\n".join(lines)
        m = re.match(r"^::(.*?)(?<!\\)::(.*?)(?<!\\)\{(.*)(?<!\\)\}\s*$", body, re.S)
        assert m, f"not a GIFT question: {body[:200]!r}"
        title, stem, answers = m.group(1), m.group(2), m.group(3).strip()
        numeric = answers.startswith("#")
        if numeric:
            answers = answers[1:]
        parsed = []
        for ln in answers.splitlines():
            ln = ln.strip()
            if not ln:
                continue
            assert ln[0] in "=~", ln
            mark, rest = ln[0], ln[1:]
            weight = None
            wm = re.match(r"^%(-?[\d.]+)%", rest)
            if wm:
                weight, rest = float(wm.group(1)), rest[wm.end():]
            parts = _gift_split(rest, "#")
            parsed.append({"mark": mark, "weight": weight, "text": _gift_unescape(parts[0]),
                           "feedback": _gift_unescape(parts[1]) if len(parts) > 1 else ""})
        out.append({"title": _gift_unescape(title), "stem": _gift_unescape(stem.strip()), "numeric": numeric,
                    "answers": parsed})
    return out


def _expected(variants=3):
    from quiz.export import variants_for
    return {name: (q, v) for q in BANK for name, v in variants_for(q, variants)}


def test_gift_export_parses_and_round_trips(tmp_path):
    path = tmp_path / "bank.gift"
    assert main(["export", "--format", "gift", "-o", str(path), "--variants", "3"]) == 0
    qs = read_gift(path.read_text(encoding="utf-8"))
    expected = _expected(3)
    assert {q["title"] for q in qs} == set(expected)
    for g in qs:
        q, v = expected[g["title"]]
        assert g["stem"].startswith(v.stem)  # special characters (= : # { }) survive escaping
        if q.link:
            assert q.link.url() in g["stem"]
        if v.kind == "single":
            assert [a["text"] for a in g["answers"] if a["mark"] == "="] == [o.text for o in v.options if o.correct]
            assert all(a["feedback"] for a in g["answers"])
        elif v.kind == "multiple":
            assert sum(a["weight"] for a in g["answers"] if a["weight"] > 0) == pytest.approx(100, abs=0.01)
            assert {a["text"] for a in g["answers"] if a["weight"] > 0} == {o.text for o in v.options if o.correct}
        elif v.kind == "numeric":
            assert g["numeric"]
            value, tol = g["answers"][0]["text"].split(":")
            assert g["answers"][0]["weight"] == 100
            assert float(value) == pytest.approx(v.answer, abs=1e-5) and float(tol) == pytest.approx(v.tolerance, abs=1e-5)
        else:
            pairs = [a["text"].split(" -> ") for a in g["answers"]]
            assert [p[0] for p in pairs] == [v.options[i].text for i in v.order]


def test_moodle_xml_export_is_well_formed(tmp_path):
    path = tmp_path / "bank.xml"
    assert main(["export", "--format", "moodle-xml", "-o", str(path), "--variants", "3"]) == 0
    root = ET.parse(path).getroot()
    assert root.tag == "quiz"
    questions = [e for e in root.findall("question") if e.get("type") != "category"]
    expected = _expected(3)
    assert len(questions) == len(expected)
    for e in questions:
        name = e.find("name/text").text
        q, v = expected[name]
        assert e.find("questiontext/text").text.startswith(v.stem)
        answers = e.findall("answer")
        if v.kind == "single":
            assert e.get("type") == "multichoice" and e.find("single").text == "true"
            assert [float(a.get("fraction")) for a in answers].count(100) == 1
            assert all(a.find("feedback/text").text for a in answers)
        elif v.kind == "multiple":
            assert e.find("single").text == "false"
            assert sum(float(a.get("fraction")) for a in answers if float(a.get("fraction")) > 0) == pytest.approx(100, abs=0.01)
        elif v.kind == "numeric":
            assert e.get("type") == "numerical"
            assert float(answers[0].find("text").text) == pytest.approx(v.answer, abs=1e-5)
            assert float(answers[0].find("tolerance").text) == pytest.approx(v.tolerance, abs=1e-5)
        else:
            assert e.get("type") == "ordering"
            assert [a.find("text").text for a in answers] == [v.options[i].text for i in v.order]


# ---- session (what the page shows) and layering ---------------------------------------------------------

def test_session_score_revisit_and_csv():
    s = Session.start(BANK, "C12", seed=7)
    assert s.total == sum(q.concept == "C12" for q in BANK)
    q = by_id(BANK, s.current_id)
    v = generate(q, s.seed_of(q.id))
    s.record(q, v, "x", grade(v, parse(v, v.correct_submission())))
    assert s.score == 1 and s.to_revisit() == []
    s.advance()
    q2 = by_id(BANK, s.current_id)
    v2 = generate(q2, s.seed_of(q2.id))
    wrong = v2.wrong_submissions()[0] if v2.wrong_submissions() else "-1"
    s.record(q2, v2, "y", grade(v2, parse(v2, wrong)))
    assert s.score < 2 and [c for c, _, _ in s.to_revisit()] == ["C12"]
    rows = s.to_csv().splitlines()
    assert rows[0].startswith("question_id,concept,kind,attempt,seed") and len(rows) == 3
    old = s.seed_of(q2.id)
    assert s.retry(q2.id) != old


def test_quiz_imports_no_ui_libraries():
    code = ("import sys, quiz, quiz.cli, quiz.export, quiz.generators, quiz.session, quiz.check; "
            "bad = {'streamlit', 'plotly'} & set(m.split('.')[0] for m in sys.modules); "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
