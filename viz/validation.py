"""Figures for the validation page: a simulated run next to the same run measured on the real tiny model.

Pure builders (plotly only), fed with two ``sim.trace.SimResult`` objects of the same workload and
scheduler: one priced by the cost model, one timed on the torch model (``sim.real.executor``).
Seconds in the data, milliseconds on every axis.

- ``timelines``: both runs' forward passes on one shared time axis (prefill and decode tokens per pass).
- ``e2e_scatter``: per-request end-to-end latency, simulated against measured, with the identity line.
- ``iteration_scatter``: the cost model's prediction for each measured pass against its measured time.

The second view holds the GPU presets against passes measured on real A100/H100 GPUs (fed with
``sim.gpu_passes.compare()`` rows and ``error_table()``):

- ``gpu_scatter``: predicted against measured time per measured pass, identity line, one colour per kind.
- ``gpu_errors``: median and largest absolute error per (model, GPU, kind), beside the 5% / 15% targets.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.palette import OKABE_ITO, PHASE_COLORS, PHASE_PATTERNS

KIND_COLORS = {"prefill only": PHASE_COLORS["prefill"], "decode only": PHASE_COLORS["decode"],
               "prefill + decode": OKABE_ITO["vermillion"]}


def _ms(s: float) -> float:
    return s * 1e3


def pass_kind(it) -> str:
    """What a pass computed: the three kinds a scheduler mixes (C3)."""
    if it.prefill and it.decode:
        return "prefill + decode"
    return "prefill only" if it.prefill else "decode only"


def timelines(simulated, measured, title: str | None = None) -> go.Figure:
    """Two rows on one time axis: every forward pass of each run as a bar as wide as the pass lasted and
    as tall as the tokens it computed (prefill stacked on decode). Ticks mark request completions."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        subplot_titles=("simulated (cost model)", "measured (real tiny model)"))
    for row, res in ((1, simulated), (2, measured)):
        its = res.iterations
        x = [_ms((it.start_s + it.end_s) / 2) for it in its]
        w = [max(_ms(it.end_s - it.start_s), 1e-3) for it in its]
        hover = [f"pass {it.index}: {_ms(it.start_s):,.1f}-{_ms(it.end_s):,.1f} ms "
                 f"({_ms(it.end_s - it.start_s):.2f} ms)<br>{len(it.prefill)} prefill chunks, "
                 f"{it.prefill_tokens} tokens; {len(it.decode)} decodes" for it in its]
        for name, ys, phase in (("decode tokens (1 per sequence)", [len(it.decode) for it in its], "decode"),
                                ("prefill tokens", [it.prefill_tokens for it in its], "prefill")):
            fig.add_trace(go.Bar(x=x, y=ys, width=w, name=name, marker=dict(color=PHASE_COLORS[phase], line=dict(width=0),
                                                                            pattern=PHASE_PATTERNS[phase]),
                                 legendgroup=phase, showlegend=row == 1, hovertext=hover, meta=phase,
                                 hovertemplate="%{hovertext}<extra></extra>"), row=row, col=1)
        done = [r for r in res.requests if r.finish_s is not None]
        fig.add_trace(go.Scatter(x=[_ms(r.finish_s) for r in done], y=[0] * len(done), mode="markers",
                                 marker=dict(symbol="line-ns-open", size=12, color=PHASE_COLORS["done"],
                                             line=dict(width=2, color=PHASE_COLORS["done"])),
                                 name="request finished", legendgroup="done", showlegend=row == 1,
                                 hovertext=[f"{r.id} finished at {_ms(r.finish_s):,.1f} ms" for r in done],
                                 hovertemplate="%{hovertext}<extra></extra>", meta="done"), row=row, col=1)
        fig.update_yaxes(title_text="tokens per pass", row=row, col=1)
    end = max([it.end_s for res in (simulated, measured) for it in res.iterations] + [1e-6])
    fig.update_xaxes(title_text="time since the first arrival (ms)", range=[0, _ms(end) * 1.02], row=2, col=1)
    fig.update_xaxes(range=[0, _ms(end) * 1.02], row=1, col=1)
    fig.update_layout(barmode="stack", bargap=0, height=520, title=dict(text=title or "Simulated and measured "
                      "forward passes on one time axis", x=0),
                      legend=dict(orientation="h", yanchor="bottom", y=1.06, x=0), margin=dict(l=10, r=10, t=100, b=10))
    return fig


def _identity(fig: go.Figure, hi: float, band: float | None) -> None:
    fig.add_trace(go.Scatter(x=[0, hi], y=[0, hi], mode="lines", name="simulated = measured",
                             line=dict(color=OKABE_ITO["black"], width=1), hoverinfo="skip", meta="identity"))
    if band:
        for k, label in ((1 + band, f"±{band:.0%}"), (1 - band, None)):
            fig.add_trace(go.Scatter(x=[0, hi], y=[0, hi * k], mode="lines", name=label or "", showlegend=label is not None,
                                     legendgroup="band", line=dict(color=OKABE_ITO["grey"], width=1, dash="dot"),
                                     hoverinfo="skip", meta="band"))


def e2e_scatter(simulated, measured, band: float = 0.15) -> go.Figure:
    """One point per request: measured end-to-end latency (x) against simulated (y), both in ms. On the
    identity line the simulator was exact; the dotted lines are ``band`` (the issue's 15% target)."""
    sim = {r.id: r for r in simulated.requests}
    pts = [(r, sim[r.id]) for r in measured.requests if r.completed and r.id in sim and sim[r.id].completed]
    xs = [_ms(m.e2e_s) for m, _ in pts]
    ys = [_ms(s.e2e_s) for _, s in pts]
    fig = go.Figure()
    hi = max(xs + ys + [1.0]) * 1.05
    _identity(fig, hi, band)
    fig.add_trace(go.Scatter(
        x=xs, y=ys, mode="markers", name="request", marker=dict(color=OKABE_ITO["blue"], size=8, opacity=0.8),
        hovertext=[f"<b>{m.id}</b>: prompt {m.prompt_tokens}, output {m.output_tokens} tokens<br>measured "
                   f"{_ms(m.e2e_s):,.1f} ms, simulated {_ms(s.e2e_s):,.1f} ms" for m, s in pts],
        hovertemplate="%{hovertext}<extra></extra>", meta="requests"))
    fig.update_xaxes(title_text="measured end-to-end latency (ms)", range=[0, hi])
    fig.update_yaxes(title_text="simulated end-to-end latency (ms)", range=[0, hi], scaleanchor="x")
    fig.update_layout(title=dict(text=f"End-to-end latency, {len(pts)} requests", x=0), height=500,
                      legend=dict(orientation="h", yanchor="top", y=-0.18, x=0), margin=dict(l=10, r=10, t=50, b=10))
    return fig


def iteration_scatter(measured, predicted_s: list, band: float = 0.10) -> go.Figure:
    """One point per measured forward pass: its measured time (x) against what the fitted cost model
    predicts for its exact batch shape (y), coloured by what the pass computed."""
    fig = go.Figure()
    its = measured.iterations
    hi = max([_ms(it.end_s - it.start_s) for it in its] + [_ms(p) for p in predicted_s] + [1.0]) * 1.05
    _identity(fig, hi, band)
    for kind, color in KIND_COLORS.items():
        sel = [(it, p) for it, p in zip(its, predicted_s) if pass_kind(it) == kind]
        if not sel:
            continue
        fig.add_trace(go.Scatter(
            x=[_ms(it.end_s - it.start_s) for it, _ in sel], y=[_ms(p) for _, p in sel], mode="markers",
            name=f"{kind} ({len(sel)})", marker=dict(color=color, size=6, opacity=0.7), meta=kind,
            hovertext=[f"pass {it.index}: {it.prefill_tokens} prefill tokens, {len(it.decode)} decodes<br>"
                       f"measured {_ms(it.end_s - it.start_s):.2f} ms, predicted {_ms(p):.2f} ms" for it, p in sel],
            hovertemplate="%{hovertext}<extra></extra>"))
    fig.update_xaxes(title_text="measured pass time (ms)", range=[0, hi])
    fig.update_yaxes(title_text="cost model's prediction (ms)", range=[0, hi], scaleanchor="x")
    fig.update_layout(title=dict(text=f"Pass time, {len(its)} measured passes", x=0), height=500,
                      legend=dict(orientation="h", yanchor="top", y=-0.18, x=0), margin=dict(l=10, r=10, t=50, b=10))
    return fig


# One hue per kind of measured GPU row (sim.gpu_passes.KINDS); markers differ too, so colour is not the only cue.
GPU_KIND_STYLE = {
    "prefill": (PHASE_COLORS["prefill"], "circle"), "decode": (PHASE_COLORS["decode"], "square"),
    "mixed": (OKABE_ITO["vermillion"], "diamond"), "chunked_prefill": (OKABE_ITO["purple"], "triangle-up"),
    "prefill_linear_only": (OKABE_ITO["yellow"], "circle-open"), "decode_linear_only": (OKABE_ITO["sky"], "square-open"),
    "cpu_overhead": (OKABE_ITO["grey"], "x"),
}
GPU_KIND_LABEL = {"prefill": "prefill", "decode": "decode", "mixed": "mixed (prefill + decodes)",
                  "chunked_prefill": "chunked prefill (on a cached prefix)",
                  "prefill_linear_only": "prefill, linear layers only", "decode_linear_only": "decode, linear layers only",
                  "cpu_overhead": "CPU overhead per iteration"}


def _row_text(c) -> str:
    r = c.row
    shape = []
    if r.kind == "cpu_overhead":
        shape.append(f"{r.batch} sequences")
    else:
        if r.prompt_tokens:
            shape.append(f"prompt chunk {r.prompt_tokens:,} tokens" + (f" on {r.cached_tokens:,} cached" if r.cached_tokens else ""))
        if r.batch:
            shape.append(f"{r.batch} decodes" + (f" at {r.context:,} context" if r.context else ""))
    return (f"<b>{r.model} on {r.gpu.upper()}</b>, {GPU_KIND_LABEL[r.kind]}: {', '.join(shape)}<br>measured "
            f"{r.measured_ms:,.2f} ms, predicted {c.predicted_ms:,.2f} ms ({c.error_pct:+.1f}%)"
            f"{'' if r.split == 'main' else '<br>held out of the fit'}")


def gpu_scatter(compared: list, band: float = 0.15) -> go.Figure:
    """One point per measured row: its measured time (x) against the preset's prediction for the same shape
    (y), log-log because passes span 1 ms to 1 s. Filled markers: rows the fit saw; the hover says which
    were held out. Dotted lines: ``band`` (the 15% largest-error target)."""
    fig = go.Figure()
    vals = [c.row.measured_ms for c in compared] + [c.predicted_ms for c in compared]
    lo, hi = min(vals + [1.0]) / 1.3, max(vals + [10.0]) * 1.3
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="predicted = measured",
                             line=dict(color=OKABE_ITO["black"], width=1), hoverinfo="skip", meta="identity"))
    for k, label in ((1 + band, f"±{band:.0%}"), (1 - band, None)):
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo * k, hi * k], mode="lines", name=label or "", showlegend=label is not None,
                                 legendgroup="band", line=dict(color=OKABE_ITO["grey"], width=1, dash="dot"),
                                 hoverinfo="skip", meta="band"))
    for kind, (color, symbol) in GPU_KIND_STYLE.items():
        sel = [c for c in compared if c.row.kind == kind]
        if not sel:
            continue
        fig.add_trace(go.Scatter(
            x=[c.row.measured_ms for c in sel], y=[c.predicted_ms for c in sel], mode="markers",
            name=f"{GPU_KIND_LABEL[kind]} ({len(sel)})", meta=kind,
            marker=dict(color=color, symbol=symbol, size=9, opacity=0.85, line=dict(width=1, color=color)),
            hovertext=[_row_text(c) for c in sel], hovertemplate="%{hovertext}<extra></extra>"))
    fig.update_xaxes(title_text="measured time (ms, log scale)", type="log", range=[math.log10(lo), math.log10(hi)])
    # Same range on both axes (no scaleanchor: on a wide chart it would stretch the x range instead).
    fig.update_yaxes(title_text="preset's prediction (ms, log scale)", type="log", range=[math.log10(lo), math.log10(hi)])
    fig.update_layout(title=dict(text=f"GPU presets against {len(compared)} measured passes", x=0), height=560,
                      legend=dict(orientation="h", yanchor="top", y=-0.16, x=0), margin=dict(l=10, r=10, t=50, b=10))
    return fig


def gpu_errors(table: list, median_target: float = 5.0, max_target: float = 15.0) -> go.Figure:
    """One bar per (model, GPU, kind): the median absolute error per pass; a diamond marks the largest.
    Dashed lines: the targets (median 5%, largest 15%)."""
    labels = [f"{GPU_KIND_LABEL[k.kind]}<br>{k.model}, {k.gpu.upper()} ({k.rows} rows)" for k in table]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=labels, y=[k.median_abs_pct for k in table], name="median |error| per pass",
                         marker=dict(color=[GPU_KIND_STYLE[k.kind][0] for k in table], line=dict(width=1, color="#333")),
                         text=[f"{k.median_abs_pct:.1f}%" for k in table], textposition="outside", meta="median",
                         hovertemplate="%{x}<br>median |error| %{y:.1f}%<extra></extra>"))
    fig.add_trace(go.Scatter(x=labels, y=[k.max_abs_pct for k in table], mode="markers", name="largest |error|",
                             marker=dict(symbol="diamond", size=11, color=OKABE_ITO["black"]), meta="max",
                             hovertemplate="%{x}<br>largest |error| %{y:.1f}%<extra></extra>"))
    for y, name in ((median_target, f"median target {median_target:g}%"), (max_target, f"largest target {max_target:g}%")):
        fig.add_hline(y=y, line=dict(color=OKABE_ITO["grey"], dash="dash", width=1), annotation_text=name,
                      annotation_position="top left")
    top = max([k.max_abs_pct for k in table] + [max_target]) * 1.2
    fig.update_yaxes(title_text="absolute error (% of measured)", range=[0, top])
    fig.update_xaxes(title_text="kind of measured pass")
    fig.update_layout(title=dict(text="Error per pass kind", x=0), height=480, bargap=0.35,
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), margin=dict(l=10, r=10, t=70, b=10))
    return fig
