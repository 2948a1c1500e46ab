"""A chart's data as a table: the text alternative every chart of Batch Lab has (WCAG 2.1 AA, 1.1.1).

``chart_table(fig)`` reads any figure the ``viz`` builders make (bars, lines, markers, text, heatmaps;
subplots and animations included) and returns one row per drawn point: the series (legend name), the
point's x and y under the axis titles (so the units come along: "time (ms)", "engine slot"), a bar's start
when it is drawn from a base (timeline lanes), and "details", the point's hover text written out as the
learner would read it on hover (plotly's hovertemplate with its fields filled in). The table is built from
the figure itself, not from a second reading of the simulation, so it cannot disagree with the chart.

pages/common.plot draws it under each chart in a "Chart data as a table" expander, built only when a learner
opens it. Pure plotly/Python (no streamlit).
"""

from __future__ import annotations

import base64
import html
import math
import re

import numpy as np

_FIELD = re.compile(r"%\{([^}:|]+)(?::([^}]*))?\}")
_FORMAT = re.compile(r"^(?P<comma>,)?(?:\.(?P<prec>\d+))?(?P<type>[deEfgGs%])?$")
_INDEX = re.compile(r"(\w+)\[(\d+)\]")
_TAG = re.compile(r"<[^>]+>")
_EXTRA = re.compile(r"<extra>.*?</extra>", re.S)

DETAILS = "details"
SERIES = "series"


def plain(text) -> str:
    """Markup of a plotly label (<b>, <br>, entities) as plain text; a line break becomes '; '."""
    s = re.sub(r":\s*<br\s*/?>", ": ", str(text or ""), flags=re.I)  # "queue:<br>x3" reads "queue: x3"
    s = re.sub(r"<br\s*/?>", "; ", s, flags=re.I)
    return html.unescape(_TAG.sub("", s)).strip()


def _fmt(value, spec: str | None) -> str:
    """A value under a d3-format spec of the kind the builders use (',', ',.1f', '.0%', ',.3g')."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    m = _FORMAT.match(spec or "")
    if not spec or not m or not isinstance(value, (int, float)) or isinstance(value, bool):
        return _number(value) if isinstance(value, float) else str(value)
    comma, prec, kind = m["comma"] or "", m["prec"], m["type"] or ("f" if m["prec"] else "")
    if kind == "%":
        return f"{value * 100:{comma}.{prec or 0}f}%"
    if kind == "d":
        return f"{round(value):{comma}d}"
    if kind in ("f", "e", "E", "g", "G"):
        return f"{value:{comma}.{prec or 6}{kind}}"
    if kind == "s":
        return f"{value:{comma}.{prec or 3}g}"
    return f"{value:{comma}}" if comma else _number(value)


def _number(v: float) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _at(arr, i):
    """Element i of a trace's array attribute, or the attribute itself when it is one value for all."""
    if arr is None:
        return None
    if isinstance(arr, (str, int, float)):
        return arr
    try:
        return arr[i]
    except (IndexError, KeyError, TypeError):
        return None


def _value(v):
    """numpy scalars and arrays as plain Python values; a plotly.js typed-array spec ({"dtype", "bdata"[,
    "shape"]}, as in a figure copied through its dict: viz.lean.restyled in presentation mode) decoded."""
    if isinstance(v, dict) and "bdata" in v and "dtype" in v:
        arr = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        if v.get("shape"):
            arr = arr.reshape([int(n) for n in str(v["shape"]).split(",")])
        v = arr
    if hasattr(v, "tolist"):
        v = v.tolist()
    return v


def _render(template: str, point: dict) -> str:
    """A hovertemplate with this point's fields filled in ('%{customdata[1]}', '%{x:,.1f}', ...)."""
    def one(m: re.Match) -> str:
        name, spec = m.group(1).strip(), m.group(2)
        idx = _INDEX.fullmatch(name)
        if idx:
            v = _value(point.get(idx.group(1)))
            v = v[int(idx.group(2))] if isinstance(v, (list, tuple)) and int(idx.group(2)) < len(v) else None
        else:
            v = _value(point.get(name))
        return _fmt(v, spec)
    return plain(_EXTRA.sub("", _FIELD.sub(one, template)))


def _axis(fig, trace, letter: str):
    ref = getattr(trace, f"{letter}axis", None) or letter
    name = f"{letter}axis" + ref[1:]
    try:
        return fig.layout[name]
    except (KeyError, ValueError):
        return None


def _axis_title(fig, axis, letter: str) -> str:
    """The axis's title; for an untitled one (the upper panels of shared-x subplots) the first titled axis
    of the same direction; else the bare letter."""
    def title(a):
        return plain(a.title.text) if a is not None and a.title is not None and a.title.text else ""
    if title(axis):
        return title(axis)
    others = [title(fig.layout[k]) for k in fig.layout if k.startswith(f"{letter}axis")]
    return next((t for t in others if t), letter)


def _tick_names(axis) -> dict:
    """Position -> label for an axis that names its positions (timeline lanes, engine slots)."""
    if axis is None or axis.tickvals is None or axis.ticktext is None:
        return {}
    return {v: plain(t) for v, t in zip(_value(axis.tickvals), _value(axis.ticktext))}


def _points(trace) -> int:
    if trace.type == "heatmap":
        z = _value(trace.z)
        return sum(len(r) for r in z) if z else 0
    for attr in ("x", "y"):
        v = _value(getattr(trace, attr, None))
        if v is not None:
            return len(v)
    return 0


def _helper(trace) -> bool:
    """Traces that carry no data of their own: legend swatches (x=[None]), the animation's "now" line and
    veil (hover skipped and no text)."""
    xs = _value(trace.x) if trace.type != "heatmap" else None
    if xs is not None and all(v is None for v in xs):
        return True
    return trace.hoverinfo == "skip" and getattr(trace, "text", None) is None


def chart_table(fig) -> list[dict]:
    """One row per drawn point of ``fig`` (see the module docstring); columns are the same in every row."""
    rows: list[dict] = []
    for trace in fig.data:
        if trace.type not in ("bar", "scatter", "heatmap") or _helper(trace):
            continue
        xa, ya = _axis(fig, trace, "x"), _axis(fig, trace, "y")
        xt, yt = _axis_title(fig, xa, "x"), _axis_title(fig, ya, "y")
        if trace.type == "heatmap":
            rows += _heatmap_rows(trace, xt, yt)
            continue
        xnames, ynames = _tick_names(xa), _tick_names(ya)
        series = plain(trace.name) or plain(trace.meta) or trace.type
        horizontal = trace.type == "bar" and trace.orientation == "h"
        base = _value(getattr(trace, "base", None)) if trace.type == "bar" else None
        template = trace.hovertemplate if isinstance(trace.hovertemplate, str) else None
        arrays = {k: _value(getattr(trace, k, None)) for k in ("x", "y", "text", "hovertext", "customdata")}
        arrays["base"] = base
        for i in range(_points(trace)):
            point = {k: _at(v, i) for k, v in arrays.items()}
            point["fullData.name"] = series
            row = {SERIES: series}
            length_axis, pos_axis = ("x", "y") if horizontal else ("y", "x")
            pos_title, pos_names = (yt, ynames) if horizontal else (xt, xnames)
            len_title = xt if horizontal else yt
            pos = point[pos_axis]
            # An axis that names its positions (lanes, slots) names only those; a point between them (the
            # queue's text under the slots) or past the labelled ones gets no number, its details say it.
            row[pos_title] = pos_names.get(pos) if pos_names else pos
            if point["base"] is not None:
                row[f"{len_title}: from"] = point["base"]
                row[f"{len_title}: length"] = point[length_axis]
            else:
                names = xnames if horizontal else ynames
                row[len_title] = names.get(point[length_axis]) if names else point[length_axis]
            if template:
                row[DETAILS] = _render(template, point)
            else:
                row[DETAILS] = plain(point["hovertext"] or point["text"] or "")
            rows.append(row)
    return _uniform(rows)


def _heatmap_rows(trace, xt: str, yt: str) -> list[dict]:
    z, text, custom = _value(trace.z), _value(trace.text), _value(trace.customdata)
    xs, ys = _value(trace.x), _value(trace.y)
    template = trace.hovertemplate if isinstance(trace.hovertemplate, str) else None
    out = []
    for r, zrow in enumerate(z or []):
        for c, zv in enumerate(zrow):
            if zv is None or (isinstance(zv, float) and math.isnan(zv)):  # no cell drawn (past the last one)
                continue
            t = text[r][c] if text and r < len(text) and c < len(text[r]) else None
            cd = custom[r][c] if custom is not None and r < len(custom) and c < len(custom[r]) else None
            point = {"x": xs[c] if xs else c, "y": ys[r] if ys else r, "z": zv, "text": t, "customdata": cd}
            out.append({SERIES: plain(trace.name) or "cell", xt: point["x"], yt: point["y"],
                        DETAILS: _render(template, point) if template else plain(t or zv)})
    return out


def _uniform(rows: list[dict]) -> list[dict]:
    """Every row with every column (blank where a series lacks one), and a column that mixes text and
    numbers as text throughout (a table column has one type)."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    if DETAILS in cols:  # the words last, after the numbers
        cols.remove(DETAILS)
        cols.append(DETAILS)
    out = [{c: r.get(c) for c in cols} for r in rows]
    for c in cols:
        vals = [r[c] for r in out if r[c] is not None]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
        for r in out:
            v = r[c]
            if v is None:
                r[c] = None if numeric else ""
            elif not numeric:
                r[c] = v if isinstance(v, str) else (_number(v) if isinstance(v, float) else str(v))
            elif isinstance(v, float):
                r[c] = round(v, 6)
    return out
