"""Disaggregation figures (C10): what the KV transfers between a prefill engine and a decode engine cost,
how busy each engine and the link are, and a disaggregated run against a colocated one.

Transfers come from ``SimResult.transfers`` (start after the link was acquired, end when the KV has
arrived); sizes in tokens and bytes, bandwidth in GB/s (1e9 bytes per second), times in ms on axes.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz.axes import readable_log_axis
from viz.palette import OKABE_ITO, PHASE_COLORS, POLICY_COLORS, SERIES


def transfer_cost(result, kv_bytes_per_token: int, link_gb_per_s: float) -> go.Figure:
    """Every KV transfer as a point (tokens moved, time on the link) and the line
    ``time = tokens x KV bytes per token / bandwidth`` that the transfer cost follows."""
    tr = result.transfers
    fig = go.Figure()
    if tr:
        tokens = np.array([t.tokens for t in tr])
        ms = np.array([(t.end_s - t.start_s) * 1e3 for t in tr])
        fig.add_trace(go.Scatter(
            x=tokens, y=ms, mode="markers", name="KV transfers (simulated)",
            marker=dict(color=PHASE_COLORS["transfer"], size=9, line=dict(width=1, color=OKABE_ITO["black"])),
            customdata=np.array([[t.request_id, t.bytes / 1e6, t.source, t.target] for t in tr], dtype=object),
            hovertemplate="%{customdata[0]}: %{x:,} tokens = %{customdata[1]:,.1f} MB, %{customdata[2]} -> "
                          "%{customdata[3]}, %{y:,.2f} ms<extra></extra>"))
        xs = np.array([0, tokens.max() * 1.05])
        fig.add_trace(go.Scatter(
            x=xs, y=xs * kv_bytes_per_token / (link_gb_per_s * 1e9) * 1e3, mode="lines",
            name=f"tokens x {kv_bytes_per_token:,} B / {link_gb_per_s:g} GB/s",
            line=dict(color=OKABE_ITO["blue"], dash="dash"), hoverinfo="skip"))
    fig.update_layout(title="KV transfer cost", xaxis_title="tokens whose KV cache is moved (tokens)",
                      yaxis_title="time on the link (ms)", height=360, margin=dict(l=60, r=10, t=50, b=50),
                      legend=dict(orientation="h", y=-0.2))
    return fig


def utilization(result) -> dict[str, float]:
    """Busy share (0..1) of each engine and of the link over the run's span."""
    span = max([it.end_s for it in result.iterations] + [t.end_s for t in result.transfers] + [1e-9])
    busy = {e: 0.0 for e in result.engines}
    for it in result.iterations:
        busy[it.engine] = busy.get(it.engine, 0.0) + it.duration_s
    out = {e: b / span for e, b in busy.items()}
    if result.transfers:
        out["link"] = sum(t.end_s - t.start_s for t in result.transfers) / span
    return out


def utilization_bars(results: dict) -> go.Figure:
    """Busy share of every engine (and the link) per labelled run."""
    fig = go.Figure()
    for i, (lab, res) in enumerate(results.items()):
        u = utilization(res)
        fig.add_trace(go.Bar(x=list(u), y=[v * 100 for v in u.values()], name=lab,
                             marker_color=POLICY_COLORS.get(res.config.policy, SERIES[i % len(SERIES)]),
                             text=[f"{v:.0%}" for v in u.values()], textposition="outside",
                             hovertemplate=f"{lab}<br>%{{x}} busy %{{y:.1f}}% of the run<extra></extra>"))
    fig.update_layout(barmode="group", title="How busy each engine and the link are",
                      xaxis_title="engine or link", yaxis_title="busy share of the run (%)", height=340,
                      margin=dict(l=60, r=10, t=50, b=50), legend_title_text="run")
    fig.update_yaxes(range=[0, 115])
    return fig


def worst_gaps_ms(result) -> list[float]:
    """Each completed request's longest gap between two consecutive tokens, in ms; under disaggregation
    it includes the hand-off from the prefill engine to the decode engine."""
    return [r.max_gap_s * 1e3 for r in result.requests if r.completed and r.output_tokens > 1]


LATENCIES = (("TTFT p50", lambda r: r.metrics["ttft_p50_s"]), ("TTFT p99", lambda r: r.metrics["ttft_p99_s"]),
             ("TBT p99", lambda r: r.metrics["tbt_p99_s"]),
             ("worst gap per request, p50", lambda r: float(np.median(worst_gaps_ms(r))) / 1e3
              if worst_gaps_ms(r) else None),
             ("end-to-end p50", lambda r: r.metrics["e2e_p50_s"]))


def latency_bars(results: dict) -> go.Figure:
    """Latency percentiles of each labelled run side by side (log scale, ms)."""
    fig = go.Figure()
    names = [n for n, _ in LATENCIES]
    for i, (lab, res) in enumerate(results.items()):
        ys = []
        for _, f in LATENCIES:
            v = f(res)
            ys.append(None if v is None else v * 1e3)
        fig.add_trace(go.Bar(x=names, y=ys, name=lab,
                             marker_color=POLICY_COLORS.get(res.config.policy, SERIES[i % len(SERIES)]),
                             text=[("-" if y is None else f"{y:,.0f}") for y in ys], textposition="outside",
                             hovertemplate=f"{lab}<br>%{{x}}: %{{y:,.1f}} ms<extra></extra>"))
    fig.update_layout(barmode="group", title="Latency: colocated vs disaggregated",
                      xaxis_title="latency measure", yaxis_title="latency (ms, log scale)", height=360,
                      margin=dict(l=60, r=10, t=50, b=50), legend_title_text="run")
    readable_log_axis(fig, "y")
    return fig
