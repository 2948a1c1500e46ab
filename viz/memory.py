"""KV-cache memory figures (C5, memory fragmentation): the block map at one iteration, the waste split
over time, and the moment a request is refused although total free memory would hold it (found by
``sim.trace_query.refused_although_free``; the names are re-exported here for the page).

Inputs are ``SimResult`` objects run with ``record_layout=True`` (the layout is the owner of every slot
after each pass). Slots are token slots numbered from 0; the block map draws one cell per
``cell_tokens`` slots (the paged block size by default) so the paged and contiguous maps read alike.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sim.trace_query import (RefusedMoment, computed_tokens_at, free_holes, iteration_at,  # noqa: F401
                             refused_although_free)
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
# A letter in each cell besides its colour, so the map does not rest on colour alone (WCAG 1.4.1); the
# largest hole stays blank, the background a newcomer can use.
STATE_LETTERS = {"stored": "S", "reserved": "R", "internal": "I", "external": "E", "free": ""}


# ---- reading the trace ---------------------------------------------------------------------------

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
    letters = np.full(rows * columns, "", dtype=object)
    for i in range(ncells):
        lo = i * cell
        letters[i] = STATE_LETTERS[STATES[cell_state[i]]]
        text[i] = (f"slots {lo:,}-{min(lo + cell, len(states)) - 1:,}<br>{STATE_LABELS[STATES[cell_state[i]]]}"
                   + (f"<br>owner {cell_owner[i]}" if cell_owner[i] else ""))
    n = len(STATES)
    scale = []
    for i, s in enumerate(STATES):
        scale += [[i / n, KV_COLORS[s]], [(i + 1) / n, KV_COLORS[s]]]
    fig = go.Figure(go.Heatmap(
        z=z.reshape(rows, columns), customdata=text.reshape(rows, columns), hovertemplate="%{customdata}<extra></extra>",
        text=letters.reshape(rows, columns), texttemplate="%{text}", textfont=dict(size=9),
        colorscale=scale, zmin=-0.5, zmax=n - 0.5, showscale=False, xgap=1, ygap=1))
    # Legend entries (heatmaps have none): one invisible marker per state.
    for s in STATES:
        letter = f" ({STATE_LETTERS[s]})" if STATE_LETTERS[s] else ", no letter"
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=STATE_LABELS[s] + letter,
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
