"""Batch Lab's entry point: the st.navigation router and the frame every page shares (title, sidebar,
presentation mode). Page content lives in pages/; the page list (titles, URLs, sections, icons) in quiz/catalog.py.

Run: .venv/bin/streamlit run app.py --server.headless true --server.address 127.0.0.1 \
         --browser.gatherUsageStats false
"""

import os

import streamlit as st

from pages import menu
from pages.common import mark_routed, nav_pages

# This session's runs go through the router: each page's reroute_first_visit() reads the mark (pages/common.py).
mark_routed()

# The tab icon is a file in the repo: a ":material/...:" icon makes the browser fetch it from a font server.
ICON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", "icon.png")
st.set_page_config(page_title="Batch Lab: scheduling in LLM inference", page_icon=ICON,
                   layout="wide", initial_sidebar_state="expanded")

# Presentation mode: larger type for a projector. Kept in session state so it survives page changes, and
# in the URL (?present=1) so an instructor can open a demo link straight in that mode.
if "present" not in st.session_state:
    st.session_state["present"] = st.query_params.get("present") == "1"

# The router knows every page of quiz/catalog.py; the menu the learner sees is the app's own (pages/menu.py:
# headings and plain links drawn from the catalog), because Streamlit's menu fails the accessibility audit
# (list items outside a list) and vanishes with the sidebar in embed mode.
nav = st.navigation(nav_pages(), position="hidden")

# Embedded (a course page's iframe, ?embed=true, often narrow) the app draws no sidebar of its own: the menu
# moves into the page itself (pages/menu.draw_in_page, below), so finding another page never depends on a
# sidebar; pages with controls in the sidebar still draw them there.
EMBEDDED = menu.embedded()
if not EMBEDDED:
    with st.sidebar:
        menu.draw(current=nav.url_path)
        st.toggle("Presentation mode (larger type)", key="present",
                  help="Enlarges text and chart labels for a projector; the link then carries ?present=1.")
        with st.expander("How to use Batch Lab", expanded=False):
            st.markdown(
                "- **Learners:** follow the pages under *Learn* in order; on each, predict first, then look.\n"
                "- **Instructors:** every setting is in the page's URL; copy it to share the exact view. "
                "Turn on presentation mode for a projector.\n"
                "- **Self-assessors:** *Check yourself* holds the quiz and the strategy exercise.\n"
                "- Times are in **ms**; every chart has a *What you are looking at* note and its data as a "
                "table under it.")

# Labels wrap instead of ending in "...": navigation entries, metric cards and button labels are short
# sentences a learner must read whole (a test compares every text element's scroll and client width).
# Style blocks go through st.html, not st.markdown(unsafe_allow_html=True): Markdown with raw HTML makes
# every new session's browser fetch and run one more script (rehype-raw) before the page's first chart.
st.html("""<style>
[data-testid="stSidebarNavLink"] span, [data-testid="stMetricLabel"] *, [data-testid="stMetricValue"] *,
[data-testid="stMetricDelta"] *, [data-testid^="stBaseButton"] *, [data-testid="stFileUploaderDropzone"] span {
    white-space: normal !important; overflow: visible !important; text-overflow: clip !important; }
[data-testid="stMetricDelta"] { flex-wrap: wrap; } [data-testid="stMetricDelta"] > div { min-width: 0; }
[data-testid="stMetricValue"] { overflow-wrap: anywhere; }
[data-testid="stSidebarNavLink"] > span:last-child { min-width: 0; flex: 1 1 auto; }
[data-testid="stSidebarNavLink"] p { white-space: normal !important; }
</style>""")

# Accessibility (WCAG 2.1 AA): Streamlit fades captions (opacity 0.6), which leaves them under 4.5:1 contrast
# on white; the app's captions and quoted narration carry teaching notes, so they are drawn opaque in a dark
# grey (8.9:1). Keyboard focus gets a visible outline on every control, link and the menu; radio buttons,
# checkboxes and switches keep their real input visually hidden, so the outline goes on their label, and on
# a select box's frame.
st.html("""<style>
[data-testid="stCaptionContainer"] { opacity: 1 !important; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p, [data-testid="stCaptionContainer"] code
  { color: #4a4a4a !important; }
blockquote, blockquote p { color: #4a4a4a !important; opacity: 1 !important; }
a:focus-visible, button:focus-visible, [role="button"]:focus-visible, [role="radio"]:focus-visible,
[role="checkbox"]:focus-visible, [role="tab"]:focus-visible, [role="slider"]:focus-visible, input:focus-visible,
summary:focus-visible, [tabindex]:focus-visible { outline: 3px solid #0072B2 !important; outline-offset: 2px; }
label:has(input[type="radio"]:focus-visible), label:has(input[type="checkbox"]:focus-visible),
[data-baseweb="select"] > div:has(input:focus-visible)
  { outline: 3px solid #0072B2 !important; outline-offset: 2px; }
[data-testid="stPageLink-NavLink"] span, [data-testid="stPageLink-NavLink"] p {
    white-space: normal !important; overflow: visible !important; text-overflow: clip !important; }
</style>""")

if st.session_state["present"]:
    st.query_params["present"] = "1"
    st.html("""<style>
    html { font-size: 20px; }
    .stMarkdown p, .stMarkdown li, .stCaption, label, .stAlert p { font-size: 1.1rem !important; }
    h1 { font-size: 2.0rem !important; padding-top: 0 !important; } h2 { font-size: 1.7rem !important; }
    h3 { font-size: 1.4rem !important; }
    [data-testid="stMetricValue"] { font-size: 1.8rem !important; }
    [data-testid="stMainBlockContainer"] { padding-top: 2.5rem !important; }
    </style>""")
elif "present" in st.query_params:
    del st.query_params["present"]

if EMBEDDED:
    menu.draw_in_page(current=nav.url_path)

nav.run()
