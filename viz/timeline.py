"""Batch timelines: pure figure builders from a finished run (``sim.trace.SimResult``) to plotly figures.

Nothing here re-runs or re-computes the simulation; everything is read off the recorded iterations,
requests and KV transfers. Times are seconds in the data and milliseconds on every axis.

- ``request_lanes``: one lane per request, coloured by phase per iteration (queued, prefill, decode,
  stalled, preempted, KV transfer, done), animated client-side with lean plotly frames.
- ``slot_grid``: the book's picture of continuous batching: engine slots x iterations, each cell the
  sequence in that slot and whether it was prefilled or decoded.
- ``batch_composition`` and ``kv_and_queue`` (prefill vs decode tokens of every iteration; KV cache use and
  queue length over time): built in ``viz.batch_charts``, re-exported here.

What was true at each iteration (phases, queue, slots) comes from ``sim.trace_query``; the words that go
with the pictures (narration, the iteration log) are in ``viz.narration``.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from sim.lanes import LaneSegment, engine_segments, lane_segments
from sim.trace_query import queued_ids, slot_assignment
from viz.axes import MARGIN_LEFT, MARGIN_X_TITLE
from viz.batch_charts import batch_composition, kv_and_queue  # this module's interface too (tl.batch_composition)
from viz.lean import lean_figure
from viz.palette import OKABE_ITO, PHASE_COLORS, PHASE_PATTERNS, PHASE_SYMBOLS

# Legend names: the book's term first, a plain-words gloss beside it.
PHASE_LABELS = {
    "queued": "queued (waiting for a slot)",
    "prefill": "prefill (prompt processed)",
    "decode": "decode (one new token)",
    "stalled": "stalled (token delayed by a prefill)",
    "preempted": "preempted (evicted, waits to resume)",
    "transfer": "KV transfer (prefill -> decode engine)",
    "done": "done (last token out)",
    "padding": "padding (finished; its slot stays in the static batch)",
}
PHASE_ORDER = ("queued", "preempted", "transfer", "prefill", "decode", "stalled", "padding")

_EPS = 1e-12
# The margins for tick labels and axis titles are viz.axes's; under an animated timeline the Play buttons
# and the slider need this much more.
_SLIDER_BLOCK = 114  # Play/Pause and the slider with its current value and tick labels, below y=-0.06


def _ms(s: float) -> float:
    return round(s * 1e3, 4)


# ---- per-request phases ------------------------------------------------------------------------------

Segment = LaneSegment  # the name the figures and tests use


def coarsen(segs: list[Segment], t_end: float, max_segments: int) -> list[Segment]:
    """Bound the number of bars: within each of G equal time columns a lane's short segments become one
    bar whose phase is the one holding most of that time (stalls win at a quarter, so they stay visible)
    and whose hover says the mix. G shrinks until the result fits ``max_segments``."""
    if len(segs) <= max_segments or t_end <= 0:
        return segs
    columns = 1200
    while True:
        w = t_end / columns
        out: list[Segment] = []
        group: list[Segment] = []

        def flush():
            if not group:
                return
            if len(group) == 1:
                out.append(group[0])
            else:
                time_by: dict[str, float] = {}
                for g in group:
                    time_by[g.phase] = time_by.get(g.phase, 0.0) + (g.end_s - g.start_s)
                total = sum(time_by.values()) or 1.0
                phase = max(time_by, key=time_by.get)
                if time_by.get("stalled", 0.0) >= 0.25 * total:
                    phase = "stalled"
                ranked = sorted(time_by.items(), key=lambda kv: -kv[1])
                mix = ", ".join(f"{100 * v / total:.0f}% {k}" for k, v in ranked)
                firsts = [g.first for g in group if g.first]
                out.append(Segment(group[0].lane, phase, group[0].start_s, group[-1].end_s,
                                   min(firsts, default=0), max((g.last for g in group), default=0),
                                   group[0].engine, f"{len(group)} stretches: {mix}"))
            group.clear()

        col = None
        for sg in segs:
            c = int(sg.start_s // w)
            if group and (sg.lane != group[-1].lane or c != col):
                flush()
            group.append(sg)
            col = c
        flush()
        merged: list[Segment] = []
        for sg in out:
            p = merged[-1] if merged else None
            if p and p.lane == sg.lane and p.phase == sg.phase and abs(p.end_s - sg.start_s) < 1e-9:
                merged[-1] = p._replace(end_s=sg.end_s, last=sg.last or p.last,
                                        detail=p.detail if p.detail == sg.detail else "merged stretches")
            else:
                merged.append(sg)
        if len(merged) <= max_segments or columns <= 50:
            return merged
        columns //= 2


def _iters(s: Segment) -> str:
    if s.first and s.last and s.last != s.first:
        return f"iterations {s.first}-{s.last}"
    return f"iteration {s.first}" if s.first else "between iterations"


def _phase_bars(phase: str, ps: list, pos: dict) -> dict:
    """One bar trace per phase, as the dict plotly.js reads. Hover text is assembled in the browser from
    ``customdata`` (lane, iterations[, detail]) and the bar's own base and length, which keeps big runs'
    figures small. Values are typed as plotly.py's validation would leave them (``base`` a list), and
    ``customdata`` is rows of strings as lists, not an object-dtype array: the same JSON, but orjson (which
    plotly.io.to_json uses when it is installed) writes lists itself and gives up on an object array, after
    which plotly cleans the whole figure in Python first (several times the cost of writing it)."""
    starts = np.round(np.fromiter((s.start_s for s in ps), float, len(ps)) * 1e3, 3)
    lengths = np.round(np.maximum(np.fromiter((s.end_s for s in ps), float, len(ps)) * 1e3 - starts, 0.0), 3)
    with_detail = phase not in ("decode",)
    if with_detail:
        rows = [[s.lane, _iters(s), s.detail + (f" on {s.engine}" if s.engine and not s.lane.startswith("engine")
                                                 else "")] for s in ps]
    else:
        rows = [[s.lane, _iters(s)] for s in ps]
    template = ("<b>%{customdata[0]}</b> " + PHASE_LABELS[phase] + "<br>%{customdata[1]}, "
                "from %{base:,.1f} ms for %{x:,.1f} ms" + ("<br>%{customdata[2]}" if with_detail else "")
                + "<extra></extra>")
    marker = dict(color=PHASE_COLORS[phase], line=dict(width=0.5 if len(ps) < 400 else 0, color="white"))
    if _PATTERNS[phase].get("shape"):  # decode is solid: no pattern to draw
        marker["pattern"] = dict(_PATTERNS[phase])
    return dict(type="bar", name=PHASE_LABELS[phase], orientation="h",
                y=np.fromiter((pos[s.lane] for s in ps), np.int64, len(ps)), x=lengths, base=starts.tolist(),
                customdata=rows, hovertemplate=template, width=0.8, legendgroup=phase, meta=phase, marker=marker)


# Colour is not the only cue: every phase has its own fill pattern (viz.palette.PHASE_PATTERNS).
_PATTERNS = PHASE_PATTERNS


# ---- the animated request-lane timeline ----------------------------------------------------------------

def sampled_iterations(result, max_frames: int = 300) -> list:
    """At most ``max_frames`` iterations, evenly spread, always keeping the first and the last."""
    its = result.iterations
    if len(its) <= max_frames:
        return list(its)
    n = max(max_frames, 2)
    picks = sorted({round(i * (len(its) - 1) / (n - 1)) for i in range(n)})
    return [its[i] for i in picks]


def lane_ids(result) -> list[str]:
    """The lanes of ``request_lanes`` top to bottom: the engines (when there are several), then one lane
    per request in arrival order (``viz.follow`` finds a request's lane by it)."""
    engines = [f"engine {e}" for e in result.engines] if len(result.engines) > 1 else []
    return engines + [r.id for r in sorted(result.requests, key=lambda r: (r.arrival_s, r.id))]


def request_lanes(result, max_frames: int = 300, animate: bool = True, title: str | None = None,
                  upto: int | None = None, merge: bool | None = None, height: int | None = None,
                  max_segments: int = 6000) -> go.Figure:
    """One lane per request (y, in arrival order) against time (x, ms), coloured by phase.

    ``animate`` adds Play/Pause buttons and a slider; each frame only moves a "now" line and a veil
    over the future (two small traces), so the figure stays small however many bars it has.
    ``upto`` draws only iterations up to that index (the step-by-step page) and no animation.
    """
    segs = coarsen(lane_segments(result, merge=merge), max([it.end_s for it in result.iterations] + [0.0]),
                   max_segments)
    t_end = max([it.end_s for it in result.iterations] + [r.finish_s or 0.0 for r in result.requests] + [0.0])
    if upto is not None:
        cut = next((it.end_s for it in reversed(result.iterations) if it.index <= upto), 0.0)
        segs = [s for s in segs if s.start_s < cut - _EPS or (s.start_s <= cut and s.phase == "queued")]
        segs = [s._replace(end_s=cut) if s.end_s > cut else s for s in segs]
        t_end = cut or t_end
        animate = False
    all_lanes = lane_ids(result)
    engine_lanes = all_lanes[:len(all_lanes) - len(result.requests)]
    if engine_lanes:
        segs = [s for s in engine_segments(result) if upto is None or s.first <= upto] + segs
    pos = {lane: i for i, lane in enumerate(all_lanes)}
    x_max = _ms(max(t_end, 1e-6)) * 1.02

    data = []
    for phase in PHASE_ORDER:
        ps = [s for s in segs if s.phase == phase]
        if ps:
            data.append(_phase_bars(phase, ps, pos))
    data += _markers(result, pos, None if upto is None else t_end)
    layout = _lanes_layout(all_lanes, x_max, title, height, animate)
    if engine_lanes:
        layout["shapes"] = [dict(type="line", x0=0, x1=1, xref="x domain", y0=len(engine_lanes) - 0.5,
                                 y1=len(engine_lanes) - 0.5, yref="y",
                                 line=dict(color=OKABE_ITO["grey"], width=1, dash="dot"))]
    spec = dict(data=data, layout=layout)
    if animate and result.iterations:
        _add_animation(spec, result, len(all_lanes), x_max, max_frames)
    return lean_figure(spec)


def _markers(result, pos: dict, t_cut: float | None) -> list[dict]:
    """A green tick where each request gave its last token, a black cross where one was rejected."""
    out = []
    done = [r for r in result.requests if r.finish_s is not None and (t_cut is None or r.finish_s <= t_cut + _EPS)]
    if done:
        out.append(dict(
            type="scatter", name=PHASE_LABELS["done"], x=[_ms(r.finish_s) for r in done], y=[pos[r.id] for r in done],
            mode="markers", marker=dict(symbol="line-ns-open", size=10, color=PHASE_COLORS["done"],
                                        line=dict(width=3, color=PHASE_COLORS["done"])),
            hovertext=[f"<b>{r.id}</b> done at {_ms(r.finish_s):,.1f} ms: {r.output_tokens} tokens, "
                       f"TTFT {_ms(r.ttft_s):,.1f} ms" for r in done],
            hovertemplate="%{hovertext}<extra></extra>", meta="done"))
    rejected = [r for r in result.requests if r.rejected_reason]
    if rejected:
        out.append(dict(
            type="scatter", name="rejected (can never fit)", x=[_ms(r.arrival_s) for r in rejected],
            y=[pos[r.id] for r in rejected], mode="markers",
            marker=dict(symbol="x", size=9, color=OKABE_ITO["black"]),
            hovertext=[f"<b>{r.id}</b> rejected: {r.rejected_reason}" for r in rejected],
            hovertemplate="%{hovertext}<extra></extra>", meta="rejected"))
    return out


# Lane height (px): every lane labelled in readable type up to _LABEL_EVERY_LANE lanes; beyond that the
# chart stops growing and labels every k-th lane.
_LANE_PX = 16
_LABEL_EVERY_LANE = 64
_MAX_PLOT_PX = _LANE_PX * _LABEL_EVERY_LANE


def lanes_height(n_lanes: int, animate: bool = True) -> int:
    """Figure height (px) that gives each of ``n_lanes`` lanes about 16 px (22 px for a handful)."""
    lane = 26 if n_lanes <= 12 else _LANE_PX
    plot_px = min(_MAX_PLOT_PX, max(140, lane * n_lanes))
    return int(110 + plot_px + (150 if animate else MARGIN_X_TITLE))


def _lanes_layout(all_lanes: list[str], x_max: float, title: str | None, height: int | None,
                  animate: bool) -> dict:
    n = len(all_lanes)
    step = 1 if n <= _LABEL_EVERY_LANE else -(-n // 40)
    tickvals = list(range(0, n, step))
    fig_height = height or lanes_height(n, animate)
    # ticklabeloverflow "allow": under plotly.js's default for a numeric axis ("hide past div") placing each tick
    # label measures every label again, n^2 measurements for up to 64 lane labels. The margins hold every
    # label, so none ever overflowed the div: the chart is drawn pixel for pixel as before (Chromium).
    return dict(
        yaxis=dict(title=dict(text="request (lane, in arrival order)"), tickvals=tickvals,
                   ticktext=[all_lanes[i] for i in tickvals], range=[n - 0.5, -0.6], zeroline=False,
                   tickfont=dict(size=11), ticklabeloverflow="allow"),
        xaxis=dict(title=dict(text="time (ms)"), range=[0, x_max], ticklabeloverflow="allow"),
        # Title at the very top of the container, legend between it and the plot: they never overlap.
        title=dict(text=title or "Batch timeline: one lane per request", x=0, y=0.995, yref="container",
                   yanchor="top"),
        barmode="overlay", bargap=0.15, hovermode="closest",
        height=fig_height,
        legend=dict(orientation="h", yanchor="bottom", y=1.01, xanchor="left", x=0, title=dict(text="phase: ")),
        margin=dict(l=MARGIN_LEFT + 22, r=10, t=110,
                    b=_lanes_bottom(fig_height, 110) if animate else MARGIN_X_TITLE),
    )


def _lanes_bottom(height: int, top: int) -> int:
    """Bottom margin that fits the x title and, 6% of the plot height further down, the Play buttons and
    slider: plotly's own auto-margin result, b = slider block + 0.06 * (height - top - b)."""
    return int(-(-(_SLIDER_BLOCK + 0.06 * (height - top)) // 1.06)) + 1


# Play's pace. A short run shows each iteration long enough to read (12 s for the whole run, at most 0.7 s an
# iteration). A long run, sampled to at most 300 frames, plays at the display's rate: plotly.js draws the
# next frame on the first animation tick more than a frame's duration after the last one, so a duration
# under one 60 Hz refresh (16.7 ms) draws a frame every refresh the browser keeps up with (up to 60 frames
# a second, 5 s for 300 frames), where the old floor of 40 ms drew one every third refresh (20 frames a
# second). Below 30 frames a second the timeline would judder; a duration between 16.7 and 33 ms would
# pin it to exactly 30.
_REPLAY_MS = 12000
_STEP_MIN_MS = 50  # shorter than this per iteration, and the run plays at the display's rate
_REFRESH_MS = 16


def play_frame_ms(n_frames: int) -> int:
    """The Play button's frame duration (ms) for an animation of ``n_frames`` frames."""
    per_frame = _REPLAY_MS / max(n_frames, 1)
    return _REFRESH_MS if per_frame < _STEP_MIN_MS else int(min(700, per_frame))


# Slider steps: one per frame up to this many frames, beyond that one every k-th frame and the last. Before
# it draws the chart, plotly.js lays out the text of every step's label and of every step's "after iteration"
# value (two text measurements a step); with a step per frame of 300 the slider was about half of the timeline's
# drawing time in Chromium. Play still draws every frame; the slider's handle and value follow the frames that
# have a step (every other one of 300: at 40 frames/s, 20 moves a second).
MAX_SLIDER_STEPS = 150


def _add_animation(spec: dict, result, n_lanes: int, x_max: float, max_frames: int) -> None:
    """Play/Pause and a slider over sampled iterations. Frames carry only the "now" line and the veil."""
    frames_its = sampled_iterations(result, max_frames)
    y_lo, y_hi = -0.6, n_lanes - 0.5
    data = spec["data"]
    now_idx = len(data)
    # Initial state: the whole run visible, "now" at the end; Play replays it from the start.
    data.append(dict(type="scatter", x=[x_max, x_max], y=[y_lo, y_hi], mode="lines", name="now",
                     line=dict(color=OKABE_ITO["black"], width=2), hoverinfo="skip", showlegend=False))
    data.append(dict(type="scatter", x=[x_max, x_max, x_max, x_max], y=[y_lo, y_lo, y_hi, y_hi], fill="toself",
                     mode="lines", line=dict(width=0), fillcolor="rgba(255,255,255,0.82)",
                     hoverinfo="skip", hoveron="points", showlegend=False, name="future"))
    # plotly.js redraws only the traces a frame names and drops every other non-scatter trace of the
    # subplot (the bars vanished on Play). So each frame names every bar trace with an empty update (only
    # its type): they are kept and drawn as they are, and the frame still carries only what moves.
    kept = [i for i, tr in enumerate(data[:now_idx]) if tr["type"] != "scatter"]
    kept_data = [dict(type=data[i]["type"]) for i in kept]
    frames, steps = [], []
    stride = -(-len(frames_its) // MAX_SLIDER_STEPS)
    for k, it in enumerate(frames_its):
        t = _ms(it.end_s)
        name = str(it.index)
        frames.append(dict(name=name, traces=kept + [now_idx, now_idx + 1], data=kept_data + [
            dict(type="scatter", x=[t, t]), dict(type="scatter", x=[t, x_max, x_max, t])]))
        if k % stride == 0 or k == len(frames_its) - 1:
            steps.append(dict(
                method="animate", label=f"{it.index} ({t:,.0f} ms)",
                args=[[name], dict(mode="immediate", frame=dict(duration=0, redraw=False),
                                   transition=dict(duration=0))]))
    # The frames, slider steps and buttons are plain dicts (viz.lean): validating 300 frames and their steps
    # cost more time than the rest of the figure, and every value in them is a number or name computed just
    # above (tests/test_figure_digests.py checks the resulting JSON).
    spec["frames"] = frames
    frame_ms = play_frame_ms(len(frames))
    spec["layout"].update(
        updatemenus=[dict(type="buttons", direction="left", showactive=False, x=0, y=-0.06,
                          xanchor="left", yanchor="top", pad=dict(t=40, r=10), buttons=[
                              dict(label="Play", method="animate",
                                   args=[None, dict(frame=dict(duration=frame_ms, redraw=False), fromcurrent=True,
                                                    transition=dict(duration=0), mode="immediate")]),
                              dict(label="Pause", method="animate",
                                   args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate",
                                                      transition=dict(duration=0))])])],
        sliders=[dict(active=len(steps) - 1, steps=steps, x=0.12, len=0.88, y=-0.06, yanchor="top",
                      pad=dict(t=30), currentvalue=dict(prefix="after iteration ", visible=True, xanchor="right"),
                      transition=dict(duration=0))],
    )


# ---- the book's slot picture -------------------------------------------------------------------------

def slot_grid(result, upto: int | None = None, slots: int | None = None, title: str | None = None) -> go.Figure:
    """Engine slots (rows) x iterations (columns): each cell names the sequence in that slot and is
    coloured and shaped prefill (square) / decode (circle) / stalled (diamond); the queue is written under
    each column."""
    rows = slot_assignment(result)
    its = [it for it in result.iterations if it.engine == (result.engines[0] if result.engines else "engine")]
    n_slots = slots or max([max(r) for r in rows if r] + [1])
    shown = len(its) if upto is None else max(0, min(upto, len(its)))
    fig = go.Figure()
    for phase in ("prefill", "decode", "stalled"):
        xs, ys, texts, hovers = [], [], [], []
        for k in range(shown):
            for slot, (rid, ph) in rows[k].items():
                if ph == phase:
                    xs.append(its[k].index)
                    ys.append(slot)
                    texts.append(f"{rid}")
                    hovers.append(f"iteration {its[k].index}, slot {slot}: {rid} {PHASE_LABELS[phase]}")
        if xs:
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="markers+text", text=texts, textfont=dict(color="white", size=13),
                marker=dict(symbol=PHASE_SYMBOLS[phase], size=38, color=PHASE_COLORS[phase]), name=PHASE_LABELS[phase],
                hovertext=hovers, hovertemplate="%{hovertext}<extra></extra>", meta=phase))
    # Queue under each column: who is waiting when this pass starts.
    qx, qtext = [], []
    for k in range(shown):
        waiting = queued_ids(result, its[k])
        qx.append(its[k].index)
        qtext.append("queue: " + (", ".join(waiting) if waiting else "-"))
    if qx:
        fig.add_trace(go.Scatter(x=qx, y=[n_slots + 0.9] * len(qx), mode="text", text=[t.replace(": ", ":<br>")
                                                                                      for t in qtext],
                                 textfont=dict(color=PHASE_COLORS["queued"], size=11), hoverinfo="skip",
                                 showlegend=False, name="queue"))
    last = its[-1].index if its else 1
    fig.update_xaxes(title_text="iteration (one forward pass each)", range=[0.4, last + 0.6], dtick=1)
    fig.update_yaxes(title_text="engine slot", range=[n_slots + 1.5, 0.4], tickvals=list(range(1, n_slots + 1)),
                     ticktext=[f"slot {s}" for s in range(1, n_slots + 1)])
    fig.update_layout(title=dict(text=title or "Batch slots per iteration", x=0), height=150 + 60 * n_slots,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0), margin=dict(l=10, r=10, t=70, b=10),
                      plot_bgcolor="white")
    return fig


__all__ = ["PHASE_LABELS", "Segment", "lane_segments", "lane_ids", "sampled_iterations", "request_lanes", "slot_grid", "coarsen",
           "batch_composition", "kv_and_queue"]
