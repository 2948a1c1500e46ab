"""Fuzz every input path of Batch Lab with hostile and careless inputs, and print what became of them.

Paths: the ``sim`` command line (in process, and a few as subprocesses), scenario files (YAML / JSON,
with alias bombs, deep nesting, wrong types, odd encodings), trace files given to ``--workload``, the
playground's upload path, custom expressions (checked, then run in a simulation), quiz bank files, and
page URLs (Streamlit AppTest, with hostile query parameters).

Each input ends in one of five outcomes:

- ``clean error``: refused with one line naming the field (a ConfigError / BankError, or exit status 2
  with one ``error: FIELD...`` line; argparse's own usage errors count here);
- ``sane run``: accepted, and the metrics make sense (finite, not negative, every request completed or
  rejected, a positive makespan and throughput when any request completed, fractions at most 1);
- ``nonsense``: accepted, but the numbers do not make sense;
- ``traceback``: any other exception (or a page that shows one);
- ``hang``: more than 10 s for one input.

Usage::

    python scripts/fuzz_inputs.py                      # 10,000+ inputs (FUZZ_EXAMPLES=10000 by default)
    FUZZ_EXAMPLES=500 python scripts/fuzz_inputs.py    # a quick run; tests/test_fuzz_inputs.py runs ~300
    python scripts/fuzz_inputs.py --seed 3 --show 5    # another draw; print 5 examples per bad outcome

Exit status 0 when there are no tracebacks, hangs or nonsense runs, else 1. Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from quiz.bank import BankError, load_bank  # noqa: E402
from sim import ConfigError, scenario, simulate  # noqa: E402
from sim.cli import main as sim_main  # noqa: E402
from sim.config import SCENARIOS  # noqa: E402
from sim.expr import EXPR_FIELDS, CustomExpression  # noqa: E402
from sim.trace_files import parse_trace, parse_trace_upload, trace_workload  # noqa: E402
from sim.workload import PRESETS  # noqa: E402

OUTCOMES = ("clean error", "sane run", "nonsense", "traceback", "hang")
HANG_S = 10.0


class Hang(BaseException):
    """Raised by the alarm when one input runs longer than HANG_S (BaseException: nothing catches it)."""


def _alarm(signum, frame):
    raise Hang()


# ---- value pools ------------------------------------------------------------------------------------

NUM_TEXT = ["0", "-0", "-1", "1", "2", "3", "3.5", "16", "64", "1e3", "5e-324", "1e-300", "1e300", "1e308",
            "1.8e308", "nan", "NaN", "inf", "-inf", "1e15", "9" * 40, "9" * 400, "", " ", "abc", "0x10", "1_000",
            "\u00b2", "\u0663", "1e", "--1", "+5", "1,5", "\x00", "\U0001d7d9", "4294967296", "0.001", "100001"]
JSON_VALUES = [True, False, None, 0, -1, 1, 2, 2.5, 16, 1e308, -1e308, 10**30, 10**400, "x", "", "\u00b2", [],
               [1], {}, {"a": 1}, "nan", "1e15", 1e15, 5e-324, "static", "custom", "priority * 10",
               "__import__('os')", "chat", "book-example", "a" * 300, [[[[[[1]]]]]], -5e-324]
HOSTILE_EXPRESSIONS = [
    "(prompt_tokens ** 999999 > 1) + priority", "9 ** 3999999 - 9 ** 3999999 + priority",
    "7 ** 1999999 % 3 + priority", "10**400", "2 ** prompt_tokens", "priority**-1", "().__class__",
    "(lambda: 1)()", "__import__('os').system('true')", "prompt_tokens.real", "[priority][0]", "'a' * 10",
    "open('f')", "lambda: 1", "priority +", "x" * 500, "1e400", "1e200*1e200-1e200*1e200", "sqrt(-1)",
    "log(-5)", "1/waiting_s", "waiting_s ** 8", "min()", "max(*[1,2])", "abs(x=1)", "priority if 1 else",
    "-" * 199 + "1", "(" * 100 + "1" + ")" * 100, "not not not priority", "1 < 2 < 3 < priority",
    "priority // 0", "priority % 0", "0 ** -1", "(-1) ** 0.5", "1e308 * 10", "deadline_s * 1e300",
    "\x00", "priority\n+1", "priority # comment", "f'{priority}'", "b'x'", "...", "None", "True + 1",
    "priority @ 2", "priority << 2", "~priority", "a := 1", "[x for x in ()]", "{}", "priority is 1",
]
WORDS = ["static", "continuous", "prefill-first", "chunked", "disaggregated", "fcfs", "priority", "sjf", "edf",
         "aging", "custom", "none", "recompute", "swap", "paged", "contiguous", "llama-3-8b", "llama-3-70b",
         "llama-2-7b", "tiny", "a100-80gb", "h100-80gb", "4xh100-80gb", "tiny-cpu", "fastest", "", "../x",
         "chat\x00", "CHAT", "\u202e", "<script>", "**bold**", "$x$", ":red[a]"]


def pick(rng, pool):
    return pool[rng.randrange(len(pool))]


# ---- checks -------------------------------------------------------------------------------------------

def sane_metrics(m: dict, n_requests: int | None) -> str | None:
    """None when the metrics of a run make sense, else what is wrong."""
    for k, v in m.items():
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, (int, float)):
            if not math.isfinite(v):
                return f"{k} = {v}"
            if v < 0:
                return f"{k} = {v} < 0"
    done, rejected = m.get("completed", 0), m.get("rejected", 0)
    if n_requests is not None and done + rejected != n_requests:
        return f"completed {done} + rejected {rejected} != {n_requests} requests"
    if done > 0:
        for k in ("makespan_s", "throughput_tokens_per_s", "requests_per_s"):
            if not m.get(k, 1) > 0:
                return f"{k} = {m.get(k)} with {done} completed"
    for k in ("busy_fraction", "kv_peak_utilization", "kv_waste_fraction", "slo_attainment"):
        if m.get(k) is not None and m[k] > 1 + 1e-6:  # (tables show three decimals)
            return f"{k} = {m[k]} > 1"
    return None


def run_cli(argv: list[str]) -> tuple[str, str]:
    """sim's main in process: (outcome, detail)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = sim_main(argv)
        except SystemExit as e:  # argparse: usage error (2) or --help (0)
            code = e.code if isinstance(e.code, int) else 2
            if code == 2 and "error:" in err.getvalue():
                return "clean error", err.getvalue().strip().splitlines()[-1][:160]
            return ("sane run", "help") if code == 0 else ("traceback", f"exit {e.code}")
    if code == 2:
        lines = err.getvalue().strip().splitlines()
        if len(lines) == 1 and lines[0].startswith("error: "):
            return "clean error", lines[0][:160]
        return "traceback", f"exit 2 with {len(lines)} lines: {err.getvalue()[:200]!r}"
    if code != 0:
        return "traceback", f"exit {code}: {err.getvalue()[:200]!r}"
    text = out.getvalue()
    if argv[0] == "cost":
        data = json.loads(text)
        bad = [k for k, v in data.items() if isinstance(v, float) and not (math.isfinite(v) and v >= 0)]
        if bad or not data.get("pass_ms", 0) > 0:
            return "nonsense", f"cost: {bad or 'pass_ms'} = {[data.get(k) for k in bad or ['pass_ms']]}"
        return "sane run", ""
    if "--json" in argv:
        try:
            data = json.loads(text)
        except ValueError:
            return "nonsense", f"--json printed no JSON: {text[:120]!r}"
        n = data["config"].get("requests")
        problem = sane_metrics(data["metrics"], n)
        if problem is None:
            for c, m in data["by_class"].items():
                problem = sane_metrics(m, None)
                if problem:
                    problem = f"class {c}: {problem}"
                    break
        return ("nonsense", problem) if problem else ("sane run", "")
    if "nan" in text.lower().split() or " inf" in text:
        return "nonsense", "table shows nan/inf"
    return "sane run", ""


def run_sim(cfg_factory) -> tuple[str, str]:
    try:
        cfg = cfg_factory()
        res = simulate(cfg)
    except ConfigError as e:
        return ("clean error", str(e)[:160]) if "\n" not in str(e) else ("traceback", "multi-line message")
    n = len(res.requests)
    problem = sane_metrics(res.metrics, n)
    return ("nonsense", problem) if problem else ("sane run", "")


# ---- generators, one per path --------------------------------------------------------------------------

def _scripted(name: str) -> bool:
    return PRESETS.get(name) is not None and PRESETS[name].arrival == "scripted"


FLAGS = {
    "--policy": WORDS, "--order": WORDS, "--preempt": WORDS, "--memory": WORDS, "--model": WORDS,
    "--hardware": WORDS, "--block-size": NUM_TEXT, "--max-batch": NUM_TEXT, "--token-budget": NUM_TEXT,
    "--rate": NUM_TEXT, "--seed": NUM_TEXT, "--predictor-noise": NUM_TEXT, "--kv-capacity": NUM_TEXT + ["500000",
    "426788", "426789", "20000"], "--reorg-ms": NUM_TEXT, "--prefill-engines": NUM_TEXT, "--decode-engines": NUM_TEXT,
    "--link-gbps": NUM_TEXT, "--aging-step": NUM_TEXT, "--expr": HOSTILE_EXPRESSIONS + ["priority * 10 - waiting_s"],
    "--requests": ["0", "-1", "1", "3", "5", "6", "100001", "1000000", "9" * 40, "abc", "2.5", "\u00b2"],
    "--workload": list(PRESETS) + ["nope", "/no/such.csv", "x.yaml", "", "/dev/zero.csv", "/etc/passwd"],
    "--trace-out": ["", "/", "/no/such/dir/x.csv", "{tmp}/out.csv", "{tmp}/in.csv"],
}


def gen_cost(rng) -> list[str]:
    argv = ["cost", "--model", pick(rng, WORDS[15:19] + ["tiny", ""]), "--hardware", pick(rng, WORDS[19:23])]
    for f in rng.sample(["--prefill", "--cached", "--decode", "--context"], rng.randint(1, 4)):
        argv += [f, pick(rng, NUM_TEXT + ["0", "1", "512", "4096", "100000", "10000000"])]
    return argv + ["--json"]


def gen_heavy(rng) -> list[str]:
    """bench and validate with at least one bad value: a valid bench or validate runs for minutes (the
    fuzz is about refusals there; tests/test_validate.py and `sim bench` itself cover the runs)."""
    bad_n, bad_rate = ["0", "-1", "1000000", "abc", "nan", "9" * 40, ""], ["nan", "inf", "-1", "5e-324", "x", "1e300"]
    if rng.random() < 0.5:
        return ["bench", "--requests", pick(rng, bad_n)] + (["--heavy-rate", pick(rng, bad_rate)] if rng.random() < 0.5 else [])
    argv = ["validate", "--requests", pick(rng, bad_n)]  # never 1..400: every draw is refused before torch
    other = pick(rng, ["--rate", "--pass-repeats", "--seed", "--policy"])
    argv += [other, pick(rng, bad_rate if other == "--rate" else WORDS if other == "--policy" else bad_n + ["3"])]
    return argv + ["--json"]


def gen_cli(rng, tmp) -> list[str]:
    r = rng.random()
    if r < 0.1:
        return gen_cost(rng)
    if r < 0.13:
        return gen_heavy(rng)
    cmd = "sweep" if rng.random() < 0.08 else "run"
    name = pick(rng, list(SCENARIOS) + ["nope", "x.yaml", ""])
    argv = [cmd] + ([name] if name or rng.random() < 0.5 else [""])
    flags = rng.sample(sorted(FLAGS), rng.randint(1, 4))
    for f in flags:
        if cmd == "sweep" and f == "--trace-out":
            continue
        v = pick(rng, FLAGS[f]).replace("{tmp}", tmp)
        argv += [f, v]
    if cmd == "sweep":
        argv += ["--policies", pick(rng, ["static", "continuous,chunked", "static,nope", ",", "static," * 300]),
                 "--rates", pick(rng, ["1", "1,2", "nan", "1e-300", "5," * 600, "", "1e6"]),
                 "--seeds", pick(rng, ["1", "2", "0", "1000000", "-1"]), "--csv"]
    wl = argv[argv.index("--workload") + 1] if "--workload" in argv else name
    if "--requests" not in argv and not _scripted(wl or "chat"):
        argv += ["--requests", "30"]  # keep sane runs short: the fuzz is about input, not load
    if cmd == "run":
        argv.append("--json")
    if "--trace-out" in argv and argv[argv.index("--trace-out") + 1].endswith("in.csv"):
        with open(os.path.join(tmp, "in.csv"), "w") as f:
            f.write("arrival_s,prompt_tokens,output_tokens\n0,10,5\n")
        argv += ["--workload", os.path.join(tmp, "in.csv")]
    return argv


def _yaml_scalar(v) -> str:
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    if isinstance(v, str):
        return json.dumps(v)
    return "true" if v is True else "false" if v is False else "null" if v is None else str(v)


SETTINGS = ["policy", "order", "expr", "aging_step_s", "preempt", "memory", "block_size", "max_batch",
            "token_budget", "kv_capacity_tokens", "model", "hardware", "reorg_s", "overhead_s", "prefill_engines",
            "decode_engines", "link_gb_per_s", "seed", "record_iterations", "record_layout", "linear_cost",
            "workload", "requests", "rate_per_s", "unknown_key", "predictor_noise"]
# Values a careful user would write, so that many files are accepted and their runs are checked too.
PLAUSIBLE = {
    "policy": ["static", "continuous", "chunked", "prefill-first", "disaggregated"],
    "order": ["fcfs", "priority", "sjf", "edf", "aging"], "preempt": ["none", "recompute", "swap"],
    "memory": ["paged", "contiguous"], "block_size": [1, 8, 16, 4096], "max_batch": [1, 3, 64, 4096],
    "token_budget": [1, 64, 512, 100_000], "kv_capacity_tokens": [16, 1000, 60_000, 426_788],
    "model": ["llama-3-8b", "llama-2-7b", "llama-3-70b"], "hardware": ["a100-80gb", "h100-80gb", "4xh100-80gb"],
    "reorg_s": [0, 0.002, 10], "overhead_s": [0, 0.01, 10], "prefill_engines": [1, 2, 16],
    "decode_engines": [1, 4, 16], "link_gb_per_s": [0.01, 1, 25, 10_000], "seed": [0, 1, 2**32 - 1],
    "aging_step_s": [1e-6, 0.5, 5, 1e6], "workload": list(PRESETS), "requests": [1, 5, 30],
    "rate_per_s": [0.001, 1, 8, 1e6], "expr": ["priority * 10 - waiting_s", "prompt_tokens", "9 ** 99"],
}
YAML_TEMPLATES = [
    "a0: &a0 [x,x,x,x,x,x,x,x,x]\n" + "".join(f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9))
    + "policy: [*a8,*a8,*a8,*a8,*a8,*a8,*a8,*a8,*a8]\n",
    "policy: " + "[" * 5000 + "]" * 5000 + "\n", "policy: " + "{a: " * 60 + "1" + "}" * 60 + "\n",
    "max_batch: " + "9" * 5000 + "\n", "policy: !!binary aGVsbG8=\n", "seed: 2001-12-14\n",
    "policy: !!python/object/apply:os.system [true]\n", "base: &b {max_batch: 3}\n<<: *b\n",
    "policy: static\n---\npolicy: chunked\n", "\tpolicy: static\n", "policy: [unclosed\n", "? [1, 2]\n: 3\n",
    "reorg_s: .nan\n", "link_gb_per_s: .inf\n", "max_batch: 0x10\n", "max_batch: 1_000\n", "seed: 0o17\n",
    "requests: 100000\nworkload: book-example\n", "workload: legal-archive\nrate_per_s: 1\n",
    "workload: /etc/passwd\n", "workload: /no/such.csv\n", "", "~\n", "[1, 2]\n", "'just text'\n",
    "order: custom\nexpr: 9 ** 3999999\n", "order: custom\n", "kv_capacity_tokens: 100000000\n",
    "model: llama-3-70b\nkv_capacity_tokens: 1000\n", "predictor_noise: .nan\n",
]


def gen_scenario(rng) -> tuple[str, bytes]:
    r = rng.random()
    if r < 0.3:
        text = pick(rng, YAML_TEMPLATES)
        ext = ".yaml"
    else:
        d = {}
        for k in rng.sample(SETTINGS, rng.randint(1, 4)):
            plausible = PLAUSIBLE.get(k)
            d[k] = pick(rng, plausible) if plausible and rng.random() < 0.6 else pick(rng, JSON_VALUES + WORDS)
        if "requests" not in d:
            d["requests"] = rng.choice([5, 20, 40])
        if rng.random() < 0.5:
            ext = ".json"
            text = json.dumps(d)
        else:
            ext = ".yaml"
            text = "".join(f"{k}: {_yaml_scalar(v)}\n" for k, v in d.items())
    data = text.encode("utf-8")
    r = rng.random()
    if r < 0.05:
        data = text.encode("utf-16")
    elif r < 0.1:
        data = data.replace(b"a", b"\xe4", 1) + b"\xff"
    elif r < 0.13:
        data = data[: rng.randint(0, len(data))] + b"\x00"
    return ext, data


def _cell(rng) -> str:
    return pick(rng, NUM_TEXT + ["0", "1", "10", "100", "0.5", "12.25", "1e7", "1e10.5"] * 3)


def gen_trace(rng) -> tuple[str, bytes]:
    cols = ["arrival_s", "prompt_tokens", "output_tokens"]
    extra = rng.sample(["id", "priority", "class", "deadline_s", "max_new_tokens", "junk"], rng.randint(0, 3))
    cols = cols + extra
    if rng.random() < 0.1:
        cols.remove(pick(rng, cols))
    rng.shuffle(cols)
    rows = rng.randint(0, 12)
    if rng.random() < 0.6:
        ext = ".csv"
        lines = [",".join(cols)]
        for _ in range(rows):
            plausible = rng.random() < 0.6  # mostly plausible numbers, so some traces run
            cells = [pick(rng, ["a", "", "x" * 100, "\u202e", "1"]) if c in ("id", "class") else
                     pick(rng, ["1", "0.5", "3", "10", "250", "1e7"]) if plausible and c != "junk" else _cell(rng)
                     for c in cols]
            if rng.random() < 0.05:
                cells.append("9")
            if rng.random() < 0.02:
                cells[0] = "5" * 140_000
            lines.append(",".join('"' + c.replace('"', '""') + '"' if ("," in c or '"' in c) else c for c in cells))
        text = "\n".join(lines) + "\n"
        if rng.random() < 0.05:
            text = "\ufeff" + text
    else:
        ext = ".jsonl"
        out = []
        for _ in range(rows):
            obj = {c: pick(rng, JSON_VALUES + [0, 1, 10, 100, 0.5, 3]) for c in cols}
            if rng.random() < 0.7:  # mostly plausible numbers, so some traces run
                obj.update(arrival_s=rng.choice([0, 0.5, 1, 2.25, 1e6, 1e7, 1e8]),
                           prompt_tokens=rng.choice([1, 10, 100, 2000]), output_tokens=rng.choice([1, 5, 50]))
            try:
                line = json.dumps(obj)
            except (ValueError, TypeError):
                line = "{}"
            if rng.random() < 0.03:
                line = '{"arrival_s": 0, "prompt_tokens": 5, "output_tokens": 3, "x": ' + "[" * 3000 + "]" * 3000 + "}"
            if rng.random() < 0.03:
                line = line[: len(line) // 2]
            out.append(line)
        text = "\n".join(out) + "\n"
    data = text.encode("utf-8")
    if rng.random() < 0.04:
        data = text.encode("utf-16")
    elif rng.random() < 0.04:
        data = data + b"\xff\xfe\x00"
    return ext, data


def _expr_leaf(rng) -> str:
    return pick(rng, sorted(EXPR_FIELDS) + ["0", "1", "2", "0.5", "1e300", "9" * 30, "-3"])


def gen_expr(rng, depth=0) -> str:
    if rng.random() < 0.25:
        return pick(rng, HOSTILE_EXPRESSIONS)
    if depth > 3 or rng.random() < 0.3:
        return _expr_leaf(rng)
    r = rng.random()
    a, b = gen_expr(rng, depth + 1), gen_expr(rng, depth + 1)
    if r < 0.6:
        return f"({a} {pick(rng, ['+', '-', '*', '/', '//', '%', '**', '<', '>=', '==', 'and', 'or'])} {b})"
    if r < 0.8:
        return f"{pick(rng, ['min', 'max', 'abs', 'log', 'sqrt', 'pow', 'exp'])}({a}{', ' + b if rng.random() < 0.5 else ''})"
    return f"({a} if {b} else {gen_expr(rng, depth + 1)})"


GOOD_QUESTION = {"id": "ok-question", "concept": "C1", "kind": "single", "difficulty": 1, "stem": "Which?",
                 "options": [{"text": "a", "correct": True, "feedback": "yes"},
                             {"text": "b", "correct": False, "feedback": "no"}]}
BANK_FIELDS = ["id", "concept", "kind", "difficulty", "stem", "hint", "source", "generator", "options", "link",
               "claim", "answer", "tolerance", "mistakes", "feedback", "unit", "items"]
LINKS = [{"page": "playground", "params": {"scenario": "chat", "requests": "\u00b2"}},
         {"page": ["playground"], "params": {}}, {"page": "playground", "params": {"scenario": ["chat"]}},
         {"page": "playground", "params": {"scenario": "chat", "rate": 10**400}},
         {"page": "playground", "params": {"scenario": "chat", "seed": 10**30, "requests": 5}},
         {"page": "prefill-vs-decode", "params": {"scenario": "chat", "a": {"x": 1}, "b": "static"}},
         {"page": "playground", "params": {"scenario": "chat", "expr": "9**3999999"}}, {"page": 5}, "x", None]
CLAIMS = [{"metric": "ttft_p50_s", "better": ["a"], "worse": "static", "higher_is_better": False},
          {"metric": {"a": 1}, "better": "static", "worse": "continuous", "higher_is_better": "yes"}, [1], "x"]


def gen_bank(rng) -> tuple[str, bytes]:
    q = json.loads(json.dumps(GOOD_QUESTION))
    for k in rng.sample(BANK_FIELDS, rng.randint(1, 3)):
        r = rng.random()
        if k == "link" or (k == "claim" and r < 0.5):
            q["link"] = pick(rng, LINKS)
        if k == "claim":
            q["claim"] = pick(rng, CLAIMS)
        elif k != "link":
            q[k] = pick(rng, JSON_VALUES + ["C5", "numeric", "ordering", "multiple", "card p. 3", "no-such"])
    r = rng.random()
    if r < 0.1:
        text = YAML_TEMPLATES[0].replace("policy:", "questions:")
        return ".yaml", text.encode()
    if r < 0.15:
        return ".yaml", ("questions: " + "[" * 3000 + "]" * 3000 + "\n").encode()
    if r < 0.5:
        try:
            return ".json", json.dumps({"questions": [q]}).encode()
        except ValueError:
            return ".json", b'{"questions": [' + b"9" * 5000 + b"]}"
    import yaml
    try:
        return ".yaml", yaml.safe_dump({"questions": [q]}).encode()
    except (ValueError, yaml.YAMLError):
        return ".yaml", b"questions: [" + b"9" * 5000 + b"]\n"


URL_PAGES = ["playground", "priorities", "prefill-vs-decode", "memory", "reorganization", "disaggregation",
             "step-by-step", "choosing", "quiz", ""]
URL_KEYS = ["scenario", "policy", "order", "expr", "rate", "requests", "max_batch", "budget", "kv", "seed", "a",
            "b", "present", "log", "it", "link", "prefill", "decode", "colo", "share", "aging", "preempt", "memory"]


def _page_keys(page: str) -> list[str]:
    """The query parameters a page reads (quiz.links's table of the pages' URL contract), plus the app's."""
    try:
        from quiz.links import PAGES
        keys = list(PAGES.get(page, ()))
    except Exception:  # noqa: BLE001 (the table moves while the pages are restructured)
        keys = []
    return keys + ["present", "log", "it"]


def gen_url(rng) -> tuple[str, dict]:
    page = pick(rng, URL_PAGES)
    if rng.random() < 0.3:
        return page, {"order": "custom", "expr": pick(rng, HOSTILE_EXPRESSIONS[:12])}
    params = {}
    keys = _page_keys(page) if rng.random() < 0.7 else URL_KEYS
    for k in rng.sample(keys, min(len(keys), rng.randint(1, 4))):
        params[k] = pick(rng, NUM_TEXT + WORDS + HOSTILE_EXPRESSIONS[:6] + ["5000000", "1e400", "-1", "0"])
    return page, params


# ---- the runner --------------------------------------------------------------------------------------

def classify(path: str, fn) -> tuple[str, str]:
    signal.setitimer(signal.ITIMER_REAL, HANG_S)
    t0 = time.perf_counter()
    try:
        outcome, detail = fn()
    except Hang:
        return "hang", f"> {HANG_S:.0f} s"
    except (ConfigError, BankError) as e:
        msg = str(e)
        outcome, detail = ("clean error", msg[:160]) if "\n" not in msg else ("traceback", "multi-line message")
    except Exception as e:  # noqa: BLE001 (that is what the fuzz is looking for)
        import traceback
        tb = traceback.extract_tb(e.__traceback__)
        where = f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else "?"
        outcome, detail = "traceback", f"{type(e).__name__} at {where}: {str(e)[:120]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if time.perf_counter() - t0 > HANG_S:
        return "hang", f"{time.perf_counter() - t0:.1f} s"
    return outcome, detail


def fuzz(total: int, seed: int = 0, urls: int | None = None, subprocesses: int | None = None,
         log=print) -> tuple[dict, dict]:
    """Run about ``total`` inputs spread over the paths; returns ({path: Counter}, {(path, outcome): [examples]})."""
    rng = random.Random(seed)
    counts: dict[str, Counter] = defaultdict(Counter)
    examples: dict[tuple, list] = defaultdict(list)
    signal.signal(signal.SIGALRM, _alarm)
    urls = max(3, total // 250) if urls is None else urls
    subprocesses = max(3, total // 250) if subprocesses is None else subprocesses
    share = {"cli": 0.22, "scenario file": 0.18, "trace file": 0.12, "upload": 0.12, "expression": 0.24,
             "quiz bank": 0.12}
    rest = max(0, total - urls - subprocesses)
    plan = [p for p, f in share.items() for _ in range(int(f * rest))]
    plan += ["expression"] * (rest - len(plan))  # rounding: exactly ``total`` inputs in all
    rng.shuffle(plan)
    plan += ["cli subprocess"] * subprocesses + ["page URL"] * urls
    t_start = time.perf_counter()

    def note(path, outcome, detail, what):
        counts[path][outcome] += 1
        if outcome not in ("clean error", "sane run") and len(examples[(path, outcome)]) < 20:
            examples[(path, outcome)].append((what, detail))

    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(plan):
            if path == "cli":
                argv = gen_cli(rng, tmp)
                outcome, detail = classify(path, lambda: run_cli(argv))
                note(path, outcome, detail, " ".join(repr(a)[:60] for a in argv))
            elif path == "cli subprocess":
                argv = gen_cli(rng, tmp)
                outcome, detail = _subprocess(argv)
                note(path, outcome, detail, " ".join(repr(a)[:60] for a in argv))
            elif path == "scenario file":
                ext, data = gen_scenario(rng)
                p = os.path.join(tmp, f"s{i}{ext}")
                with open(p, "wb") as f:
                    f.write(data)
                outcome, detail = classify(path, lambda: run_cli(["run", p, "--json"]))
                note(path, outcome, detail, repr(data[:120]))
                os.unlink(p)
            elif path == "trace file":
                ext, data = gen_trace(rng)
                p = os.path.join(tmp, f"t{i}{ext}")
                with open(p, "wb") as f:
                    f.write(data)
                outcome, detail = classify(path, lambda: run_cli(["run", "--workload", p, "--json"]))
                note(path, outcome, detail, repr(data[:120]))
                os.unlink(p)
            elif path == "upload":
                ext, data = gen_trace(rng)
                name = f"upload{ext}"

                def up():
                    w = trace_workload(parse_trace_upload(name, data), name=name)
                    return run_sim(lambda: scenario("chat", workload=w, record_iterations=False))
                outcome, detail = classify(path, up)
                note(path, outcome, detail, repr(data[:120]))
            elif path == "expression":
                text = gen_expr(rng)

                def ex():
                    CustomExpression(text)
                    return run_sim(lambda: scenario("hybrid-service", requests=30, order="custom", expr=text,
                                                    record_iterations=False))
                outcome, detail = classify(path, ex)
                note(path, outcome, detail, repr(text[:120]))
            elif path == "quiz bank":
                ext, data = gen_bank(rng)
                d = os.path.join(tmp, f"bank{i}")
                os.mkdir(d)
                with open(os.path.join(d, f"c99{ext}"), "wb") as f:
                    f.write(data)
                outcome, detail = classify(path, lambda: (load_bank(d), ("sane run", ""))[1])
                note(path, outcome, detail, repr(data[:120]))
            elif path == "page URL":
                page, params = gen_url(rng)
                outcome, detail = _page(page, params)
                note(path, outcome, detail, f"/{page}?{params!r:.150}")
            if log and (i + 1) % 1000 == 0:
                log(f"... {i + 1:,} inputs, {time.perf_counter() - t_start:.0f} s")
    return counts, examples


def _subprocess(argv) -> tuple[str, str]:
    argv = [a.replace("\x00", "") for a in argv]  # an operating system's argv cannot carry a NUL byte
    try:
        proc = subprocess.run([sys.executable, "-m", "sim", *argv], capture_output=True, text=True, cwd=ROOT,
                              timeout=HANG_S)
    except subprocess.TimeoutExpired:
        return "hang", f"> {HANG_S:.0f} s"
    if "Traceback" in proc.stderr:
        return "traceback", proc.stderr.strip().splitlines()[-1][:160]
    if proc.returncode == 2:
        return "clean error", proc.stderr.strip().splitlines()[-1][:160] if proc.stderr.strip() else ""
    if proc.returncode != 0:
        return "traceback", f"exit {proc.returncode}"
    if "--json" in argv:
        data = json.loads(proc.stdout)
        problem = sane_metrics(data["metrics"], data["config"].get("requests"))
        return ("nonsense", problem) if problem else ("sane run", "")
    return "sane run", ""


_APP = None


def _page(page: str, params: dict) -> tuple[str, str]:
    """One page through app.py's router in AppTest, with hostile query parameters."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(os.path.join(ROOT, "app.py"), default_timeout=HANG_S)
    at.query_params.update({k: v.replace("\x00", "") for k, v in params.items()})
    at.switch_page(_page_file(page)) if page else None
    t0 = time.perf_counter()
    try:
        at.run()
    except RuntimeError as e:  # AppTest's own timeout
        return ("hang", f"{time.perf_counter() - t0:.1f} s") if "timed out" in str(e).lower() else (
            "traceback", str(e)[:160])
    if time.perf_counter() - t0 > HANG_S:
        return "hang", f"{time.perf_counter() - t0:.1f} s"
    if at.exception:
        return "traceback", str(at.exception[0].value)[:160]
    errors = [e.value for e in at.error]
    return ("clean error", errors[0][:160]) if errors else ("sane run", "")


def _page_file(page: str) -> str:
    from quiz import catalog
    return catalog.page(page).file


def table(counts: dict) -> str:
    paths = list(counts)
    head = ["path", "inputs"] + list(OUTCOMES)
    rows = [head]
    total = Counter()
    for p in paths:
        c = counts[p]
        rows.append([p, f"{sum(c.values()):,}"] + [f"{c[o]:,}" for o in OUTCOMES])
        total.update(c)
    rows.append(["all", f"{sum(total.values()):,}"] + [f"{total[o]:,}" for o in OUTCOMES])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) + " |"
             for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=int(os.environ.get("FUZZ_EXAMPLES", "10000")),
                   help="inputs in all (default $FUZZ_EXAMPLES or 10,000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--urls", type=int, default=None, help="page URLs through AppTest (default examples / 250)")
    p.add_argument("--show", type=int, default=3, help="examples to print per bad outcome")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    counts, examples = fuzz(args.examples, args.seed, urls=args.urls, log=lambda m: print(m, file=sys.stderr))
    print(table(counts))
    print(f"\n{sum(sum(c.values()) for c in counts.values()):,} inputs in {time.perf_counter() - t0:.0f} s "
          f"(seed {args.seed})")
    bad = 0
    for (path, outcome), items in sorted(examples.items()):
        bad += counts[path][outcome]
        print(f"\n{outcome} on {path} ({counts[path][outcome]}):")
        for what, detail in items[: args.show]:
            print(f"  {what}\n    -> {detail}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
