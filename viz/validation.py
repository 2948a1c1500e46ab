"""Figures for the validation page: a simulated run next to the same run measured on the real tiny model.

Pure builders (plotly only), fed with two ``sim.trace.SimResult`` objects of the same workload and
scheduler: one priced by the cost model, one timed on the torch model (``sim.real_executor``).
Seconds in the data, milliseconds on every axis.

- ``timelines``: both runs' forward passes on one shared time axis (prefill and decode tokens per pass).
- ``e2e_scatter``: per-request end-to-end latency, simulated against measured, with the identity line.
- ``iteration_scatter``: the cost model's prediction for each measured pass against its measured time.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.palette import OKABE_ITO, PHASE_COLORS

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
            fig.add_trace(go.Bar(x=x, y=ys, width=w, name=name, marker=dict(color=PHASE_COLORS[phase], line=dict(width=0)),
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
