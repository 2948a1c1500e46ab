"""Helpers every page shares: cached simulation runs, URL-synced widgets, explanations next to charts.

Pages stay thin: read widgets (through the ``url_*`` helpers, so the view is in the URL an instructor can
share), build a ``SimConfig``, call ``run_cached``, hand the result to a ``viz`` builder, draw it.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

import streamlit as st

from sim import ConfigError, SimConfig, simulate
from sim.trace import SimResult


def _use_the_router() -> None:
    """Make app.py's st.navigation the only router, also when the first visitor opens a page URL directly.

    Streamlit treats a folder named ``pages/`` beside the entry point as old-style multipage navigation
    until some run calls st.navigation; a server whose first request is, say, /playground would run
    pages/playground.py on its own, without app.py's frame. Every page imports this module, so it turns
    that mode off and reruns once, and app.py routes the rerun (the URL names the same page).
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:  # a Streamlit without this internal: nothing to correct
        return
    ctx = get_script_run_ctx()
    if not PagesManager.uses_pages_directory or ctx is None:
        return
    PagesManager.uses_pages_directory = False
    try:  # rerun by the page name the browser asked for, so app.py's router finds that page
        from streamlit.commands.execution_control import _force_yield_point
        from streamlit.runtime.scriptrunner_utils.script_requests import RerunData
        name = ctx.pages_manager.intended_page_name or ""
        ctx.script_requests.request_rerun(RerunData(query_string=ctx.query_string, page_name=name,
                                                    context_info=ctx.context_info))
    except (ImportError, AttributeError, TypeError):
        st.rerun()
    _force_yield_point()


_use_the_router()


@st.cache_data(show_spinner="Simulating...", max_entries=64)
def run_cached(cfg: SimConfig) -> SimResult:
    """One simulation per distinct frozen config; st.cache_data hands each caller its own copy."""
    return simulate(cfg)


def error_text(e: ConfigError) -> str:
    """The one-line message for a refused input: the field (and trace row) in bold, then the reason, as
    Markdown that shows the learner's text exactly as typed (``__import__`` is not bold "import")."""
    where = f" (row {e.row})" if e.row is not None else ""
    field = str(e.field)  # our own setting and column names, shown as they are unless odd characters crept in
    field = field if re.fullmatch(r"[\w.\- ]{1,80}", field) else markdown_plain(field)
    return f"**{field}**{where}: {markdown_plain(e.reason)}"


def markdown_plain(text: str) -> str:
    """``text`` for st.markdown / st.error, shown literally: Markdown and Streamlit's own markup (``$`` maths,
    ``:red[...]``, ``:emoji:``) escaped outside `code spans`, which Markdown already shows verbatim."""
    parts = " ".join(str(text).split()).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: no code spans at all
        parts = [str(text).replace("`", "'")]
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"`{part}`")
        else:
            out.append("".join("\\" + c if c in _MARKDOWN_SPECIAL else c for c in part))
    return "".join(out)


_MARKDOWN_SPECIAL = frozenset("\\*_{}[]<>#+-.!|~$:=^&")


def trace_workload_from_upload(file_name: str, data: bytes):
    """An uploaded CSV / JSON-lines trace as a scripted workload; bad input raises ConfigError naming the
    column and row (the same checks and limits as a trace file: sim.trace_files.parse_trace_upload)."""
    from sim.trace_files import parse_trace_upload, trace_workload
    return trace_workload(parse_trace_upload(file_name, data), name=str(file_name)[:100])


def run_or_error(cfg_factory) -> SimResult | None:
    """Build a config and run it; a ConfigError becomes one message naming the field, not a crash."""
    try:
        cfg = cfg_factory()
        return run_cached(cfg)
    except ConfigError as e:
        st.error(error_text(e))
        return None


# ---- widgets whose value lives in the URL (st.query_params) ---------------------------------------

def _qp(key: str):
    return st.query_params.get(key)


def _url_index(options: list, key: str, default) -> int:
    """Index of the URL's value among ``options``; the default's index when absent or unknown."""
    raw = _qp(key)
    index = options.index(default) if default in options else 0
    if raw is not None:
        for i, o in enumerate(options):
            if str(o) == raw:
                index = i
    return index


def _url_number(key: str, lo, hi, default):
    """The URL's number for ``key`` if it parses and lies in [lo, hi]; else the default (a hostile or stale
    link never breaks the page)."""
    raw = _qp(key)
    if raw is None:
        return default
    try:
        v = type(default)(float(raw)) if isinstance(default, int) else float(raw)
    except (ValueError, OverflowError):  # "abc", "nan" and "inf" for a whole number
        return default
    return v if lo <= v <= hi else default


def url_select(label: str, options: list, key: str, default=None, help: str | None = None, **kw):
    """A selectbox whose choice is mirrored in the URL as ``?key=value``."""
    options = list(options)
    value = st.selectbox(label, options, index=_url_index(options, key, default), key=f"w_{key}", help=help, **kw)
    st.query_params[key] = str(value)
    return value


def url_radio(label: str, options: list, key: str, default=None, help: str | None = None, **kw):
    options = list(options)
    value = st.radio(label, options, index=_url_index(options, key, default), key=f"w_{key}", help=help, **kw)
    st.query_params[key] = str(value)
    return value


def url_slider(label: str, lo, hi, key: str, default, step=None, help: str | None = None, **kw):
    """A slider mirrored in the URL; a malformed or out-of-range URL value falls back to the default."""
    out = st.slider(label, lo, hi, _url_number(key, lo, hi, default), step=step, key=f"w_{key}", help=help, **kw)
    st.query_params[key] = str(out)
    return out


def url_number(label: str, lo, hi, key: str, default, step=None, help: str | None = None, **kw):
    out = st.number_input(label, lo, hi, _url_number(key, lo, hi, default), step=step, key=f"w_{key}", help=help,
                          **kw)
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
    """Draw a figure at full width; presentation mode (the sidebar toggle in app.py) enlarges its type."""
    if st.session_state.get("present"):
        import plotly.graph_objects as go  # a copy, because cached figures are shared between sessions
        fig = go.Figure(fig)
        fig.update_layout(font=dict(size=17), hoverlabel=dict(font_size=17))
    st.plotly_chart(fig, width="stretch", key=key)


# ---- the page list (app.py builds the navigation from it; Home links every page from it) ----------------

class PageInfo(NamedTuple):
    file: str  # path relative to the repository root
    title: str
    url_path: str  # "" for the default page
    icon: str
    section: str  # navigation group
    concepts: str  # DESIGN.md concept ids this page teaches
    blurb: str  # one line for the Home page's learning path


PAGES: tuple[PageInfo, ...] = (
    PageInfo("pages/home.py", "Home", "", ":material/home:", "Learn", "", "What the app teaches and how to use it."),
    PageInfo("pages/step-by-step.py", "Continuous batching, step by step", "step-by-step", ":material/footprint:",
             "Learn", "C1, C2, C3, C7",
             "The book's x1..x5 example, one iteration (forward pass) at a time: predict, then step."),
    PageInfo("pages/reorganization.py", "Batch reorganization overhead", "reorganization", ":material/swap_horiz:",
             "Learn", "C4", "Every join and leave costs time: where continuous batching stops paying off."),
    PageInfo("pages/memory.py", "Memory and fragmentation", "memory", ":material/memory:", "Learn", "C5",
             "Paged vs contiguous KV memory: reserved, internal and external waste."),
    PageInfo("pages/prefill-vs-decode.py", "Prefill vs decode priority", "prefill-vs-decode",
             ":material/compare_arrows:", "Learn", "C6, C8, C11",
             "The same arrivals under two policies: throughput against token latency."),
    PageInfo("pages/priorities.py", "Priorities and custom policies", "priorities", ":material/low_priority:",
             "Learn", "C8, C9", "FCFS, priority, SJF, EDF, aging and your own expression; starvation made visible."),
    PageInfo("pages/disaggregation.py", "Disaggregation", "disaggregation", ":material/call_split:", "Learn",
             "C10", "A prefill engine hands KV caches to a decode engine over a link."),
    PageInfo("pages/playground.py", "Scheduling playground", "playground", ":material/tune:", "Explore",
             "C1-C12", "Any workload, any policy: animated timeline, metrics, iteration log, downloads."),
    PageInfo("pages/validate.py", "Validate against a real model", "validate", ":material/fact_check:", "Explore",
             "", "The same scheduler runs a tiny real model; compare measured and simulated times."),
    PageInfo("pages/choosing.py", "Choosing a strategy", "choosing", ":material/flag:", "Check yourself", "C12",
             "Legal archive and hybrid service: state your conclusion, then see the numbers."),
    PageInfo("pages/quiz.py", "Quiz", "quiz", ":material/quiz:", "Check yourself", "C1-C12",
             "Scenario questions whose answers the simulator can demonstrate."),
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def existing_pages() -> list[PageInfo]:
    """The pages whose script exists (pages are written by several people; a missing one is skipped)."""
    return [p for p in PAGES if os.path.exists(os.path.join(ROOT, p.file))]


def page_link(url_path: str, label: str | None = None, **kw) -> None:
    """st.page_link to a page of PAGES by its url_path; nothing when that page does not exist yet."""
    from streamlit.errors import StreamlitPageNotFoundError
    for p in existing_pages():
        if p.url_path == url_path:
            try:
                st.page_link(p.file, label=label or p.title, icon=p.icon, **kw)
            except StreamlitPageNotFoundError:  # the page script run on its own, without app.py's router
                st.markdown(f"[{label or p.title}](/{p.url_path})")
            return


@st.cache_resource(max_entries=64, show_spinner=False)
def run_shared(cfg: SimConfig) -> SimResult:
    """Like ``run_cached`` but hands every caller the same result object (no copy per rerun), which keeps
    reruns of pages that draw several big runs fast. Callers must treat the result as read-only."""
    return run_cached(cfg)


def shared_or_error(cfg_factory) -> SimResult | None:
    """``run_or_error`` for ``run_shared``: a ConfigError becomes one message naming the field."""
    try:
        return run_shared(cfg_factory())
    except ConfigError as e:
        st.error(error_text(e))
        return None


# ---- predict, then observe; claims with their measured numbers ---------------------------------------

def predict(key: str, question: str, options: dict) -> str | None:
    """A prediction moment before a key chart: the learner's choice lives in the URL (``?p_<key>=``), so a
    shared link keeps it. Returns the chosen option's key, or None until the learner has answered (the
    page then keeps its key result hidden)."""
    names = list(options)
    raw = _qp(f"p_{key}")
    pick = st.radio(question, names, index=names.index(raw) if raw in names else None, key=f"w_p_{key}",
                    format_func=options.get)
    if pick is None:
        st.query_params.pop(f"p_{key}", None)
        st.caption("Make your prediction to see the simulator's answer.")
    else:
        st.query_params[f"p_{key}"] = pick
    return pick


def reveal(pick: str, truth: str, answer: str, why: str) -> None:
    """The simulator's answer to a prediction: right or not, with its number and a one-line why."""
    if pick == truth:
        st.success(f"**Your prediction holds.** {answer} {why}")
    else:
        st.error(f"**Not this time.** {answer} {why}")


def _quiz_claims():
    """quiz.claims, also when a page runs as the main script: then the pages folder is first on sys.path and
    ``import quiz`` would find pages/quiz.py (the quiz page shares the package's name), so the repository
    root goes first, as pages/quiz.py itself does."""
    import sys
    if sys.path[:1] != [ROOT]:
        sys.path.insert(0, ROOT)
    from quiz import claims
    return claims


def claim_numbers(claim_ids, seed: int = 0, here: str = "") -> None:
    """Each claim (quiz/claims.py) as the page states it, with the numbers the simulator measured for it:
    the same configurations the claims check runs on seeds 0..4, so words and numbers cannot drift. ``here``
    is the url path of the calling page (a link back to it is left out unless it sets more than the scenario)."""
    qc = _quiz_claims()
    for cid in claim_ids:
        c = qc.BY_ID[cid]
        m = qc.measure(c, seed, run=run_shared)
        cond = f" *Holds only when {c.condition}.*" if c.condition else ""
        # A link back to the page it is shown on helps only when it sets more than the scenario.
        useful = c.link and (c.link[0] != here or len(c.link[1]) > 1)
        link = f" [Open this configuration]({c.link_url()})." if useful else ""
        st.markdown(f"- {c.statement}{cond}  \n  {qc.sentence(m)} Checked on seeds "
                    f"{qc.CHECK_SEEDS[0]}..{qc.CHECK_SEEDS[-1]} in CI.{link}")
