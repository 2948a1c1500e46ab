"""Metrics of a run (DESIGN.md section 5): latency percentiles, throughput, goodput, KV use, stalls.

Generation stalls are counted as the book means them: the delay a running sequence suffers because a
prefill shared its pass (the pass took longer than the same decodes alone) or took it (the sequence sat
it out). ``stall_time_s`` sums that delay; ``stalls`` counts the token gaps over the class's TBT goal
that had such a delay in them. Chunked prefill and continuous batching pay for the same prefill compute,
so their stall times can be close; chunked spreads it into many small delays that stay under the goal.

All values are in seconds or plain counts. TBT takes every gap between consecutive output tokens of
every request, so one long stall shows in the tail instead of being averaged away per request.
Percentiles use linear interpolation, except TBT: its gaps are weighted samples (one value per pass
shared by every sequence that decoded in it), read with the inverted CDF; ``*_samples`` keys give the sample sizes so a reader can tell a
p99 over 3 values from one over 3,000.
"""

from __future__ import annotations

import numpy as np

METRIC_KEYS = ("completed", "rejected", "makespan_s", "throughput_tokens_per_s", "requests_per_s",
               "ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "tbt_p50_s", "tbt_p99_s", "e2e_mean_s", "e2e_p50_s",
               "e2e_p99_s", "queue_p50_s", "goodput_requests_per_s", "busy_fraction", "kv_peak_utilization",
               "kv_waste_fraction", "max_concurrent", "preemptions", "stalls", "stall_time_s", "tbt_p999_s",
               "tbt_max_s")

# One wording of the definition for every place that shows stalls (pages, CLI help), so they cannot drift.
STALL_DEFINITION = (
    "A generation stall is the delay a running sequence suffers because a prefill shared its forward pass "
    "(the pass took longer than its decodes alone) or took it (the sequence got no token in that pass). "
    "Stall time sums that delay over every token; stalls count the token gaps longer than the request "
    "class's TBT goal that had such a delay in them.")
STALL_NOTE = (
    "Chunked prefill and continuous batching can show close total stall time: both pay for the same prompt "
    "compute. Chunked spreads it over many passes as small delays that stay under the TBT goal, so it counts "
    "far fewer stalls.")

DEFAULT_TTFT_SLO_S = 1.0
DEFAULT_TBT_SLO_S = 0.1


def _pcts(values: np.ndarray, qs: tuple) -> list:
    """Percentiles with linear interpolation, as numpy's default computes them (same rounding), for
    several q from one sort; np.percentile itself costs more than the sort for a few thousand values."""
    if not len(values):
        return [None] * len(qs)
    a = np.sort(values)
    out = []
    for q in qs:
        pos = q / 100.0 * (len(a) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(a) - 1)
        t = pos - lo
        diff = a[hi] - a[lo]
        out.append(float(a[hi] - diff * (1 - t) if t >= 0.5 else a[lo] + diff * t))
    return out


def _gap_arrays(gaps: tuple) -> tuple[np.ndarray, np.ndarray]:
    """A (values, counts) pair of gap records as numpy arrays: a view of the recorder's ``array`` buffers
    (no copy of a light load's ~400,000 records), else read from any sequence."""
    return _as_array(gaps[0], "d", np.float64), _as_array(gaps[1], "q", np.int64)


def _as_array(seq, typecode: str, dtype) -> np.ndarray:
    if isinstance(seq, np.ndarray):
        return seq.astype(dtype, copy=False)
    if getattr(seq, "typecode", None) == typecode:  # an array.array of that type: a view of its buffer
        return np.frombuffer(seq, dtype)
    # fromiter: a few times faster than asarray on a long list of Python numbers
    return np.fromiter(seq, dtype=dtype, count=len(seq))


def _weighted_pcts(gaps: tuple, qs: tuple) -> list:
    """Percentiles of weighted samples (value, count): for each q the smallest value with at least q% of
    the samples at or below it (the inverted CDF: no interpolation between gaps)."""
    v, w = _gap_arrays(gaps)
    if not len(v):
        return [None] * len(qs)
    total = int(w.sum())
    ranks = [max(int(np.ceil(q / 100.0 * total)), 1) for q in qs]  # 1-based rank of the q-th sample
    if len(v) < _BINNED_FROM or v.min() < 0:
        return _ranked(v, w, ranks, 0)
    # A light load has ~400,000 gap records. Instead of sorting them all: bin them by the bits of the float
    # (for values >= 0 the int64 view is in the same order, so every value of a bin is above every value
    # of the bins before), add the counts per bin, and sort only the bins a rank falls in: the same values.
    bits = v.view(np.int64)
    lo = int(bits.min())
    idx = (bits - lo) >> max((int(bits.max()) - lo).bit_length() - 16, 0)  # at most 65,536 bins
    cum = np.cumsum(np.bincount(idx, weights=w))  # float sums of counts: exact below 2**53
    at = np.searchsorted(cum, ranks)  # the bin each rank falls in
    out = [0.0] * len(ranks)
    for b in sorted(set(at.tolist())):
        sel = idx == b
        mine = [i for i, a in enumerate(at.tolist()) if a == b]
        got = _ranked(v[sel], w[sel], [ranks[i] for i in mine], int(cum[b - 1]) if b else 0)
        for i, x in zip(mine, got):
            out[i] = x
    return out


_BINNED_FROM = 4096  # below this one sort of everything is as fast


def _ranked(v: np.ndarray, w: np.ndarray, ranks: list, before: int) -> list:
    """The value at each 1-based rank among samples ``v`` weighted ``w``, ``before`` samples below them."""
    order = np.argsort(v)  # ties share a value, so their order cannot change a percentile
    cum = np.cumsum(w[order]) + before
    return [float(v[order[np.searchsorted(cum, r)]]) for r in ranks]


class _Columns:
    """The per-request numbers the metrics read, one numpy array each (NaN where a time never came), so
    a summary is a few vectorized operations instead of Python loops over a million records."""

    def __init__(self, reqs):
        nan = float("nan")
        n = len(reqs)
        self.n = n
        self.arrival = np.fromiter([r.arrival_s for r in reqs], float, n)
        self.first = np.fromiter([nan if r.first_token_s is None else r.first_token_s for r in reqs], float, n)
        self.finish = np.fromiter([nan if r.finish_s is None else r.finish_s for r in reqs], float, n)
        self.admitted = np.fromiter([nan if r.admitted_s is None else r.admitted_s for r in reqs], float, n)
        self.output = np.fromiter([r.output_tokens for r in reqs], np.int64, n)
        self.max_gap = np.fromiter([r.max_gap_s for r in reqs], float, n)
        self.rejected = np.fromiter([bool(r.rejected_reason) for r in reqs], bool, n)
        self.preemptions = np.fromiter([r.preemptions for r in reqs], np.int64, n)
        self.stalls = np.fromiter([r.stalls for r in reqs], np.int64, n)
        self.stall_time = np.fromiter([r.stall_time_s for r in reqs], float, n)
        # Classes by number, in order of first appearance (a set's order would change with the hash seed).
        self.classes = list(dict.fromkeys(r.cls for r in reqs))
        code = {c: i for i, c in enumerate(self.classes)}
        self.cls = np.fromiter([code[r.cls] for r in reqs], np.int64, n)
        self.priority = np.fromiter([r.priority for r in reqs], np.int64, n)

    @classmethod
    def of_arrays(klass, n: int, classes: list, **columns) -> _Columns:
        """The same columns from arrays a caller already holds (the compiled engine's), ``classes`` in order
        of first appearance and ``cls`` coded into it; ``rejected`` and ``preemptions`` default to none."""
        col = object.__new__(klass)
        col.n = n
        col.rejected = np.zeros(n, bool)
        col.preemptions = np.zeros(n, np.int64)
        col.classes = classes
        for name, v in columns.items():
            setattr(col, name, v)
        return col

    def subset(self, mask: np.ndarray) -> _Columns:
        sub = object.__new__(_Columns)
        for name, v in vars(self).items():
            setattr(sub, name, v[mask] if isinstance(v, np.ndarray) else v)
        sub.n = int(mask.sum())
        return sub


def _summary(col: _Columns, gaps: tuple, slos: dict, span: tuple[float, float] | None) -> dict:
    done = ~np.isnan(col.finish)
    arrival_done = col.arrival[done]
    ttft = col.first[done] - arrival_done
    e2e = col.finish[done] - arrival_done
    admitted = ~np.isnan(col.admitted)
    queue = col.admitted[admitted] - col.arrival[admitted]
    n_done = int(done.sum())
    if span is None:
        span = (float(col.arrival.min()) if col.n else 0.0, float(col.finish[done].max()) if n_done else 0.0)
    makespan = max(span[1] - span[0], 0.0)
    tokens = int(col.output[done].sum())
    gap_v, gap_n = _gap_arrays(gaps)
    tbt = _weighted_pcts((gap_v, gap_n), (50, 90, 99, 99.9))
    ttft_p, e2e_p = _pcts(ttft, (50, 90, 99)), _pcts(e2e, (50, 99))
    # Goodput: finished within its class's TTFT goal with no token gap over its class's TBT goal.
    ttft_slo = np.empty(len(col.classes))
    tbt_slo = np.empty(len(col.classes))
    for i, c in enumerate(col.classes):
        ttft_slo[i], tbt_slo[i] = slos.get(c, (DEFAULT_TTFT_SLO_S, DEFAULT_TBT_SLO_S))
    cls_done = col.cls[done]
    good = int(np.count_nonzero((ttft <= ttft_slo[cls_done]) & (col.max_gap[done] <= tbt_slo[cls_done])))
    with_tpot = done & ~np.isnan(col.first) & (col.output >= 2)
    tpot = (col.finish[with_tpot] - col.first[with_tpot]) / (col.output[with_tpot] - 1)
    per_s = (lambda x: x / makespan) if makespan > 0 else (lambda x: 0.0)
    # Sums of floats in request order, one after another (np.sum adds pairwise: other last bits).
    stall_time = float(np.add.accumulate(col.stall_time)[-1]) if col.n else 0
    return {
        "completed": n_done,
        "rejected": int(np.count_nonzero(col.rejected)),
        "makespan_s": makespan,
        "throughput_tokens_per_s": per_s(tokens),
        "requests_per_s": per_s(n_done),
        "ttft_p50_s": ttft_p[0], "ttft_p90_s": ttft_p[1], "ttft_p99_s": ttft_p[2],
        "tbt_p50_s": tbt[0], "tbt_p90_s": tbt[1], "tbt_p99_s": tbt[2], "tbt_p999_s": tbt[3],
        "tbt_max_s": float(gap_v.max()) if len(gap_v) else None,  # the longest stall, which p99 can hide
        "tpot_mean_s": float(np.mean(tpot)) if len(tpot) else None,
        "e2e_mean_s": float(np.mean(e2e)) if len(e2e) else None,
        "e2e_p50_s": e2e_p[0], "e2e_p99_s": e2e_p[1],
        "queue_p50_s": _pcts(queue, (50,))[0], "queue_max_s": float(queue.max()) if len(queue) else None,
        "goodput_requests_per_s": per_s(good),
        "slo_attainment": good / n_done if n_done else 0.0,
        "preemptions": int(col.preemptions.sum()),
        # Generation stalls (C6): token gaps over the class's TBT goal that a prefill caused, and the total
        # delay prefills added to running sequences' tokens (sharing their pass, or taking it).
        "stalls": int(col.stalls.sum()),
        "stall_time_s": stall_time,
        "ttft_samples": len(ttft), "tbt_samples": int(gap_n.sum()),
    }


def compute_metrics(reqs, recorder, workload, n_engines: int, col: _Columns | None = None) -> tuple[dict, dict]:
    """Overall metrics and the per-class breakdown (same keys; engine-wide keys repeat the overall value).
    ``col``: the requests' columns when the caller has them already (else read from ``reqs``)."""
    slos = {c.name: (c.ttft_slo_s, c.tbt_slo_s) for c in workload.classes}
    if len(recorder.gaps) == 1:
        all_gaps = next(iter(recorder.gaps.values()))  # one class: no copy of a few 100,000 samples
    else:
        parts = [_gap_arrays(g) for g in recorder.gaps.values()]
        all_gaps = (np.concatenate([v for v, _ in parts]) if parts else np.zeros(0),
                    np.concatenate([n for _, n in parts]) if parts else np.zeros(0, np.int64))
    col = _Columns(reqs) if col is None else col
    overall = _summary(col, all_gaps, slos, None)
    busy = sum(recorder.busy_s.values())
    engine_wide = {
        "busy_fraction": busy / (overall["makespan_s"] * n_engines) if overall["makespan_s"] > 0 else 0.0,
        "kv_peak_utilization": recorder.kv_peak,
        "kv_waste_fraction": recorder.waste_area / recorder.time_area if recorder.time_area > 0 else 0.0,
        "max_concurrent": recorder.max_concurrent,
    }
    overall.update(engine_wide)
    classes = col.classes  # in order of first appearance, so classes of equal priority keep a fixed order
    if len(classes) == 1:  # one class: its breakdown is the overall summary (no second pass)
        return overall, {classes[0]: dict(overall)}
    span = None
    done = ~np.isnan(col.finish)
    if done.any():
        span = (float(col.arrival.min()), float(col.finish[done].max()))
    by_class = {}
    for i in sorted(range(len(classes)), key=lambda i: int(col.priority[col.cls == i].min())):
        m = _summary(col.subset(col.cls == i), recorder.gaps.get(classes[i], ([], [])), slos, span)
        m.update(engine_wide)  # rates over the whole run's span
        by_class[classes[i]] = m
    return overall, by_class
