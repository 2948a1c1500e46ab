"""Side-by-side comparison of runs on the same arrivals (C6, C8, C11): shared time axes, requests finished
over time, the distribution of every gap between tokens (where generation stalls show), and metric
deltas. Inputs are ``{label: SimResult}`` dicts; times are seconds in data and ms on axes.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz.axes import readable_log_axis
from viz.palette import OKABE_ITO, POLICY_COLORS, SERIES

# The metrics a comparison shows, with how to print them and whether bigger is better.
COMPARE_METRICS = (
    ("throughput_tokens_per_s", "Output throughput", "tokens/s", 1.0, True),
    ("requests_per_s", "Requests completed", "req/s", 1.0, True),
    ("ttft_p50_s", "TTFT p50", "ms", 1e3, False),
    ("ttft_p99_s", "TTFT p99", "ms", 1e3, False),
    ("tbt_p50_s", "TBT p50", "ms", 1e3, False),
    ("tbt_p99_s", "TBT p99", "ms", 1e3, False),
    ("e2e_p50_s", "End-to-end p50", "ms", 1e3, False),
    ("makespan_s", "Makespan", "s", 1.0, False),
    ("tbt_p999_s", "TBT p99.9", "ms", 1e3, False),
    ("tbt_max_s", "Longest token gap", "ms", 1e3, False),
    ("stalls", "Generation stalls", "gaps over the TBT goal", 1.0, False),
    ("stall_time_s", "Stall time", "s", 1.0, False),
)


def fmt_value(v: float) -> str:
    """A metric value as a card shows it: whole numbers (counts) without decimals, small values with one."""
    if float(v).is_integer() or abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:,.1f}"


def _color(label: str, i: int) -> str:
    return POLICY_COLORS.get(label.split(" ")[0], SERIES[i % len(SERIES)])


def time_span_ms(results) -> float:
    """The end of the latest run, in ms, so several timelines can share one x range."""
    ends = [0.0]
    for res in results:
        ends += [it.end_s for it in res.iterations[-1:]] + [r.finish_s or 0.0 for r in res.requests]
    return max(ends) * 1e3


def align_time_axes(figs: list[go.Figure], x_max_ms: float) -> list[go.Figure]:
    """Give every figure the same time range [0, x_max_ms] (in place; returned for chaining)."""
    for f in figs:
        f.update_xaxes(range=[0, x_max_ms * 1.02])
    return figs


def finished_over_time(results: dict) -> go.Figure:
    """Requests that have received their first token, and that have finished, over time: the slope of
    the solid line is the completion rate (throughput in requests/s)."""
    fig = go.Figure()
    for i, (lab, res) in enumerate(results.items()):
        c = _color(lab, i)
        for attr, dash, what in (("first_token_s", "dot", "first token"), ("finish_s", "solid", "finished")):
            t = sorted(getattr(r, attr) for r in res.requests if getattr(r, attr) is not None)
            if not t:
                continue
            fig.add_trace(go.Scatter(x=np.array(t) * 1e3, y=np.arange(1, len(t) + 1), mode="lines",
                                     line=dict(color=c, dash=dash, shape="hv"), name=f"{lab}: {what}",
                                     hovertemplate=f"{lab}<br>%{{y}} requests {what} by %{{x:,.0f}} ms<extra></extra>"))
    arr = sorted(r.arrival_s for r in next(iter(results.values())).requests)
    fig.add_trace(go.Scatter(x=np.array(arr) * 1e3, y=np.arange(1, len(arr) + 1), mode="lines",
                             line=dict(color=OKABE_ITO["grey"], shape="hv", width=1), name="arrived",
                             hovertemplate="%{y} requests arrived by %{x:,.0f} ms<extra></extra>"))
    fig.update_layout(title="Requests served over time", xaxis_title="time (ms)",
                      yaxis_title="requests (cumulative count)", height=360,
                      margin=dict(l=60, r=10, t=50, b=50))
    return fig


def gap_ccdf(results: dict) -> go.Figure:
    """For every gap between two consecutive output tokens of every request: the share of gaps longer
    than x (log y). A policy that stalls decodes for prefills has a long tail to the right."""
    fig = go.Figure()
    for i, (lab, res) in enumerate(results.items()):
        gaps = np.sort(np.concatenate([np.asarray(g, dtype=float) for g in res.tbt_samples.values()] or
                                      [np.zeros(0)]))
        if gaps.size == 0:
            continue
        share = 1.0 - np.arange(gaps.size) / gaps.size
        # Thin to at most ~400 points; keep the tail where the story is.
        idx = np.unique(np.concatenate([np.linspace(0, gaps.size - 1, 300).astype(int),
                                        np.arange(max(0, gaps.size - 100), gaps.size)]))
        fig.add_trace(go.Scatter(x=gaps[idx] * 1e3, y=share[idx] * 100, mode="lines", name=lab,
                                 line=dict(color=_color(lab, i), shape="hv", width=2),
                                 hovertemplate=f"{lab}<br>%{{y:.2f}}% of token gaps are at least %{{x:,.1f}} ms"
                                               f"<extra>n={gaps.size:,}</extra>"))
    fig.update_layout(title="Time between tokens (every gap, tail on the right)",
                      xaxis_title="time between two output tokens, TBT (ms, log scale)",
                      yaxis_title="gaps at least this long (%, log scale)", height=360,
                      margin=dict(l=60, r=10, t=50, b=50))
    readable_log_axis(fig, "x")
    readable_log_axis(fig, "y")
    return fig


def metric_rows(a, b, label_a: str, label_b: str) -> list[dict]:
    """One row per metric: both values in screen units and B's change relative to A (None if undefined),
    plus which run is better on it."""
    rows = []
    for key, name, unit, k, higher_better in COMPARE_METRICS:
        va, vb = a.metrics.get(key), b.metrics.get(key)
        if va is None or vb is None:
            change = None
        else:
            change = (vb - va) / va if va else None
        better = None
        if va is not None and vb is not None and va != vb:
            better = label_b if (vb > va) == higher_better else label_a
        rows.append({"metric": name, "unit": unit, "key": key, label_a: None if va is None else va * k,
                     label_b: None if vb is None else vb * k, "change": change, "better": better})
    return rows


def outcome_bars(values: dict, y_title: str, title: str = "", picked: str | None = None,
                 fmt: str = "{:,.0f}") -> go.Figure:
    """One bar per option (e.g. per policy) with its simulated value; the learner's pick is outlined and
    labelled, so prediction and outcome sit in one picture."""
    labels = list(values)
    ys = [values[k] for k in labels]
    best = labels[int(np.argmax(ys))] if ys else None
    colors = [POLICY_COLORS.get(k.split(" ")[0], SERIES[i % len(SERIES)]) for i, k in enumerate(labels)]
    fig = go.Figure(go.Bar(
        x=labels, y=ys, marker=dict(color=colors, line=dict(width=[4 if k == picked else 0 for k in labels],
                                                            color=OKABE_ITO["black"])),
        text=[fmt.format(y) + (" (your pick)" if k == picked else "") + (" (best)" if k == best else "")
              for k, y in zip(labels, ys)], textposition="outside",
        hovertemplate="%{x}: %{y:,.2f}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="option", yaxis_title=y_title, height=340, showlegend=False,
                      margin=dict(l=60, r=10, t=50, b=50))
    fig.update_yaxes(range=[0, max(ys + [1e-9]) * 1.25])
    return fig


def budget_curve(per_budget: dict, references: dict, y_title: str, title: str = "") -> go.Figure:
    """Chunked prefill's outcome against its token budget (log x axis, one marker per simulated budget), with
    the other strategies as labelled horizontal lines: where chunking pays, and where tiny chunks fall
    below them again."""
    xs = sorted(per_budget)
    fig = go.Figure(go.Scatter(
        x=xs, y=[per_budget[x] for x in xs], mode="lines+markers+text", name="chunked prefill",
        line=dict(color=POLICY_COLORS["chunked"], width=3), marker=dict(size=9, symbol="diamond"),
        text=[f"{per_budget[x]:,.0f}" for x in xs], textposition="top center",
        hovertemplate="budget %{x} tokens per pass: %{y:,.0f}<extra></extra>"))
    dashes = ("dash", "dot", "dashdot", "longdash")
    for i, (label, v) in enumerate(references.items()):
        fig.add_hline(y=v, line=dict(color=_color(label, i), dash=dashes[i % len(dashes)], width=2),
                      annotation_text=f"{label}: {v:,.0f}", annotation_position="top left")
    ys = list(per_budget.values()) + list(references.values())
    fig.update_layout(title=title, height=380, showlegend=False, margin=dict(l=60, r=10, t=50, b=50),
                      xaxis_title="chunked prefill token budget (tokens per forward pass, log scale)",
                      yaxis_title=y_title)
    fig.update_xaxes(type="log", tickvals=xs, ticktext=[str(x) for x in xs])
    fig.update_yaxes(range=[0, max(ys + [1e-9]) * 1.2])
    return fig
