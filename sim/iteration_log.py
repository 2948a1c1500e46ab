"""The iteration log: what every request did in every forward pass, one row per request per iteration.

This is the ``--iterations-out`` file (DESIGN.md section 6) and the playground's download: the
iteration-level trace the timelines are drawn from, in a form instructors turn into slides and
screen-reader users and checks read directly. Each row is one request in one iteration of one engine:

- ``prefill``: prompt tokens computed for it in this pass (its whole prompt, a chunk, or a recompute);
- ``decode``: one decode step (one new token);
- ``finished``: its last token came out of this pass (``tokens`` says what the pass computed for it);
- ``preempted``: evicted from the batch just before this pass (its KV dropped or swapped out);
- ``waiting``: arrived and not finished, but nothing computed for it in this pass: in the queue, sitting
  out a pass that a prefill took (prefill-first), waiting for a token budget, or for its KV to arrive at
  a decode engine. A request waits at the engine where it next runs;
- ``padding``: static batching only, a finished sequence whose slot stays in the batch until the whole
  batch ends (the pass still computes a thrown-away token in that slot, so the cost model prices it; 0
  tokens count for the request).

Iterations are numbered from 1 in the order the engines finished them (the trace's own numbering).
Who is padding comes from ``sim.trace_query`` (the timelines draw the same cells); who waits is derived
here once for the whole run, per engine, so a disaggregated run's requests wait at the engine where they
next run and the file costs O(rows) to build.
"""

from __future__ import annotations

import bisect
import csv
import io
from typing import NamedTuple

from sim.trace_query import padding_ids  # noqa: F401 (also part of this module's interface)

ITERATION_COLUMNS = ("iteration", "engine", "start_s", "end_s", "request_id", "action", "tokens")
ACTIONS = ("prefill", "decode", "waiting", "preempted", "finished", "padding")
_EPS = 1e-12  # an arrival at a pass's start time was in the queue when the pass was planned


class Row(NamedTuple):
    iteration: int
    engine: str
    start_s: float
    end_s: float
    request_id: str
    action: str
    tokens: int


def _active(result) -> tuple[dict, dict]:
    """(iteration index -> {request id: (action, tokens)}, request id -> sorted [(start, end, engine)])
    for every request something happened to in a pass."""
    pads = padding_ids(result)
    acts: dict[int, dict[str, tuple[str, int]]] = {}
    seen: dict[str, list[tuple[float, float, str]]] = {}
    for it in result.iterations:
        a: dict[str, tuple[str, int]] = {}
        for rid in it.preempted:
            a[rid] = ("preempted", 0)
        for rid in it.stalled:
            a[rid] = ("waiting", 0)  # sat the pass out (overwritten below if it decoded after all)
        for rid, n in it.prefill:
            a[rid] = ("prefill", n)
        for rid in it.decode:
            a[rid] = ("decode", 1)
        for rid in it.finished:
            a[rid] = ("finished", a[rid][1] if rid in a else 1)
        for rid in pads.get(it.index, ()):
            a[rid] = ("padding", 0)
        acts[it.index] = a
        for rid, (action, _) in a.items():
            if action in ("prefill", "decode", "finished"):
                seen.setdefault(rid, []).append((it.start_s, it.end_s, it.engine))
    for lst in seen.values():
        lst.sort()
    return acts, seen


def iteration_rows(result) -> list[Row]:
    """Every (iteration, request) row of a traced run, by iteration and then in request (arrival) order."""
    acts, seen = _active(result)
    order = {r.id: i for i, r in enumerate(result.requests)}
    by_engine: dict[str, list] = {}
    for it in result.iterations:
        by_engine.setdefault(it.engine, []).append(it)
    starts = {e: [it.start_s for it in its] for e, its in by_engine.items()}
    waiting: dict[int, list[str]] = {}
    for r in result.requests:
        runs = seen.get(r.id)
        if r.rejected_reason or not runs:
            continue
        end = r.finish_s if r.finish_s is not None else float("inf")
        run_starts = [s for s, _, _ in runs]
        for engine, its in by_engine.items():
            lo = bisect.bisect_left(starts[engine], r.arrival_s - _EPS)
            for it in its[lo:]:
                if it.start_s >= end - _EPS:
                    break
                if r.id in acts[it.index]:
                    continue
                k = bisect.bisect_right(run_starts, it.start_s)  # its next pass that computes for it
                if k == len(runs) or runs[k][2] != engine:
                    continue  # it runs next on another engine: it waits there, not here
                if k and runs[k - 1][2] != engine and runs[k - 1][1] > it.start_s + _EPS:
                    continue  # still being computed on another engine while this pass runs
                waiting.setdefault(it.index, []).append(r.id)
    rows = []
    for it in result.iterations:
        a = dict(acts[it.index])
        for rid in waiting.get(it.index, ()):
            a[rid] = ("waiting", 0)
        for rid in sorted(a, key=lambda x: order.get(x, len(order))):
            action, tokens = a[rid]
            rows.append(Row(it.index, it.engine, it.start_s, it.end_s, rid, action, tokens))
    return rows


def iterations_csv(result) -> str:
    """The ``--iterations-out`` CSV: a header and one row per request per iteration."""
    if not result.iterations and result.requests:
        raise ValueError("the run kept no iteration trace (record_iterations=False)")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ITERATION_COLUMNS)
    for row in iteration_rows(result):
        w.writerow([row.iteration, row.engine, f"{row.start_s:.6f}", f"{row.end_s:.6f}", row.request_id,
                    row.action, row.tokens])
    return buf.getvalue()
