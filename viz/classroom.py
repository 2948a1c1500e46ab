"""Figure for a live class session: how the room predicted, option by option (plotly only).

One horizontal bar per option, its count of learners written on the bar. After the reveal the simulator's
answer is marked by a label ("simulator's answer") and a hatch pattern as well as by colour, so the
answer never depends on colour alone.
"""

from __future__ import annotations

import plotly.graph_objects as go

from viz.palette import OKABE_ITO


def prediction_bars(options, counts, responses: int, answer=None, title: str = "The room's predictions",
                    height: int | None = None) -> go.Figure:
    """``counts[i]`` learners chose ``options[i]``; ``answer`` (indices) marks the correct options once
    revealed (None before the reveal)."""
    options = list(options)
    counts = list(counts)
    revealed = answer is not None
    right = set(answer or ())
    labels = [f"{o}  (simulator's answer)" if i in right else o for i, o in enumerate(options)]
    colors = [OKABE_ITO["green"] if i in right else OKABE_ITO["blue"] for i in range(len(options))] if revealed \
        else [OKABE_ITO["blue"]] * len(options)
    patterns = ["/" if i in right else "" for i in range(len(options))]
    share = [(c / responses if responses else 0.0) for c in counts]
    fig = go.Figure(go.Bar(
        y=labels, x=counts, orientation="h", marker=dict(color=colors, pattern=dict(shape=patterns)),
        text=[f"{c} ({s:.0%})" for c, s in zip(counts, share)], textposition="auto",
        hovertemplate="%{y}: %{x} learners<extra></extra>"))
    fig.update_layout(
        title=f"{title} ({responses} {'learner' if responses == 1 else 'learners'})", height=height or
        max(220, 70 + 46 * len(options)), margin=dict(l=10, r=20, t=50, b=40), showlegend=False)
    fig.update_xaxes(title_text="learners who chose it (count)", rangemode="tozero",
                     range=[0, max(1, max(counts, default=0)) * 1.15], dtick=max(1, (max(counts, default=1) + 4) // 5))
    fig.update_yaxes(title_text="option", autorange="reversed")
    return fig
