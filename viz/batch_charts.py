"""Batch composition and KV memory charts: pure figure builders from a finished run (``sim.trace.SimResult``).

- ``batch_composition``: prefill vs decode tokens of every iteration (the mean over groups of consecutive
  iterations in long runs), one row per engine.
- ``kv_and_queue``: KV cache use (stored / reserved / internal / external) and queue length over time.

Both read the recorded iterations by columns (one pass per field, sums and means with numpy) and round
times and means as Python's ``round`` does (``_rounded``), so each value is the one a loop over the
records would give. ``viz.timeline`` re-exports both, beside the request-lane timeline.
"""

from __future__ import annotations

import functools
import json
import operator

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.axes import MARGIN_LEFT, MARGIN_X_TITLE
from viz.lean import lean_figure
from viz.palette import KV_COLORS, OKABE_ITO, PHASE_COLORS, PHASE_PATTERNS


@functools.lru_cache(maxsize=32)
def _subplot_grid(rows: int, vertical_spacing: float, row_heights: tuple | None, titles: tuple | None) -> tuple:
    """The layout plotly.subplots.make_subplots gives a one-column grid (axis domains, anchors, shared x,
    subplot titles) as JSON text, with its grid description and reference (which let ``add_trace(row=...)``
    work on the figure): made once per shape of grid, not per figure."""
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=vertical_spacing,
                        row_heights=list(row_heights) if row_heights else None,
                        subplot_titles=list(titles) if titles else None)
    layout = fig.layout.to_plotly_json()
    layout.pop("template", None)  # the figure gets plotly's default template as any new figure does
    return json.dumps(layout), fig._grid_str, fig._grid_ref


def _grid(rows: int, vertical_spacing: float, row_heights=None, titles=None) -> dict:
    """A fresh spec {"data": [], "layout": ..., "_grid_str", "_grid_ref"} on a cached subplot grid."""
    layout, grid_str, grid_ref = _subplot_grid(rows, vertical_spacing, tuple(row_heights) if row_heights else None,
                                               tuple(titles) if titles else None)
    return {"data": [], "layout": json.loads(layout), "_grid_str": grid_str, "_grid_ref": grid_ref}


def _axes(row: int) -> tuple[str, str]:
    """Trace axis references and layout keys of row ``row`` (from 1) of a one-column grid."""
    return ("x", "y") if row == 1 else (f"x{row}", f"y{row}")


def _axis_key(letter: str, row: int) -> str:
    return f"{letter}axis" if row == 1 else f"{letter}axis{row}"


def batch_composition(result, x: str = "time", max_bars: int = 600) -> go.Figure:
    """Prefill tokens vs decode tokens of every iteration (stacked bars); ``x`` = ``time`` (ms) or
    ``iteration``. Runs with more iterations than ``max_bars`` show the mean over consecutive groups.
    Disaggregated runs get one row per engine."""
    engines = list(result.engines) or ["engine"]
    spec = _grid(len(engines), 0.08, titles=[f"engine {e}" for e in engines] if len(engines) > 1 else None)
    layout, data = spec["layout"], spec["data"]
    group_size = 1
    for row, eng in enumerate(engines, start=1):
        its = [it for it in result.iterations if it.engine == eng]
        k = 1 if len(its) <= max_bars else -(-len(its) // max_bars)  # groups of k consecutive iterations
        group_size = max(group_size, min(k, len(its)) if its else 1)
        xs, widths, pre, dec, idx = _composition_bars(its, k, x)
        xref, yref = _axes(row)
        for name, ys, phase in (("prefill tokens", pre, "prefill"), ("decode tokens (1 per sequence)", dec, "decode")):
            marker = dict(color=PHASE_COLORS[phase], line=dict(width=0))
            if PHASE_PATTERNS[phase].get("shape"):
                marker["pattern"] = dict(PHASE_PATTERNS[phase])
            data.append(dict(
                type="bar", x=xs.copy(), y=ys, width=widths.copy(), name=name,
                marker=marker, customdata=idx,
                legendgroup=phase, showlegend=row == 1, meta=phase,
                hovertemplate="iteration %{customdata}<br>" + name + ": %{y}<extra></extra>", xaxis=xref, yaxis=yref))
        unit = "tokens per iteration" + (f" (mean of {group_size})" if group_size > 1 else "")
        layout[_axis_key("y", row)]["title"] = dict(text=unit)
    layout[_axis_key("x", len(engines))]["title"] = dict(text="time (ms)" if x != "iteration" else "iteration")
    layout.update(barmode="stack", bargap=0, title=dict(text="Batch composition: prefill vs decode tokens "
                                                             "per iteration", x=0),
                  height=320 if len(engines) == 1 else 200 + 160 * len(engines),
                  legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
                  margin=dict(l=MARGIN_LEFT, r=10, t=80, b=MARGIN_X_TITLE))
    return lean_figure(spec)


def _composition_bars(its: list, k: int, x: str) -> tuple:
    """Per group of ``k`` consecutive iterations (the last one may be shorter): the bar's x and width (ms,
    or iteration numbers), its mean prefill and decode tokens (rounded to 2 places) as float arrays, and the
    label of its iterations. Summed and divided over the trace's columns with numpy, rounded as ``round``
    rounds (``_rounded``): the values the loop over groups computed."""
    n = len(its)
    first = np.arange(0, n, k, dtype=np.int64)
    last = np.minimum(first + k, n) - 1
    size = last - first + 1
    if x == "iteration":
        index = np.fromiter(map(operator.attrgetter("index"), its), np.int64, n)
        xs = (index[first] + index[last]) / 2
        widths = np.maximum(index[last] - index[first] + 1, 1) * 0.9
    else:
        starts = np.fromiter(map(operator.attrgetter("start_s"), its), float, n)
        ends = np.fromiter(map(operator.attrgetter("end_s"), its), float, n)
        xs = _ms_array((starts[first] + ends[last]) / 2)
        widths = np.maximum(_ms_array(ends[last]) - _ms_array(starts[first]), 1e-3)
    pre_tok = np.fromiter((sum(q for _, q in it.prefill) if it.prefill else 0 for it in its), np.int64, n)
    dec_n = np.fromiter(map(len, map(operator.attrgetter("decode"), its)), np.int64, n)
    pre = _rounded(np.add.reduceat(pre_tok, first) / size, 2) if n else np.array([])
    dec = _rounded(np.add.reduceat(dec_n, first) / size, 2) if n else np.array([])
    idx = [f"{its[a].index}" if a == b else f"{its[a].index}-{its[b].index}" for a, b in zip(first.tolist(), last.tolist())]
    return xs, widths, pre, dec, idx


def _rounded(a: np.ndarray, ndigits: int) -> np.ndarray:
    """``[round(v, ndigits) for v in a]`` as a float array: numpy's rint of a * 10**ndigits, divided back,
    is the same double except where the product lies within its own rounding error of a half (the rint
    could fall either side); those few values get Python's round."""
    scale = 10.0 ** ndigits
    p = a * scale
    out = np.rint(p) / scale
    with np.errstate(invalid="ignore"):  # inf - inf: a non-finite value, handed to round below
        unsure = ~(np.abs(p - np.floor(p) - 0.5) > np.abs(p) * 2.0 ** -50)
    for i in np.flatnonzero(unsure).tolist():
        out[i] = round(float(a[i]), ndigits)
    return out


def _ms_array(seconds) -> np.ndarray:
    """``[round(s * 1e3, 4) for s in seconds]`` (seconds to ms, as ``viz.timeline`` rounds them) as a float
    array."""
    return _rounded(np.asarray(seconds, dtype=float) * 1e3, 4)


def kv_and_queue(result, max_points: int = 3000) -> go.Figure:
    """Top: KV cache slots in use (tokens) split into stored / reserved / internal waste, external
    fragmentation and capacity. Bottom: queue length and running sequences over time."""
    spec = _grid(2, 0.1, row_heights=[0.6, 0.4], titles=("KV cache (token slots)", "queue and batch"))
    layout, data = spec["layout"], spec["data"]
    engines = list(result.engines) or ["engine"]
    # KV of the engine that holds the most (decode engine in disaggregated runs); one engine holds it all.
    eng = engines[0] if len(engines) == 1 else max(
        engines, key=lambda e: max((it.kv_held for it in result.iterations if it.engine == e), default=0))
    its = [it for it in result.iterations if it.engine == eng]
    pts = _bin_ends(its, max_points)
    # Columns read with attrgetter over the records, times rounded as _ms rounds them (_ms_array).
    t = _ms_array(_column(pts, "end_s"))
    stack = (("stored", "stored (cached tokens)", "kv_stored"), ("reserved", "reserved (for future tokens)",
                                                                "kv_reserved"),
             ("internal", "internal waste (unused in held blocks)", "kv_internal"))
    for key, label, attr in stack:
        data.append(dict(type="scatter", x=t, y=np.array(_column(pts, attr)), name=label,
                         stackgroup="kv", line=dict(width=0.5, shape="hv", color=KV_COLORS[key]),
                         fillcolor=KV_COLORS[key], meta=key, hovertemplate=label + ": %{y:,} tokens<extra></extra>",
                         xaxis="x", yaxis="y"))
    external = _column(pts, "kv_external")
    if any(external):
        data.append(dict(type="scatter", x=t, y=np.array(external),
                         name="external fragmentation (free, outside the largest hole)",
                         line=dict(color=KV_COLORS["external"], dash="dot", shape="hv"), meta="external",
                         hovertemplate="external: %{y:,} tokens<extra></extra>", xaxis="x", yaxis="y"))
    cap = result.kv_capacity_tokens
    peak = max(map(operator.add, _column(its, "kv_held"), _column(its, "kv_external")), default=0)
    _capacity(layout, cap, peak)
    all_pts = _bin_ends(result.iterations, max_points)
    starts = _ms_array(_column(pts, "start_s"))
    data.append(dict(type="scatter", x=starts.copy() if all_pts == pts else _ms_array(_column(all_pts, "start_s")),
                     y=np.array(_column(all_pts, "waiting")),
                     name="queue length (waiting requests)", line=dict(color=PHASE_COLORS["queued"], shape="hv", width=2),
                     meta="queue", hovertemplate="queue: %{y} requests<extra></extra>", xaxis="x2", yaxis="y2"))
    data.append(dict(type="scatter", x=starts, y=np.array(_column(pts, "running")),
                     name=f"running sequences ({eng})", line=dict(color=PHASE_COLORS["decode"], shape="hv"),
                     meta="running", hovertemplate="running: %{y}<extra></extra>", xaxis="x2", yaxis="y2"))
    layout["yaxis"]["title"] = dict(text="tokens")
    layout["yaxis2"].update(title=dict(text="requests"), rangemode="tozero")
    layout["xaxis2"]["title"] = dict(text="time (ms)")
    layout.update(title=dict(text="KV memory and queue length over time", x=0), height=540, hovermode="x unified",
                  legend=dict(orientation="h", yanchor="top", y=-0.22, x=0),
                  # the legend below the plot: x title plus its rows at the app's half-page width
                  margin=dict(l=MARGIN_LEFT + 6, r=10, t=80, b=178))
    return lean_figure(spec)


def _capacity(layout: dict, cap: int, peak: int) -> None:
    """The KV panel's capacity: a dashed line with its label when the peak comes near it, else the peak's
    share of it in the panel's title."""
    if peak >= 0.3 * cap:
        # plotly's add_hline(row=1, col=1, annotation_position="top left"), written out
        layout["shapes"] = [dict(type="line", x0=0, x1=1, xref="x domain", y0=cap, y1=cap, yref="y",
                                 line=dict(color=OKABE_ITO["black"], dash="dash"))]
        layout["annotations"].append(dict(showarrow=False, text=f"capacity {cap:,} tokens", x=0, xanchor="left",
                                          xref="x domain", y=cap, yanchor="bottom", yref="y"))
        layout["yaxis"]["range"] = [0, cap * 1.08]
    else:
        # The capacity line would flatten the curve to nothing: say it in the panel's title instead
        # (a separate note there collides with the title).
        layout["annotations"][0]["text"] = f"KV cache: peak {peak / max(cap, 1):.1%} of {cap:,} token slots"


def _bin_ends(items: list, max_points: int) -> list:
    """The last item of each group of ``k`` consecutive items, ``k`` the fewest that make at most ``max_points``
    groups (the last group may be shorter), without making the groups."""
    if len(items) <= max_points:
        return list(items)
    k = -(-len(items) // max_points)
    ends = items[k - 1::k]
    return ends + [items[-1]] if len(items) % k else ends


def _column(items: list, attr: str) -> list:
    return list(map(operator.attrgetter(attr), items))


__all__ = ["batch_composition", "kv_and_queue"]
