"""A traced run of the compiled kernel (``sim.compiled_trace``) as the Python path's records: its trace arrays
rebuilt into the ``Iteration`` list ``sim.recorder.Recorder`` makes, field for field.

The kernel writes per pass one row of counts and KV numbers (``sim.kernel_layout``'s TR_* columns), its start
and end, and the request rows of its prefill chunks (row, tokens), decodes, stalls and finishes one after
another; here each becomes the tuple of request ids the Python path records. In the kernel's traced family
a pass's prefill chunks are those owed by running sequences (chunked prefill), then those of the requests
admitted in it (``joined``); nobody is preempted, and paged memory has no external fragmentation.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sim import kernel_layout as k
from sim.trace import Iteration

_ITERATION = Iteration._make


def trace_buffers(n_requests: int, max_batch: int) -> tuple:
    """Empty trace arrays for a run of ``n_requests``: start and end times, rows, request rows (grown by
    ``grown`` when the kernel asks for room)."""
    rows = max(4096, min(64 * n_requests, 1 << 20))  # np.zeros maps pages lazily: unused rows cost nothing
    ids = max(1 << 14, 4 * rows + 8 * max_batch)
    return np.zeros(2 * rows), np.zeros((rows, k.TR_COLS), np.int64), np.zeros((1, ids), np.int64)


def grown(S, C, buffers: tuple) -> tuple:
    """The trace arrays with the full ones doubled (the kernel's margins, ``sim.compiled_trace.run_traced``)."""
    tf, ti, tid = buffers
    if S[k.NTR] + 2 >= ti.shape[0]:
        tf = np.concatenate([tf, np.zeros_like(tf)])
        ti = np.concatenate([ti, np.zeros_like(ti)])
    if S[k.NTID] + 6 * C[k.MAX_BATCH] + 8 >= tid.shape[1]:
        tid = np.concatenate([tid, np.zeros_like(tid)], axis=1)
    return tf, ti, tid


def room_for_trace(S, C, buffers: tuple) -> bool:
    """Is it the trace (not the gap records) that the kernel asked room for?"""
    tf, ti, tid = buffers
    return S[k.NTR] + 2 >= ti.shape[0] or S[k.NTID] + 6 * C[k.MAX_BATCH] + 8 >= tid.shape[1]


def iterations(S, buffers: tuple, ids: list, engine: str, capacity: int) -> list[Iteration]:
    """The run's Iteration records from the kernel's trace (``ids``: request ids by row)."""
    tf, ti, tid = buffers
    n = int(S[k.NTR])
    times = tf[:2 * n].tolist()
    flat = tid[0, :int(S[k.NTID])].tolist()
    name = ids.__getitem__
    out: list[Iteration] = []
    add = out.append
    pos = 0
    # Consecutive passes mostly decode the same requests: one shared tuple (as Recorder keeps it), found by
    # comparing the request rows before any id is looked up.
    last_rows: list = []
    last_decode: tuple = ()
    for i, (npf, ndec, nst, nfin, wait, run, stored, held, res, internal, owed) in enumerate(ti[:n].tolist()):
        if npf:
            chunk = flat[pos:pos + 2 * npf]
            rids = tuple(map(name, chunk[0::2]))
            prefill = tuple(zip(rids, chunk[1::2]))
            joined = rids[owed:] if owed else rids  # the chunks of running sequences come first
            pos += 2 * npf
        else:
            joined = prefill = ()
        rows = flat[pos:pos + ndec]
        if rows != last_rows:
            last_rows, last_decode = rows, tuple(map(name, rows))
        decode = last_decode
        pos += ndec
        stalled = tuple(map(name, flat[pos:pos + nst])) if nst else ()
        pos += nst
        finished = tuple(map(name, flat[pos:pos + nfin])) if nfin else ()
        pos += nfin
        add(_ITERATION((i + 1, engine, times[2 * i], times[2 * i + 1], prefill, decode, stalled, joined, (), finished,
                        wait, run, stored, held, res, internal, 0, capacity, ())))
    return out


def simpy_zero(its: list[Iteration], requests: list) -> list:
    """SimPy's clock starts at the integer 0 and stays one until a timeout first fires, so a first pass planned
    at time 0 starts at ``0``, not ``0.0``, and the requests it admits were admitted at ``0`` (``max(now,
    arrival)`` keeps its first argument on a tie): the same values, and now the same printed records too.
    Returns the requests (``its`` is changed in place)."""
    if not its or its[0].start_s != 0.0:
        return requests
    its[0] = its[0]._replace(start_s=0)
    joined = set(its[0].joined)
    return [replace(r, admitted_s=0) if r.id in joined and r.admitted_s == 0.0 else r for r in requests]
