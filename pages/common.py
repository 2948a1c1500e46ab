"""Helpers every page shares: cached simulation runs, URL-synced widgets, explanations next to charts.

Pages stay thin: read widgets (through the ``url_*`` helpers, so the view is in the URL an instructor can
share), build a ``SimConfig``, call ``run_cached``, hand the result to a ``viz`` builder, draw it.
"""

from __future__ import annotations

import streamlit as st

from sim import ConfigError, SimConfig, simulate
from sim.trace import SimResult


@st.cache_data(show_spinner="Simulating...", max_entries=64)
def run_cached(cfg: SimConfig) -> SimResult:
    """One simulation per distinct frozen config; st.cache_data hands each caller its own copy."""
    return simulate(cfg)


def run_or_error(cfg_factory) -> SimResult | None:
    """Build a config and run it; a ConfigError becomes one message naming the field, not a crash."""
    try:
        cfg = cfg_factory()
        return run_cached(cfg)
    except ConfigError as e:
        st.error(f"**{e.field}**: {e.reason}")
        return None


# ---- widgets whose value lives in the URL (st.query_params) ---------------------------------------

def _qp(key: str):
    return st.query_params.get(key)


def url_select(label: str, options: list, key: str, default=None, help: str | None = None, **kw):
    """A selectbox whose choice is mirrored in the URL as ``?key=value``."""
    options = list(options)
    raw = _qp(key)
    index = options.index(default) if default in options else 0
    if raw is not None:
        for i, o in enumerate(options):
            if str(o) == raw:
                index = i
    value = st.selectbox(label, options, index=index, key=f"w_{key}", help=help, **kw)
    st.query_params[key] = str(value)
    return value


def url_radio(label: str, options: list, key: str, default=None, help: str | None = None, **kw):
    options = list(options)
    raw = _qp(key)
    index = options.index(default) if default in options else 0
    if raw is not None:
        for i, o in enumerate(options):
            if str(o) == raw:
                index = i
    value = st.radio(label, options, index=index, key=f"w_{key}", help=help, **kw)
    st.query_params[key] = str(value)
    return value


def url_slider(label: str, lo, hi, key: str, default, step=None, help: str | None = None, **kw):
    """A slider mirrored in the URL; a malformed or out-of-range URL value falls back to the default."""
    raw = _qp(key)
    value = default
    if raw is not None:
        try:
            v = type(default)(float(raw)) if isinstance(default, int) else float(raw)
            if lo <= v <= hi:
                value = v
        except ValueError:
            pass
    out = st.slider(label, lo, hi, value, step=step, key=f"w_{key}", help=help, **kw)
    st.query_params[key] = str(out)
    return out


def url_number(label: str, lo, hi, key: str, default, step=None, help: str | None = None, **kw):
    raw = _qp(key)
    value = default
    if raw is not None:
        try:
            v = type(default)(float(raw)) if isinstance(default, int) else float(raw)
            if lo <= v <= hi:
                value = v
        except ValueError:
            pass
    out = st.number_input(label, lo, hi, value, step=step, key=f"w_{key}", help=help, **kw)
    st.query_params[key] = str(out)
    return out


def url_text(label: str, key: str, default: str = "", help: str | None = None, max_chars: int = 200, **kw) -> str:
    raw = _qp(key)
    value = raw if raw is not None else default
    out = st.text_input(label, value[:max_chars], key=f"w_{key}", help=help, max_chars=max_chars, **kw)
    st.query_params[key] = out
    return out


def url_toggle(label: str, key: str, default: bool = False, help: str | None = None) -> bool:
    raw = _qp(key)
    value = default if raw is None else raw == "1"
    out = st.toggle(label, value, key=f"w_{key}", help=help)
    st.query_params[key] = "1" if out else "0"
    return out


# ---- teaching frame ----------------------------------------------------------------------------------

def explain(text: str) -> None:
    """The short 'what you are looking at' note that sits next to every chart."""
    st.caption(f"**What you are looking at.** {text}")


def ms(seconds: float | None) -> str:
    """Seconds in data, milliseconds in the UI."""
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:,.1f} ms" if seconds < 10 else f"{seconds:,.2f} s"


def plot(fig, key: str | None = None) -> None:
    st.plotly_chart(fig, use_container_width=True, key=key)
