"""KV-cache memory figures (C5, memory fragmentation): the block map at one iteration, the waste split
over time, and the moment a request is refused although total free memory would hold it.

Inputs are ``SimResult`` objects run with ``record_layout=True`` (the layout is the owner of every slot
after each pass). Slots are token slots numbered from 0; the block map draws one cell per
``cell_tokens`` slots (the paged block size by default) so the paged and contiguous maps read alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.palette import KV_COLORS, OKABE_ITO

# Cell states of the block map, in drawing order. "free" is usable by a newcomer; "external" is free
# but outside the largest hole, so no single contiguous region can use it.
STATES = ("stored", "reserved", "internal", "external", "free")
STATE_LABELS = {
    "stored": "stored KV (tokens computed)",
    "reserved": "reserved for tokens still to come",
    "internal": "internal waste (never used)",
    "external": "external waste (free, outside the largest hole)",
    "free": "free (largest hole)",
}


# ---- reading the trace ---------------------------------------------------------------------------

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


def slot_states(result, iteration_index: int) -> np.ndarray:
    """One state code (index into ``STATES``) per token slot after pass ``iteration_index``."""
    it = result.iterations[iteration_index - 1]
    cap = it.kv_capacity
    states = np.full(cap, STATES.index("free"), dtype=np.int8)
    computed = computed_tokens_at(result, iteration_index)
    lengths = {r.id: (r.prompt_tokens, r.output_tokens) for r in result.requests}
    # Group a sequence's segments (paged: one per block) and fill them in address order.
    segs: dict[str, list[tuple[int, int]]] = {}
    for rid, start, n in it.layout:
        segs.setdefault(rid, []).append((start, n))
    for rid, parts in segs.items():
        prompt, out = lengths.get(rid, (0, 0))
        done = computed.get(rid, 0)
        future = max(prompt + out - 1 - done, 0)  # the last output token is never fed back
        left_stored, left_reserved = done, future
        for start, n in sorted(parts):
            s = min(left_stored, n)
            r = min(left_reserved, n - s)
            states[start:start + s] = STATES.index("stored")
            states[start + s:start + s + r] = STATES.index("reserved")
            states[start + s + r:start + n] = STATES.index("internal")
            left_stored -= s
            left_reserved -= r
    holes = free_holes(it.layout, cap)
    if holes and result.config.memory == "contiguous":
        largest = max(holes, key=lambda h: h[1])
        for start, n in holes:
            if (start, n) != largest:
                states[start:start + n] = STATES.index("external")
    return states


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


# ---- figures --------------------------------------------------------------------------------------

def block_map(result, iteration_index: int, cell_tokens: int | None = None, columns: int = 40,
              title: str | None = None, highlight: RefusedMoment | None = None) -> go.Figure:
    """The KV cache as a grid of cells (``cell_tokens`` slots each, address order left to right, top to
    bottom), each coloured by what most of its slots hold after pass ``iteration_index``."""
    cfg = result.config
    cell = cell_tokens or cfg.block_size
    states = slot_states(result, iteration_index)
    it = result.iterations[iteration_index - 1]
    ncells = -(-len(states) // cell)
    padded = np.full(ncells * cell, STATES.index("free"), dtype=np.int8)
    padded[:len(states)] = states
    per_cell = padded.reshape(ncells, cell)
    counts = np.stack([(per_cell == s).sum(axis=1) for s in range(len(STATES))])
    cell_state = counts.argmax(axis=0)
    # Owner of each cell (first owner found), for the hover text.
    owner = np.full(ncells * cell, "", dtype=object)
    for rid, start, n in it.layout:
        owner[start:start + n] = rid
    cell_owner = owner.reshape(ncells, cell)[:, 0]
    rows = -(-ncells // columns)
    z = np.full(rows * columns, np.nan)
    z[:ncells] = cell_state
    text = np.full(rows * columns, "", dtype=object)
    for i in range(ncells):
        lo = i * cell
        text[i] = (f"slots {lo:,}-{min(lo + cell, len(states)) - 1:,}<br>{STATE_LABELS[STATES[cell_state[i]]]}"
                   + (f"<br>owner {cell_owner[i]}" if cell_owner[i] else ""))
    n = len(STATES)
    scale = []
    for i, s in enumerate(STATES):
        scale += [[i / n, KV_COLORS[s]], [(i + 1) / n, KV_COLORS[s]]]
    fig = go.Figure(go.Heatmap(
        z=z.reshape(rows, columns), text=text.reshape(rows, columns), hovertemplate="%{text}<extra></extra>",
        colorscale=scale, zmin=-0.5, zmax=n - 0.5, showscale=False, xgap=1, ygap=1))
    # Legend entries (heatmaps have none): one invisible marker per state.
    for s in STATES:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=STATE_LABELS[s],
                                 marker=dict(size=12, symbol="square", color=KV_COLORS[s],
                                             line=dict(width=1, color=OKABE_ITO["grey"]))))
    if highlight is not None:
        fig.add_annotation(x=0.5, y=1.0, xref="paper", yref="paper", yanchor="bottom", showarrow=False,
                           text=f"{highlight.request_id} needs {highlight.need_tokens:,} contiguous slots; "
                                f"largest hole {highlight.largest_hole_tokens:,}",
                           font=dict(color=OKABE_ITO["vermillion"]))
    used = it.kv_held / it.kv_capacity
    fig.update_layout(
        title=title or f"{cfg.memory} KV memory after iteration {iteration_index} ({used:.0%} held)",
        height=300 + 14 * rows, margin=dict(l=60, r=10, t=60, b=190), plot_bgcolor="white",
        # The legend sits a fixed ~75 px under the plot area, below the x-axis title.
        legend=dict(orientation="h", yanchor="top", y=-75 / (50 + 14 * rows), x=0), xaxis_title=f"cell within row (1 cell = {cell} token slots)",
        yaxis_title=f"row ({columns * cell:,} token slots per row)")
    fig.update_yaxes(autorange="reversed", showgrid=False, zeroline=False)
    fig.update_xaxes(showgrid=False, zeroline=False)
    return fig


def waste_over_time(results: dict, refused: RefusedMoment | None = None, max_points: int = 600) -> go.Figure:
    """Stacked KV use over time per memory manager: stored, reserved, internal and external waste, as a
    percentage of capacity. One row per labelled result, shared time axis."""
    labels = list(results)
    fig = make_subplots(rows=len(labels), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=[f"{lab} memory" for lab in labels])
    for row, lab in enumerate(labels, start=1):
        res = results[lab]
        its = res.iterations
        step = max(1, len(its) // max_points)
        its = its[::step]
        t = [it.end_s for it in its]
        for key in ("stored", "reserved", "internal", "external"):
            y = [100.0 * getattr(it, f"kv_{key}") / it.kv_capacity for it in its]
            fig.add_trace(go.Scatter(
                x=t, y=y, stackgroup=f"g{row}", mode="lines", line=dict(width=0.5, color=KV_COLORS[key]),
                fillcolor=KV_COLORS[key], name=STATE_LABELS[key], legendgroup=key, showlegend=row == 1,
                hovertemplate="%{y:.1f}% at %{x:.2f} s"), row=row, col=1)
        fig.update_yaxes(title_text="share of KV capacity (%)", range=[0, 100], row=row, col=1)
    if refused is not None:
        fig.add_vline(x=refused.time_s, line=dict(color=OKABE_ITO["black"], dash="dash"))
        fig.add_annotation(x=refused.time_s, y=1.02, xref="x", yref="paper", showarrow=False,
                           text=f"refused although free: {refused.request_id}")
    fig.update_xaxes(title_text="time (s)", row=len(labels), col=1)
    fig.update_layout(height=220 * len(labels) + 80, margin=dict(l=60, r=10, t=50, b=40),
                      legend=dict(orientation="h", y=-0.12))
    return fig


def waste_summary(result) -> dict:
    """Time-weighted mean share of capacity (0..1) per state over the run (engine 1)."""
    its = [it for it in result.iterations if it.engine == result.engines[0]]
    total = sum(it.duration_s for it in its) or 1.0
    return {k: sum(getattr(it, f"kv_{k}") / it.kv_capacity * it.duration_s for it in its) / total
            for k in ("stored", "reserved", "internal", "external")}


def iteration_at(result, t: float) -> int:
    """Index (from 1) of the last pass of ``result`` that started at or before time ``t``."""
    best = 1
    for it in result.iterations:
        if it.start_s <= t:
            best = it.index
        else:
            break
    return best
