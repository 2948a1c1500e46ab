"""Plotly figures built from a complete figure dict, without plotly.py's per-property validation.

plotly.py checks every property it is given against the schema: cheap for a chart of a few traces, costly
for the animated timeline, whose 300 frames and 300 slider steps made up most of the playground's rerun
time (each frame a Frame object holding a trace object per bar trace). The builders in ``viz`` assemble
their figure as the dict plotly.js reads, from values they computed themselves, and hand it to
``lean_figure``:

- the figure keeps that dict, and ``to_dict`` (so ``plotly.io.to_json``, ``to_html`` and
  ``st.plotly_chart``) copies it with plotly's default template of the moment the figure was made, as
  ``go.Figure.to_dict`` would give it: a page that only draws the figure never builds plotly's objects
  (they cost 1-6 ms a figure even unvalidated, a third of building the timeline). With orjson the copy is
  a parse of the converted dict's text, written once when the figure is made (``_as_text``), where a walk
  over every value in Python took 0.6-2.8 ms a figure on every rerun;
- the first read of anything else (``fig.layout``, ``fig.data``, ``update_layout``, ``go.Figure(fig)``)
  builds them from the dict with plotly.py's validation switched off (``go.Figure(spec,
  _validate=False)``), like the JSON the pages send (``plotly.io.to_json(fig, validate=False)``, which is
  how Streamlit serialises a figure); from then on it is an ordinary ``go.Figure``;
- animation frames stay plain dicts (kept as JSON text) until someone reads ``fig.frames``; ``to_dict``
  puts them into the figure's dict as they are. The text is orjson's where it is installed (requirements.txt
  pins it), the json module's otherwise: the same dicts, ~10x faster to write and ~3x faster to read.

The figure is the same figure: ``tests/test_figure_digests.py`` compares the JSON the pages send with the
JSON of the validated figures they sent before, and the JSON of a built lean figure with an unbuilt one's.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import threading

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from _plotly_utils.basevalidators import is_homogeneous_array
from _plotly_utils.utils import plotlyjsShortTypes, to_typed_array_spec
from plotly.basedatatypes import BasePlotlyType

try:
    import orjson
except ImportError:  # the json module's text instead: slower, the same dicts
    orjson = None


class LeanFigure(go.Figure):
    """A ``go.Figure`` kept as its dict until something other than ``to_dict`` reads it, and whose animation
    frames are kept as plain dicts until they are read as objects."""

    def __init__(self, spec: dict):
        frames = spec.get("frames") or []
        spec = {k: v for k, v in spec.items() if k != "frames"}
        # JSON text: to_dict hands every caller fresh dicts (callers may change theirs), and parsing the text
        # is several times faster than deep-copying the dicts.
        plain = _dumps(frames) if frames else ""
        template = pio.templates.default
        if template is not None and not isinstance(template, BasePlotlyType):
            template = pio.templates[template]
        layout = spec.get("layout") or {}
        # Kept as a dict only what to_dict can copy as plotly would: traces that name their type, and
        # plotly's template left to plotly (a template named or given in the dict is expanded by plotly).
        lean = "template" not in layout and all(isinstance(t, dict) and "type" in t for t in spec.get("data") or ())
        # Set in __dict__: go.Figure's __setattr__ and every attribute go.Figure.__init__ makes are not there yet.
        self.__dict__.update(_spec=spec, _template=template, _plain_frames=plain, _lock=threading.RLock(),
                             _state="lean", _text=_as_text(spec) if lean else None)
        if not lean:
            self._build()

    def _build(self) -> None:
        """go.Figure's own objects, from the dict (once; another session's thread waits for them)."""
        d = self.__dict__
        with d["_lock"]:
            if d["_state"] != "lean":
                return
            d["_state"] = "building"
            spec = d["_spec"]
            if d["_template"] is not None and "template" not in (spec.get("layout") or {}):
                spec = {**spec, "layout": {**(spec.get("layout") or {}), "template": d["_template"]}}
            try:
                go.Figure.__init__(self, spec, _validate=False)
            except BaseException:
                d["_state"] = "lean"
                raise
            d["_state"] = "built"

    def __getattr__(self, name):
        # Only reached for an attribute not there: go.Figure's, before the figure is built.
        d = self.__dict__
        if name.startswith("__") or "_state" not in d:
            raise AttributeError(name)
        with d["_lock"]:  # another thread building it: wait for it
            if d["_state"] == "building":  # this thread's go.Figure.__init__ asking: not there yet
                raise AttributeError(name)
            self._build()
        return object.__getattribute__(self, name)

    @property
    def frames(self):
        """The frames as plotly ``Frame`` objects, built (and validated) the first time they are read."""
        self._materialise()
        return go.Figure.frames.fget(self)

    def _materialise(self) -> None:
        if getattr(self, "_plain_frames", ""):
            plain, self._plain_frames = _loads(self._plain_frames), ""
            go.Figure.frames.fset(self, plain)

    @frames.setter
    def frames(self, new_frames):
        self._plain_frames = ""
        go.Figure.frames.fset(self, new_frames)

    def __getitem__(self, prop):
        if prop == "frames":
            self._materialise()
        return super().__getitem__(prop)

    def to_dict(self):
        """The figure's dict, as ``go.Figure.to_dict`` makes it (numeric arrays as plotly.js typed-array
        specs), copied and converted in one walk instead of a ``deepcopy`` and a second pass: this is what
        ``st.plotly_chart`` calls on every rerun of a page. An unbuilt figure copies its own dict, or
        parses the converted dict's text it wrote when it was made (``_as_text``)."""
        d = self.__dict__
        if d["_state"] == "lean" and d["_text"] is not None:
            out = orjson.loads(d["_text"])
            if d["_template"] is not None:
                out["layout"]["template"] = _copied(d["_template"]._props)
        elif d["_state"] == "lean":
            spec = d["_spec"]
            layout = _copied(spec.get("layout") or {})
            if d["_template"] is not None:
                layout["template"] = _copied(d["_template"]._props)
            out = {"data": _copied(spec.get("data") or []), "layout": layout}
        else:
            out = {"data": _copied(self._data), "layout": _copied(self._layout)}
        if self._plain_frames:
            out["frames"] = _loads(self._plain_frames)
        elif d["_state"] != "lean" and self._frame_objs:
            out["frames"] = _copied([frame._props for frame in self._frame_objs])
        return out

    def to_ordered_dict(self, skip_uid=True):
        self._materialise()  # the ordered dict reads the frame objects
        return super().to_ordered_dict(skip_uid=skip_uid)


def _dumps(frames: list) -> str | bytes:
    """Frames as JSON text: orjson's bytes where it can write them, else the json module's string. Either
    reads back to the same dicts for the finite numbers, strings and lists a timeline's frames hold (a NaN,
    which no frame has, would read back as None from orjson's text; plotly writes it as null either way)."""
    if orjson is not None:
        try:
            return orjson.dumps(frames)
        except TypeError:  # a value orjson does not write (a numpy object array, an int over 64 bits)
            pass
    return json.dumps(frames, separators=(",", ":"))


def _as_text(spec: dict) -> bytes | None:
    """The dict an unbuilt figure's ``to_dict`` copies (data and layout, numeric arrays as typed-array specs),
    written once as orjson's text, so that each ``to_dict`` is one parse of it instead of a walk over every
    value in Python. None (``to_dict`` walks the dict) without orjson, or wherever the text might not read
    back as the walk's copy: an array the walk would not convert (in a list, under a key plotly skips, of a
    kind orjson refuses), a value orjson cannot write, or a NaN or infinity (orjson writes them as null,
    where the copy keeps the float; looked for only when the text has a null, which may as well be a None,
    as in the timeline's Pause button). Tuples read back as lists (the same JSON)."""
    if orjson is None:
        return None
    converted = {"data": [_converted(t) for t in spec.get("data") or ()], "layout": _converted(spec.get("layout") or {})}
    try:
        text = orjson.dumps(converted, default=_scalar)
    except TypeError:
        return None
    return None if b"null" in text and not _finite(converted) else text


def _finite(obj) -> bool:
    """Whether no float in ``obj`` (dicts, lists and tuples of atoms) is a NaN or an infinity."""
    t = type(obj)
    if t is dict:
        obj = obj.values()
    elif t is not list and t is not tuple:
        return t is not float or math.isfinite(obj)
    for v in obj:
        tv = type(v)
        if tv is str or tv is int:
            continue
        if tv is float:
            if not math.isfinite(v):
                return False
        elif not _finite(v):
            return False
    return True


def _converted(obj: dict) -> dict:
    """``obj`` with each numpy array that is a dict value (at any depth of dicts, under a key plotly does
    not skip) as its typed-array spec, as ``_copied`` would convert it; new dicts only where one changed.
    Lists and tuples are left as they are: an array in one reaches orjson, which refuses it."""
    out = None
    for k, v in obj.items():
        if type(v) is dict and k not in _SKIPPED:
            new = _converted(v)
        elif type(v) is np.ndarray and k not in _SKIPPED:
            new = _typed(v)
        else:
            continue
        if new is not v:
            if out is None:
                out = dict(obj)
            out[k] = new
    return obj if out is None else out


def _scalar(v):
    """orjson's fallback: a numpy number as the Python number it holds (the json engine writes the same);
    anything else, a NaN or an infinity too, is refused, and the figure keeps to the walk."""
    if isinstance(v, np.generic) and v.dtype.kind in "biuf":
        out = v.item()
        if not isinstance(out, float) or math.isfinite(out):
            return out
    raise TypeError


def _typed(v):
    """plotly's ``to_typed_array_spec`` for a plain numeric numpy array (int64 narrowed to the smallest of
    int8/16/32 that holds it, as plotly does), without its detour through narwhals (~40 us an array); any
    other value goes to plotly's own."""
    if type(v) is not np.ndarray or v.size == 0 or not v.dtype.isnative or v.dtype.name not in _SHORT_TYPES_IN:
        return to_typed_array_spec(v)
    if v.dtype.name == "int64":
        hi, lo = v.max(), v.min()
        for name, (tmin, tmax) in _NARROW:
            if lo >= tmin and hi <= tmax:
                v = v.astype(name)
                break
        else:
            return to_typed_array_spec(v)
    out = {"dtype": plotlyjsShortTypes[v.dtype.name], "bdata": base64.b64encode(np.ascontiguousarray(v)).decode("ascii")}
    if v.ndim > 1:
        out["shape"] = str(v.shape)[1:-1]
    return out


_SHORT_TYPES_IN = frozenset(plotlyjsShortTypes) | {"int64"}
_NARROW = (("int8", (-128, 127)), ("int16", (-32768, 32767)), ("int32", (-2147483648, 2147483647)))


def _loads(text: str | bytes) -> list:
    """The frames back from ``_dumps``'s text (bytes: orjson's; a string: the json module's)."""
    return orjson.loads(text) if isinstance(text, bytes) else json.loads(text)


def title_text(fig) -> str:
    """The text of ``fig``'s title ("" without one), read without building a lean figure."""
    if isinstance(fig, LeanFigure) and fig.__dict__.get("_state") == "lean":
        title = (fig.__dict__["_spec"].get("layout") or {}).get("title")
        return str((title.get("text") if isinstance(title, dict) else title) or "")
    return str(fig.layout.title.text or "") if fig.layout.title else ""


_SKIPPED = frozenset(("geojson", "layer", "layers", "range"))  # _plotly_utils.utils.is_skipped_key's keys
_ATOMS = (str, int, float, bool, type(None))
# plotly's is_homogeneous_array asks each value for numpy, pandas and __array__ (two failed hasattr): for
# the dicts and lists that make up most of a figure that is most of the walk, and always False.
_CONTAINERS = frozenset((dict, list, tuple))


def _copied(obj):
    """A copy of a figure's property tree with plotly.py's ``convert_to_base64`` applied to the copy: a value
    under a dict key that is a homogeneous array becomes a typed-array spec, keys plotly skips are copied
    as they are. Containers are new; arrays are copied (or converted); strings and numbers are shared."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if isinstance(v, _ATOMS):
                out[k] = v
            elif k in _SKIPPED:
                out[k] = copy.deepcopy(v)
            elif type(v) in _CONTAINERS:  # never a homogeneous array: no numpy, pandas or __array__ about it
                out[k] = _copied(v)
            elif is_homogeneous_array(v):
                out[k] = _typed(v)
            else:
                out[k] = _copied(v)
        return out
    if isinstance(obj, list):
        return [v if isinstance(v, _ATOMS) else _copied(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(v if isinstance(v, _ATOMS) else _copied(v) for v in obj)
    if isinstance(obj, _ATOMS):
        return obj
    return copy.deepcopy(obj)


def lean_figure(spec: dict) -> go.Figure:
    """A figure from a complete figure dict ({"data": [...], "layout": {...}, "frames": [...]}), unvalidated."""
    return LeanFigure(spec)


def restyled(fig: go.Figure, **layout) -> go.Figure:
    """A copy of ``fig`` with ``fig.update_layout(**layout)`` applied, ``fig`` untouched (figures a page
    caches are shared between sessions). A LeanFigure is copied from its dict, frames and all, without
    building and validating them (``go.Figure(fig)`` took 0.2-0.3 s for the timeline, on every rerun
    in presentation mode); any other figure the usual way."""
    if isinstance(fig, LeanFigure):
        out = LeanFigure(fig.to_dict())
    else:
        out = go.Figure(fig)
    out.update_layout(**layout)
    return out


__all__ = ["LeanFigure", "lean_figure", "restyled", "title_text"]
