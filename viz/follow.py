"""Following one request across views: the same request marked in every figure of a run.

A learner picks one request (``?follow=r07``) and sees it everywhere: its lane in the batch timeline
(outlined, the other lanes dimmed), its cells in the slot grid, its own KV cache on the KV chart, its
blocks in a KV block map, and only the iterations that involved it in the iteration log.

Each function takes a figure that ``viz.timeline`` or ``viz.memory`` built (often a cached one, shared
between sessions) and returns a new figure with the highlight added; the original is never changed. On the
animated timeline the highlight is made of layout shapes only: plotly's animation frames carry trace data,
never the layout, so Play and the slider keep it (a trace added after the frames were built would be
dropped by every frame, the bug that erased the bars).
"""

from __future__ import annotations

import html
import re

import plotly.graph_objects as go

from sim.trace_query import request_kv_tokens
from viz.lean import lean_figure
from viz.palette import OKABE_ITO

# What marks the followed request: a thick black outline (black is in every palette and reads on orange,
# blue, grey and vermillion alike), and white veils over everything else.
MARK = OKABE_ITO["black"]
_DIM = "rgba(255,255,255,0.6)"


def _copy(fig: go.Figure) -> go.Figure:
    """A copy of ``fig`` (its frames too, kept as plain dicts: ``viz.lean``) without plotly's validation,
    which for an animated timeline costs more than the figure itself."""
    return lean_figure(fig.to_dict())


def lane_ids(result) -> list[str]:
    """The timeline's lanes, top to bottom, as ``viz.timeline.request_lanes`` orders them."""
    from viz.timeline import lane_ids as order
    return order(result)


def follow_lanes(fig: go.Figure, result, rid: str) -> go.Figure:
    """The lane timeline with request ``rid``'s lane outlined and labelled and every other lane dimmed."""
    lanes = lane_ids(result)
    if rid not in lanes:
        return fig
    p = lanes.index(rid)
    out = _copy(fig)
    y_top, y_bottom = -0.6, len(lanes) - 0.5  # the axis range: lane 0 at the top
    lane = dict(xref="paper", x0=0, x1=1, yref="y", layer="above")
    shapes = list(out.layout.shapes or ())
    if p - 0.5 > y_top:
        shapes.append(dict(type="rect", y0=y_top, y1=p - 0.5, fillcolor=_DIM, line=dict(width=0),
                           name="follow-dim", **lane))
    if p + 0.5 < y_bottom:
        shapes.append(dict(type="rect", y0=p + 0.5, y1=y_bottom, fillcolor=_DIM, line=dict(width=0),
                           name="follow-dim", **lane))
    shapes.append(dict(type="rect", y0=p - 0.5, y1=p + 0.5, line=dict(color=MARK, width=2.5),
                       fillcolor="rgba(0,0,0,0)", name="follow", **lane))
    out.layout.shapes = shapes
    # Its lane label in bold with a pointer, also where a long run labels only every k-th lane.
    ax = out.layout.yaxis
    vals, texts = list(ax.tickvals or range(len(lanes))), list(ax.ticktext or lanes)
    pairs = dict(zip(vals, texts))
    pairs[p] = f"<b>▶ {html.escape(rid)}</b>"
    vals = sorted(pairs)
    out.update_yaxes(tickvals=vals, ticktext=[pairs[v] for v in vals])
    title = out.layout.title.text or ""
    out.update_layout(title_text=f"{title} (following {html.escape(rid)})")
    return out


def follow_slots(fig: go.Figure, rid: str) -> go.Figure:
    """The slot grid with request ``rid``'s cells outlined, the others faded, and ``rid`` in bold in the
    queue line under each column where it waits."""
    out = _copy(fig)
    xs, ys = [], []
    word = re.compile(rf"(?<![\w]){re.escape(rid)}(?![\w])")
    for tr in out.data:
        if tr.type != "scatter" or tr.text is None:
            continue
        texts = list(tr.text)
        if tr.meta in ("prefill", "decode", "stalled"):
            mine = [t == rid for t in texts]
            xs += [x for x, m in zip(tr.x, mine) if m]
            ys += [y for y, m in zip(tr.y, mine) if m]
            # Faded as unselected points, not by a per-point opacity: the legend draws a trace's icon
            # from its first point, so per-point opacity faded the legend's icons too.
            tr.selectedpoints = [i for i, m in enumerate(mine) if m]
            tr.selected = dict(marker=dict(opacity=1.0))
            tr.unselected = dict(marker=dict(opacity=0.35))
        elif tr.name == "queue":
            tr.text = [word.sub(f"<b>{html.escape(rid)}</b>", t) for t in texts]
    out.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=f"following {html.escape(rid)}", meta="follow",
                             marker=dict(symbol="square-open", size=44, color=MARK, line=dict(width=3, color=MARK)),
                             hoverinfo="skip"))
    return out


def follow_kv(fig: go.Figure, result, rid: str) -> go.Figure:
    """The KV and queue chart (``viz.timeline.kv_and_queue``) with request ``rid``'s own cached tokens as a
    line on the KV panel and its time in the system (arrival to last token) shaded on both panels."""
    req = next((r for r in result.requests if r.id == rid), None)
    if req is None:
        return fig
    out = _copy(fig)
    pts = request_kv_tokens(result, rid)
    t0 = req.arrival_s
    xs, ys = [round(t0 * 1e3, 4)], [0]
    for t, n in pts:
        xs.append(round(t * 1e3, 4))
        ys.append(n)
    out.add_trace(go.Scatter(x=xs, y=ys, xaxis="x", yaxis="y", mode="lines",
                             name=f"{html.escape(rid)}'s KV cache (peak {max(ys):,} tokens)",
                             line=dict(color=MARK, width=2.5, shape="hv"), meta="follow",
                             hovertemplate=f"{html.escape(rid)}: %{{y:,}} tokens cached<extra></extra>"))
    end = req.finish_s if req.finish_s is not None else max([it.end_s for it in result.iterations] + [t0])
    for yref in ("y domain", "y2 domain"):
        out.add_shape(type="rect", xref="x", x0=round(t0 * 1e3, 4), x1=round(end * 1e3, 4), yref=yref, y0=0, y1=1,
                      fillcolor="rgba(0,0,0,0.06)", line=dict(color=MARK, width=1, dash="dot"), layer="below",
                      name="follow")
    out.add_annotation(xref="x", x=round(t0 * 1e3, 4), xanchor="left", yref="y2 domain", y=1, yanchor="bottom",
                       text=f"{html.escape(rid)} in the system", showarrow=False, font=dict(size=11, color=MARK))
    return out


def follow_blocks(fig: go.Figure, result, iteration_index: int, rid: str, cell_tokens: int,
                  columns: int = 40) -> go.Figure:
    """A KV block map (``viz.memory.block_map``) with the cells holding request ``rid``'s KV outlined."""
    it = result.iterations[iteration_index - 1]
    cells = sorted({c for r, start, n in it.layout if r == rid for c in range(start // cell_tokens,
                                                                            (start + n - 1) // cell_tokens + 1)})
    out = _copy(fig)
    out.add_trace(go.Scatter(x=[c % columns for c in cells], y=[c // columns for c in cells], mode="markers",
                             name=f"{html.escape(rid)}'s KV blocks" if cells else f"{html.escape(rid)}: no KV held now", meta="follow",
                             marker=dict(symbol="square-open", size=11, color=MARK, line=dict(width=2, color=MARK)),
                             hoverinfo="skip"))
    return out


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms" if seconds < 10 else f"{seconds:,.2f} s"


def follow_sentence(result, rid: str) -> str:
    """One request's story in numbers read off the run: arrival, wait, first and last token, its passes."""
    r = result.request(rid)
    if r.rejected_reason:
        return f"{rid} arrived at {_ms(r.arrival_s)} and was refused: {r.rejected_reason}."
    passes = sum(1 for it in result.iterations if role_in(it, rid))
    parts = [f"{rid} arrived at {_ms(r.arrival_s)} with a prompt of {r.prompt_tokens:,} tokens"]
    if r.queue_s is not None:
        parts.append(f"waited {_ms(r.queue_s)} in the queue")
    if r.first_token_s is not None:
        parts.append(f"got its first token after {_ms(r.ttft_s)}")
    if r.finish_s is not None:
        parts.append(f"and its last of {r.generated_tokens:,} tokens at {_ms(r.finish_s)}")
    text = ", ".join(parts) + f"; it took part in {passes:,} forward passes"
    if r.preemptions:
        text += f" and was preempted {r.preemptions} time{'s' if r.preemptions > 1 else ''}"
    if r.stalls:
        text += f"; {r.stalls} of its tokens stalled"
    return text + "."


# ---- the iteration log -------------------------------------------------------------------------------

def role_in(it, rid: str) -> str:
    """What iteration ``it`` did for request ``rid``, in words ("" when it was not part of it)."""
    parts = []
    if rid in it.preempted:
        parts.append("preempted before the pass")
    n = sum(k for r, k in it.prefill if r == rid)
    if n:
        parts.append(f"prefill of {n:,} tokens" + (" (joined)" if rid in it.joined else ""))
    if rid in it.decode:
        parts.append("decode, stalled by a prefill" if rid in it.stalled else "decode (one token)")
    elif rid in it.stalled:
        parts.append("stalled: no token this pass")
    if rid in it.finished:
        parts.append("last token out")
    return "; ".join(parts)


def follow_rows(rows: list[dict], result, rid: str) -> list[dict]:
    """The iteration log (``viz.narration.iteration_table``) cut to the passes that involved ``rid``, each
    row led by what that pass did for it."""
    out = []
    for row, it in zip(rows, result.iterations):  # the log has one row per pass, in the same order
        role = role_in(it, rid)
        if role:
            out.append({f"{rid} in this pass": role, **row})
    return out


__all__ = ["follow_lanes", "follow_slots", "follow_kv", "follow_blocks", "follow_rows", "role_in", "lane_ids", "follow_sentence"]
