"""What was true at iteration k: queries over a finished run (``sim.trace.SimResult``), in one place.

The simulator records what each forward pass did (who was prefilled, decoded, stalled, preempted, who
joined and finished, the KV layout after it). Everything a page, a figure or a quiz question says about
"the state at iteration k" is derived here from those records and nowhere else: the phase of each request
in each pass, who waits in the queue, which batch slot a sequence holds, how many tokens of KV each
resident sequence has cached, when a request was refused although memory was free. Nothing here re-runs
or changes the simulation; iterations are numbered from 1 as in the UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

EPS = 1e-12


# ---- per-request phase in each pass -------------------------------------------------------------

class Cell(NamedTuple):
    """One request's part in one pass (or one KV transfer): phase ``prefill``, ``decode``, ``stalled``, ``padding`` or
    ``transfer``; ``iteration`` 0 for a transfer, whose ``engine`` is "source->target"."""

    start_s: float
    end_s: float
    phase: str
    iteration: int
    engine: str
    detail: str


def padding_ids(result) -> dict[int, tuple[str, ...]]:
    """Static batching: iteration index -> finished members of the running batch still in it as padding
    (the batch keeps their slots until its last member finishes)."""
    if getattr(result.config, "policy", "") != "static":
        return {}
    out: dict[int, tuple[str, ...]] = {}
    members: dict[str, list[str]] = {}  # engine -> ids of its current batch, in admission order
    done: dict[str, set[str]] = {}
    # engine -> (pad, its padding ids) until the batch or its finished members change: a batch pads the
    # same members for many passes in a row, so the batch is not filtered again on every one of them
    last: dict[str, tuple] = {}
    for it in result.iterations:
        if it.joined and not it.decode:  # a static batch starts: its members are prefilled together
            members[it.engine] = list(it.joined)
            done[it.engine] = set()
            last.pop(it.engine, None)
        pad = it.running - len(it.decode) - len(it.prefill)
        if pad > 0:
            known = last.get(it.engine)
            if known is None or known[0] != pad:
                ids = [rid for rid in members.get(it.engine, ()) if rid in done.get(it.engine, ())]
                known = last[it.engine] = (pad, tuple(ids[:pad]))
            out[it.index] = known[1]
        if it.finished:
            done.setdefault(it.engine, set()).update(it.finished)
            last.pop(it.engine, None)
    return out


def padding_at(result, position: int) -> tuple[str, ...]:
    """``padding_ids(result).get(it.index, ())`` for the iteration ``it`` at list position ``position`` alone,
    read from the passes since its batch started (a page that narrates one iteration does not walk the run)."""
    it = result.iterations[position]
    pad = it.running - len(it.decode) - len(it.prefill)
    if getattr(result.config, "policy", "") != "static" or pad <= 0:
        return ()
    its = result.iterations
    start = next((j for j in range(position, -1, -1)
                  if its[j].engine == it.engine and its[j].joined and not its[j].decode), None)
    if start is None:
        return ()
    done: set[str] = set()
    for p in its[start:position]:
        if p.engine == it.engine and p.finished:
            done.update(p.finished)
    return tuple([rid for rid in its[start].joined if rid in done][:pad])


_PADDING_DETAIL = ("finished, but standard batching keeps its slot (a thrown-away token each pass) until the "
                   "whole batch ends")
_DECODE_DETAIL = "decode step: one new token"
_SLOWED_DETAIL = "decode step slowed by a prefill in the same pass"
_TAKEN_DETAIL = "no token: this pass only prefills others"


def _cells(result) -> dict[str, list[tuple]]:
    """``request_cells`` as plain tuples (start, end, phase, iteration, engine, detail): the lanes read
    every cell of a run once, and a tuple costs a fraction of a named one to build."""
    cells: dict[str, list[tuple]] = {r.id: [] for r in result.requests}
    pads = padding_ids(result)
    for it in result.iterations:
        start, end, idx, eng = it.start_s, it.end_s, it.index, it.engine
        if pads:
            for rid in pads.get(idx, ()):
                cells.setdefault(rid, []).append((start, end, "padding", idx, eng, _PADDING_DETAIL))
        for rid, n in it.prefill:
            cells.setdefault(rid, []).append((start, end, "prefill", idx, eng, f"prefill of {n} prompt tokens"))
        stalled = it.stalled
        if stalled:
            stalled_set = set(stalled)
            for rid in it.decode:
                if rid in stalled_set:
                    cells.setdefault(rid, []).append((start, end, "stalled", idx, eng, _SLOWED_DETAIL))
                else:
                    cells.setdefault(rid, []).append((start, end, "decode", idx, eng, _DECODE_DETAIL))
            decoding = set(it.decode)
            for rid in stalled:
                if rid not in decoding:
                    cells.setdefault(rid, []).append((start, end, "stalled", idx, eng, _TAKEN_DETAIL))
        else:
            cell = (start, end, "decode", idx, eng, _DECODE_DETAIL)
            for rid in it.decode:
                lst = cells.get(rid)
                if lst is None:
                    lst = cells[rid] = []
                lst.append(cell)
    for t in result.transfers:
        cells.setdefault(t.request_id, []).append((t.start_s, t.end_s, "transfer", 0, f"{t.source}->{t.target}",
                                                   f"KV transfer of {t.tokens:,} tokens"))
    for lst in cells.values():
        lst.sort(key=_time_key)
    return cells


def _time_key(c: tuple) -> tuple:
    return c[0], c[1]


def request_cells(result) -> dict[str, list[Cell]]:
    """Per request, in time order: every pass it took part in and every KV transfer of its cache."""
    return {rid: [Cell(*c) for c in lst] for rid, lst in _cells(result).items()}


def preempt_times(result) -> dict[str, list[float]]:
    """Per request, the start times of the passes that evicted it."""
    out: dict[str, list[float]] = {}
    for it in result.iterations:
        for rid in it.preempted:
            out.setdefault(rid, []).append(it.start_s)
    return out


def in_pass(it) -> list[str]:
    """Every request a pass worked on (prefill, decode or stalled), in the record's order."""
    return [rid for rid, _ in it.prefill] + list(it.decode) + [s for s in it.stalled if s not in it.decode]


# ---- the queue ------------------------------------------------------------------------------------

def queued_ids(result, it) -> list[str]:
    """Requests waiting in the queue while ``it`` runs: arrived by its start, not in this pass, not yet
    finished or rejected (admitted requests that sit out a pass on another engine excluded)."""
    working = {rid for rid, _ in it.prefill} | set(it.decode) | set(it.stalled)
    out = []
    for r in result.requests:
        if r.arrival_s > it.start_s + EPS or r.id in working or r.rejected_reason:
            continue
        if r.finish_s is not None and r.finish_s <= it.start_s + EPS:
            continue
        if len(result.engines) == 1 and r.admitted_s is not None and r.admitted_s < it.start_s - EPS:
            # Admitted earlier and not in this pass: only a preempted request waits in the queue again.
            if not r.preemptions or not _evicted_before(result, r.id, it):
                continue
        out.append(r.id)
    return out


def _evicted_before(result, rid: str, it) -> bool:
    last_seen_evicted = False
    for other in result.iterations:
        if other.index > it.index:
            break
        if rid in other.preempted:
            last_seen_evicted = True
        elif any(p == rid for p, _ in other.prefill) and other.index < it.index:
            last_seen_evicted = False
    return last_seen_evicted


def arrivals_before(result, it, prev=None) -> list[str]:
    """Requests that arrived after the previous pass started and by the time this one starts."""
    lo = -1.0 if prev is None else prev.start_s
    return [r.id for r in sorted(result.requests, key=lambda r: (r.arrival_s, r.id))
            if lo + EPS < r.arrival_s <= it.start_s + EPS or (prev is None and r.arrival_s <= it.start_s + EPS)]


# ---- batch slots --------------------------------------------------------------------------------

def slot_assignment(result, engine: str | None = None) -> list[dict[int, tuple[str, str]]]:
    """For each iteration of one engine: slot number (from 1) -> (request id, phase). A joining request
    takes the lowest free slot; a finished or evicted one frees its slot after the pass."""
    engine = engine or (result.engines[0] if result.engines else "engine")
    slot_of: dict[str, int] = {}
    out = []
    for it in result.iterations:
        if it.engine != engine:
            continue
        for rid in it.preempted:
            slot_of.pop(rid, None)
        active = in_pass(it)
        for rid in active:
            if rid not in slot_of:
                used = set(slot_of.values())
                slot_of[rid] = next(k for k in range(1, len(used) + 2) if k not in used)
        stalled, prefilled = set(it.stalled), {rid for rid, _ in it.prefill}
        row = {}
        for rid in active:
            phase = "prefill" if rid in prefilled else "stalled" if rid in stalled else "decode"
            row[slot_of[rid]] = (rid, phase)
        out.append(row)
        for rid in it.finished:
            slot_of.pop(rid, None)
    return out


# ---- requests as a learner sees them before pass k --------------------------------------------------

class RequestState(NamedTuple):
    id: str
    arrival_s: float
    tokens_out: int  # output tokens produced in passes 1..k
    output_tokens: int
    state: str  # "not arrived yet", "waiting in the queue", "in the batch", "done, left the batch"


def request_states(result, k: int) -> list[RequestState]:
    """Every request after the first ``k`` passes (k = 0: before the first), at the start of pass k + 1
    (or at the end of the run)."""
    its = result.iterations
    now = its[k].start_s if k < len(its) else (its[-1].end_s if its else 0.0)
    out = []
    for r in result.requests:
        done_tokens = sum(1 for x in its[:k] if r.id in x.decode) + sum(1 for x in its[:k] for rid, _ in x.prefill
                                                                        if rid == r.id)
        if r.arrival_s > now + EPS:
            state = "not arrived yet"
        elif r.finish_s is not None and r.finish_s <= now + EPS:
            state = "done, left the batch"
        elif any(r.id in x.decode or any(rid == r.id for rid, _ in x.prefill) for x in its[:k]):
            state = "in the batch"
        else:
            state = "waiting in the queue"
        out.append(RequestState(r.id, r.arrival_s, min(done_tokens, r.output_tokens), r.output_tokens, state))
    return out


def present_before(result, it) -> list[str]:
    """Requests that have arrived by the start of ``it`` and not finished before it."""
    return [r.id for r in result.requests if r.arrival_s <= it.start_s + EPS and
            not (r.finish_s is not None and r.finish_s <= it.start_s + EPS)]


# ---- time <-> iteration -------------------------------------------------------------------------

def iteration_running_at(result, t: float, engine: str = "engine") -> int:
    """The iteration of ``engine`` running at time ``t``."""
    for it in result.iterations:
        if it.engine == engine and it.start_s <= t < it.end_s:
            return it.index
    raise ValueError(f"no iteration runs at {t:.4f} s")


def iteration_ending_at(result, t: float) -> int:
    """The iteration whose end produced a token at time ``t``."""
    for it in result.iterations:
        if abs(it.end_s - t) < EPS:
            return it.index
    raise ValueError(f"no iteration ends at {t:.6f} s")


def iteration_at(result, t: float) -> int:
    """Index (from 1) of the last pass of ``result`` that started at or before time ``t``."""
    best = 1
    for it in result.iterations:
        if it.start_s <= t:
            best = it.index
        else:
            break
    return best


# ---- join/leave counts (batch reorganization, C4) ----------------------------------------------------

def reorganizations(result, count_leaves: bool = True) -> int:
    """Joins (and, with ``count_leaves``, leaves) over the run: each one costs the engine time."""
    events = sum(len(it.joined) for it in result.iterations)
    if count_leaves:
        events += sum(len(it.finished) for it in result.iterations)
    return events


def busy_s(result) -> float:
    """Total time the engines spent in forward passes."""
    return sum(it.duration_s for it in result.iterations)


# ---- KV memory at iteration k -------------------------------------------------------------------

def computed_tokens_at(result, iteration_index: int) -> dict[str, int]:
    """Tokens whose KV is cached for every resident sequence after pass ``iteration_index`` (from 1),
    replayed from the per-iteration prefill/decode/preempt records of the first engine."""
    engine = result.engines[0]
    computed: dict[str, int] = {}
    for it in result.iterations:
        if it.engine != engine:
            continue
        if it.index > iteration_index:
            break
        for rid in it.preempted:
            computed.pop(rid, None)
        for rid, n in it.prefill:
            computed[rid] = computed.get(rid, 0) + n
        for rid in it.decode:
            computed[rid] = computed.get(rid, 0) + 1
        for rid in it.finished:
            computed.pop(rid, None)
    return computed


def request_kv_tokens(result, rid: str) -> list[tuple[float, int]]:
    """(end of pass, tokens) for one request: how many tokens of its KV cache are stored in accelerator
    memory after each pass of any engine it takes part in, replayed like ``computed_tokens_at``. An eviction
    empties it (0); a swapped-out cache that comes back without a prefill resumes at its old size; the last
    pass's point is followed by 0 (the sequence leaves and frees its cache)."""
    held, stash, out = 0, 0, []
    for it in result.iterations:
        prefilled = sum(n for r, n in it.prefill if r == rid)
        decoded = rid in it.decode
        evicted = rid in it.preempted
        if not (prefilled or decoded or evicted):
            continue
        if evicted:
            stash, held = held, 0
            out.append((it.start_s, 0))
        if prefilled:
            held, stash = held + prefilled, 0
        if decoded:
            if held == 0 and stash:  # swapped back in: its cache returns whole
                held, stash = stash, 0
            held += 1
        if prefilled or decoded:
            out.append((it.end_s, held))
        if rid in it.finished:
            out.append((it.end_s, 0))
            held = 0
    return out


def free_holes(layout, capacity: int) -> list[tuple[int, int]]:
    """(first slot, length) of every free run of slots between the owned segments of a layout."""
    holes, pos = [], 0
    for _, start, n in sorted(layout, key=lambda x: x[1]):
        if start > pos:
            holes.append((pos, start - pos))
        pos = max(pos, start + n)
    if pos < capacity:
        holes.append((pos, capacity - pos))
    return holes


@dataclass(frozen=True)
class RefusedMoment:
    """A pass at whose planning the head of the queue did not fit although enough slots were free."""

    iteration: int  # the pass being planned (from 1); the memory state is the layout after the pass before
    time_s: float
    request_id: str
    need_tokens: int  # the contiguous region it asks for (prompt + max new tokens)
    free_tokens: int  # all free slots together
    largest_hole_tokens: int
    admitted_s: float | None  # when it finally got memory

    @property
    def state_iteration(self) -> int:
        """The pass after which memory looked as it did when the request was refused."""
        return max(1, self.iteration - 1)

    def sentence(self) -> str:
        when = "" if self.admitted_s is None else f"; it got memory only at {self.admitted_s:.2f} s"
        return (f"At {self.time_s:.2f} s (iteration {self.iteration}) request {self.request_id} needs "
                f"{self.need_tokens:,} contiguous slots. {self.free_tokens:,} slots are free in total, but the "
                f"largest hole holds only {self.largest_hole_tokens:,}, so it is refused and waits{when}.")


def refused_although_free(result, first_only: bool = True) -> list[RefusedMoment]:
    """Find passes where the first-come head of the queue waits while total free memory would hold it.

    The need of a request is the length of the region it is given later (the layout shows it); the
    memory state at the planning of pass k is the layout recorded after pass k - 1 (same engine).
    """
    iters = [it for it in result.iterations if it.engine == result.engines[0]]
    if result.config.memory == "paged" or not any(it.layout for it in iters):
        return []  # any free block serves any sequence: paging never refuses for lack of a hole
    need: dict[str, int] = {}
    for it in iters:
        for rid, _start, n in it.layout:
            need.setdefault(rid, n)
    pending = sorted((r for r in result.requests if not r.rejected_reason and r.preemptions == 0),
                     key=lambda r: (r.arrival_s, r.id))
    found: list[RefusedMoment] = []
    head_i = 0
    for prev, cur in zip(iters, iters[1:]):
        t = cur.start_s
        # Head of the queue at t: earliest arrival not yet admitted (requests are admitted in FCFS order).
        while head_i < len(pending) and pending[head_i].admitted_s is not None and pending[head_i].admitted_s <= t:
            head_i += 1
        if head_i >= len(pending):
            break
        head = pending[head_i]
        if head.arrival_s > prev.end_s or head.id not in need:
            continue  # not waiting yet at this planning step, or never placed (need unknown)
        if cur.running >= result.config.max_batch:
            continue  # refused for lack of a batch slot, not memory
        holes = free_holes(prev.layout, prev.kv_capacity)
        free = sum(n for _, n in holes)
        largest = max((n for _, n in holes), default=0)
        if largest < need[head.id] <= free:
            found.append(RefusedMoment(cur.index, t, head.id, need[head.id], free, largest, head.admitted_s))
            if first_only:
                break
    return found
