"""Helpers every page shares: cached simulation runs, URL-synced widgets, explanations next to charts,
links to other pages (from quiz/catalog.py), and the hand-over of a fresh server's first visit to app.py's router.

Pages stay thin: read widgets (through the ``url_*`` helpers, so the view is in the URL an instructor can
share), build a ``SimConfig``, call ``run`` (or ``run_or_error``), hand the result to a ``viz`` builder, draw it.
Every page imports this module and calls ``reroute_first_visit()`` before drawing anything (see below why).
"""

from __future__ import annotations

import os
import re
import sys

# pandas before any page runs: Streamlit imports it lazily (st.dataframe), and plotly's validators look it
# up in sys.modules without importing it, so a figure built in one session while another session's
# st.dataframe is still importing pandas met a half-initialised module ("partially initialized module
# 'pandas' has no attribute 'Series'"). Imported here, under the import lock, before any page code runs,
# pandas is whole by the time any session builds a figure.
import pandas  # noqa: F401
import streamlit as st

from pages import runtime
from quiz import catalog
from sim import ConfigError, SimConfig, simulate
from sim.trace import SimResult

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- the router's first visit ---------------------------------------------------------------------------
# Streamlit (1.67) runs a fresh server in its legacy multipage mode because a folder named pages/ sits beside
# app.py: until some session has called st.navigation, a run for /<name> goes straight to pages/<name>.py,
# and app.py (the router and the frame) is not run at all. So a server whose first visitor opens a deep link
# such as /playground?policy=static would show that page bare. The documented way out is the switch itself:
# "as soon as any session of your app executes st.navigation, your app will ignore the pages/ directory
# (across all sessions)". So every page, on every run, first calls ``reroute_first_visit()``: a run that
# app.py did not route calls st.navigation with the catalog's pages (which resolves the URL the browser
# asked for to the router's page of that name) and reruns; from then on app.py routes every run.
#
# Why a call on every run and not a side effect of importing this module (as it was): st.rerun() raises,
# and an exception out of a module's import breaks every other session importing it at that moment. When
# a class arrives at once, many first visits import pages.common together; the others wait on the
# module's import lock, and when the first import fails CPython hands them the discarded module, so
# `from pages import common` raised "cannot import name 'common' from 'pages'" in their sessions. Importing
# this module now never raises. And why the mark is in st.session_state, not on the __main__ module:
# sys.modules["__main__"] is one slot for the whole process, which each session's run overwrites, so a
# page reading it could see another session's run. The mark is per session, and it is exact: Streamlit
# turns the legacy mode off once for good, so once app.py has run in a session, every later run is routed.

ROUTED = "_batch_lab_routed"  # st.session_state key app.py sets at the top of every run


def nav_pages() -> dict[str, list]:
    """st.Page objects for st.navigation, grouped by the catalog's sections (pages whose script exists)."""
    return {section: [st.Page(p.file, title=p.title, icon=p.icon, url_path=p.url_path or None,
                              default=p.url_path == "") for p in pages if _exists(p)]
            for section, pages in catalog.by_section().items()}


def mark_routed() -> None:
    """Called by app.py at the top of every run: this session's runs go through the router."""
    st.session_state[ROUTED] = True


def reroute_first_visit() -> None:
    """Hand a page run that app.py did not route (a fresh server's legacy mode) to the router; see above.

    Every page calls it first, on every run (a cheap check once routed). A page that is itself the main
    script (AppTest.from_file("pages/x.py"), `streamlit run pages/x.py`) has no router to hand over to and
    runs as it is; the main script is the same file for every session of a process, so reading it from
    sys.modules is safe here. It also settles the process's garbage collector (pages.runtime)."""
    runtime.tune_gc()
    if st.session_state.get(ROUTED):
        return
    main = sys.modules.get("__main__")  # the script `streamlit run` was given (Streamlit installs it here)
    if os.path.abspath(getattr(main, "__file__", "") or "") != os.path.join(ROOT, "app.py"):
        return
    st.navigation(nav_pages(), position="hidden")  # turns the legacy mode off, for every session
    st.rerun()  # same URL and query string; app.py now routes it


# ---- simulation runs --------------------------------------------------------------------------------------

@st.cache_resource(show_spinner="Simulating...", max_entries=64)
def run(cfg: SimConfig) -> SimResult:
    """One simulation per distinct (frozen, hashable) config, shared by every session that asks for it.

    The caching story of the app: a simulation result is a shared read-only object, so st.cache_resource
    (one object, no copy). The simulator is deterministic (same config and seed, same trace), so sharing
    is exact, and a result of thousands of records is not pickled and unpickled on every rerun as
    st.cache_data would (its per-caller copy only pays for data a caller changes). Callers must not
    change a result; a figure built from one is copied before it is restyled (see ``plot``).
    """
    return simulate(cfg)


def error_text(e: ConfigError) -> str:
    """The one-line message for a refused input: the field (and trace row) in bold, then the reason, as
    Markdown that shows the learner's text exactly as typed (``__import__`` is not bold "import")."""
    where = f" (row {e.row})" if e.row is not None else ""
    return f"**{_name(e.field)}**{where}: {markdown_plain(e.reason)}"


def _name(name) -> str:
    """Our own setting, column and parameter names are shown as they are (``max_batch`` inside ** is not
    emphasis); anything with other characters is escaped."""
    name = str(name)
    return name if re.fullmatch(r"[\w.\- ]{1,80}", name) else markdown_plain(name)


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


# Characters that mark up text mid-line (emphasis, links, HTML, maths, strikethrough, Streamlit's :color[...]
# and :emoji:). Line-start markup (#, -, 1.) cannot occur: the text follows "**field**: " on one line.
_MARKDOWN_SPECIAL = frozenset("\\`*_{}[]<>$~|:&")


def plain(text: str) -> str:
    """``text`` shown literally in Markdown (``markdown_plain``)."""
    return markdown_plain(text)


def show_error(e: ConfigError, then: str = "") -> None:
    """The message for a refused input, in an error box, with ``then`` (Markdown) after it."""
    st.error(error_text(e) + (f"  \n{then}" if then else ""))


def trace_workload_from_upload(file_name: str, data: bytes):
    """An uploaded CSV / JSON-lines trace as a scripted workload; bad input raises ConfigError naming the
    column and row (the same checks and limits as a trace file: sim.trace_files.parse_trace_upload)."""
    from sim.trace_files import parse_trace_upload, trace_workload
    return trace_workload(parse_trace_upload(file_name, data), name=str(file_name)[:100])


def run_or_error(cfg_factory) -> SimResult | None:
    """Build a config and run it; a ConfigError becomes one message naming the field, not a crash."""
    try:
        return run(cfg_factory())
    except ConfigError as e:
        st.error(error_text(e))
        return None


# ---- widgets whose value lives in the URL (st.query_params) ---------------------------------------

# Every query parameter a page reads goes through these helpers, so a hostile or stale link is handled in one
# place: a value that is too long, does not parse, lies outside the widget's range or names no option is
# replaced by the page's default, with one note naming the parameter (never a crash, never silently).
MAX_URL_VALUE_CHARS = 200


def _qp(key: str):
    raw = st.query_params.get(key)
    if raw is not None and len(raw) > MAX_URL_VALUE_CHARS and key != "expr":  # url_text reports its own
        _url_refused(key, raw, f"longer than {MAX_URL_VALUE_CHARS} characters")
        return None
    return raw


def _url_refused(key: str, raw: str, why: str, default=None) -> None:
    shown = raw if len(raw) <= 40 else raw[:37] + "..."
    using = f"; showing {default}" if default is not None else ""
    st.caption(f":material/link_off: Link parameter **{_name(key)}** = {markdown_plain(repr(shown))} "
               f"ignored: {markdown_plain(why)}{markdown_plain(using)}.")


def _url_index(options: list, key: str, default) -> int:
    """Index of the URL's value among ``options``; the default's index when absent or unknown."""
    raw = _qp(key)
    index = options.index(default) if default in options else 0
    if raw is not None:
        for i, o in enumerate(options):
            if str(o) == raw:
                return i
        _url_refused(key, raw, "not one of the choices", options[index] if options else None)
    return index


def _url_number(key: str, lo, hi, default):
    """The URL's number for ``key`` if it parses and lies in [lo, hi]; else the default (a hostile or stale
    link never breaks the page) and a note naming the parameter."""
    raw = _qp(key)
    if raw is None:
        return default
    try:
        v = type(default)(float(raw)) if isinstance(default, int) else float(raw)
    except (ValueError, OverflowError):  # "abc", "nan" and "inf" for a whole number
        _url_refused(key, raw, "not a number", default)
        return default
    if not lo <= v <= hi:  # NaN fails this too
        _url_refused(key, raw, f"outside {lo:g} to {hi:g}", default)
        return default
    return v


def url_int(key: str, lo: int, hi: int, default: int) -> int:
    """A whole number read from the URL without a widget of its own (e.g. the step-by-step iteration); one
    beyond the range is taken as the nearest end (a link to iteration 99 of a 12-iteration run shows the
    last), one that does not parse is the default, with a note."""
    raw = _qp(key)
    if raw is None:
        return default
    try:
        v = float(raw)
        if v != v:
            raise ValueError
        return int(min(max(v, lo), hi))
    except (ValueError, OverflowError):
        _url_refused(key, raw, "not a whole number", default)
        return default


def _wkey(key: str, scope: str) -> str:
    """The widget's session-state key. A widget keeps the value the browser shows whatever default the
    script passes later, so a control whose default depends on other settings (a scenario's engine, the
    memory page's refusal) takes those settings as ``scope``: new settings, a new widget at its default
    (the URL's value, which belonged to the old settings, is dropped then)."""
    if not scope:
        return f"w_{key}"
    seen = st.session_state.get(f"scope_{key}")
    if seen is not None and seen != scope and key in st.query_params:
        del st.query_params[key]
    st.session_state[f"scope_{key}"] = scope
    return f"w_{key}@{scope}"


def url_select(label: str, options: list, key: str, default=None, help: str | None = None, scope: str = "", **kw):
    """A selectbox whose choice is mirrored in the URL as ``?key=value``."""
    options, wkey = list(options), _wkey(key, scope)
    value = st.selectbox(label, options, index=_url_index(options, key, default), key=wkey, help=help, **kw)
    st.query_params[key] = str(value)
    return value


def url_radio(label: str, options: list, key: str, default=None, help: str | None = None, scope: str = "", **kw):
    options, wkey = list(options), _wkey(key, scope)
    value = st.radio(label, options, index=_url_index(options, key, default), key=wkey, help=help, **kw)
    st.query_params[key] = str(value)
    return value


def url_slider(label: str, lo, hi, key: str, default, step=None, help: str | None = None, scope: str = "", **kw):
    """A slider mirrored in the URL; a malformed or out-of-range URL value falls back to the default."""
    wkey = _wkey(key, scope)
    out = st.slider(label, lo, hi, _url_number(key, lo, hi, default), step=step, key=wkey, help=help, **kw)
    st.query_params[key] = str(out)
    return out


def url_number(label: str, lo, hi, key: str, default, step=None, help: str | None = None, scope: str = "", **kw):
    wkey = _wkey(key, scope)
    out = st.number_input(label, lo, hi, _url_number(key, lo, hi, default), step=step, key=wkey, help=help, **kw)
    st.query_params[key] = str(out)
    return out


def url_text(label: str, key: str, default: str = "", help: str | None = None, max_chars: int = 200, scope: str = "",
             **kw) -> str:
    wkey = _wkey(key, scope)
    raw = st.query_params.get(key)
    if raw is not None and len(raw) > max_chars:
        _url_refused(key, raw, f"longer than {max_chars} characters; cut to its first {max_chars}")
    value = raw if raw is not None else default
    out = st.text_input(label, value[:max_chars], key=wkey, help=help, max_chars=max_chars, **kw)
    st.query_params[key] = out
    return out


def url_toggle(label: str, key: str, default: bool = False, help: str | None = None) -> bool:
    raw = _qp(key)
    if raw is not None and raw not in ("0", "1"):
        _url_refused(key, raw, "not 0 or 1", "1" if default else "0")
    value = default if raw not in ("0", "1") else raw == "1"
    out = st.toggle(label, value, key=f"w_{key}", help=help)
    st.query_params[key] = "1" if out else "0"
    return out


# ---- following one request across the views (viz/follow.py draws the highlights) ---------------------

def lane_clicked(chart_key: str, lanes: list[str], ids) -> str | None:
    """The request whose lane was clicked on the timeline drawn by ``plot(..., key=chart_key, clickable=True)``
    (``lanes``: the figure's lanes top to bottom, viz.timeline.lane_ids); None for an engine lane, no click,
    or a click already taken (the chart keeps its last click until it is redrawn)."""
    event = st.session_state.get(chart_key) or {}
    points = (event.get("selection") or {}).get("points") or []
    if not points:
        return None
    seen = repr(points[0])
    if st.session_state.get(f"{chart_key}_taken") == seen:
        return None
    st.session_state[f"{chart_key}_taken"] = seen
    try:
        lane = lanes[int(round(float(points[0].get("y"))))]
    except (TypeError, ValueError, IndexError):
        return None
    return lane if lane in set(ids) else None


def follow_select(ids, label: str = "Follow one request", key: str = "follow", clicked: str | None = None) -> str | None:
    """A select of the run's request ids mirrored in the URL as ``?follow=<id>`` (absent when nobody is
    followed); ``clicked`` (a lane clicked on the timeline, ``lane_clicked``) becomes its choice. A link
    naming no request of this run gets one note naming the parameter and follows nobody. The widget is
    scoped by the id list, so a new run with other requests starts again from the URL."""
    ids = list(ids)
    scope = f"{len(ids)}:{ids[0] if ids else ''}:{ids[-1] if ids else ''}"
    wkey = f"w_{key}@{scope}"
    if clicked in ids:
        st.session_state[wkey] = clicked
    elif wkey not in st.session_state:  # a new widget starts from the link
        raw = _qp(key)
        if raw and raw not in ids:
            _url_refused(key, raw, "no request of this run has that id", "nobody followed")
        st.session_state[wkey] = raw if raw in ids else None
    value = st.selectbox(label, [None] + ids, key=wkey,
                         format_func=lambda o: "nobody" if o is None else o, placeholder="nobody",
                         help="Marks this request in every view of the run: its lane in the timeline (others "
                              "dimmed), its slots, its own KV cache and its rows in the iteration log. Click a "
                              "lane of the timeline to pick it there. Also in a link: ?follow=<id>.")
    if value is None:
        st.query_params.pop(key, None)
    else:
        st.query_params[key] = value
    return value


def follow_bar(ids, note, clicked: str | None = None) -> str | None:
    """``follow_select`` in a narrow column, and beside it ``note(id)`` (Markdown: what the page marks)."""
    c1, c2 = st.columns([1, 2], vertical_alignment="bottom")
    with c1:
        follow = follow_select(ids, clicked=clicked)
    if follow:
        c2.caption(note(follow))
    return follow


# ---- metric deltas ------------------------------------------------------------------------------------

def change(text: str | None, new: float | None, old: float | None, higher_is_better: bool) -> dict:
    """st.metric keywords for the delta ``text`` of a change from ``old`` to ``new``: the arrow follows the
    direction of the change (whatever the text says), the colour whether that direction is good, and the
    word "better" / "worse" at the end says it without colour."""
    if text is None:
        return dict(delta=None)
    if new is None or old is None or abs(new - old) <= 1e-12 * max(abs(new), abs(old), 1.0):
        return dict(delta=f"{text}, no change", delta_arrow="off", delta_color="gray")
    good = (new > old) == higher_is_better
    return dict(delta=f"{text}, {'better' if good else 'worse'}", delta_arrow="up" if new > old else "down",
                delta_color="green" if good else "red")


# ---- teaching frame ----------------------------------------------------------------------------------

def intro(text: str) -> None:
    """The page's opening paragraph. In presentation mode it folds into an expander, so the first screen a
    projector shows (1280x720) holds the page's first chart or controls, not a wall of prose."""
    if st.session_state.get("present"):
        with st.expander("About this page", expanded=False):
            st.markdown(text)
    else:
        st.markdown(text)


def explain(text: str) -> None:
    """The short 'what you are looking at' note that sits next to every chart."""
    st.caption(f"**What you are looking at.** {text}")


def ms(seconds: float | None) -> str:
    """Seconds in data, milliseconds in the UI."""
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:,.1f} ms" if seconds < 10 else f"{seconds:,.2f} s"


def plot(fig, key: str | None = None, clickable: bool = False) -> None:
    """Draw a figure at full width, with its data as a table under it (``chart_data``); presentation mode
    (the sidebar toggle in app.py) enlarges its type. ``clickable``: a click on a point reruns the page with
    it in ``st.session_state[key]`` (``lane_clicked``)."""
    if st.session_state.get("present"):
        from viz.lean import restyled  # a copy, because cached figures are shared between sessions
        fig = restyled(fig, font=dict(size=17), hoverlabel=dict(font_size=17))
    if clickable:
        st.plotly_chart(fig, width="stretch", key=key, on_select="rerun", selection_mode="points")
    else:
        st.plotly_chart(fig, width="stretch", key=key)
    chart_data(fig, key)


TABLE_LABEL = "Chart data as a table"
_HTML_TABLE_ROWS = 60  # up to this many rows an HTML table (read cell by cell by a screen reader)


def chart_data(fig, key: str | None = None) -> None:
    """The chart's text alternative: its data (viz.chart_table: one row per drawn point, with the hover
    text written out) in a "Chart data as a table" expander right under it, reachable with Tab and opened
    with Enter or Space. The table is built only while the expander is open (it tracks its state and reruns
    the page when toggled), so a closed one costs nothing. Small tables are HTML tables; larger ones a
    data grid (arrow keys move through its cells; it scrolls, and sorts by a column)."""
    from viz import chart_table, lean  # lean.title_text reads a lean figure's title without building it
    title = re.sub(r"<[^>]+>", "", lean.title_text(fig))
    ident = key or re.sub(r"\W+", "_", title).strip("_")[:60] or "chart"
    box = st.expander(TABLE_LABEL, icon=":material/table:", key=f"table_{ident}", on_change="rerun")
    if not box.open:
        return
    with box:
        rows = chart_table.chart_table(fig)
        alt = f"Data of the chart {title}" if title else "Data of the chart above"
        if not rows:
            st.caption("This chart has no data points yet.")
        elif len(rows) <= _HTML_TABLE_ROWS:
            st.table(rows, hide_index=True, alt=alt)
        else:
            st.caption(f"{len(rows):,} rows, one per drawn point{': ' + title if title else ''}.")
            st.dataframe(rows, hide_index=True, width="stretch", height=320, alt=alt)


# ---- what a new session's page draws second ----------------------------------------------------------------

# A component with no HTML whose script, run by the browser when it mounts the component, sends one trigger
# value back. Mounted below a page's first chart, it mounts in the same browser render as that chart (the
# browser holds back every element after a chart until plotly.js has loaded, then draws them all at once), so
# the trigger arrives once the chart is on screen, whatever the machine's speed. A timer could not know that.
_DRAWN_JS = """export default function (component) {
    component.setTriggerValue("drawn", true);
}"""
_drawn_signal = None


def drawn_later(key: str, note: str) -> bool:
    """Whether the charts this guards may be drawn in this run. In a session's first run of the page: no.
    It shows ``note`` in their place and mounts ``_DRAWN_JS``; the browser, having drawn everything above it,
    triggers a rerun (of the enclosing fragment), and that run and every later one draw them.

    Why: plotly.js is evaluated once per browser page and then every chart already sent is drawn in one
    go, so a new session's first chart waited for the charts below it too (the playground's composition and
    KV charts, below the fold, added ~0.12x the browser yardstick: scripts/bench_app.py)."""
    global _drawn_signal
    flag = f"_drawn_{key}"
    if st.session_state.get(flag):
        return True
    st.session_state[flag] = True
    if _drawn_signal is None:  # registered once per process: a second registration logs a warning
        _drawn_signal = st.components.v2.component("batchlab_drawn_signal", js=_DRAWN_JS)
    st.caption(note)
    _drawn_signal(key=f"{flag}_signal", on_drawn_change=lambda: None)
    return False


# ---- links between pages (the catalog's URL paths) ---------------------------------------------------------

def _exists(p: catalog.Page) -> bool:
    return os.path.exists(os.path.join(ROOT, p.file))


def page_link(url_path: str, label: str | None = None, **kw) -> None:
    """st.page_link to a catalog page by its URL path; nothing when that page's script does not exist yet."""
    from streamlit.errors import StreamlitPageNotFoundError
    p = catalog.page(url_path)
    if not _exists(p):
        return
    try:
        st.page_link(p.file, label=label or p.title, icon=p.icon, **kw)
    except StreamlitPageNotFoundError:  # the page script run on its own (AppTest), without app.py's router
        st.markdown(f"[{label or p.title}](/{p.url_path})")


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
    """quiz.claims, imported when a page first states a claim (it loads the claims' data)."""
    from quiz import claims
    return claims


def claims_for_question(qid: str) -> tuple:
    """The claims of quiz/claims.py a quiz question relies on (empty for most questions)."""
    return _quiz_claims().for_question(qid)


def claim_numbers(claim_ids, seed: int = 0, here: str = "") -> None:
    """Each claim (quiz/claims.py) as the page states it, with the numbers the simulator measured for it:
    the same configurations the claims check runs on seeds 0..4, so words and numbers cannot drift. ``here``
    is the url path of the calling page (a link back to it is left out unless it sets more than the scenario)."""
    qc = _quiz_claims()
    for cid in claim_ids:
        c = qc.BY_ID[cid]
        m = qc.measure(c, seed, run=run)
        cond = f" *Holds only when {c.condition}.*" if c.condition else ""
        # A link back to the page it is shown on helps only when it sets more than the scenario.
        useful = c.link and (c.link[0] != here or len(c.link[1]) > 1)
        link = f" [Open this configuration]({c.link_url()})." if useful else ""
        st.markdown(f"- {c.statement}{cond}  \n  {qc.sentence(m)} Checked on seeds "
                    f"{qc.CHECK_SEEDS[0]}..{qc.CHECK_SEEDS[-1]} in CI.{link}")
