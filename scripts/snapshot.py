"""Result guard: a deterministic text snapshot of what the simulator and the quiz produce.

It records, in one text file:

* the golden trace of the book's example (every field of every iteration and every request, floats exact);
* the full iteration traces of a few more small runs (each strategy, contiguous memory with block maps);
* the ``python -m sim run ... --json`` output and the ``--trace-out`` CSV of a grid of configurations
  (every strategy, queue order incl. custom with an expression, preemption mode, memory manager, with
  and without a trace file, disaggregated), run in-process through the real command line;
* the quiz variants over 40 seeds (what ``quiz.variants.generate`` gives per question and seed: stem,
  options, answer, tolerance, feedback, mistakes, parameters).

A change that should not alter simulated results must leave the snapshot byte-identical:

    python scripts/snapshot.py --check tests/golden/snapshot.txt     # prints the first differences
    python scripts/snapshot.py -o tests/golden/snapshot.txt          # regenerate (a change on purpose)

``tests/test_snapshot.py`` runs the same check in-process.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

TRACE_CSV = "tests/golden/snapshot-trace.csv"  # relative: the path is part of the config's JSON
TRACE_JSONL = "tests/golden/snapshot-trace.jsonl"
QUIZ_SEEDS = 40

# (label, argv after `python -m sim run`); `--json` is added to each.
GRID: tuple[tuple[str, tuple[str, ...]], ...] = (
    # every batching strategy on the same chat stream
    ("static", ("--policy", "static", "--requests", "60", "--rate", "6")),
    ("continuous", ("--policy", "continuous", "--requests", "60", "--rate", "6")),
    ("prefill-first", ("--policy", "prefill-first", "--requests", "60", "--rate", "6")),
    ("chunked", ("--policy", "chunked", "--requests", "60", "--rate", "6")),
    ("chunked-budget-64", ("--policy", "chunked", "--token-budget", "64", "--requests", "60", "--rate", "6")),
    ("disaggregated", ("--policy", "disaggregated", "--requests", "60", "--rate", "6")),
    ("disaggregated-2x3", ("--policy", "disaggregated", "--prefill-engines", "2", "--decode-engines", "3",
                           "--link-gbps", "5", "--token-budget", "1024", "--requests", "60", "--rate", "10")),
    ("disaggregated-hybrid", ("hybrid-service", "--policy", "disaggregated", "--requests", "60")),
    # every queue order on two classes
    ("order-fcfs", ("hybrid-service", "--order", "fcfs", "--requests", "60")),
    ("order-priority", ("hybrid-service", "--order", "priority", "--requests", "60")),
    ("order-sjf", ("hybrid-service", "--order", "sjf", "--requests", "60")),
    ("order-sjf-noisy", ("hybrid-service", "--order", "sjf", "--predictor-noise", "0.8", "--requests", "60")),
    ("order-edf", ("hybrid-service", "--order", "edf", "--requests", "60")),
    ("order-aging", ("hybrid-service", "--order", "aging", "--aging-step", "0.5", "--requests", "60")),
    ("order-custom", ("hybrid-service", "--order", "custom", "--expr", "priority * 10 + prompt_tokens / 1000",
                      "--requests", "60")),
    ("order-custom-waiting", ("hybrid-service", "--order", "custom", "--expr",
                              "max(priority * 5 - waiting_s, 0) + sqrt(prompt_tokens) / 10",
                              "--policy", "continuous", "--requests", "60")),
    # preemption modes under memory pressure
    ("preempt-none", ("--preempt", "none", "--kv-capacity", "6000", "--requests", "60", "--rate", "8")),
    ("preempt-recompute", ("--preempt", "recompute", "--kv-capacity", "6000", "--requests", "60", "--rate", "8")),
    ("preempt-swap", ("--preempt", "swap", "--kv-capacity", "6000", "--requests", "60", "--rate", "8")),
    ("preempt-recompute-priority", ("hybrid-service", "--policy", "continuous", "--preempt", "recompute",
                                    "--kv-capacity", "8000", "--requests", "60")),
    ("preempt-swap-chunked", ("--policy", "chunked", "--preempt", "swap", "--kv-capacity", "5000",
                              "--requests", "60", "--rate", "8")),
    ("preempt-static-recompute", ("--policy", "static", "--preempt", "recompute", "--kv-capacity", "5000",
                                  "--requests", "40", "--rate", "8")),
    # memory managers
    ("memory-paged-b1", ("fragmentation", "--memory", "paged", "--block-size", "1", "--requests", "60")),
    ("memory-paged-b64", ("fragmentation", "--memory", "paged", "--block-size", "64", "--requests", "60")),
    ("memory-contiguous", ("fragmentation", "--memory", "contiguous", "--requests", "60")),
    ("memory-contiguous-none", ("fragmentation", "--memory", "contiguous", "--preempt", "none",
                                "--requests", "60")),
    ("memory-contiguous-static", ("fragmentation", "--memory", "contiguous", "--policy", "static",
                                  "--requests", "60")),
    # every scenario preset as shipped
    ("scenario-chat", ("chat", "--requests", "80")),
    ("scenario-summarization", ("summarization", "--requests", "40")),
    ("scenario-legal-archive", ("legal-archive", "--requests", "40")),
    ("scenario-hybrid-service", ("hybrid-service", "--requests", "60")),
    ("scenario-three-long-one-short", ("three-long-one-short",)),
    ("scenario-book-example", ("book-example",)),
    ("scenario-many-tiny", ("many-tiny", "--requests", "80")),
    ("scenario-many-tiny-reorg", ("many-tiny", "--reorg-ms", "5", "--policy", "static", "--requests", "80")),
    ("scenario-fragmentation", ("fragmentation", "--requests", "60")),
    # hardware / model presets and seeds
    ("model-70b-h100x4", ("--model", "llama-3-70b", "--hardware", "4xh100-80gb", "--requests", "40",
                          "--rate", "4", "--seed", "3")),
    ("tiny-cpu", ("--model", "tiny", "--hardware", "tiny-cpu", "--requests", "30", "--rate", "20", "--max-batch", "8")),
    # trace files
    ("trace-csv-continuous", ("--workload", TRACE_CSV)),
    ("trace-csv-static", ("--workload", TRACE_CSV, "--policy", "static", "--max-batch", "8")),
    ("trace-csv-edf-chunked", ("--workload", TRACE_CSV, "--order", "edf", "--policy", "chunked",
                               "--token-budget", "128", "--kv-capacity", "4000")),
    ("trace-csv-priority-disagg", ("--workload", TRACE_CSV, "--order", "priority", "--policy", "disaggregated")),
    ("trace-csv-never-fits", ("--workload", TRACE_CSV, "--kv-capacity", "400", "--memory", "contiguous",
                              "--preempt", "none")),
    ("trace-csv-never-fits-paged", ("--workload", TRACE_CSV, "--kv-capacity", "480", "--block-size", "32")),
    ("trace-jsonl-prefill-first", ("--workload", TRACE_JSONL, "--policy", "prefill-first", "--memory",
                                   "contiguous", "--kv-capacity", "3000")),
)

# (label, scenario name, overrides) for full iteration traces (the path pages draw).
TRACES: tuple[tuple[str, str, dict], ...] = (
    ("book-example", "book-example", {}),
    ("book-example-static", "book-example", {"policy": "static"}),
    ("three-long-one-short-continuous", "three-long-one-short", {}),
    ("three-long-one-short-prefill-first", "three-long-one-short", {"policy": "prefill-first"}),
    ("three-long-one-short-chunked", "three-long-one-short", {"policy": "chunked", "token_budget": 64}),
    ("fragmentation-layout", "fragmentation", {"requests": 30, "record_layout": True}),
    ("fragmentation-paged-layout", "fragmentation", {"requests": 30, "memory": "paged", "record_layout": True}),
    ("hybrid-disaggregated", "hybrid-service", {"requests": 30, "policy": "disaggregated"}),
    ("chat-swap", "chat", {"requests": 40, "rate_per_s": 8.0, "preempt": "swap", "kv_capacity_tokens": 5000}),
)


def _run_cli(argv: list[str]) -> tuple[int, str, str]:
    from sim.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse refusing a flag: recorded, so a renamed choice shows up
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def _record(obj) -> str:
    """One dataclass record as one exact line (floats by repr, so nothing is rounded away)."""
    return repr(obj)


def _grid_section(lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for label, args in GRID:
            csv_path = os.path.join(tmp, "requests.csv")
            argv = ["run", *args, "--json", "--trace-out", csv_path]
            rc, out, err = _run_cli(argv)
            lines.append(f"## run {label}: python -m sim run {' '.join(args)} --json")
            lines.append(f"rc {rc}")
            if err:
                lines.append("stderr " + err.rstrip())
            lines.append(out.rstrip())
            if rc == 0:
                with open(csv_path, encoding="utf-8") as f:
                    lines.extend(f.read().rstrip().splitlines())


def _trace_section(lines: list[str]) -> None:
    from sim import scenario, simulate
    for label, name, overrides in TRACES:
        kw = dict(overrides)
        res = simulate(scenario(name, requests=kw.pop("requests", None), rate_per_s=kw.pop("rate_per_s", None), **kw))
        lines.append(f"## trace {label}: scenario {name} {json.dumps(overrides, sort_keys=True)}")
        lines.append("engines " + repr(res.engines) + f" kv_capacity {res.kv_capacity_tokens}")
        lines.extend(_record(it) for it in res.iterations)
        lines.extend(_record(r) for r in res.requests)
        lines.extend(_record(t) for t in res.transfers)
        lines.append("metrics " + json.dumps(res.metrics))
        lines.append("by_class " + json.dumps(res.by_class))
        lines.append("tbt_samples " + repr(sorted(res.tbt_samples.items())))


def _quiz_section(lines: list[str]) -> None:
    from quiz.bank import load_bank
    from quiz.variants import generate
    for q in load_bank():
        for seed in range(QUIZ_SEEDS):
            v = generate(q, seed)
            lines.append(f"## quiz {q.id} seed {seed}")
            lines.append(json.dumps(dataclasses.asdict(v), default=repr, ensure_ascii=False))


def snapshot() -> str:
    """The whole snapshot as text (run from the repository root: trace paths are relative)."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        lines: list[str] = ["# Batch Lab result snapshot (scripts/snapshot.py); byte-identical unless a change "
                            "alters results on purpose"]
        _trace_section(lines)
        _grid_section(lines)
        _quiz_section(lines)
    finally:
        os.chdir(cwd)
    return "\n".join(lines) + "\n"


def differences(expected: str, actual: str, limit: int = 10) -> list[str]:
    """The first ``limit`` differing lines, each with the section it belongs to."""
    a, b = expected.splitlines(), actual.splitlines()
    out, section = [], ""
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else "<missing>"
        y = b[i] if i < len(b) else "<missing>"
        if x.startswith("## "):
            section = x
        if x != y:
            col = next((k for k, (u, v) in enumerate(zip(x, y)) if u != v), min(len(x), len(y)))
            lo = max(0, col - 120)
            out.append(f"line {i + 1}, column {col + 1}, in [{section}]:\n  expected: ...{x[lo:col + 200]}\n"
                       f"  actual:   ...{y[lo:col + 200]}")
            if len(out) >= limit:
                break
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("-o", "--output", metavar="FILE", help="write the snapshot to FILE")
    g.add_argument("--check", metavar="FILE", help="compare with FILE; print the first differences, exit 1 if any")
    args = p.parse_args(argv)
    text = snapshot()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {args.output}: {len(text.splitlines()):,} lines")
        return 0
    with open(args.check, encoding="utf-8") as f:
        expected = f.read()
    diffs = differences(expected, text)
    if not diffs:
        print(f"snapshot identical ({len(text.splitlines()):,} lines)")
        return 0
    print("snapshot differs:\n" + "\n".join(diffs))
    return 1


if __name__ == "__main__":
    sys.exit(main())
