"""Batch Lab's entry point: the st.navigation router and the frame every page shares (title, sidebar,
presentation mode). Page content lives in pages/; the page list (titles, URLs, sections, icons) in quiz/catalog.py.

Run: .venv/bin/streamlit run app.py --server.headless true --server.address 127.0.0.1 \
         --browser.gatherUsageStats false
"""

import os

import streamlit as st

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

# The menu is built from quiz/catalog.py. A custom menu (say, one with its own list markup) would pass
# position="hidden" here and draw catalog.by_section() with st.page_link.
nav = st.navigation(nav_pages(), position="sidebar", expanded=True)  # every page listed (13 > the 12 it shows)

with st.sidebar:
    st.toggle("Presentation mode (larger type)", key="present",
              help="Enlarges text and chart labels for a projector; the link then carries ?present=1.")
    with st.expander("How to use Batch Lab", expanded=False):
        st.markdown(
            "- **Learners:** follow the pages under *Learn* in order; on each, predict first, then look.\n"
            "- **Instructors:** every setting is in the page's URL; copy it to share the exact view. "
            "Turn on presentation mode for a projector.\n"
            "- **Self-assessors:** *Check yourself* holds the quiz and the strategy exercise.\n"
            "- Times are in **ms**; every chart has a *What you are looking at* note.")

# Labels wrap instead of ending in "...": navigation entries, metric cards and button labels are short
# sentences a learner must read whole (a test compares every text element's scroll and client width).
st.markdown("""<style>
[data-testid="stSidebarNavLink"] span, [data-testid="stMetricLabel"] *, [data-testid="stMetricValue"] *,
[data-testid="stMetricDelta"] *, [data-testid^="stBaseButton"] *, [data-testid="stFileUploaderDropzone"] span {
    white-space: normal !important; overflow: visible !important; text-overflow: clip !important; }
[data-testid="stMetricDelta"] { flex-wrap: wrap; } [data-testid="stMetricDelta"] > div { min-width: 0; }
[data-testid="stMetricValue"] { overflow-wrap: anywhere; }
[data-testid="stSidebarNavLink"] > span:last-child { min-width: 0; flex: 1 1 auto; }
[data-testid="stSidebarNavLink"] p { white-space: normal !important; }
</style>""", unsafe_allow_html=True)

if st.session_state["present"]:
    st.query_params["present"] = "1"
    st.markdown("""<style>
    html { font-size: 20px; }
    .stMarkdown p, .stMarkdown li, .stCaption, label, .stAlert p { font-size: 1.1rem !important; }
    h1 { font-size: 2.0rem !important; padding-top: 0 !important; } h2 { font-size: 1.7rem !important; }
    h3 { font-size: 1.4rem !important; }
    [data-testid="stMetricValue"] { font-size: 1.8rem !important; }
    [data-testid="stMainBlockContainer"] { padding-top: 2.5rem !important; }
    </style>""", unsafe_allow_html=True)
elif "present" in st.query_params:
    del st.query_params["present"]

nav.run()
