"""Axis helpers shared by the figure builders: log axes whose tick labels read as numbers, and the margins
reserved for tick labels and axis titles.

plotly's default log ticks label every integer multiple within a decade ("2 3 4 ... 9 100") or, on a
narrow range, only minor digits ("9 8 7 6"); a learner cannot tell the scale from that. Here a log
axis gets ticks at 1, 2 and 5 times the powers of ten that cover the data, each labelled in full.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

# Margins (px) that already hold what plotly's auto-margin would push out with the Streamlit theme: tick
# labels and title on the left, x title below (viz.timeline adds the Play buttons and the slider under an
# animated timeline). Reserved up front, plotly lays a figure out once instead of drawing it, measuring the
# labels and drawing it again, which cut about 0.15 s (animated timeline) and 0.05 s (the other charts) of
# browser main-thread time before the playground's first paint on a 2-core machine. Auto-expand stays on,
# so longer labels (uploaded trace ids, presentation mode) still fit, at the old cost.
MARGIN_LEFT = 72
MARGIN_X_TITLE = 66


def log_ticks(lo: float, hi: float, max_ticks: int = 9) -> list[float]:
    """1-2-5 ticks covering [lo, hi] (both > 0); thinned to powers of ten when there would be too many."""
    if not (lo > 0 and hi > 0) or not math.isfinite(lo) or not math.isfinite(hi):
        return []
    lo, hi = min(lo, hi), max(lo, hi)
    ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
             for m in (1, 2, 5)]
    inside = [t for t in ticks if lo / 1.001 <= t <= hi * 1.001]
    # keep one tick either side of the data so the ends are labelled
    below = [t for t in ticks if t < lo / 1.001][-1:]
    above = [t for t in ticks if t > hi * 1.001][:1]
    out = below + inside + above
    if len(out) > max_ticks:
        out = [t for t in out if math.isclose(math.log10(t), round(math.log10(t)), abs_tol=1e-9)] or out
    return out


def _label(t: float) -> str:
    return f"{t:,.0f}" if t >= 1 else f"{t:g}"


def readable_log_axis(fig: go.Figure, axis: str = "y", **selector) -> None:
    """Make ``axis`` ("x" or "y") a log axis with 1-2-5 ticks over the figure's own data."""
    values = []
    for tr in fig.data:
        vals = getattr(tr, axis, None)
        if vals is None:
            continue
        for v in vals:
            if isinstance(v, (int, float)) and v > 0 and math.isfinite(v):
                values.append(float(v))
    update = fig.update_yaxes if axis == "y" else fig.update_xaxes
    ticks = log_ticks(min(values), max(values)) if values else []
    if ticks:
        update(type="log", tickvals=ticks, ticktext=[_label(t) for t in ticks], **selector)
    else:
        update(type="log", **selector)
