"""Sweep figures: a metric over a swept setting (load, request size) for several policies, mean with the
spread over seeds, trade-off curves (throughput vs latency), and the crossover where one policy stops
beating another.

A sweep is a list of plain rows ``{"series": policy, "x": swept value, "seed": n, <metric keys>...}``
(metric keys as in ``sim.metrics``, seconds in data); pages build the rows with the simulator, these
functions only summarise and draw them.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from viz.palette import OKABE_ITO, POLICY_COLORS, SERIES

# Axis titles for metric keys: seconds in data become milliseconds on screen.
METRIC_AXES = {
    "throughput_tokens_per_s": ("output throughput (tokens/s)", 1.0),
    "requests_per_s": ("throughput (requests/s)", 1.0),
    "ttft_p50_s": ("TTFT p50 (ms)", 1e3),
    "ttft_p90_s": ("TTFT p90 (ms)", 1e3),
    "ttft_p99_s": ("TTFT p99 (ms)", 1e3),
    "tbt_p50_s": ("TBT p50 (ms)", 1e3),
    "tbt_p99_s": ("TBT p99 (ms)", 1e3),
    "tbt_p999_s": ("TBT p99.9 (ms)", 1e3),
    "tbt_max_s": ("longest gap between tokens (ms)", 1e3),
    "stalls": ("generation stalls (token gaps over the TBT goal)", 1.0),
    "stall_time_s": ("stall time (s, summed over requests)", 1.0),
    "e2e_mean_s": ("mean end-to-end latency (ms)", 1e3),
    "e2e_p99_s": ("end-to-end latency p99 (ms)", 1e3),
    "makespan_s": ("makespan (s)", 1.0),
    "goodput_requests_per_s": ("goodput (requests/s within SLO)", 1.0),
}


def axis(metric: str) -> tuple[str, float]:
    """(axis title with unit, scale from data units to screen units) for a metric key."""
    return METRIC_AXES.get(metric, (metric, 1.0))


def color(series: str, i: int) -> str:
    return POLICY_COLORS.get(series, SERIES[i % len(SERIES)])


def summarize(rows: list[dict], metric: str) -> dict[str, list[tuple[float, float, float, int]]]:
    """Per series, sorted by x: (x, mean, standard deviation over seeds, number of seeds). Missing
    values (None: e.g. no request completed) are left out of the mean."""
    groups: dict[str, dict[float, list[float]]] = {}
    for r in rows:
        v = r.get(metric)
        g = groups.setdefault(r["series"], {}).setdefault(r["x"], [])
        if v is not None:
            g.append(float(v))
    out = {}
    for s, by_x in groups.items():
        pts = []
        for x in sorted(by_x):
            vals = by_x[x]
            if vals:
                pts.append((x, float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                            len(vals)))
        out[s] = pts
    return out


def metric_vs_x(rows: list[dict], metric: str, x_title: str, title: str = "", log_x: bool = False) -> go.Figure:
    """Mean of ``metric`` over seeds against the swept value, one line per series, a band of one
    standard deviation around it."""
    label, k = axis(metric)
    fig = go.Figure()
    for i, (s, pts) in enumerate(summarize(rows, metric).items()):
        if not pts:
            continue
        xs = [p[0] for p in pts]
        mean = [p[1] * k for p in pts]
        sd = [p[2] * k for p in pts]
        c = color(s, i)
        fig.add_trace(go.Scatter(x=xs + xs[::-1], y=[m + d for m, d in zip(mean, sd)] +
                                 [m - d for m, d in zip(mean, sd)][::-1], fill="toself", fillcolor=c,
                                 opacity=0.2, line=dict(width=0), hoverinfo="skip", showlegend=False,
                                 legendgroup=s))
        fig.add_trace(go.Scatter(x=xs, y=mean, mode="lines+markers", name=s, legendgroup=s,
                                 line=dict(color=c), customdata=[[p[3], p[2] * k] for p in pts],
                                 hovertemplate=f"{s}<br>{x_title}: %{{x}}<br>{label}: %{{y:,.1f}} "
                                               "± %{customdata[1]:,.1f} (n=%{customdata[0]} seeds)<extra></extra>"))
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=label, height=360,
                      margin=dict(l=60, r=10, t=50, b=50), legend_title_text="policy")
    if log_x:
        ticks = sorted({r["x"] for r in rows})
        fig.update_xaxes(type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
    return fig


def tradeoff(rows: list[dict], x_metric: str, y_metric: str, title: str = "", log_y: bool = True) -> go.Figure:
    """Trade-off curve per series: each point is one swept value (e.g. one arrival rate), placed at
    (mean x metric, mean y metric) with error bars of one standard deviation over seeds."""
    xl, xk = axis(x_metric)
    yl, yk = axis(y_metric)
    sx, sy = summarize(rows, x_metric), summarize(rows, y_metric)
    fig = go.Figure()
    for i, s in enumerate(sx):
        px = {p[0]: p for p in sx[s]}
        py = {p[0]: p for p in sy.get(s, [])}
        keys = [x for x in sorted(px) if x in py]
        if not keys:
            continue
        fig.add_trace(go.Scatter(
            x=[px[k][1] * xk for k in keys], y=[py[k][1] * yk for k in keys], mode="lines+markers+text",
            text=[f"{k:g}/s" for k in keys], textposition="top center", textfont=dict(size=9),
            error_x=dict(type="data", array=[px[k][2] * xk for k in keys], visible=True, thickness=1),
            error_y=dict(type="data", array=[py[k][2] * yk for k in keys], visible=True, thickness=1),
            name=s, line=dict(color=color(s, i)),
            hovertemplate=f"{s}<br>{xl}: %{{x:,.1f}}<br>{yl}: %{{y:,.1f}}<br>load %{{text}}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title=xl, yaxis_title=yl + (" (log scale)" if log_y else ""),
                      height=380, margin=dict(l=60, r=10, t=50, b=50), legend_title_text="policy")
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def crossover(xs: list[float], ys: list[float], level: float = 1.0, log_x: bool = True) -> float | None:
    """The first x where ``ys`` crosses ``level`` going up (interpolated, in log x by default), i.e.
    below ``level`` for smaller x and at or above it from there on; None if it never does."""
    pts = [(x, y) for x, y in zip(xs, ys) if y is not None and x > 0]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if y0 < level <= y1:
            f = (level - y0) / (y1 - y0)
            if log_x:
                return float(math.exp(math.log(x0) + f * (math.log(x1) - math.log(x0))))
            return float(x0 + f * (x1 - x0))
    return None


def ratio_chart(xs: list[float], ratios: list[float], cross_x: float | None, x_title: str, y_title: str,
                title: str = "", win_label: str = "continuous wins", lose_label: str = "standard wins") -> go.Figure:
    """A ratio (policy B over policy A) against a swept value on a log x axis, the break-even line at 1
    and the crossover marked."""
    fig = go.Figure()
    fig.add_hrect(y0=1.0, y1=max(max(ratios, default=1.0), 1.0) * 1.05, fillcolor=OKABE_ITO["blue"],
                  opacity=0.06, line_width=0)
    fig.add_hrect(y0=min(min(ratios, default=1.0), 1.0) * 0.95, y1=1.0, fillcolor=OKABE_ITO["vermillion"],
                  opacity=0.06, line_width=0)
    fig.add_hline(y=1.0, line=dict(color=OKABE_ITO["grey"], dash="dot"),
                  annotation_text="break-even", annotation_position="bottom right")
    fig.add_trace(go.Scatter(x=xs, y=ratios, mode="lines+markers", name="ratio",
                             line=dict(color=OKABE_ITO["blue"], width=3),
                             hovertemplate=f"{x_title}: %{{x:g}}<br>{y_title}: %{{y:.2f}}<extra></extra>"))
    fig.add_annotation(x=0.01, y=0.98, xref="paper", yref="paper", xanchor="left", showarrow=False,
                       text=f"above 1: {win_label}", font=dict(color=OKABE_ITO["blue"]))
    fig.add_annotation(x=0.99, y=0.02, xref="paper", yref="paper", xanchor="right", yanchor="bottom",
                       showarrow=False, text=f"below 1: {lose_label}", font=dict(color=OKABE_ITO["vermillion"]))
    if cross_x is not None:
        # A vertical line as a trace: shapes on a log axis would need log10 coordinates.
        lo = min(min(ratios, default=1.0), 1.0) * 0.95
        hi = max(max(ratios, default=1.0), 1.0) * 1.05
        fig.add_trace(go.Scatter(x=[cross_x, cross_x], y=[lo, hi], mode="lines", name="crossover line",
                                 line=dict(color=OKABE_ITO["black"], dash="dash", width=1), hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=[cross_x], y=[1.0], mode="markers+text", name="crossover",
                                 marker=dict(symbol="diamond", size=14, color=OKABE_ITO["black"]),
                                 text=[f"crossover ≈ {cross_x:.1f}"], textposition="bottom right",
                                 hovertemplate=f"crossover at {x_title} ≈ %{{x:.1f}}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, height=380, showlegend=False,
                      margin=dict(l=60, r=10, t=50, b=50))
    fig.update_xaxes(type="log", tickvals=list(xs), ticktext=[f"{x:g}" for x in xs])
    return fig
