"""What one iteration costs: figures of the simulator's own cost model (``sim.cost_model``).

A forward pass reads every weight once, whatever its size, and computes 2 x parameters FLOPs per token.
Few tokens: the weights read sets the time (memory-bound), so more tokens are nearly free. Past the
ridge point compute sets it, and every token adds time. Decode passes also read each sequence's whole KV
cache. These builders price passes with the same ``RooflineCost`` the simulator waits on, so the curves
are the simulator's, not a drawing of it. Times are seconds in data and ms on the axes.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from sim.cost_model import HARDWARE, MODELS, build_cost_model, kv_capacity_tokens, pass_shape
from sim.errors import ConfigError
from viz.palette import OKABE_ITO

PREFILL_COLOR = OKABE_ITO["orange"]  # as prefill cells in every timeline
DECODE_COLOR = OKABE_ITO["blue"]
PART_COLORS = {"linear layers": OKABE_ITO["blue"], "attention (KV read)": OKABE_ITO["vermillion"],
               "KV-cache write": OKABE_ITO["green"], "CPU overhead": OKABE_ITO["grey"]}
TOKENS = np.unique(np.round(np.logspace(0, np.log10(16384), 60)).astype(int))  # 1 .. 16,384 tokens per pass


def preset_pairs() -> list[tuple[str, str]]:
    """(model, hardware) presets priced by the roofline whose weights fit the cards (the tiny CPU model
    is priced by its own calibrated line, not a roofline)."""
    pairs = []
    for m in MODELS:
        for h in HARDWARE:
            if m == "tiny" or h == "tiny-cpu":
                continue
            try:
                kv_capacity_tokens(MODELS[m], HARDWARE[h])
            except ConfigError:
                continue
            pairs.append((m, h))
    return pairs


def cost_of(model: str, hardware: str):
    return build_cost_model(model, hardware)


def prefill_ms(cost, tokens: int) -> float:
    """One pass prefilling a single prompt of ``tokens`` tokens (nothing cached before it)."""
    return cost.iteration_time(pass_shape(prefill=int(tokens))) * 1e3


def decode_ms(cost, seqs: int, context: int) -> float:
    """One pass in which ``seqs`` sequences each take one decode step over ``context`` cached tokens."""
    return cost.iteration_time(pass_shape(decode=int(seqs), context=int(context))) * 1e3


def capacity(model: str, hardware: str) -> int:
    return kv_capacity_tokens(MODELS[model], HARDWARE[hardware])


def pass_time(model: str, hardware: str, context: int) -> go.Figure:
    """Time of one pass against tokens in it: a prefill of N prompt tokens, and N decodes each over
    ``context`` cached tokens (only as many as the KV cache holds), with the ridge point and the floor."""
    cost = cost_of(model, hardware)
    fits = capacity(model, hardware) // max(context + 1, 1)
    pf = [prefill_ms(cost, n) for n in TOKENS]
    dec_n = [int(n) for n in TOKENS if n <= fits]
    dec = [decode_ms(cost, n, context) for n in dec_n]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=TOKENS, y=pf, mode="lines", name="prefill: one prompt of N tokens",
                             line=dict(color=PREFILL_COLOR, width=3),
                             hovertemplate="prefill of %{x:,} tokens: %{y:,.2f} ms<extra></extra>"))
    fig.add_trace(go.Scatter(x=dec_n, y=dec, mode="lines", name=f"decode: N sequences, {context:,} tokens of context each",
                             line=dict(color=DECODE_COLOR, width=3, dash="dash"),
                             hovertemplate="%{x:,} decodes: %{y:,.2f} ms<extra></extra>"))
    ridge = cost.ridge_tokens()
    floor = cost.weights_floor_s() * 1e3
    fig.add_trace(go.Scatter(x=[TOKENS[0], TOKENS[-1]], y=[floor, floor], mode="lines",
                             name=f"weights-read floor ({floor:.1f} ms of GPU time)",
                             line=dict(color=OKABE_ITO["black"], width=1.5, dash="dot"), hoverinfo="skip"))
    fig.add_vline(x=ridge, line=dict(color=OKABE_ITO["green"], width=2, dash="dashdot"))
    fig.add_annotation(x=np.log10(ridge), y=1, yref="paper", text=f"ridge point ~{ridge:,.0f} tokens",
                       showarrow=False, xanchor="left", yanchor="top", font=dict(color=OKABE_ITO["green"]))
    fig.update_layout(title="Time of one forward pass against tokens in it", height=430,
                      xaxis=dict(title="tokens in the pass (log scale)", type="log"),
                      yaxis=dict(title="time of one pass (ms, log scale)", type="log"),
                      legend=dict(orientation="h", yanchor="top", y=-0.2), margin=dict(l=70, r=20, t=60, b=120))
    return fig


def decode_parts(model: str, hardware: str, context: int, batches=(1, 8, 16, 32, 64, 128, 256)) -> go.Figure:
    """A decode pass split into its parts (linear layers, attention's KV read, KV write, CPU overhead)
    for growing batches at ``context`` tokens each: the weights cost the same, the KV read grows."""
    cost = cost_of(model, hardware)
    fits = capacity(model, hardware) // max(context + 1, 1)
    batches = [b for b in batches if b <= fits] or [1]
    parts = [cost.parts(pass_shape(decode=b, context=context)) for b in batches]
    fig = go.Figure()
    labels = [str(b) for b in batches]
    for name, values in (("linear layers", [p.linear_s for p in parts]),
                         ("attention (KV read)", [p.attention_s for p in parts]),
                         ("KV-cache write", [p.kv_write_s for p in parts]),
                         ("CPU overhead", [p.overhead_s for p in parts])):
        fig.add_trace(go.Bar(x=labels, y=np.array(values) * 1e3, name=name, marker_color=PART_COLORS[name],
                             hovertemplate=f"%{{x}} sequences: {name} %{{y:,.2f}} ms<extra></extra>"))
    fig.update_layout(barmode="stack", title=f"A decode pass, part by part ({context:,} tokens of context each)",
                      height=400, xaxis=dict(title="sequences decoding in the pass", type="category"),
                      yaxis=dict(title="time of one pass (ms)"), legend=dict(orientation="h", yanchor="top", y=-0.2),
                      margin=dict(l=70, r=20, t=60, b=110))
    return fig


def kv_read_gb(model: str, seqs: int, context: int) -> float:
    """KV cache bytes one decode pass reads (every sequence's K and V for every layer), in GB."""
    return MODELS[model].kv_bytes_per_token * seqs * context / 1e9


def doubling_ratio(model: str, hardware: str, seqs: int, context: int) -> float:
    """How many times longer a decode pass of 2 x ``seqs`` sequences takes than one of ``seqs``."""
    cost = cost_of(model, hardware)
    return decode_ms(cost, 2 * seqs, context) / decode_ms(cost, seqs, context)


def numbers_table(model: str, hardware: str) -> list[dict]:
    """Every number the preset rests on, for a table: quantity, value with unit, source."""
    cost = cost_of(model, hardware)
    return [{"quantity": q, "value": v, "source": s} for q, v, s in cost.describe()]


PAIR_SEP = " on "


def pair_label(model: str, hardware: str) -> str:
    return f"{model}{PAIR_SEP}{hardware}"


def pair_labels() -> list[str]:
    """'model on hardware' for every roofline preset pair, for a select box."""
    return [pair_label(m, h) for m, h in preset_pairs()]


def split_pair(label: str) -> tuple[str, str]:
    model, hardware = label.split(PAIR_SEP)
    return model, hardware


def preset_summary(model: str, hardware: str) -> str:
    """One line of the preset's numbers that set a pass's time, for a caption beside the chooser."""
    n = {q: v for q, v, _ in cost_of(model, hardware).describe()}
    return (f"{model} on {hardware}: {n['peak compute']} peak, {n['memory bandwidth']}, "
            f"{n['weights read per pass']} of weights read per pass, {n['KV cache per token']} of KV cache per "
            f"token; ridge point {n['ridge point (linear layers)']}, weights-read floor {n['weights-read floor']}. "
            "Sources: the 'What one iteration costs' page.")
