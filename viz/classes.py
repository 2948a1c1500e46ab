"""Per-class figures for priority scheduling (C8, C9): how each queue order treats each class of users,
and starvation made visible (the longest wait of the low-priority class, and its whole distribution).

Inputs are ``{label: SimResult}`` dicts, one entry per queue order, all on the same arrivals.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz.axes import readable_log_axis
from viz.palette import OKABE_ITO, SERIES

CLASS_COLORS = [OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["green"], OKABE_ITO["purple"]]


def classes_of(results: dict) -> list[str]:
    """Class names in priority order (most urgent first), from the first result."""
    first = next(iter(results.values()))
    return list(first.by_class)


def class_bars(results: dict, metric: str, y_title: str, scale: float = 1.0, title: str = "",
               log_y: bool = False) -> go.Figure:
    """Grouped bars: one group per queue order, one bar per class, height = ``by_class[cls][metric]``
    times ``scale`` (e.g. 1e3 for seconds -> ms)."""
    orders = list(results)
    fig = go.Figure()
    for i, cls in enumerate(classes_of(results)):
        ys = []
        for o in orders:
            v = results[o].by_class.get(cls, {}).get(metric)
            ys.append(None if v is None else v * scale)
        fig.add_trace(go.Bar(x=orders, y=ys, name=cls, marker_color=CLASS_COLORS[i % len(CLASS_COLORS)],
                             text=[("-" if y is None else f"{y:,.2f}" if y < 10 else f"{y:,.0f}") for y in ys],
                             textposition="outside",
                             hovertemplate=f"{cls}<br>order %{{x}}<br>{y_title}: %{{y:,.2f}}<extra></extra>"))
    fig.update_layout(barmode="group", title=title, xaxis_title="queue order", yaxis_title=y_title,
                      height=360, margin=dict(l=60, r=10, t=50, b=50), legend_title_text="class")
    if log_y:
        readable_log_axis(fig, "y")
    return fig


def longest_wait(result, cls: str) -> tuple[str, float] | None:
    """(request id, seconds) of the request of ``cls`` that waited longest for its first token; a
    request that never got one counts with its wait up to the end of the run."""
    end = max((r.finish_s or 0.0 for r in result.requests), default=0.0)
    best = None
    for r in result.requests:
        if r.cls != cls or r.rejected_reason:
            continue
        w = r.ttft_s if r.ttft_s is not None else end - r.arrival_s
        if best is None or w > best[1]:
            best = (r.id, w)
    return best


def starvation_bars(results: dict, cls: str) -> go.Figure:
    """The longest wait for a first token of one class under each order, with the request named."""
    orders = list(results)
    waits = [longest_wait(results[o], cls) for o in orders]
    ys = [w[1] if w else 0.0 for w in waits]
    worst = int(np.argmax(ys)) if ys else 0
    colors = [OKABE_ITO["vermillion"] if i == worst else OKABE_ITO["grey"] for i in range(len(orders))]
    fig = go.Figure(go.Bar(
        x=orders, y=ys, marker_color=colors, text=[f"{y:,.1f} s ({w[0]})" if w else "-" for y, w in zip(ys, waits)],
        textposition="outside", hovertemplate="order %{x}<br>longest wait %{y:,.1f} s<extra></extra>"))
    fig.update_layout(title=f"Longest wait for a first token, class '{cls}'", xaxis_title="queue order",
                      yaxis_title="longest time to first token (s)", height=340, showlegend=False,
                      margin=dict(l=60, r=10, t=50, b=50))
    fig.update_yaxes(range=[0, max(ys + [1.0]) * 1.2])
    return fig


def wait_cdf(results: dict, cls: str) -> go.Figure:
    """Cumulative distribution of time to first token of one class, one line per order: the further
    right a line's top end reaches, the longer that order made its slowest requests wait."""
    fig = go.Figure()
    for i, (o, res) in enumerate(results.items()):
        w = sorted(r.ttft_s for r in res.requests if r.cls == cls and r.ttft_s is not None)
        if not w:
            continue
        y = np.arange(1, len(w) + 1) / len(w) * 100
        fig.add_trace(go.Scatter(x=w, y=y, mode="lines", name=o, line=dict(color=SERIES[i % len(SERIES)],
                                                                              shape="hv", width=2),
                                 hovertemplate=f"{o}<br>%{{y:.0f}}% waited at most %{{x:,.2f}} s<extra></extra>"))
    fig.update_layout(title=f"Time to first token, class '{cls}' (cumulative)",
                      xaxis_title="time to first token (s)", yaxis_title="share of the class's requests (%)",
                      height=340, margin=dict(l=60, r=10, t=50, b=50), legend_title_text="queue order")
    fig.update_yaxes(range=[0, 101])
    return fig
